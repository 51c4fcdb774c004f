import { createRng } from '@landscape/core';
import { fitPca, type PcaTimings } from './pca';

export interface PcaBenchmark extends PcaTimings {
  checkpoints: number;
  parameters: number;
  nComponents: number;
  /** CPU seconds of this process during the fit: close to `total` unless other processes share the cores. */
  cpuSeconds: number;
  /** Multiply-adds of the Gram matrix per second: n(n+1)/2 · P / gram seconds. */
  gramMultiplyAddsPerSecond: number;
}

/**
 * Times fitPca on a synthetic random-walk trajectory (seeded: each checkpoint is the previous one plus Gaussian
 * noise, like SGD checkpoints). Default size 200 × 100,000, the size the Gram-matrix design is meant for.
 */
export function benchPca(options: { checkpoints?: number; parameters?: number; components?: number; seed?: number } = {}): PcaBenchmark {
  const n = options.checkpoints ?? 200;
  const p = options.parameters ?? 100_000;
  const components = options.components ?? 2;
  const rng = createRng(options.seed ?? 0);
  const rows: Float64Array[] = [];
  let previous = new Float64Array(p).map(() => rng.normal());
  for (let i = 0; i < n; i++) {
    const row = previous.map((value) => value + 0.01 * rng.normal());
    rows.push(row);
    previous = row;
  }
  const cpuBefore = process.cpuUsage();
  const { timings } = fitPca(rows, { components });
  const cpu = process.cpuUsage(cpuBefore);
  return {
    ...timings,
    checkpoints: n,
    parameters: p,
    nComponents: components,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    gramMultiplyAddsPerSecond: (((n * (n + 1)) / 2) * p) / timings.gram,
  };
}
