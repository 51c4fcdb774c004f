import { InputError } from '@landscape/core';

/** Pairwise squared Euclidean distances of n points, row-major n×n. */
export interface DistanceMatrix {
  n: number;
  d2: Float64Array;
}

/** Points as rows (checkpoints, embeddings), or their distances already computed. */
export type PointsOrDistances = readonly ArrayLike<number>[] | DistanceMatrix;

export function isDistanceMatrix(value: PointsOrDistances): value is DistanceMatrix {
  return !Array.isArray(value) && typeof (value as DistanceMatrix).n === 'number';
}

/** Squared distances from differences (no |x|² + |y|² − 2x·y cancellation), so close points keep their order. */
export function squaredDistances(points: readonly ArrayLike<number>[], field = 'points'): DistanceMatrix {
  const n = points.length;
  const dim = points[0]?.length ?? 0;
  const d2 = new Float64Array(n * n);
  points.forEach((point, i) => {
    if (point.length !== dim) throw new InputError(`point ${i} has ${point.length} coordinates, point 0 has ${dim}`, field);
  });
  for (let i = 0; i < n; i++) {
    const a = points[i]!;
    for (let j = 0; j < i; j++) {
      const b = points[j]!;
      let sum = 0;
      for (let c = 0; c < dim; c++) {
        const d = a[c]! - b[c]!;
        sum += d * d;
      }
      if (!Number.isFinite(sum)) throw new InputError(`point ${i} or ${j} has a non-finite coordinate`, field);
      d2[i * n + j] = sum;
      d2[j * n + i] = sum;
    }
  }
  return { n, d2 };
}

/**
 * Squared distances from a Gram matrix (e.g. PcaModel.centredGram): G_ii + G_jj − 2 G_ij. Costs O(n²) instead of
 * another O(n² P) pass over million-parameter checkpoints; rounding is relative to |x|², not to the distance.
 */
export function distancesFromGram(gram: Float64Array, n: number): DistanceMatrix {
  if (gram.length !== n * n) throw new InputError(`a Gram matrix of ${n} points needs ${n * n} entries, got ${gram.length}`, 'gram');
  const d2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const value = Math.max(gram[i * n + i]! + gram[j * n + j]! - 2 * gram[i * n + j]!, 0);
      d2[i * n + j] = value;
      d2[j * n + i] = value;
    }
  }
  return { n, d2 };
}

export function toDistances(value: PointsOrDistances, field: string): DistanceMatrix {
  return isDistanceMatrix(value) ? value : squaredDistances(value, field);
}

/**
 * For each point, the other points from nearest to farthest (ties: lower index first), n × (n−1). The point
 * itself is left out, as scikit-learn does by setting the diagonal to +∞.
 */
export function neighbourOrder(distances: DistanceMatrix): Int32Array[] {
  const { n, d2 } = distances;
  return Array.from({ length: n }, (_, i) => {
    const others: number[] = [];
    for (let j = 0; j < n; j++) if (j !== i) others.push(j);
    others.sort((a, b) => d2[i * n + a]! - d2[i * n + b]! || a - b);
    return Int32Array.from(others);
  });
}

/** The k nearest other points of every point. */
export function nearestNeighbours(distances: DistanceMatrix, k: number): Int32Array[] {
  if (!Number.isInteger(k) || k < 1 || k > distances.n - 1) {
    throw new InputError(`must be an integer from 1 to ${distances.n - 1} (points − 1), got ${k}`, 'k');
  }
  return neighbourOrder(distances).map((order) => order.slice(0, k));
}
