import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  assembleTiles,
  defaultTileSize,
  Evaluator,
  evaluateTile,
  evaluationRecord,
  evaluationSubspace,
  InputError,
  isInputError,
  linspace,
  loadData,
  loadModelRef,
  modelOptionsOf,
  checkSampleShape,
  evaluationProvenance,
  planTiles,
  stringifyResult,
  UnitCancelled,
  tilePoints,
  type BackendInfo,
  type DataProvenance,
  type EvaluationSetup,
  type ExecutionRecord,
  type GridValues,
  type JobHandler,
  type LandscapePlan,
  type LoadedModel,
  type LossName,
  type OutputKind,
  type RefResolver,
  type EvaluationRecord,
  type Tile,
  type TileResult,
  type Timings,
  type TrajectoryMethod,
  type TrajectorySpec,
  type UnitRef,
} from '@landscape/core';
import { autoencoderSettings, autoencoderState, restoreAutoencoder, trainAutoencoder, type Autoencoder, type AutoencoderState } from './autoencoder';
import { idwInverseMap, idwLeaveOneOut } from './inverse-map';
import { distancesFromGram, squaredDistances, type DistanceMatrix } from './neighbours';
import { fitPca, pcaInverseTransform, type PcaModel } from './pca';
import { continuity, reconstructionMse, relativeLossError, trustworthiness } from './quality';
import { writeTrajectoryOutputs } from './trajectory-report';
import { loadTrajectory } from './trajectory-input';
import { fitUmap, umapSettings } from './umap';

/**
 * Job kind `trajectory`: embedding landscapes of a training trajectory. For each method (pca, pca-directions,
 * umap, autoencoder) the checkpoints are embedded in 2-D, a grid is laid over the embedding's bounding box
 * plus a margin, every grid point is mapped back to parameter space and evaluated. Units: one embedding per
 * method (`embed:umap`: the fit, its quality metrics, and for the autoencoder its weights), computed once;
 * the tiles of each method's grid (`umap:r0c1`) and its reconstructions (`umap:reconstructions`), which need
 * that embedding; and the checkpoints (`checkpoints`). Every fit is seeded, so the numbers do not depend on
 * where a unit runs.
 */
export interface PreparedTrajectory {
  setup: EvaluationSetup;
  model: LoadedModel;
  checkpoints: Float64Array[];
  steps?: number[];
  /** One PCA serves both PCA methods (a linear fit: cheap next to evaluating a grid). */
  pca?: PcaModel;
  pcaSeconds: number;
  /** Pairwise distances of the checkpoints, for trustworthiness and continuity. */
  distances: DistanceMatrix;
}

/** An `embed:<method>` unit's result: plain JSON. */
export interface EmbeddingResult {
  method: TrajectoryMethod;
  /** One 2-D point per checkpoint, in training order. */
  coords: number[][];
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
  /** The trained autoencoder: its decoder is the inverse map. */
  autoencoder?: AutoencoderState;
}

/** Plot coordinates → parameter vectors, and θ̂_i for given checkpoints (built on demand: n × P vectors per method would not fit for large models). */
interface EmbeddingMaps {
  inverse: (points: readonly ArrayLike<number>[]) => Float64Array[];
  reconstruct: (indices: readonly number[]) => Float64Array[];
  /** A linear inverse (PCA): point (x, y) ↦ origin + x·directions[0] + y·directions[1], the plane of a surface. */
  plane?: Pick<LandscapePlan, 'origin' | 'directions'>;
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
  /** Whether the grid's points shared layers' work (a PCA map's grid is a plane, evaluated like a surface's). */
  evaluation: EvaluationRecord;
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
const embedUnit = (method: TrajectoryMethod): string => `embed:${method}`;
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
export function embeddingGrid(coords: number[][], steps: readonly [number, number], margin: number): { x: number[]; y: number[] } {
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

type Embedder = EmbeddingMaps & Pick<EmbeddingResult, 'coords' | 'reconstruction' | 'pathOnReconstructions' | 'explainedVarianceRatio' | 'axes' | 'settings'>;

function embedPca(method: 'pca' | 'pca-directions', pca: PcaModel, rows: Float64Array[]): Embedder {
  const ratios = pca.explainedVarianceRatio;
  if (method === 'pca') {
    const inverse = (points: readonly ArrayLike<number>[]): Float64Array[] => pcaInverseTransform(pca, points);
    return {
      coords: pca.embedding,
      inverse,
      reconstruct: (indices) => inverse(indices.map((i) => pca.embedding[i]!)),
      plane: { origin: pca.mean, directions: pca.components },
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
    plane: { origin: rows[finalIndex]!, directions: pca.components },
    reconstruction: 'θ_final + projection of θ_i − θ_final onto PC1/PC2 (the plotted plane)',
    pathOnReconstructions: true,
    explainedVarianceRatio: ratios,
    axes: { x: `PC1 of θ_i − θ_final (${percent(ratios[0]!)})`, y: `PC2 of θ_i − θ_final (${percent(ratios[1]!)})` },
    settings: { centre: 'final checkpoint (no re-centring of the path)', finalIndex },
  };
}

/** UMAP's inverse map: inverse-distance weighting among the embedded checkpoints (inverse-map.ts). */
function umapMaps(spec: TrajectorySpec, rows: Float64Array[], coords: number[][]): EmbeddingMaps {
  const k = spec.umap.inverseK;
  return {
    inverse: idwInverseMap(coords, rows, { k }),
    // The IDW map returns each checkpoint exactly at its own point, so each is rebuilt from its neighbours instead.
    reconstruct: (indices) => idwLeaveOneOut(coords, rows, { k }, indices),
  };
}

function umapOptions(spec: TrajectorySpec, n: number) {
  const { inverseK, nNeighbors = Math.min(15, n - 1), ...options } = spec.umap;
  return { ...options, nNeighbors, inverse: { k: inverseK } };
}

function embedUmap(spec: TrajectorySpec, rows: Float64Array[]): Embedder {
  const umap = underField('umap', () => fitUmap(rows, umapOptions(spec, rows.length)));
  const { inverseK } = spec.umap;
  return {
    coords: umap.embedding,
    ...umapMaps(spec, rows, umap.embedding),
    reconstruction: `leave-one-out inverse-distance interpolation among the ${inverseK} nearest other embedded checkpoints`,
    pathOnReconstructions: false,
    axes: { x: 'UMAP 1', y: 'UMAP 2' },
    settings: { nNeighbors: umap.nNeighbors, minDist: umap.minDist, nEpochs: umap.nEpochs, seed: umap.seed, inverseK, inversePower: 2, library: 'umap-js' },
  };
}

function autoencoderMaps(autoencoder: Autoencoder, coords: number[][]): EmbeddingMaps {
  return {
    inverse: (points) => autoencoder.decode(points),
    reconstruct: (indices) => autoencoder.decode(indices.map((i) => coords[i]!)),
  };
}

function embedAutoencoder(spec: TrajectorySpec, autoencoder: Autoencoder, rows: Float64Array[]): Embedder {
  const coords = autoencoder.encode(rows);
  return {
    coords,
    ...autoencoderMaps(autoencoder, coords),
    reconstruction: 'decoder(encoder(θ_i))',
    pathOnReconstructions: true,
    axes: { x: 'latent 1', y: 'latent 2' },
    settings: { ...spec.autoencoder, backend: autoencoder.backend, finalTrainingMse: autoencoder.losses[autoencoder.losses.length - 1] },
  };
}

const usesPca = (spec: TrajectorySpec): boolean => spec.methods.some((method) => method === 'pca' || method === 'pca-directions');

/** Reads and checks every input (plain JavaScript, no fit): what planning needs, and the start of preparing. */
function loadTrajectoryInputs(
  spec: TrajectorySpec,
  resolve: RefResolver,
): { model: LoadedModel; data: EvaluationSetup['data'] } & ReturnType<typeof loadTrajectory> {
  const model = loadModelRef(spec.model, 'model', resolve, modelOptionsOf(spec));
  const data = loadData(spec.data, resolve);
  checkSampleShape(model.description, data.sampleShape);
  const trajectory = loadTrajectory(spec.trajectory, resolve, model.description.layout);
  const n = trajectory.checkpoints.length;
  if (spec.neighbors >= n / 2) throw new InputError(`must be below half the number of checkpoints (${n}), got ${spec.neighbors}`, 'neighbors');
  if (spec.methods.includes('umap')) {
    if (spec.umap.inverseK > n - 1) throw new InputError(`must be below the number of checkpoints (${n}), got ${spec.umap.inverseK}`, 'umap.inverseK');
    underField('umap', () => umapSettings(n, umapOptions(spec, n)));
  }
  if (spec.methods.includes('autoencoder')) underField('autoencoder', () => autoencoderSettings(n, trajectory.checkpoints[0]!.length, spec.autoencoder));
  return { model, data, ...trajectory };
}

/** A method's grid tiling: it depends on the grid's size only, so it is known before the embedding. */
function methodTiles(spec: TrajectorySpec): Tile[] {
  const [nx, ny] = spec.grid.steps;
  const grid = { x: new Array<number>(nx).fill(0), y: new Array<number>(ny).fill(0) };
  return planTiles(grid, spec.tiles ?? defaultTileSize(grid, 8));
}

function trajectoryUnits(spec: TrajectorySpec, checkpoints: number): UnitRef[] {
  return [
    { id: CHECKPOINT_UNIT, work: checkpoints },
    ...spec.methods.flatMap((method) => {
      const needs = [embedUnit(method)];
      return [
        { id: embedUnit(method), work: checkpoints },
        { id: `${method}:${RECONSTRUCTIONS}`, work: checkpoints, needs },
        ...methodTiles(spec).map((tile) => ({ id: `${method}:${tile.id}`, work: tilePoints(tile), needs })),
      ];
    }),
  ];
}

export function prepareTrajectory(spec: TrajectorySpec, resolve: RefResolver): PreparedTrajectory {
  const { model, data, checkpoints, steps } = loadTrajectoryInputs(spec, resolve);
  // The PCA's Gram matrix gives the checkpoints' pairwise distances for free.
  const pcaStart = performance.now();
  const pca = usesPca(spec) ? underField('trajectory', () => fitPca(checkpoints)) : undefined;
  const pcaSeconds = (performance.now() - pcaStart) / 1000;
  return {
    setup: { model: model.description, data, loss: spec.loss, output: spec.output, batchSize: spec.evaluation.batchSize },
    model,
    checkpoints,
    ...(steps ? { steps } : {}),
    ...(pca ? { pca } : {}),
    pcaSeconds,
    distances: pca ? distancesFromGram(pca.centredGram, checkpoints.length) : squaredDistances(checkpoints, 'trajectory'),
  };
}

/** The `embed:<method>` unit: the fit (UMAP and the autoencoder train here, once per job) and its quality. */
function embedMethod(spec: TrajectorySpec, prepared: PreparedTrajectory, method: TrajectoryMethod): EmbeddingResult {
  const { checkpoints } = prepared;
  const started = performance.now();
  let autoencoder: Autoencoder | undefined;
  let embedded: Embedder;
  if (method === 'pca' || method === 'pca-directions') embedded = embedPca(method, prepared.pca!, checkpoints);
  else if (method === 'umap') embedded = embedUmap(spec, checkpoints);
  else {
    autoencoder = underField('autoencoder', () => trainAutoencoder(checkpoints, spec.autoencoder));
    embedded = embedAutoencoder(spec, autoencoder, checkpoints);
  }
  const seconds = (performance.now() - started) / 1000 + (prepared.pca && method.startsWith('pca') ? prepared.pcaSeconds : 0);
  if (!embedded.coords.flat().every(Number.isFinite)) throw new InputError(`the ${method} embedding has non-finite coordinates`, 'methods');
  const { inverse: _inverse, reconstruct, plane: _plane, ...described } = embedded;
  return {
    method,
    ...described,
    seconds,
    trustworthiness: trustworthiness(prepared.distances, embedded.coords, spec.neighbors),
    continuity: continuity(prepared.distances, embedded.coords, spec.neighbors),
    reconstructionMse: chunkedReconstructionMse(checkpoints, reconstruct),
    ...(autoencoder ? { autoencoder: autoencoderState(autoencoder) } : {}),
  };
}

/** A method's maps; for a linear one also its grid as a surface's plan (one object, so the evaluator keeps its shared terms). */
type MethodMaps = EmbeddingMaps & { plan?: LandscapePlan };

/** A method's maps rebuilt from its embedding unit's result, once per prepared job. */
const mapsCache = new WeakMap<PreparedTrajectory, Map<TrajectoryMethod, MethodMaps>>();

function mapsFor(spec: TrajectorySpec, prepared: PreparedTrajectory, embedding: EmbeddingResult): MethodMaps {
  let cache = mapsCache.get(prepared);
  if (!cache) mapsCache.set(prepared, (cache = new Map()));
  let maps = cache.get(embedding.method);
  if (!maps) {
    const { method, coords } = embedding;
    const rows = prepared.checkpoints;
    const built: EmbeddingMaps =
      method === 'pca' || method === 'pca-directions'
        ? embedPca(method, prepared.pca!, rows)
        : method === 'umap'
          ? umapMaps(spec, rows, coords)
          : autoencoderMaps(restoreAutoencoder(embedding.autoencoder!), coords);
    maps = built.plane ? { ...built, plan: { ...built.plane, grid: embeddingGrid(coords, spec.grid.steps, spec.grid.margin) } } : built;
    cache.set(method, maps);
  }
  return maps;
}

/** Mean of (θ_i − θ̂_i)² over all entries, building CHUNK reconstructions at a time. */
function chunkedReconstructionMse(checkpoints: Float64Array[], reconstruct: EmbeddingMaps['reconstruct']): number {
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

/**
 * The points of an evaluation unit: parameter vectors built CHUNK at a time from `start`, or a tile of a linear
 * map's grid, which is a surface's plan (evaluated like one, subspace evaluation included).
 */
type UnitPoints = { count: number; build: (start: number, end: number) => Float64Array[] } | { plan: LandscapePlan; tile: Tile };

function unitPoints(spec: TrajectorySpec, prepared: PreparedTrajectory, unitId: string, inputs: ReadonlyMap<string, unknown>): UnitPoints {
  if (unitId === CHECKPOINT_UNIT) return { count: prepared.checkpoints.length, build: (start, end) => prepared.checkpoints.slice(start, end) };
  const colon = unitId.lastIndexOf(':');
  const method = spec.methods.find((m) => m === unitId.slice(0, colon));
  const embedding = method && (inputs.get(embedUnit(method)) as EmbeddingResult | undefined);
  if (!embedding) throw new Error(`no unit ${unitId} in this job, or it was given no embedding`);
  const maps = mapsFor(spec, prepared, embedding);
  const part = unitId.slice(colon + 1);
  if (part === RECONSTRUCTIONS) return { count: prepared.checkpoints.length, build: (start, end) => maps.reconstruct(range(start, end)) };
  const tile = methodTiles(spec).find((t) => t.id === part);
  if (!tile) throw new Error(`no unit ${unitId} in this job`);
  if (maps.plan) return { plan: maps.plan, tile: { ...tile, id: unitId } };
  const width = tile.x1 - tile.x0;
  const { x, y } = embeddingGrid(embedding.coords, spec.grid.steps, spec.grid.margin);
  return {
    count: tilePoints(tile),
    build: (start, end) =>
      maps.inverse(Array.from({ length: end - start }, (_, k) => [x[tile.x0 + ((start + k) % width)]!, y[tile.y0 + Math.floor((start + k) / width)]!])),
  };
}

/**
 * How a method's grid was evaluated: a PCA map's grid units are tiles of a plane and go through the surface rule;
 * the others' inverse maps are not linear, so their points span no subspace.
 */
function methodEvaluation(method: TrajectoryMethod, setup: EvaluationSetup, backend: string): EvaluationRecord {
  if (method === 'pca' || method === 'pca-directions') return evaluationRecord(setup, evaluationSubspace(setup, 2), backend);
  const map = method === 'umap' ? 'inverse-distance interpolation' : 'the decoder';
  return evaluationRecord(
    setup,
    { layers: [], nodes: [], used: false, reason: `the inverse map (${map}) is not linear: the grid's points lie on no plane` },
    backend,
  );
}

function methodResult(
  spec: TrajectorySpec,
  setup: EvaluationSetup,
  embedding: EmbeddingResult,
  results: ReadonlyMap<string, TrajectoryUnitResult>,
  checkpointLoss: number[],
  backend: string,
): MethodResult {
  const tileResult = (id: string): TileResult | undefined => results.get(id) as TileResult | undefined;
  const reconstructedLoss = tileResult(`${embedding.method}:${RECONSTRUCTIONS}`)?.loss ?? [];
  const tiles = methodTiles(spec);
  const grid = embeddingGrid(embedding.coords, spec.grid.steps, spec.grid.margin);
  const tileResults = tiles.flatMap((tile) => {
    const result = tileResult(`${embedding.method}:${tile.id}`);
    return result ? [{ ...result, tileId: tile.id }] : [];
  });
  const surface = assembleTiles(grid, tiles, tileResults);
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
      x: grid.x,
      y: grid.y,
      loss: surface.loss,
      accuracy: surface.accuracy,
      points: grid.x.length * grid.y.length,
      pointsComputed: surface.pointsComputed,
    },
    evaluation: methodEvaluation(embedding.method, setup, backend),
  };
}

/** What a unit returns: an embedding (`embed:<method>`) or evaluated points. */
export type TrajectoryUnitResult = EmbeddingResult | TileResult;

export const trajectoryHandler: JobHandler<TrajectorySpec, PreparedTrajectory, TrajectoryUnitResult> = {
  plan: (spec, resolve) => trajectoryUnits(spec, loadTrajectoryInputs(spec, resolve).checkpoints.length),
  prepare: (spec, resolve) => prepareTrajectory(spec, resolve),
  async runUnit(spec, prepared, unitId, context) {
    const embedded = spec.methods.find((method) => unitId === embedUnit(method));
    if (embedded) return embedMethod(spec, prepared, embedded);
    const points = unitPoints(spec, prepared, unitId, context.inputs);
    let evaluator = evaluators.get(prepared);
    if (!evaluator) {
      evaluator = new Evaluator(prepared.setup);
      evaluators.set(prepared, evaluator);
    }
    if ('plan' in points) return evaluateTile(evaluator, points.plan, points.tile, context.onWork);
    const { count, build } = points;
    const loss: number[] = [];
    const accuracy: (number | null)[] = [];
    for (let start = 0; start < count; start += CHUNK) {
      for (const vector of build(start, Math.min(count, start + CHUNK))) {
        const value = evaluator.evaluate(vector);
        loss.push(value.loss);
        accuracy.push(value.accuracy);
        if (context.onWork?.(loss.length) === false) throw new UnitCancelled(unitId);
      }
    }
    return { tileId: unitId, loss, accuracy };
  },
  async assemble(spec, prepared, results, execution, outDir) {
    const checkpointUnit = results.get(CHECKPOINT_UNIT) as TileResult | undefined;
    const checkpointLoss = checkpointUnit?.loss ?? [];
    const embeddings = spec.methods.map((method) => {
      const embedding = results.get(embedUnit(method)) as EmbeddingResult | undefined;
      if (!embedding) throw new Error(`the ${method} embedding unit has no result`);
      return embedding;
    });
    const methods: TrajectoryResult['methods'] = {};
    for (const embedding of embeddings)
      methods[embedding.method] = methodResult(spec, prepared.setup, embedding, results, checkpointLoss, execution.backend.name);
    const all = Object.values(methods);
    const points = all.reduce((sum, m) => sum + m.grid.points, 0);
    const pointsComputed = all.reduce((sum, m) => sum + m.grid.pointsComputed, 0);
    const evaluated = [...results.values()].reduce((sum, r) => sum + ('loss' in r ? r.loss.length : 0), 0);
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
      timings: { ...provenance.timings, embeddingSeconds: Object.fromEntries(embeddings.map((m) => [m.method, m.seconds])) },
    };
    mkdirSync(outDir, { recursive: true });
    result.files = await writeTrajectoryOutputs(result, outDir);
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    return result;
  },
  release(prepared) {
    evaluators.get(prepared)?.dispose();
    evaluators.delete(prepared);
  },
};
