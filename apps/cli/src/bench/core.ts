import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import {
  coreJobKinds,
  parseJobSpec,
  prepareLandscape,
  runEmbedded,
  selectBackend,
  type BackendChoice,
  type LandscapeResult,
  type SurfaceSpec,
} from '@landscape/core';
import { medianSeconds, report } from './measure';

/** Reference fixtures shipped in the repo (test/fixtures/reference). */
export const REFERENCE_DIR = join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'reference');

export function machine(): Record<string, unknown> {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version };
}

/** Dense float32 matMul throughput of a backend, the yardstick for the per-point figures. */
export async function benchMatMul(backend: BackendChoice, sizes: number[]): Promise<void> {
  await selectBackend(backend);
  for (const n of sizes) {
    const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
    const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
    const seconds = await medianSeconds(5, () => {
      const product = tf.matMul(a, b);
      product.dataSync();
      product.dispose();
    });
    a.dispose();
    b.dispose();
    report({ case: 'matmul', backend, n, seconds, gflops: (2 * n ** 3) / seconds / 1e9, ...machine() });
  }
}

/** Points per second of a filter-normalized surface around the trained reference model. */
export async function benchSurface(model: 'm1_mlp' | 'm2_cnn', backend: BackendChoice, threads: number, steps: number): Promise<void> {
  const spec = parseJobSpec({
    kind: 'surface',
    model: 'model_trained',
    data: 'dataset.json',
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { file: 'direction_d1_raw.json' }, y: { file: 'direction_d2_raw.json' } },
    grid: { x: [-1, 1, steps], y: [-1, 1, steps] },
  }) as SurfaceSpec;
  const resolve = (ref: string): string => join(REFERENCE_DIR, model, ref);
  const prepared = prepareLandscape(spec, resolve);
  const out = mkdtempSync(join(tmpdir(), 'landscape-bench-surface-'));
  let used = '';
  const times: number[] = [];
  try {
    // The executor's evaluation time (threads included, assembly not), as `landscape run` records it; a warm-up first.
    for (let i = 0; i < 4; i++) {
      const run = (await runEmbedded(coreJobKinds, spec, resolve, out, { threads, backend })) as LandscapeResult;
      used = run.backend;
      if (i > 0) times.push(run.timings.evaluateSeconds);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const seconds = times.sort((a, b) => a - b)[1]!;
  const points = steps * steps;
  report({ case: 'surface', model, backend: used, threads, points, seconds, pointsPerSecond: points / seconds, samples: prepared.setup.data.n, ...machine() });
}
