import { availableParallelism } from 'node:os';
import { selectBackend, type BackendChoice, type BackendInfo } from './backend';
import { Evaluator, evaluateTile, evaluationSubspace } from './evaluate';
import { gridSize } from './grid';
import type { PreparedLandscape } from './prepare';
import { evaluationProvenance, type LandscapeResult } from './result';
import type { LineSpec, SurfaceSpec } from './spec';
import { subspaceRecord } from './subspace';
import { evaluateTilesInThreads } from './thread-pool';
import type { EmbeddedOptions, ExecutionRecord } from './handler';
import { tilePoints, type AssembledSurface, type Tile, type TileResult } from './tiles';

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
 * asked for or the job is short, else on a pool of worker threads.
 */
export async function evaluateLandscape(prepared: PreparedLandscape, tiles: readonly Tile[], options: EvaluateOptions): Promise<EvaluatedLandscape> {
  const started = performance.now();
  const backend = await selectBackend(options.backend);
  const points = tiles.reduce((sum, tile) => sum + tilePoints(tile), 0);
  const results: TileResult[] = [];
  let done = 0;
  const onPoint = (): boolean => {
    done++;
    options.onProgress?.({ done, total: points, unit: 'points' });
    return !options.signal?.aborted;
  };
  const evaluator = new Evaluator(prepared.setup);
  let threads: number;
  try {
    threads = Math.max(1, Math.min(options.threads === 'auto' ? autoThreads(evaluator, prepared, backend, points) : options.threads, tiles.length));
    if (threads === 1) {
      for (const tile of tiles) results.push(evaluateTile(evaluator, prepared.plan, tile, onPoint));
    }
  } finally {
    evaluator.dispose();
  }
  let used = backend;
  if (threads > 1) {
    used = await evaluateTilesInThreads(
      prepared.setup,
      prepared.plan,
      tiles,
      threads,
      options.backend === 'auto' ? (backend.name as BackendChoice) : options.backend,
      {
        onPoint,
        onTile: (result) => results.push(result),
        shouldContinue: () => !options.signal?.aborted,
      },
    );
  }
  if (options.signal?.aborted) throw new Error('cancelled');
  return { results, backend: used, threads, evaluateSeconds: (performance.now() - started) / 1000 };
}

/** Below this estimated single-thread time, starting threads (a backend and a data upload each) does not pay. */
const THREADS_WORTHWHILE_SECONDS = 2;

/**
 * One thread per core when the job is long enough to repay the threads' start-up, judged by timing a few points
 * here. Native TensorFlow threads itself, so it always gets one.
 */
function autoThreads(evaluator: Evaluator, prepared: PreparedLandscape, backend: BackendInfo, points: number): number {
  const cores = availableParallelism();
  if (cores === 1 || backend.name === 'tensorflow') return 1;
  evaluator.evaluate(prepared.plan.origin);
  const samples = 3;
  const start = performance.now();
  for (let i = 0; i < samples; i++) evaluator.evaluate(prepared.plan.origin);
  const estimate = ((performance.now() - start) / 1000 / samples) * points;
  return estimate < THREADS_WORTHWHILE_SECONDS ? 1 : cores;
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
    evaluation: { subspace: subspaceRecord(evaluationSubspace(prepared.setup, prepared.plan.directions.length)) },
    ...evaluationProvenance(spec.model, prepared.model.description.name, prepared.setup, execution, surface.pointsComputed),
  };
}
