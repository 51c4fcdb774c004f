import { createRng } from '../random';
import type { LinearOperator } from './hvp';
import { LanczosProcess } from './lanczos';
import { Counted, deriveSeed, rademacher, type SolverStats } from './linalg';

/** One SLQ run: the quadrature nodes (Ritz values) and weights (squared first components, summing to 1). */
export interface SlqRun extends SolverStats {
  nodes: number[];
  weights: number[];
}

/**
 * Run `index` of stochastic Lanczos quadrature: `steps` Lanczos steps (full reorthogonalization) from a
 * normalized Rademacher vector drawn from its own seeded stream, so runs can be computed anywhere, in any order.
 */
export function slqRun(operator: LinearOperator, options: { steps: number; seed: number; index: number }): SlqRun {
  const op = new Counted(operator);
  const rng = createRng(deriveSeed(options.seed, options.index));
  const process = new LanczosProcess(op, rng, rademacher(op.dimension, rng));
  while (process.steps < Math.min(options.steps, op.dimension) && !process.exhausted) process.step();
  const { values, vectors } = process.ritz();
  return { nodes: values, weights: vectors.map((s) => s[0]! ** 2), iterations: process.steps, converged: true, hvps: op.hvps, seconds: op.seconds() };
}

export interface DensityOptions {
  /** Grid points. */
  points?: number;
  /** Gaussian width; default 1/100 of the node range. */
  sigma?: number;
}

export interface SpectralDensity {
  grid: number[];
  values: number[];
  sigma: number;
}

/**
 * The smoothed spectral density (1/runs) Σ_runs Σ_i wᵢ N(t; θᵢ, σ²) on a grid that covers every node by 5σ,
 * normalized so that its trapezoidal integral over the grid is exactly 1.
 */
export function slqDensity(runs: readonly Pick<SlqRun, 'nodes' | 'weights'>[], options: DensityOptions = {}): SpectralDensity {
  const points = Math.max(2, options.points ?? 512);
  const nodes = runs.flatMap((run) => run.nodes);
  if (nodes.length === 0) throw new Error('no SLQ runs to build a density from');
  const low = Math.min(...nodes);
  const high = Math.max(...nodes);
  const sigma = options.sigma ?? Math.max((high - low) / 100, 1e-12 * Math.max(1, Math.abs(high)));
  const start = low - 5 * sigma;
  const step = (high + 5 * sigma - start) / (points - 1);
  const grid = Array.from({ length: points }, (_, i) => start + i * step);
  const values = new Array<number>(points).fill(0);
  const norm = 1 / (runs.length * sigma * Math.sqrt(2 * Math.PI));
  for (const run of runs) {
    run.nodes.forEach((node, k) => {
      const w = run.weights[k]! * norm;
      for (let i = 0; i < points; i++) values[i] += w * Math.exp(-0.5 * ((grid[i]! - node) / sigma) ** 2);
    });
  }
  const integral = trapezoid(grid, values);
  return { grid, values: values.map((v) => v / integral), sigma };
}

export function trapezoid(x: readonly number[], y: readonly number[]): number {
  let sum = 0;
  for (let i = 1; i < x.length; i++) sum += 0.5 * (y[i]! + y[i - 1]!) * (x[i]! - x[i - 1]!);
  return sum;
}

/** Stochastic Lanczos quadrature density (Ghorbani et al. 2019): `runs` runs of `steps` steps. */
export function slq(
  operator: LinearOperator,
  options: { runs?: number; steps?: number; seed?: number } & DensityOptions = {},
): SpectralDensity & SolverStats & { runs: SlqRun[] } {
  const { runs = 10, steps = 80, seed = 0 } = options;
  const started = performance.now();
  const all = Array.from({ length: runs }, (_, index) => slqRun(operator, { steps, seed, index }));
  return {
    ...slqDensity(all, options),
    runs: all,
    iterations: all.reduce((sum, run) => sum + run.iterations, 0),
    converged: true,
    hvps: all.reduce((sum, run) => sum + run.hvps, 0),
    seconds: (performance.now() - started) / 1000,
  };
}
