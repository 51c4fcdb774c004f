import { availableParallelism } from 'node:os';
import { selectBackend, type BackendChoice, type BackendInfo } from './backend';
import { Evaluator, evaluateTile } from './evaluate';
import { gridSize } from './grid';
import type { PreparedLandscape } from './prepare';
import { PACKAGE_VERSION, type LandscapeResult } from './result';
import type { LineSpec, SurfaceSpec } from './spec';
import { evaluateTilesInThreads } from './thread-pool';
import type { EmbeddedOptions, ExecutionRecord } from './handler';
import { tilePoints, type AssembledSurface, type Tile, type TileResult } from './tiles';
import { layoutSize } from './weights';

export interface Progress {
  done: number;
  total: number;
  unit: string;
}

export type EvaluateOptions = EmbeddedOptions;

export interface EvaluatedLandscape {
  results: TileResult[];
  backend: BackendInfo;
  threads: number;
  evaluateSeconds: number;
}

/**
 * Evaluates every point of a prepared landscape in this process: on the calling thread when one thread is
 * asked for (or the backend is native TensorFlow, which threads itself), else on a pool of worker threads.
 */
export async function evaluateLandscape(prepared: PreparedLandscape, tiles: readonly Tile[], options: EvaluateOptions): Promise<EvaluatedLandscape> {
  const started = performance.now();
  const backend = await selectBackend(options.backend);
  const points = tiles.reduce((sum, tile) => sum + tilePoints(tile), 0);
  const cores = availableParallelism();
  const requested = options.threads === 'auto' ? (backend.name === 'tensorflow' || points < 64 ? 1 : cores) : options.threads;
  const threads = Math.max(1, Math.min(requested, tiles.length));
  const results: TileResult[] = [];
  let done = 0;
  const onPoint = (): boolean => {
    done++;
    options.onProgress?.({ done, total: points, unit: 'points' });
    return !options.signal?.aborted;
  };
  let used = backend;
  if (threads === 1) {
    const evaluator = new Evaluator(prepared.setup);
    try {
      for (const tile of tiles) results.push(evaluateTile(evaluator, prepared.plan, tile, onPoint));
    } finally {
      evaluator.dispose();
    }
  } else {
    used = await evaluateTilesInThreads(prepared.setup, prepared.plan, tiles, threads, options.backend === 'auto' ? (backend.name as BackendChoice) : options.backend, {
      onPoint,
      onTile: (result) => results.push(result),
      shouldContinue: () => !options.signal?.aborted,
    });
  }
  if (options.signal?.aborted) throw new Error('cancelled');
  return { results, backend: used, threads, evaluateSeconds: (performance.now() - started) / 1000 };
}

/** The result.json object of a line or surface job. */
export function landscapeResult(
  spec: LineSpec | SurfaceSpec,
  prepared: PreparedLandscape,
  surface: AssembledSurface,
  execution: ExecutionRecord,
): LandscapeResult {
  const { grid } = prepared.plan;
  const first = prepared.directions[0]!;
  const finishedAt = new Date();
  return {
    kind: prepared.kind,
    ...(spec.label ? { label: spec.label } : {}),
    x: grid.x,
    ...(grid.y ? { y: grid.y } : {}),
    loss: grid.y ? surface.loss : surface.loss[0]!,
    accuracy: grid.y ? surface.accuracy : surface.accuracy[0]!,
    directions: prepared.directions,
    normalization: first.normalization,
    bias: first.bias,
    points: gridSize(grid).points,
    pointsComputed: surface.pointsComputed,
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
      pointsPerSecond: surface.pointsComputed / execution.evaluateSeconds,
    },
  };
}
