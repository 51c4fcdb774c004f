import { InputError } from '@landscape/core';
import { nearestNeighbours, neighbourOrder, toDistances, type PointsOrDistances } from './neighbours';

/**
 * Trustworthiness T(k) (Venna & Kaski; scikit-learn's `trustworthiness`, Euclidean):
 * T = 1 − 2/(n k (2n − 3k − 1)) Σ_i Σ_{j ∈ N_k^emb(i)} max(0, r(i, j) − k), with r(i, j) the rank of j among
 * i's neighbours in the original space (nearest other point = 1). 1 means no false neighbours in the embedding.
 * Requires k < n/2, like scikit-learn.
 */
export function trustworthiness(original: PointsOrDistances, embedded: PointsOrDistances, k = 5): number {
  const high = toDistances(original, 'original');
  const low = toDistances(embedded, 'embedded');
  const n = high.n;
  if (low.n !== n) throw new InputError(`has ${low.n} points but the original space has ${n}`, 'embedded');
  if (!Number.isInteger(k) || k < 1 || k >= n / 2) {
    throw new InputError(`must be an integer with 1 ≤ k < n/2 = ${n / 2}, got ${k}`, 'k');
  }
  const order = neighbourOrder(high);
  const rank = new Int32Array(n);
  const near = nearestNeighbours(low, k);
  let penalty = 0;
  for (let i = 0; i < n; i++) {
    order[i]!.forEach((j, position) => (rank[j] = position + 1));
    for (const j of near[i]!) penalty += Math.max(0, rank[j]! - k);
  }
  return 1 - (2 / (n * k * (2 * n - 3 * k - 1))) * penalty;
}

/** Continuity: trustworthiness with the roles swapped (original neighbours missing from the embedding). */
export function continuity(original: PointsOrDistances, embedded: PointsOrDistances, k = 5): number {
  return trustworthiness(embedded, original, k);
}

/** Mean over all entries of (X − X̂)²: scikit-learn's mean_squared_error(X, inverse(embed(X))). */
export function reconstructionMse(original: readonly ArrayLike<number>[], reconstructed: readonly ArrayLike<number>[]): number {
  if (original.length === 0) throw new InputError('needs at least one row', 'original');
  if (reconstructed.length !== original.length) {
    throw new InputError(`has ${reconstructed.length} rows, the original has ${original.length}`, 'reconstructed');
  }
  let sum = 0;
  let count = 0;
  original.forEach((row, i) => {
    const other = reconstructed[i]!;
    if (other.length !== row.length) throw new InputError(`row ${i} has ${other.length} numbers, the original has ${row.length}`, 'reconstructed');
    for (let c = 0; c < row.length; c++) {
      const d = row[c]! - other[c]!;
      sum += d * d;
    }
    count += row.length;
  });
  if (!Number.isFinite(sum)) throw new InputError('a row holds a non-finite value', 'reconstructed');
  return sum / count;
}

/** Mean over checkpoints of |L̂_i − L_i| / L_i (L the loss at the checkpoint, L̂ at its reconstruction). */
export function relativeLossError(reconstructedLoss: ArrayLike<number>, loss: ArrayLike<number>): number {
  if (loss.length === 0) throw new InputError('needs at least one loss', 'loss');
  if (reconstructedLoss.length !== loss.length) {
    throw new InputError(`has ${reconstructedLoss.length} values, loss has ${loss.length}`, 'reconstructedLoss');
  }
  let sum = 0;
  for (let i = 0; i < loss.length; i++) {
    const exact = loss[i]!;
    const approx = reconstructedLoss[i]!;
    if (!(exact > 0) || !Number.isFinite(exact)) throw new InputError(`loss ${i} must be finite and > 0 for a relative error, got ${exact}`, 'loss');
    if (!Number.isFinite(approx)) throw new InputError(`value ${i} is not finite (${approx})`, 'reconstructedLoss');
    sum += Math.abs(approx - exact) / exact;
  }
  return sum / loss.length;
}
