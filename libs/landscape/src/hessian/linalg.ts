import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import type { Rng } from '../random';
import { dot, norm } from '../weights';
import type { LinearOperator } from './hvp';

/** What every solver reports besides its answer. */
export interface SolverStats {
  iterations: number;
  converged: boolean;
  /** Hessian-vector products used. */
  hvps: number;
  seconds: number;
}

// The float64 vector primitives of weights.ts, re-exported for the solvers.
export { dot, norm };

/** y += a·x, in place. */
export function axpy(a: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < y.length; i++) y[i] += a * x[i]!;
}

export function scaleInPlace(v: Float64Array, factor: number): Float64Array {
  for (let i = 0; i < v.length; i++) v[i] *= factor;
  return v;
}

/** Removes the components along an orthonormal basis; two classical Gram–Schmidt passes ("twice is enough"). */
export function orthogonalizeAgainst(v: Float64Array, basis: readonly Float64Array[]): void {
  for (let pass = 0; pass < 2; pass++) for (const q of basis) axpy(-dot(q, v), q, v);
}

// Plain loops fill the vectors: Float64Array.from({ length: n }, f) iterates generically, ~10× slower at n = 10⁵.
/** n random signs, written into `into` when given. */
export function rademacher(n: number, rng: Rng, into?: Float64Array): Float64Array {
  const v = into?.length === n ? into : new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.uniform() < 0.5 ? -1 : 1;
  return v;
}

export function gaussian(n: number, rng: Rng): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.normal();
  return v;
}

/** A unit vector orthogonal to `basis`, or undefined when the basis already spans the space. */
export function randomOrthogonalUnit(n: number, rng: Rng, basis: readonly Float64Array[]): Float64Array | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    const v = gaussian(n, rng);
    orthogonalizeAgainst(v, basis);
    const length = norm(v);
    if (length > 1e-8 * Math.sqrt(n)) return scaleInPlace(v, 1 / length);
  }
  return undefined;
}

/** Seeds for independent pieces of one job (sample i, run i): the same i always gets the same stream. */
export function deriveSeed(seed: number, index: number): number {
  let z = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x7feb352d) >>> 0;
  z = Math.imul(z ^ (z >>> 15), 0x846ca68b) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/** Counts products and wall time of an operator. */
export class Counted implements LinearOperator {
  hvps = 0;
  private readonly started = performance.now();
  constructor(private readonly inner: LinearOperator) {}
  get dimension(): number {
    return this.inner.dimension;
  }
  apply(v: Float64Array, into?: Float64Array): Float64Array {
    this.hvps++;
    return this.inner.apply(v, into);
  }
  seconds(): number {
    return (performance.now() - this.started) / 1000;
  }
}

export interface SymmetricEigen {
  /** Ascending. */
  values: number[];
  /** vectors[i] belongs to values[i]. */
  vectors: Float64Array[];
}

/** Eigen-decomposition of a symmetric matrix (rows), sorted ascending. */
export function symmetricEigen(rows: number[][]): SymmetricEigen {
  const n = rows.length;
  if (n === 0) return { values: [], vectors: [] };
  const evd = new EigenvalueDecomposition(new Matrix(rows), { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const v = evd.eigenvectorMatrix;
  const order = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]!);
  return {
    values: order.map((i) => values[i]!),
    vectors: order.map((i) => Float64Array.from({ length: n }, (_, r) => v.get(r, i))),
  };
}

/** Eigen-decomposition of the symmetric tridiagonal matrix with diagonal `alpha` and off-diagonal `beta`. */
export function tridiagonalEigen(alpha: readonly number[], beta: readonly number[]): SymmetricEigen {
  const m = alpha.length;
  const rows = Array.from({ length: m }, (_, i) => {
    const row = new Array<number>(m).fill(0);
    row[i] = alpha[i]!;
    if (i > 0) row[i - 1] = beta[i - 1]!;
    if (i < m - 1) row[i + 1] = beta[i]!;
    return row;
  });
  return symmetricEigen(rows);
}
