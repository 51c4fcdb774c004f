import { createRng } from '../random';
import type { LinearOperator } from './hvp';
import { Counted, dot, norm, orthogonalizeAgainst, randomOrthogonalUnit, scaleInPlace, type SolverStats } from './linalg';

export interface PowerOptions {
  /** Eigenpairs wanted (dominant first). */
  k?: number;
  /** Stop an eigenpair when ‖Hv − λv‖ ≤ tol·|λ| (the eigenvalue error is then about tol²·|λ|²/gap). */
  tol?: number;
  /** Iteration limit per eigenpair. */
  maxIterations?: number;
  seed?: number;
}

export interface EigenResult extends SolverStats {
  eigenvalues: number[];
  /** Unit eigenvectors, one per eigenvalue. */
  eigenvectors: Float64Array[];
  /** ‖Hv − λv‖ of each pair. */
  residuals: number[];
}

/**
 * Power iteration with deflation: finds the k eigenpairs of largest |λ| one after another, each on the operator
 * with the pairs found so far projected out (iterates are kept orthogonal to them). Vectors are normalized by
 * their exact norm (no epsilon, which would bias eigenvalues low).
 */
export function powerIteration(operator: LinearOperator, options: PowerOptions = {}): EigenResult {
  const { k = 1, tol = 1e-4, maxIterations = 1000, seed = 0 } = options;
  const op = new Counted(operator);
  const rng = createRng(seed);
  const n = op.dimension;
  const eigenvalues: number[] = [];
  const eigenvectors: Float64Array[] = [];
  const residuals: number[] = [];
  let iterations = 0;
  let converged = true;
  for (let j = 0; j < Math.min(k, n); j++) {
    let v = randomOrthogonalUnit(n, rng, eigenvectors);
    if (!v) break;
    let lambda = 0;
    let residual = Infinity;
    let done = false;
    // The previous iterate's buffer takes the next product (LinearOperator: no fresh host memory per product).
    let spare: Float64Array | undefined;
    for (let it = 0; it < maxIterations && !done; it++) {
      iterations++;
      const w = op.apply(v, spare);
      orthogonalizeAgainst(w, eigenvectors); // deflation: (I − UUᵀ) H v for v ⟂ U
      lambda = dot(v, w);
      residual = distance(w, lambda, v);
      const length = norm(w);
      if (residual <= tol * Math.abs(lambda) || length === 0) {
        done = true;
        break;
      }
      spare = v;
      v = scaleInPlace(w, 1 / length);
    }
    converged &&= done;
    eigenvalues.push(lambda);
    eigenvectors.push(v);
    residuals.push(residual);
  }
  return { eigenvalues, eigenvectors, residuals, iterations, converged, hvps: op.hvps, seconds: op.seconds() };
}

/** ‖w − λ·v‖ without a copy of w. */
function distance(w: Float64Array, lambda: number, v: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += (w[i]! - lambda * v[i]!) ** 2;
  return Math.sqrt(sum);
}
