import { createRng } from '../random';
import type { LinearOperator } from './hvp';
import { meanAndStderr, type TraceResult } from './hutchinson';
import { Counted, deriveSeed, dot, norm, orthogonalizeAgainst, rademacher, scaleInPlace } from './linalg';

/**
 * Hutch++ (Meyer, Musco, Musco, Woodruff 2021) with a budget of `samples` Hessian-vector products: a third
 * sketch the dominant subspace Q = orth(H S), a third take its trace exactly (tr QᵀHQ), the last third run
 * Hutchinson on the deflated remainder (I − QQᵀ) H (I − QQᵀ). The standard error is that of the remainder
 * estimate (the sketched part carries no sampling variance once Q is fixed).
 */
export function hutchpp(operator: LinearOperator, options: { samples?: number; seed?: number } = {}): TraceResult {
  const { samples = 99, seed = 0 } = options;
  const op = new Counted(operator);
  const n = op.dimension;
  const sketch = Math.min(n, Math.max(1, Math.floor(samples / 3)));
  const probes = Math.max(2, samples - 2 * sketch);
  const probeSeed = deriveSeed(seed, 1);
  const rng = createRng(deriveSeed(seed, 0));

  const q: Float64Array[] = [];
  for (let i = 0; i < sketch; i++) {
    const y = op.apply(rademacher(n, rng));
    orthogonalizeAgainst(y, q);
    const length = norm(y);
    if (length > 1e-10 * Math.sqrt(n)) q.push(scaleInPlace(y, 1 / length));
  }
  let exact = 0;
  for (const v of q) exact += dot(v, op.apply(v));

  const remainder = Array.from({ length: probes }, (_, k) => {
    const z = rademacher(n, createRng(deriveSeed(probeSeed, k)));
    orthogonalizeAgainst(z, q);
    return dot(z, op.apply(z));
  });
  const { mean, stderr } = meanAndStderr(remainder);
  return { value: exact + mean, stderr, samples: sketch + probes, iterations: sketch + probes, converged: true, hvps: op.hvps, seconds: op.seconds() };
}
