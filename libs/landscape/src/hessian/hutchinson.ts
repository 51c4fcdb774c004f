import { createRng } from '../random';
import type { LinearOperator } from './hvp';
import { Counted, deriveSeed, dot, rademacher, type SolverStats } from './linalg';

export interface TraceResult extends SolverStats {
  value: number;
  /** Standard error of `value` (0 for an exact trace). */
  stderr: number;
  /** Random probe vectors used. */
  samples: number;
}

/**
 * zᵢᵀ H zᵢ for Rademacher probes i = first … first+count−1. Probe i is drawn from its own seeded stream, so
 * splitting the samples into batches (units on different workers) gives exactly the same numbers.
 */
export function hutchinsonSamples(operator: LinearOperator, options: { seed: number; first?: number; count: number }): number[] {
  const { seed, first = 0, count } = options;
  // One probe buffer and one product buffer for all probes (LinearOperator: no fresh host memory per product).
  const z = new Float64Array(operator.dimension);
  let product: Float64Array | undefined;
  return Array.from({ length: count }, (_, k) => {
    rademacher(operator.dimension, createRng(deriveSeed(seed, first + k)), z);
    product = operator.apply(z, product);
    return dot(z, product);
  });
}

/** Mean and standard error of the mean (sample standard deviation / √n). */
export function meanAndStderr(values: readonly number[]): { mean: number; stderr: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, stderr: NaN };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, stderr: Infinity };
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1);
  return { mean, stderr: Math.sqrt(variance / n) };
}

/** Hutchinson's trace estimator E[zᵀHz] with Rademacher z. */
export function hutchinson(operator: LinearOperator, options: { samples?: number; seed?: number } = {}): TraceResult {
  const { samples = 100, seed = 0 } = options;
  const op = new Counted(operator);
  const { mean, stderr } = meanAndStderr(hutchinsonSamples(op, { seed, count: samples }));
  return { value: mean, stderr, samples, iterations: samples, converged: true, hvps: op.hvps, seconds: op.seconds() };
}
