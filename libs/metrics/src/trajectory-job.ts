import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assembleTiles,
  defaultTileSize,
  Evaluator,
  InputError,
  isInputError,
  linspace,
  loadData,
  loadModelRef,
  evaluationProvenance,
  planTiles,
  selectBackend,
  stringifyResult,
  TileCancelled,
  tilePoints,
  type BackendInfo,
  type DataProvenance,
  type EvaluationSetup,
  type ExecutionRecord,
  type GridValues,
  type JobHandler,
  type LoadedModel,
  type LossName,
  type OutputKind,
  type RefResolver,
  type Tile,
  type TileResult,
  type Timings,
  type TrajectoryMethod,
  type TrajectorySpec,
} from '@landscape/core';
import { trainAutoencoder } from './autoencoder';
import { idwLeaveOneOut } from './inverse-map';
import { distancesFromGram, squaredDistances, type DistanceMatrix } from './neighbours';
import { fitPca, pcaInverseTransform, type PcaModel } from './pca';
import { continuity, reconstructionMse, relativeLossError, trustworthiness } from './quality';
import { writeTrajectoryOutputs } from './trajectory-report';
import { loadTrajectory } from './trajectory-input';
import { fitUmap } from './umap';

/**
 * Job kind `trajectory`: embedding landscapes of a training trajectory. For each method (pca, pca-directions,
 * umap, autoencoder) the checkpoints are embedded in 2-D, a grid is laid over the embedding's bounding box
 * plus a margin, every grid point is mapped back to parameter space and evaluated. Units are the tiles of each
 * method's grid (`umap:r0c1`), the checkpoints (`checkpoints`) and each method's reconstructions
 * (`pca:reconstructions`), so the job runs distributed like a surface. Everything in prepare() is seeded:
 * every process (CLI, API, each worker) derives the same embeddings, grids and units.
 */
export interface MethodEmbedding {
  method: TrajectoryMethod;
  /** One 2-D point per checkpoint, in training order. */
  coords: number[][];
  /** Plot coordinates → parameter vectors. */
  inverse: (points: readonly ArrayLike<number>[]) => Float64Array[];
  /** θ̂_i for the given checkpoints (built on demand: n × P vectors per method would not fit for large models). */
  reconstruct: (indices: readonly number[]) => Float64Array[];
  /** How θ̂_i is obtained (for the result). */
  reconstruction: string;
  /** θ̂_i = inverse(coords_i): the path's loss is L(θ̂_i). Else (UMAP's IDW map returns θ_i there) it is L(θ_i). */
  pathOnReconstructions: boolean;
  explainedVarianceRatio?: number[];
  axes: { x: string; y: string };
  settings: Record<string, unknown>;
  seconds: number;
  trustworthiness: number;
  continuity: number;
  reconstructionMse: number;
  grid: { x: number[]; y: number[] };
  tiles: Tile[];
}

export interface PreparedTrajectory {
  setup: EvaluationSetup;
  model: LoadedModel;
  checkpoints: Float64Array[];
  steps?: number[];
  methods: MethodEmbedding[];
}

export interface MethodResult {
  coords: number[][];
  trustworthiness: number;
  continuity: number;
  reconstructionMse: number;
  /** Mean over checkpoints of |L(θ̂_i) − L(θ_i)| / L(θ_i); null when some L(θ_i) is not positive. */
  relativeLossError: number | null;
  explainedVarianceRatio?: number[];
  axes: { x: string; y: string };
  reconstruction: string;
  /** L(θ̂_i) per checkpoint. */
  reconstructedLoss: number[];
  /** Loss along the plotted path (the surface's value under each checkpoint's point). */
  pathLoss: number[];
  settings: Record<string, unknown>;
  grid: { x: number[]; y: number[]; loss: GridValues; accuracy: GridValues; points: number; pointsComputed: number };
}

export interface TrajectoryResult {
  kind: 'trajectory';
  label?: string;
  checkpoints: number;
  /** Optimizer steps of the checkpoints, when the trajectory file records them. */
  steps?: number[];
  checkpointLoss: number[];
  checkpointAccuracy: (number | null)[];
  neighbors: number;
  methods: Partial<Record<TrajectoryMethod, MethodResult>>;
  /** Grid points of all methods together. */
  points: number;
  pointsComputed: number;
  seeds: { umap?: number; autoencoder?: number };
  files: Record<string, string>;
  version: string;
  backend: string;
  backendDetail: BackendInfo;
  threads: number;
  workers?: ExecutionRecord['workers'];
  dtype: 'float32';
  model: { ref: string; name: string; parameters: number };
  data: DataProvenance & { n: number };
  lossFunction: LossName;
  output: OutputKind;
  batchSize: number;
  timings: Timings & { embeddingSeconds: Partial<Record<TrajectoryMethod, number>> };
}

const CHECKPOINT_UNIT = 'checkpoints';
const RECONSTRUCTIONS = 'reconstructions';
/** Parameter vectors built at once when evaluating a unit (bounds memory for large models). */
const CHUNK = 16;

const percent = (ratio: number): string => `${(100 * ratio).toFixed(2)} %`;

/** Runs a method's fit, reporting its input errors under the method's field (e.g. "umap: nNeighbors: …"). */
function underField<T>(field: string, fit: () => T): T {
  try {
    return fit();
  } catch (error) {
    throw isInputError(error) ? new InputError(error.message, field) : error;
  }
}

/** `steps` points per axis over the bounding box of `coords`, widened by margin × the box's extent per side. */
function embeddingGrid(coords: number[][], steps: readonly [number, number], margin: number): { x: number[]; y: number[] } {
  const [x, y] = [0, 1].map((c) => {
    const values = coords.map((point) => point[c]!);
    const low = Math.min(...values);
    const high = Math.max(...values);
    // A flat axis (all checkpoints at one coordinate) still gets a grid of width 2 around it.
    const pad = high > low ? margin * (high - low) : 1;
    return linspace([low - pad, high + pad, steps[c]!]);
  });
  return { x: x!, y: y! };
}

type Embedder = Omit<MethodEmbedding, 'method' | 'seconds' | 'trustworthiness' | 'continuity' | 'reconstructionMse' | 'grid' | 'tiles'>;

function embedPca(method: 'pca' | 'pca-directions', pca: PcaModel, rows: Float64Array[]): Embedder {
  const ratios = pca.explainedVarianceRatio;
  if (method === 'pca') {
    const inverse = (points: readonly ArrayLike<number>[]): Float64Array[] => pcaInverseTransform(pca, points);
    return {
      coords: pca.embedding,
      inverse,
      reconstruct: (indices) => inverse(indices.map((i) => pca.embedding[i]!)),
      reconstruction: 'mean + projection onto the principal plane (scikit-learn inverse_transform(transform(X)))',
      pathOnReconstructions: true,
      explainedVarianceRatio: ratios,
      axes: { x: `PC1 (${percent(ratios[0]!)} of variance)`, y: `PC2 (${percent(ratios[1]!)} of variance)` },
      settings: { centre: 'mean of the checkpoints' },
    };
  }
  // Li et al.: PCA of θ_i − θ_final (the same axes: PCA re-centres), surface and path relative to θ_final.
  const finalIndex = rows.length - 1;
  const final = pca.embedding[finalIndex]!;
  const coords = pca.embedding.map((scores) => scores.map((value, k) => value - final[k]!));
  const inverse = (points: readonly ArrayLike<number>[]): Float64Array[] => pcaInverseTransform(pca, points, rows[finalIndex]!);
  return {
    coords,
    inverse,
    reconstruct: (indices) => inverse(indices.map((i) => coords[i]!)),
    reconstruction: 'θ_final + projection of θ_i − θ_final onto PC1/PC2 (the plotted plane)',
    pathOnReconstructions: true,
    explainedVarianceRatio: ratios,
    axes: { x: `PC1 of θ_i − θ_final (${percent(ratios[0]!)})`, y: `PC2 of θ_i − θ_final (${percent(ratios[1]!)})` },
    settings: { centre: 'final checkpoint (no re-centring of the path)', finalIndex },
  };
}

function embedUmap(spec: TrajectorySpec, rows: Float64Array[]): Embedder {
  const n = rows.length;
  const { inverseK, nNeighbors = Math.min(15, n - 1), ...options } = spec.umap;
  if (inverseK > n - 1) throw new InputError(`must be below the number of checkpoints (${n}), got ${inverseK}`, 'umap.inverseK');
  const umap = underField('umap', () => fitUmap(rows, { ...options, nNeighbors, inverse: { k: inverseK } }));
  return {
    coords: umap.embedding,
    inverse: umap.inverse,
    // The IDW map returns each checkpoint exactly at its own point, so each is rebuilt from its neighbours instead.
    reconstruct: (indices) => idwLeaveOneOut(umap.embedding, rows, { k: inverseK }, indices),
    reconstruction: `leave-one-out inverse-distance interpolation among the ${inverseK} nearest other embedded checkpoints`,
    pathOnReconstructions: false,
    axes: { x: 'UMAP 1', y: 'UMAP 2' },
    settings: { nNeighbors: umap.nNeighbors, minDist: umap.minDist, nEpochs: umap.nEpochs, seed: umap.seed, inverseK, inversePower: 2, library: 'umap-js' },
  };
}

function embedAutoencoder(spec: TrajectorySpec, rows: Float64Array[]): Embedder {
  const autoencoder = underField('autoencoder', () => trainAutoencoder(rows, spec.autoencoder));
  const coords = autoencoder.encode(rows);
  return {
    coords,
    inverse: (points) => autoencoder.decode(points),
    reconstruct: (indices) => autoencoder.decode(indices.map((i) => coords[i]!)),
    reconstruction: 'decoder(encoder(θ_i))',
    pathOnReconstructions: true,
    axes: { x: 'latent 1', y: 'latent 2' },
    settings: { ...spec.autoencoder, backend: autoencoder.backend, finalTrainingMse: autoencoder.losses[autoencoder.losses.length - 1] },
  };
}

export async function prepareTrajectory(spec: TrajectorySpec, resolve: RefResolver): Promise<PreparedTrajectory> {
  const model = loadModelRef(spec.model, 'model', resolve);
  const data = loadData(spec.data, resolve);
  if (data.sampleShape.join(',') !== model.description.inputShape.join(',')) {
    throw new InputError(`samples have shape [${data.sampleShape.join(', ')}] but the model expects [${model.description.inputShape.join(', ')}]`, 'data');
  }
  const { checkpoints, steps } = loadTrajectory(spec.trajectory, resolve, model.description.layout);
  const n = checkpoints.length;
  if (spec.neighbors >= n / 2) throw new InputError(`must be below half the number of checkpoints (${n}), got ${spec.neighbors}`, 'neighbors');
  // The autoencoder trains on the job's backend: its numbers are reproducible per backend.
  if (spec.methods.includes('autoencoder')) await selectBackend(spec.backend);

  // One PCA serves both PCA methods, and its Gram matrix gives the checkpoints' pairwise distances for free.
  const usesPca = spec.methods.some((method) => method === 'pca' || method === 'pca-directions');
  const pcaStart = performance.now();
  const pca = usesPca ? underField('trajectory', () => fitPca(checkpoints)) : undefined;
  const pcaSeconds = (performance.now() - pcaStart) / 1000;
  const distances: DistanceMatrix = pca ? distancesFromGram(pca.centredGram, n) : squaredDistances(checkpoints, 'trajectory');

  const methods = spec.methods.map((method): MethodEmbedding => {
    const started = performance.now();
    const embedded =
      method === 'pca' || method === 'pca-directions'
        ? embedPca(method, pca!, checkpoints)
        : method === 'umap'
          ? embedUmap(spec, checkpoints)
          : embedAutoencoder(spec, checkpoints);
    const seconds = (performance.now() - started) / 1000 + (method === 'pca' || method === 'pca-directions' ? pcaSeconds : 0);
    if (!embedded.coords.flat().every(Number.isFinite)) throw new InputError(`the ${method} embedding has non-finite coordinates`, 'methods');
    const grid = embeddingGrid(embedded.coords, spec.grid.steps, spec.grid.margin);
    return {
      method,
      ...embedded,
      seconds,
      trustworthiness: trustworthiness(distances, embedded.coords, spec.neighbors),
      continuity: continuity(distances, embedded.coords, spec.neighbors),
      reconstructionMse: chunkedReconstructionMse(checkpoints, embedded.reconstruct),
      grid,
      tiles: planTiles(grid, spec.tiles ?? defaultTileSize(grid, 8)),
    };
  });
  return {
    setup: { model: model.description, data, loss: spec.loss, output: spec.output, batchSize: spec.evaluation.batchSize },
    model,
    checkpoints,
    ...(steps ? { steps } : {}),
    methods,
  };
}

/** Mean of (θ_i − θ̂_i)² over all entries, building CHUNK reconstructions at a time. */
function chunkedReconstructionMse(checkpoints: Float64Array[], reconstruct: MethodEmbedding['reconstruct']): number {
  let sum = 0;
  for (let start = 0; start < checkpoints.length; start += CHUNK) {
    const indices = range(start, Math.min(checkpoints.length, start + CHUNK));
    // Every row has the same length, so the mean of the per-chunk means weighted by rows is the overall mean.
    sum +=
      reconstructionMse(
        indices.map((i) => checkpoints[i]!),
        reconstruct(indices),
      ) * indices.length;
  }
  return sum / checkpoints.length;
}

const range = (start: number, end: number): number[] => Array.from({ length: end - start }, (_, k) => start + k);

/** Per process, one evaluator per prepared trajectory (the data is uploaded once for all units). */
const evaluators = new WeakMap<PreparedTrajectory, Evaluator>();

/** Frees the evaluator kept for a prepared trajectory (call when the job is done). */
export function releaseTrajectory(prepared: PreparedTrajectory): void {
  evaluators.get(prepared)?.dispose();
  evaluators.delete(prepared);
}

/** The parameter vectors of a unit, built CHUNK at a time from `start`. */
function unitVectors(prepared: PreparedTrajectory, unitId: string): { count: number; build: (start: number, end: number) => Float64Array[] } {
  if (unitId === CHECKPOINT_UNIT) return { count: prepared.checkpoints.length, build: (start, end) => prepared.checkpoints.slice(start, end) };
  const colon = unitId.lastIndexOf(':');
  const embedding = prepared.methods.find((m) => m.method === unitId.slice(0, colon));
  const part = unitId.slice(colon + 1);
  if (embedding && part === RECONSTRUCTIONS) {
    return { count: prepared.checkpoints.length, build: (start, end) => embedding.reconstruct(range(start, end)) };
  }
  const tile = embedding?.tiles.find((t) => t.id === part);
  if (!embedding || !tile) throw new Error(`no unit ${unitId} in this job`);
  const width = tile.x1 - tile.x0;
  const { x, y } = embedding.grid;
  return {
    count: tilePoints(tile),
    build: (start, end) =>
      embedding.inverse(Array.from({ length: end - start }, (_, k) => [x[tile.x0 + ((start + k) % width)]!, y[tile.y0 + Math.floor((start + k) / width)]!])),
  };
}

function methodResult(embedding: MethodEmbedding, results: ReadonlyMap<string, TileResult>, checkpointLoss: number[]): MethodResult {
  const reconstructedLoss = results.get(`${embedding.method}:${RECONSTRUCTIONS}`)?.loss ?? [];
  const prefix = `${embedding.method}:`;
  const tileResults = embedding.tiles.flatMap((tile) => {
    const result = results.get(prefix + tile.id);
    return result ? [{ ...result, tileId: tile.id }] : [];
  });
  const surface = assembleTiles(embedding.grid, embedding.tiles, tileResults);
  const complete = reconstructedLoss.length === checkpointLoss.length && checkpointLoss.length > 0;
  const relative =
    !complete || !checkpointLoss.every((loss) => loss > 0 && Number.isFinite(loss))
      ? null
      : reconstructedLoss.every(Number.isFinite)
        ? relativeLossError(reconstructedLoss, checkpointLoss)
        : Infinity;
  return {
    coords: embedding.coords,
    trustworthiness: embedding.trustworthiness,
    continuity: embedding.continuity,
    reconstructionMse: embedding.reconstructionMse,
    relativeLossError: relative,
    ...(embedding.explainedVarianceRatio ? { explainedVarianceRatio: embedding.explainedVarianceRatio } : {}),
    axes: embedding.axes,
    reconstruction: embedding.reconstruction,
    reconstructedLoss,
    pathLoss: embedding.pathOnReconstructions ? reconstructedLoss : checkpointLoss,
    settings: embedding.settings,
    grid: {
      x: embedding.grid.x,
      y: embedding.grid.y,
      loss: surface.loss,
      accuracy: surface.accuracy,
      points: embedding.grid.x.length * embedding.grid.y.length,
      pointsComputed: surface.pointsComputed,
    },
  };
}

export const trajectoryHandler: JobHandler<TrajectorySpec, PreparedTrajectory, TileResult> = {
  kind: 'trajectory',
  prepare: (spec, resolve) => prepareTrajectory(spec, resolve),
  units: (_spec, prepared) => [
    { id: CHECKPOINT_UNIT, work: prepared.checkpoints.length },
    ...prepared.methods.flatMap((m) => [
      { id: `${m.method}:${RECONSTRUCTIONS}`, work: prepared.checkpoints.length },
      ...m.tiles.map((tile) => ({ id: `${m.method}:${tile.id}`, work: tilePoints(tile) })),
    ]),
  ],
  async runUnit(_spec, prepared, unitId, context) {
    const { count, build } = unitVectors(prepared, unitId);
    await selectBackend(context.backend);
    let evaluator = evaluators.get(prepared);
    if (!evaluator) {
      evaluator = new Evaluator(prepared.setup);
      evaluators.set(prepared, evaluator);
    }
    const loss: number[] = [];
    const accuracy: (number | null)[] = [];
    for (let start = 0; start < count; start += CHUNK) {
      for (const vector of build(start, Math.min(count, start + CHUNK))) {
        const value = evaluator.evaluate(vector);
        loss.push(value.loss);
        accuracy.push(value.accuracy);
        if (context.onWork?.(loss.length) === false) throw new TileCancelled(unitId);
      }
    }
    return { tileId: unitId, loss, accuracy };
  },
  async assemble(spec, prepared, results, execution, outDir) {
    const checkpointUnit = results.get(CHECKPOINT_UNIT);
    const checkpointLoss = checkpointUnit?.loss ?? [];
    const methods: TrajectoryResult['methods'] = {};
    for (const embedding of prepared.methods) methods[embedding.method] = methodResult(embedding, results, checkpointLoss);
    const all = Object.values(methods);
    const points = all.reduce((sum, m) => sum + m.grid.points, 0);
    const pointsComputed = all.reduce((sum, m) => sum + m.grid.pointsComputed, 0);
    const evaluated = [...results.values()].reduce((sum, r) => sum + r.loss.length, 0);
    const provenance = evaluationProvenance(spec.model, prepared.model.description.name, prepared.setup, execution, evaluated);
    const result: TrajectoryResult = {
      kind: 'trajectory',
      ...(spec.label ? { label: spec.label } : {}),
      checkpoints: prepared.checkpoints.length,
      ...(prepared.steps ? { steps: prepared.steps } : {}),
      checkpointLoss,
      checkpointAccuracy: checkpointUnit?.accuracy ?? [],
      neighbors: spec.neighbors,
      methods,
      points,
      pointsComputed,
      seeds: {
        ...(spec.methods.includes('umap') ? { umap: spec.umap.seed } : {}),
        ...(spec.methods.includes('autoencoder') ? { autoencoder: spec.autoencoder.seed } : {}),
      },
      files: {},
      ...provenance,
      timings: { ...provenance.timings, embeddingSeconds: Object.fromEntries(prepared.methods.map((m) => [m.method, m.seconds])) },
    };
    mkdirSync(outDir, { recursive: true });
    result.files = await writeTrajectoryOutputs(result, outDir);
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    return result;
  },
};
