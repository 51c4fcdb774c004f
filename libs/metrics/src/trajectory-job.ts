import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  assembleTiles,
  checkPointLimit,
  defaultTileSize,
  Evaluator,
  InputError,
  layoutSize,
  linspace,
  loadData,
  loadModelRef,
  PACKAGE_VERSION,
  planTiles,
  readWeightSetFile,
  selectBackend,
  stringifyResult,
  surfaceSpec,
  TileCancelled,
  tilePoints,
  type EvaluationSetup,
  type ExecutionRecord,
  type GridValues,
  type JobHandler,
  type LoadedModel,
  type Provenance,
  type RefResolver,
  type Tile,
  type TileResult,
  type WeightLayout,
} from '@landscape/core';
import { trainAutoencoder } from './autoencoder';
import { idwLeaveOneOut } from './inverse-map';
import { distancesFromGram, squaredDistances, type DistanceMatrix } from './neighbours';
import { fitPca, liTrajectoryPca, pcaInverseTransform } from './pca';
import { continuity, reconstructionMse, relativeLossError, trustworthiness } from './quality';
import { fitUmap } from './umap';

/**
 * Job kind `trajectory`: embed training checkpoints in 2-D (Li et al. PCA about θ_final, mean-centred PCA, UMAP
 * or an autoencoder), lay a grid over the embedding, map every grid point back to parameter space and evaluate
 * the loss there; also the loss at every checkpoint and at its reconstruction, and the embedding's quality.
 * The schema reuses the surface kind's common fields (model, data, loss, backend, limits, tiles, …).
 */
const ref = surfaceSpec.shape.model;
const axis = surfaceSpec.shape.grid.shape.x;
const seed = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);
const count = z.number().int().min(1);

export const TRAJECTORY_METHODS = ['li', 'pca', 'umap', 'autoencoder'] as const;
export type TrajectoryMethod = (typeof TRAJECTORY_METHODS)[number];

export const trajectorySpec = surfaceSpec
  .omit({ kind: true, directions: true, grid: true })
  .extend({
    kind: z.literal('trajectory'),
    /** In training order: weight-set files or model directories, or one file {"checkpoints": [[...flat...], ...]}. */
    checkpoints: z.union([z.array(ref).min(2, 'needs at least 2 checkpoints'), z.object({ file: ref }).strict()]),
    method: z.enum(TRAJECTORY_METHODS).default('li'),
    /** Explicit axes in embedding coordinates, or `steps` over the embedding's bounding box widened by `margin`. */
    grid: z
      .union([z.object({ x: axis, y: axis }).strict(), z.object({ steps: z.tuple([count, count]), margin: z.number().finite().min(0).default(0.25) }).strict()])
      .default({ steps: [21, 21] }),
    /** Neighbourhood size of trustworthiness and continuity (k < checkpoints / 2). */
    quality: z
      .object({ k: count.default(5) })
      .strict()
      .default({}),
    umap: z
      .object({
        nNeighbors: z.number().int().min(2).default(15),
        minDist: z.number().finite().min(0).default(0.1),
        nEpochs: count.optional(),
        seed: seed.default(0),
        /** Checkpoints interpolated by the inverse map. */
        inverseK: count.default(3),
      })
      .strict()
      .default({}),
    autoencoder: z
      .object({
        hidden: z.array(count).max(4).default([32]),
        epochs: count.max(100_000).default(300),
        learningRate: z.number().positive().finite().default(0.01),
        seed: seed.default(0),
      })
      .strict()
      .default({}),
  })
  .strict();

export type TrajectorySpec = z.infer<typeof trajectorySpec>;

export interface TrajectoryQuality {
  k: number;
  trustworthiness: number;
  continuity: number;
  /** Mean squared error of the reconstructed checkpoints (see `reconstruction`). */
  reconstructionMse: number;
  /** Mean |L(θ̂_i) − L(θ_i)| / L(θ_i); filled in after evaluation. */
  relativeLossError?: number;
  /** How θ̂_i was obtained. */
  reconstruction: string;
}

export interface PreparedTrajectory {
  setup: EvaluationSetup;
  model: LoadedModel;
  method: TrajectoryMethod;
  checkpoints: Float64Array[];
  embedding: number[][];
  reconstructions: Float64Array[];
  /** Embedding coordinates → parameter vectors. */
  inverse: (points: readonly ArrayLike<number>[]) => Float64Array[];
  grid: { x: number[]; y: number[] };
  tiles: Tile[];
  quality: TrajectoryQuality;
  /** Method facts for the result (explained variance, seeds, settings). */
  details: Record<string, unknown>;
  embeddingSeconds: number;
}

export interface TrajectoryResult extends Provenance {
  kind: 'trajectory';
  label?: string;
  method: TrajectoryMethod;
  details: Record<string, unknown>;
  /** One 2-D point per checkpoint, in training order. */
  embedding: number[][];
  quality: TrajectoryQuality;
  checkpointLoss: number[];
  checkpointAccuracy: (number | null)[];
  reconstructedLoss: number[];
  x: number[];
  y: number[];
  /** [iy][ix]; null = not computed. */
  loss: GridValues;
  accuracy: GridValues;
  points: number;
  pointsComputed: number;
  embeddingSeconds: number;
}

const CHECKPOINT_UNIT = 'checkpoints';

function sameLayout(a: WeightLayout, b: WeightLayout): string | undefined {
  const differing = a.find((spec, i) => b[i]?.name !== spec.name || b[i]?.shape.join() !== spec.shape.join());
  if (differing || a.length !== b.length) return differing?.name ?? '(weight count)';
  return undefined;
}

function loadCheckpoints(spec: TrajectorySpec, resolve: RefResolver, model: LoadedModel): Float64Array[] {
  const { layout } = model.description;
  const size = layoutSize(layout);
  if (!Array.isArray(spec.checkpoints)) {
    const path = resolve(spec.checkpoints.file, 'checkpoints.file');
    let parsed: { checkpoints?: unknown };
    try {
      parsed = JSON.parse(readFileSync(path, 'utf8')) as { checkpoints?: unknown };
    } catch (error) {
      throw new InputError(`cannot read ${path}: ${(error as Error).message}`, 'checkpoints.file');
    }
    if (!Array.isArray(parsed.checkpoints)) throw new InputError(`${path} needs a "checkpoints" array of flat parameter vectors`, 'checkpoints.file');
    return parsed.checkpoints.map((row: unknown, i) => {
      if (!Array.isArray(row) || row.length !== size) {
        throw new InputError(`checkpoint ${i} must be ${size} numbers (the model's flat parameter count)`, 'checkpoints.file');
      }
      const flat = Float64Array.from(row as number[]);
      const bad = flat.findIndex((value) => !Number.isFinite(value));
      if (bad >= 0) throw new InputError(`checkpoint ${i} has a non-finite value at parameter ${bad}`, 'checkpoints.file');
      return flat;
    });
  }
  return spec.checkpoints.map((checkpoint, i) => {
    const field = `checkpoints.${i}`;
    const path = resolve(checkpoint, field);
    const isModel = path.endsWith('.json') ? path.endsWith('model.json') : existsSync(path) && statSync(path).isDirectory();
    if (!isModel) return readWeightSetFile(path, layout);
    const other = loadModelRef(checkpoint, field, resolve);
    const differing = sameLayout(layout, other.description.layout);
    if (differing) throw new InputError(`model ${checkpoint} does not have the weights of ${spec.model} (first difference: '${differing}')`, field);
    return other.weights;
  });
}

interface Embedded {
  embedding: number[][];
  inverse: (points: readonly ArrayLike<number>[]) => Float64Array[];
  reconstructions: Float64Array[];
  distances: DistanceMatrix;
  reconstruction: string;
  details: Record<string, unknown>;
}

async function embed(spec: TrajectorySpec, rows: Float64Array[]): Promise<Embedded> {
  if (spec.method === 'li' || spec.method === 'pca') {
    const li = spec.method === 'li' ? liTrajectoryPca(rows) : undefined;
    const pca = li?.pca ?? fitPca(rows);
    const origin = li ? rows[li.finalIndex]! : pca.mean;
    const embedding = li?.projection ?? pca.embedding;
    const inverse = (points: readonly ArrayLike<number>[]): Float64Array[] => pcaInverseTransform(pca, points, origin);
    return {
      embedding,
      inverse,
      reconstructions: inverse(embedding),
      distances: distancesFromGram(pca.centredGram, rows.length),
      reconstruction: li
        ? 'nearest point of the plotted plane through θ_final (θ_final + projection of θ_i − θ_final)'
        : 'nearest point of the mean-centred principal plane (scikit-learn inverse_transform(transform))',
      details: {
        origin: li ? 'final checkpoint (θ_i − θ_final, no re-centring)' : 'mean of the checkpoints',
        explainedVarianceRatio: pca.explainedVarianceRatio,
        explainedVariance: pca.explainedVariance,
        pcaSeconds: pca.timings,
      },
    };
  }
  const distances = squaredDistances(rows, 'checkpoints');
  if (spec.method === 'umap') {
    const { inverseK, ...options } = spec.umap;
    const umap = fitUmap(rows, { ...options, inverse: { k: Math.min(inverseK, rows.length) } });
    return {
      embedding: umap.embedding,
      inverse: umap.inverse,
      // The IDW map returns each checkpoint exactly at its own point, so rebuild each from its neighbours instead.
      reconstructions: idwLeaveOneOut(umap.embedding, rows, { k: Math.min(inverseK, rows.length - 1) }),
      distances,
      reconstruction: `leave-one-out inverse-distance interpolation among the ${inverseK} nearest embedded checkpoints`,
      details: { nNeighbors: umap.nNeighbors, minDist: umap.minDist, nEpochs: umap.nEpochs, seed: umap.seed, inverseK, library: 'umap-js 1.4' },
    };
  }
  await selectBackend(spec.backend);
  const autoencoder = trainAutoencoder(rows, spec.autoencoder);
  const embedding = autoencoder.encode(rows);
  return {
    embedding,
    inverse: (points) => autoencoder.decode(points),
    reconstructions: autoencoder.decode(embedding),
    distances,
    reconstruction: 'decoder(encoder(θ_i))',
    details: { ...spec.autoencoder, backend: autoencoder.backend, finalTrainingLoss: autoencoder.losses[autoencoder.losses.length - 1] },
  };
}

function embeddingGrid(spec: TrajectorySpec, embedding: number[][]): { x: number[]; y: number[] } {
  if ('x' in spec.grid) return { x: linspace(spec.grid.x), y: linspace(spec.grid.y) };
  const { steps, margin } = spec.grid;
  const [x, y] = [0, 1].map((c) => {
    const values = embedding.map((point) => point[c]!);
    const low = Math.min(...values);
    const high = Math.max(...values);
    const pad = high > low ? margin * (high - low) : 1;
    return linspace([low - pad, high + pad, steps[c]!]);
  });
  return { x: x!, y: y! };
}

export async function prepareTrajectory(spec: TrajectorySpec, resolve: RefResolver): Promise<PreparedTrajectory> {
  const model = loadModelRef(spec.model, 'model', resolve);
  const data = loadData(spec.data, resolve);
  if (data.sampleShape.join(',') !== model.description.inputShape.join(',')) {
    throw new InputError(`samples have shape [${data.sampleShape.join(', ')}] but the model expects [${model.description.inputShape.join(', ')}]`, 'data');
  }
  const checkpoints = loadCheckpoints(spec, resolve, model);
  const k = spec.quality.k;
  if (k >= checkpoints.length / 2) {
    throw new InputError(`must be below half the number of checkpoints (${checkpoints.length}), got ${k}`, 'quality.k');
  }
  const started = performance.now();
  const embedded = await embed(spec, checkpoints);
  const embeddingSeconds = (performance.now() - started) / 1000;
  if (!embedded.embedding.flat().every(Number.isFinite)) throw new InputError(`the ${spec.method} embedding has non-finite coordinates`, 'method');
  const grid = embeddingGrid(spec, embedded.embedding);
  checkPointLimit(grid, spec.limits.maxPoints);
  return {
    setup: { model: model.description, data, loss: spec.loss, output: spec.output, batchSize: spec.evaluation.batchSize },
    model,
    method: spec.method,
    checkpoints,
    embedding: embedded.embedding,
    reconstructions: embedded.reconstructions,
    inverse: embedded.inverse,
    grid,
    tiles: planTiles(grid, spec.tiles ?? defaultTileSize(grid, 16)),
    quality: {
      k,
      trustworthiness: trustworthiness(embedded.distances, embedded.embedding, k),
      continuity: continuity(embedded.distances, embedded.embedding, k),
      reconstructionMse: reconstructionMse(checkpoints, embedded.reconstructions),
      reconstruction: embedded.reconstruction,
    },
    details: embedded.details,
    embeddingSeconds,
  };
}

/** Per process, one evaluator per prepared trajectory (data uploaded once for all units). */
const evaluators = new WeakMap<PreparedTrajectory, Evaluator>();

function evaluatorFor(prepared: PreparedTrajectory): Evaluator {
  let evaluator = evaluators.get(prepared);
  if (!evaluator) {
    evaluator = new Evaluator(prepared.setup);
    evaluators.set(prepared, evaluator);
  }
  return evaluator;
}

/** Frees the evaluator kept for a prepared trajectory (call when the job is done). */
export function releaseTrajectory(prepared: PreparedTrajectory): void {
  evaluators.get(prepared)?.dispose();
  evaluators.delete(prepared);
}

/** The parameter vectors a unit evaluates: the tile's grid points, or every checkpoint then its reconstruction. */
function unitParameters(prepared: PreparedTrajectory, unitId: string): { count: number; at: (i: number) => Float64Array } {
  if (unitId === CHECKPOINT_UNIT) {
    const all = [...prepared.checkpoints, ...prepared.reconstructions];
    return { count: all.length, at: (i) => all[i]! };
  }
  const tile = prepared.tiles.find((t) => t.id === unitId);
  if (!tile) throw new Error(`no unit ${unitId} in this job`);
  const width = tile.x1 - tile.x0;
  return {
    count: tilePoints(tile),
    at: (i) => prepared.inverse([[prepared.grid.x[tile.x0 + (i % width)]!, prepared.grid.y[tile.y0 + Math.floor(i / width)]!]])[0]!,
  };
}

/**
 * The handler. Typed JobHandler<any, …> only because JobHandler's Spec must extend the shared JobSpec union,
 * which does not list `trajectory` yet; once spec.ts includes trajectorySpec this becomes JobHandler<TrajectorySpec, …>.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const trajectoryHandler: JobHandler<any, PreparedTrajectory, TileResult> = {
  kind: 'trajectory',
  prepare: (spec: TrajectorySpec, resolve: RefResolver) => prepareTrajectory(spec, resolve),
  units: (_spec: TrajectorySpec, prepared: PreparedTrajectory) => [
    { id: CHECKPOINT_UNIT, work: 2 * prepared.checkpoints.length },
    ...prepared.tiles.map((tile) => ({ id: tile.id, work: tilePoints(tile) })),
  ],
  async runUnit(_spec: TrajectorySpec, prepared: PreparedTrajectory, unitId: string, context) {
    const { count: n, at } = unitParameters(prepared, unitId);
    await selectBackend(context.backend);
    const evaluator = evaluatorFor(prepared);
    const loss: number[] = [];
    const accuracy: (number | null)[] = [];
    for (let i = 0; i < n; i++) {
      const value = evaluator.evaluate(at(i));
      loss.push(value.loss);
      accuracy.push(value.accuracy);
      if (context.onWork?.(i + 1) === false) throw new TileCancelled(unitId);
    }
    return { tileId: unitId, loss, accuracy };
  },
  async assemble(spec: TrajectorySpec, prepared: PreparedTrajectory, results: ReadonlyMap<string, TileResult>, execution: ExecutionRecord, outDir: string) {
    const checkpointUnit = results.get(CHECKPOINT_UNIT);
    const n = prepared.checkpoints.length;
    const checkpointLoss = checkpointUnit?.loss.slice(0, n) ?? [];
    const reconstructedLoss = checkpointUnit?.loss.slice(n) ?? [];
    const grid = { x: prepared.grid.x, y: prepared.grid.y };
    const surface = assembleTiles(
      grid,
      prepared.tiles,
      [...results.values()].filter((result) => result.tileId !== CHECKPOINT_UNIT),
    );
    const positive = checkpointLoss.length === n && checkpointLoss.every((value) => value > 0);
    const finishedAt = new Date();
    const result: TrajectoryResult = {
      kind: 'trajectory',
      ...(spec.label ? { label: spec.label } : {}),
      method: prepared.method,
      details: prepared.details,
      embedding: prepared.embedding,
      quality: { ...prepared.quality, ...(positive ? { relativeLossError: relativeLossError(reconstructedLoss, checkpointLoss) } : {}) },
      checkpointLoss,
      checkpointAccuracy: checkpointUnit?.accuracy.slice(0, n) ?? [],
      reconstructedLoss,
      x: grid.x,
      y: grid.y,
      loss: surface.loss,
      accuracy: surface.accuracy,
      points: grid.x.length * grid.y.length,
      pointsComputed: surface.pointsComputed,
      embeddingSeconds: prepared.embeddingSeconds,
      version: PACKAGE_VERSION,
      backend: execution.backend.name,
      backendDetail: execution.backend,
      threads: execution.threads,
      ...(execution.workers ? { workers: execution.workers } : {}),
      dtype: 'float32',
      model: { ref: spec.model, name: prepared.model.description.name, parameters: layoutSize(prepared.model.description.layout) },
      data: { ...prepared.setup.data.provenance, n: prepared.setup.data.n },
      lossFunction: prepared.setup.loss,
      output: prepared.setup.output,
      batchSize: prepared.setup.batchSize,
      timings: {
        startedAt: execution.startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        prepareSeconds: execution.prepareSeconds,
        evaluateSeconds: execution.evaluateSeconds,
        totalSeconds: (finishedAt.getTime() - execution.startedAt.getTime()) / 1000,
        pointsPerSecond: (surface.pointsComputed + checkpointLoss.length + reconstructedLoss.length) / execution.evaluateSeconds,
      },
    };
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    return result;
  },
};
