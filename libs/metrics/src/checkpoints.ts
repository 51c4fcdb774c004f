import { InputError } from '@landscape/core';

/**
 * Checks a checkpoint matrix (rows = flat parameter vectors as Float64Array): at least `minRows` rows, one
 * length, every value finite. Errors name the field, the checkpoint and the parameter index.
 */
export function checkCheckpoints(rows: readonly Float64Array[], field = 'checkpoints', minRows = 2): { n: number; p: number } {
  const n = rows.length;
  if (n < minRows) throw new InputError(`needs at least ${minRows} checkpoints, got ${n}`, field);
  const p = rows[0]!.length;
  if (p < 1) throw new InputError('checkpoints have no parameters', field);
  rows.forEach((row, i) => {
    if (!(row instanceof Float64Array)) throw new InputError(`checkpoint ${i} must be a Float64Array`, field);
    if (row.length !== p) throw new InputError(`checkpoint ${i} has ${row.length} parameters, checkpoint 0 has ${p}`, field);
    for (let c = 0; c < p; c++) {
      if (!Number.isFinite(row[c]!)) throw new InputError(`checkpoint ${i} has a non-finite value at parameter ${c} (${row[c]})`, field);
    }
  });
  return { n, p };
}

/** Checks 2-D (or latent-dimension) query points: the expected length, finite coordinates. */
export function checkPoints(points: readonly ArrayLike<number>[], dims: number, field = 'points'): void {
  points.forEach((point, i) => {
    if (point.length !== dims) throw new InputError(`point ${i} has ${point.length} coordinates, expected ${dims}`, field);
    for (let c = 0; c < dims; c++) {
      if (!Number.isFinite(point[c]!)) throw new InputError(`point ${i} has a non-finite coordinate ${c} (${point[c]})`, field);
    }
  });
}
