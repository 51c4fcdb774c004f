import { InputError } from '@landscape/core';
import { checkCheckpoints, checkPoints } from './checkpoints';

/**
 * An inverse map from an embedding (UMAP, t-SNE: anything without a decoder) back to parameter space:
 * inverse-distance-weighted interpolation among the k nearest embedded checkpoints,
 *   θ(p) = Σ_i w_i θ_i / Σ_i w_i,  w_i = 1 / ‖p − e_i‖^power,  i over the k embedded checkpoints nearest to p.
 * A point on an embedded checkpoint (distance ≤ 1e-12 × the embedding's extent) returns that checkpoint, so the
 * map interpolates the checkpoints exactly; between them it stays inside their convex hull (no extrapolation).
 */
export interface InverseMapOptions {
  /** Neighbours interpolated (default 3, at most the number of checkpoints). */
  k?: number;
  /** Distance exponent (default 2). */
  power?: number;
}

export interface InverseMap {
  (points: readonly ArrayLike<number>[]): Float64Array[];
}

interface Resolved {
  k: number;
  power: number;
}

function resolve(options: InverseMapOptions, n: number): Resolved {
  const k = options.k ?? Math.min(3, n);
  const power = options.power ?? 2;
  if (!Number.isInteger(k) || k < 1 || k > n) throw new InputError(`must be an integer from 1 to ${n} (the checkpoints), got ${k}`, 'inverse.k');
  if (!(power > 0) || !Number.isFinite(power)) throw new InputError(`must be a positive number, got ${power}`, 'inverse.power');
  return { k, power };
}

function extent(embedding: readonly ArrayLike<number>[], dims: number): number {
  let size = 0;
  for (let c = 0; c < dims; c++) {
    let low = Infinity;
    let high = -Infinity;
    for (const point of embedding) {
      low = Math.min(low, point[c]!);
      high = Math.max(high, point[c]!);
    }
    size = Math.max(size, high - low);
  }
  return size;
}

/** IDW of the rows at one query point; `skip` leaves one checkpoint out (for leave-one-out errors). */
function interpolate(
  embedding: readonly ArrayLike<number>[],
  rows: readonly Float64Array[],
  point: ArrayLike<number>,
  settings: Resolved,
  tiny: number,
  skip = -1,
): Float64Array {
  const dims = point.length;
  const candidates: { index: number; distance: number }[] = [];
  embedding.forEach((e, index) => {
    if (index === skip) return;
    let sum = 0;
    for (let c = 0; c < dims; c++) sum += (e[c]! - point[c]!) ** 2;
    candidates.push({ index, distance: Math.sqrt(sum) });
  });
  candidates.sort((a, b) => a.distance - b.distance || a.index - b.index);
  const nearest = candidates.slice(0, settings.k);
  const out = new Float64Array(rows[0]!.length);
  if (nearest[0]!.distance <= tiny) {
    out.set(rows[nearest[0]!.index]!);
    return out;
  }
  const weights = nearest.map((entry) => entry.distance ** -settings.power);
  const total = weights.reduce((a, b) => a + b, 0);
  nearest.forEach((entry, j) => {
    const w = weights[j]! / total;
    const row = rows[entry.index]!;
    for (let c = 0; c < out.length; c++) out[c] += w * row[c]!;
  });
  return out;
}

function checkPair(embedding: readonly ArrayLike<number>[], rows: readonly Float64Array[]): number {
  const { n } = checkCheckpoints(rows, 'checkpoints', 1);
  if (embedding.length !== n) throw new InputError(`has ${embedding.length} points for ${n} checkpoints`, 'embedding');
  const dims = embedding[0]!.length;
  checkPoints(embedding, dims, 'embedding');
  return dims;
}

/** Builds the IDW inverse map of `embedding` (one point per row of `rows`). */
export function idwInverseMap(embedding: readonly ArrayLike<number>[], rows: readonly Float64Array[], options: InverseMapOptions = {}): InverseMap {
  const dims = checkPair(embedding, rows);
  const settings = resolve(options, rows.length);
  const tiny = 1e-12 * extent(embedding, dims);
  return (points) => {
    checkPoints(points, dims);
    return points.map((point) => interpolate(embedding, rows, point, settings, tiny));
  };
}

/**
 * Each checkpoint rebuilt from its k nearest OTHER embedded checkpoints. The IDW map reproduces the checkpoints
 * themselves exactly, so this leave-one-out reconstruction is what measures its error between checkpoints.
 */
export function idwLeaveOneOut(
  embedding: readonly ArrayLike<number>[],
  rows: readonly Float64Array[],
  options: InverseMapOptions = {},
  /** Only these checkpoints (default all): large models rebuild a few at a time. */
  indices?: readonly number[],
): Float64Array[] {
  checkPair(embedding, rows);
  if (rows.length < 2) throw new InputError('leave-one-out needs at least 2 checkpoints', 'checkpoints');
  const settings = resolve(options, rows.length - 1);
  return (indices ?? embedding.map((_, i) => i)).map((i) => interpolate(embedding, rows, embedding[i]!, settings, -1, i));
}
