import type { LinearOperator } from './hvp';
import { Counted, symmetricEigen, type SolverStats, type SymmetricEigen } from './linalg';

export interface ExactHessian extends SolverStats {
  /** Symmetrized (H + Hᵀ)/2, row-major rows. */
  rows: number[][];
  /** max |H − Hᵀ| / max |H| before symmetrizing (float32 products are not exactly symmetric). */
  asymmetry: number;
}

/** The full Hessian from one product per unit vector (dimension products). */
export function exactHessian(operator: LinearOperator, onColumn?: (done: number) => void): ExactHessian {
  const op = new Counted(operator);
  const n = op.dimension;
  const columns: Float64Array[] = [];
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e[j] = 1;
    columns.push(op.apply(e));
    e[j] = 0;
    onColumn?.(j + 1);
  }
  let asymmetry = 0;
  let largest = 0;
  const rows = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => 0.5 * (columns[j]![i]! + columns[i]![j]!)));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      asymmetry = Math.max(asymmetry, Math.abs(columns[j]![i]! - columns[i]![j]!));
      largest = Math.max(largest, Math.abs(columns[j]![i]!));
    }
  }
  return { rows, asymmetry: largest > 0 ? asymmetry / largest : 0, iterations: n, converged: true, hvps: op.hvps, seconds: op.seconds() };
}

export interface ExactSpectrum extends SymmetricEigen, SolverStats {
  trace: number;
  asymmetry: number;
}

/** Every eigenvalue (ascending) and eigenvector, and the trace (sum of the diagonal). */
export function exactSpectrum(operator: LinearOperator, onColumn?: (done: number) => void): ExactSpectrum {
  const started = performance.now();
  const hessian = exactHessian(operator, onColumn);
  const eigen = symmetricEigen(hessian.rows);
  const trace = hessian.rows.reduce((sum, row, i) => sum + row[i]!, 0);
  return {
    ...eigen,
    trace,
    asymmetry: hessian.asymmetry,
    iterations: hessian.iterations,
    converged: true,
    hvps: hessian.hvps,
    seconds: (performance.now() - started) / 1000,
  };
}
