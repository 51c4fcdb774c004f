import { InputError } from '../errors';
import { refName } from '../names';
import { finiteExtent } from './levels';
import type { LandscapeResult } from '../result';

/**
 * The numbers of a result, checked and in one shape for every writer: `values[iy][ix]` (row = y; a line is
 * one row). `null` = not computed; NaN/±Infinity = computed but diverged. Results read back from result.json
 * carry non-finite numbers as the strings "NaN"/"Infinity"/"-Infinity"; those are turned back into numbers.
 */
export interface LandscapeData {
  kind: 'line' | 'surface';
  x: number[];
  /** Lines: [0]. */
  y: number[];
  nx: number;
  ny: number;
  loss: (number | null)[][];
  accuracy: (number | null)[][];
  /** Whether any accuracy was computed (losses without one, e.g. MSE, have none). */
  hasAccuracy: boolean;
}

/** `field` is built only for the error: every writer checks every cell, and naming each took most of the check. */
function cell(value: unknown, field: () => string): number | null {
  if (value === null || typeof value === 'number') return value;
  if (value === 'NaN') return NaN;
  if (value === 'Infinity') return Infinity;
  if (value === '-Infinity') return -Infinity;
  throw new InputError(`must be a number, null or "NaN"/"Infinity" (got ${JSON.stringify(value)})`, field());
}

function coordinates(value: unknown, field: string): number[] {
  if (!Array.isArray(value) || value.length === 0) throw new InputError('must be a non-empty array of numbers', field);
  value.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new InputError(`must be finite numbers (item ${i} is ${JSON.stringify(v)})`, field);
    if (i > 0 && v <= (value[i - 1] as number)) throw new InputError(`must be strictly increasing (item ${i})`, field);
  });
  return value as number[];
}

function rows(value: unknown, nx: number, ny: number, kind: 'line' | 'surface', field: string): (number | null)[][] {
  const grid = kind === 'line' ? [value] : value;
  if (!Array.isArray(grid) || grid.length !== ny)
    throw new InputError(`must have ${ny} rows (one per y), got ${Array.isArray(grid) ? grid.length : typeof grid}`, field);
  return grid.map((row: unknown, iy) => {
    const where = kind === 'line' ? field : `${field}[${iy}]`;
    if (!Array.isArray(row) || row.length !== nx)
      throw new InputError(`must have ${nx} values (one per x), got ${Array.isArray(row) ? row.length : typeof row}`, where);
    return row.map((v, ix) => cell(v, () => `${where}[${ix}]`));
  });
}

export function landscapeData(result: LandscapeResult): LandscapeData {
  if (result.kind !== 'line' && result.kind !== 'surface') throw new InputError(`must be "line" or "surface" (got ${JSON.stringify(result.kind)})`, 'kind');
  const x = coordinates(result.x, 'x');
  const y = result.kind === 'surface' ? coordinates(result.y, 'y') : [0];
  const nx = x.length;
  const ny = y.length;
  const loss = rows(result.loss, nx, ny, result.kind, 'loss');
  const accuracy = rows(result.accuracy, nx, ny, result.kind, 'accuracy');
  return { kind: result.kind, x, y, nx, ny, loss, accuracy, hasAccuracy: accuracy.some((row) => row.some((v) => v !== null)) };
}

/**
 * The `logScale` default: on when the loss spans more than two decades (max/min > 100), which only makes
 * sense for positive losses.
 */
export function defaultLogScale(values: Iterable<number | null>): boolean {
  const extent = finiteExtent(values);
  return extent !== undefined && extent[0] > 0 && extent[1] / extent[0] > 100;
}

/** Display names of the direction sources, e.g. "random direction (seed 1)" or "direction d1.json" (names.ts). */
export function directionLabel(result: LandscapeResult, axis: 0 | 1): string {
  const record = result.directions?.[axis];
  const source = record?.source;
  if (!source) return axis === 0 ? 'x' : 'y';
  if ('seed' in source) return `random direction (seed ${source.seed})`;
  if ('file' in source) return `direction ${record.name ?? refName(source.file)}`;
  return `towards ${record.name ?? refName(source.model)}`;
}

/** The model a direction points to (θ_model − θ_origin), when it is one. */
export function directionModel(result: LandscapeResult, axis: 0 | 1): string | undefined {
  const record = result.directions?.[axis];
  return record && 'model' in record.source ? (record.name ?? refName(record.source.model)) : undefined;
}

export function resultTitle(result: LandscapeResult): string {
  return result.label ?? result.model?.name ?? 'landscape';
}

/** One line of what the plot shows: normalization, bias, loss, data size, points computed. */
export function resultSubtitle(result: LandscapeResult): string {
  const parts = [`normalization: ${result.normalization}`, `bias: ${result.bias}`, `loss: ${result.lossFunction}`];
  if (result.data?.n !== undefined) parts.push(`${result.data.n} samples`);
  parts.push(result.pointsComputed === result.points ? `${result.points} points` : `${result.pointsComputed}/${result.points} points computed`);
  return parts.join(' · ');
}
