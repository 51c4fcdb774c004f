import { createRng, type Rng } from '../random';
import type { LinearOperator } from './hvp';
import {
  axpy,
  Counted,
  dot,
  norm,
  orthogonalizeAgainst,
  randomOrthogonalUnit,
  scaleInPlace,
  tridiagonalEigen,
  type SolverStats,
  type SymmetricEigen,
} from './linalg';
import type { EigenResult } from './power';

/**
 * The Lanczos process with full reorthogonalization: an orthonormal Krylov basis Q and the tridiagonal
 * T = QᵀHQ (diagonal alpha, off-diagonal beta). When the Krylov space becomes invariant (β ≈ 0) the process
 * continues from a fresh random vector orthogonal to Q, so it can run until it spans the whole space.
 */
export class LanczosProcess {
  readonly basis: Float64Array[] = [];
  readonly alpha: number[] = [];
  readonly beta: number[] = [];
  private next: Float64Array | undefined;

  constructor(
    private readonly op: LinearOperator,
    private readonly rng: Rng,
    start?: Float64Array,
  ) {
    const v = start ? Float64Array.from(start) : undefined;
    const length = v ? norm(v) : 0;
    this.next = v && length > 0 ? scaleInPlace(v, 1 / length) : randomOrthogonalUnit(op.dimension, rng, []);
  }

  get steps(): number {
    return this.alpha.length;
  }

  /** True when the basis spans the whole space (T is then similar to H). */
  get exhausted(): boolean {
    return this.next === undefined;
  }

  step(): void {
    const q = this.next;
    if (!q) throw new Error('Lanczos basis already spans the space');
    const w = this.op.apply(q);
    const a = dot(q, w);
    axpy(-a, q, w);
    const previous = this.basis[this.basis.length - 1];
    if (previous) axpy(-this.beta[this.beta.length - 1]!, previous, w);
    this.basis.push(q);
    this.alpha.push(a);
    orthogonalizeAgainst(w, this.basis);
    const b = norm(w);
    const scale = Math.max(...this.alpha.map(Math.abs), ...this.beta, Number.MIN_VALUE);
    if (this.basis.length >= this.op.dimension) {
      this.next = undefined;
    } else if (b > 1e-10 * scale) {
      this.next = scaleInPlace(w, 1 / b);
    } else {
      // Invariant subspace: restart orthogonally; T decouples (β = 0).
      this.next = randomOrthogonalUnit(this.op.dimension, this.rng, this.basis);
      this.beta.push(0);
      return;
    }
    this.beta.push(b);
  }

  /** Ritz values (ascending), the eigenvectors of T, and each pair's residual bound |β_m · s_m|. */
  ritz(): SymmetricEigen & { residuals: number[] } {
    const m = this.steps;
    const eigen = tridiagonalEigen(this.alpha, this.beta.slice(0, m - 1));
    const last = this.exhausted ? 0 : (this.beta[m - 1] ?? 0);
    return { ...eigen, residuals: eigen.vectors.map((s) => Math.abs(last * s[m - 1]!)) };
  }

  /** Q·s: the Ritz vector for an eigenvector s of T. */
  vector(s: Float64Array): Float64Array {
    const out = new Float64Array(this.op.dimension);
    this.basis.forEach((q, i) => axpy(s[i]!, q, out));
    return out;
  }
}

export interface LanczosOptions {
  /** Largest eigenvalues wanted. */
  top?: number;
  /** Smallest eigenvalues wanted. */
  bottom?: number;
  /** Stop when every wanted Ritz pair has residual ≤ tol · max|Ritz value| (a bound on its eigenvalue error). */
  tol?: number;
  /** Step limit; default min(dimension, 300). */
  maxSteps?: number;
  /** Convergence is checked every this many steps. */
  checkEvery?: number;
  /** Whether to form eigenvectors (costs one pass over the basis per vector). */
  vectors?: boolean;
  seed?: number;
}

export interface LanczosResult extends SolverStats {
  /** Largest first. */
  top: Omit<EigenResult, keyof SolverStats>;
  /** Smallest first. */
  bottom: Omit<EigenResult, keyof SolverStats>;
}

/** Extreme eigenpairs (top-k and bottom-k) by Lanczos with full reorthogonalization. */
export function lanczos(operator: LinearOperator, options: LanczosOptions = {}): LanczosResult {
  const { top = 1, bottom = 0, tol = 1e-6, checkEvery = 5, vectors = true, seed = 0 } = options;
  const op = new Counted(operator);
  const n = op.dimension;
  const maxSteps = Math.min(n, options.maxSteps ?? 300);
  const process = new LanczosProcess(op, createRng(seed));
  const wanted = (count: number): number[] => {
    const k = Math.min(count, process.steps);
    return [...Array.from({ length: Math.min(top, k) }, (_, i) => count - 1 - i), ...Array.from({ length: Math.min(bottom, k) }, (_, i) => i)];
  };
  let ritz = undefined as ReturnType<LanczosProcess['ritz']> | undefined;
  let converged = false;
  while (process.steps < maxSteps && !process.exhausted) {
    process.step();
    const due = process.steps % checkEvery === 0 || process.steps === maxSteps || process.exhausted;
    if (!due || process.steps < Math.min(n, top + bottom)) continue;
    ritz = process.ritz();
    const scale = Math.max(...ritz.values.map(Math.abs), Number.MIN_VALUE);
    converged = process.exhausted || wanted(ritz.values.length).every((i) => ritz!.residuals[i]! <= tol * scale);
    if (converged) break;
  }
  ritz ??= process.ritz();
  const m = ritz.values.length;
  const pick = (indices: number[]) => ({
    eigenvalues: indices.map((i) => ritz!.values[i]!),
    eigenvectors: vectors ? indices.map((i) => process.vector(ritz!.vectors[i]!)) : [],
    residuals: indices.map((i) => ritz!.residuals[i]!),
  });
  return {
    top: pick(Array.from({ length: Math.min(top, m) }, (_, i) => m - 1 - i)),
    bottom: pick(Array.from({ length: Math.min(bottom, m) }, (_, i) => i)),
    iterations: process.steps,
    converged,
    hvps: op.hvps,
    seconds: op.seconds(),
  };
}
