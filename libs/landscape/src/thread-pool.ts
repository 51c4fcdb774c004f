import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendChoice, BackendInfo } from './backend';
import type { EvaluationSetup, LandscapePlan } from './evaluate';
import type { Tile, TileResult } from './tiles';

/** Messages between the pool and `eval-thread.js`. */
export type ToThread = { type: 'init'; setup: EvaluationSetup; plan: LandscapePlan; backend: BackendChoice } | { type: 'tile'; tile: Tile };
export type FromThread =
  { type: 'ready'; backend: BackendInfo } | { type: 'point' } | { type: 'tile'; result: TileResult } | { type: 'error'; message: string; name: string };

export function defaultThreadCount(): number {
  return availableParallelism();
}

export interface PoolCallbacks {
  onPoint(): void;
  onTile(result: TileResult): void;
  /** Checked before each tile is handed out; false stops the run. */
  shouldContinue(): boolean;
}

/**
 * Evaluates tiles on `threads` worker threads, each with its own tfjs backend (tfjs' wasm backend is
 * single-threaded in Node, so threads are how one machine uses all its cores). Tiles are handed out one at a
 * time so fast threads take more. Resolves with the backend the threads report.
 */
export async function evaluateTilesInThreads(
  setup: EvaluationSetup,
  plan: LandscapePlan,
  tiles: readonly Tile[],
  threads: number,
  backend: BackendChoice,
  callbacks: PoolCallbacks,
): Promise<BackendInfo> {
  const queue = [...tiles];
  let reported: BackendInfo | undefined;
  const workers: Worker[] = [];
  try {
    await Promise.all(
      Array.from(
        { length: Math.min(threads, tiles.length) },
        () =>
          new Promise<void>((resolve, reject) => {
            const worker = new Worker(join(__dirname, 'eval-thread.js'));
            workers.push(worker);
            const next = (): void => {
              const tile = callbacks.shouldContinue() ? queue.shift() : undefined;
              if (tile) worker.postMessage({ type: 'tile', tile } satisfies ToThread);
              else resolve();
            };
            worker.on('message', (message: FromThread) => {
              switch (message.type) {
                case 'ready':
                  reported ??= message.backend;
                  next();
                  break;
                case 'point':
                  callbacks.onPoint();
                  break;
                case 'tile':
                  callbacks.onTile(message.result);
                  next();
                  break;
                case 'error': {
                  const error = new Error(message.message);
                  error.name = message.name;
                  reject(error);
                  break;
                }
              }
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (code !== 0) reject(new Error(`evaluation thread exited with code ${code}`));
            });
            worker.postMessage({ type: 'init', setup, plan, backend } satisfies ToThread);
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  if (!reported) throw new Error('no evaluation thread started');
  return reported;
}
