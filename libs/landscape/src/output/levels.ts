import { InputError } from '../errors';
import { formatValue } from './plot';

// No imports beyond errors and the pure plot helpers: the level rule must run anywhere, a browser included.

/** Smallest and largest finite value, or undefined when there is none. */
export function finiteExtent(values: Iterable<number | null>): [number, number] | undefined {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return min <= max ? [min, max] : undefined;
}

/**
 * How contour levels are spaced between the lowest and the highest loss:
 * - `basin` (default): uniform in log(loss − min + ε), so levels crowd near the minimum and thin out up the walls
 *   (Li et al. space their levels finely at the bottom). ε = clamp(min, range·10⁻⁶, range/50) for a positive
 *   minimum, range/50 otherwise: a large ε is near-linear, a small one near-log; capping it at range/50 puts at least 9
 *   of 20 levels in the lowest tenth of the range, and a positive minimum far below that turns the rule
 *   into a plain log scale, which is what a loss spanning decades needs.
 * - `log`: uniform in log10(loss) (positive losses only).
 * - `linear`: uniform in loss.
 */
export type LevelScheme = 'basin' | 'log' | 'linear';

export const LEVEL_SCHEMES: readonly LevelScheme[] = ['basin', 'log', 'linear'];

/** ε of the `basin` scheme for losses from `min` to `max`. */
export function basinEpsilon(min: number, max: number): number {
  const range = max - min;
  return min > 0 ? Math.min(range / 50, Math.max(range * 1e-6, min)) : range / 50;
}

/**
 * `count` contour thresholds over the finite values, ascending: the first is the minimum (so the lowest band covers
 * every computed point), the others are rounded to the digits that tell them from their neighbours (labels show the
 * exact value of their line) and are strictly between the minimum and the maximum. Fewer come back when rounding
 * merges neighbours; one when all values are equal; none when there is no finite value.
 */
export function contourLevels(values: Iterable<number | null>, count: number, scheme: LevelScheme = 'basin'): number[] {
  if (!Number.isInteger(count) || count < 1 || count > 256) throw new InputError(`must be a whole number from 1 to 256 (got ${count})`, 'levels');
  const extent = finiteExtent(values);
  if (!extent) return [];
  const [min, max] = extent;
  if (!(max > min)) return [min];
  if (scheme === 'log' && !(min > 0)) throw new InputError('the loss has no positive minimum, so levels cannot be spaced on a log scale', 'levelScheme');
  const epsilon = basinEpsilon(min, max);
  const at = (f: number): number => {
    if (scheme === 'linear') return min + f * (max - min);
    if (scheme === 'log') return min * (max / min) ** f;
    return min + epsilon * ((1 + (max - min) / epsilon) ** f - 1);
  };
  const levels = [min];
  for (let k = 1; k < count; k++) {
    const exact = at(k / count);
    const rounded = roundTo(exact, exact - at((k - 1) / count));
    if (rounded > levels[levels.length - 1]! && rounded < max) levels.push(rounded);
  }
  return levels;
}

/** Contour thresholds and the loss at the top of the last band: the colour scale that several panels can share. */
export interface LevelScale {
  levels: readonly number[];
  max: number;
}

/** The level scale of a set of values (contourLevels and their maximum); [] and 0 when none is finite. */
export function levelScale(values: Iterable<number | null>, count: number, scheme: LevelScheme = 'basin'): LevelScale {
  const list = [...values];
  return { levels: contourLevels(list, count, scheme), max: finiteExtent(list)?.[1] ?? 0 };
}

/** `value` rounded to a tenth of the decade below `gap` (a level's distance to the one below): off by ≤ 5 % of the gap. */
function roundTo(value: number, gap: number): number {
  const decimals = 1 - Math.floor(Math.log10(gap));
  const quantum = 10 ** -decimals;
  const rounded = Math.round(value / quantum) * quantum;
  // toFixed/toPrecision strip the binary noise of the multiplication (0.1 × 3 = 0.30000000000000004).
  return Number(decimals > 0 && decimals <= 100 ? rounded.toFixed(decimals) : rounded.toPrecision(15));
}

/** A level's value as printed on its line: every digit it was rounded to, no more. */
export function formatLevel(value: number): string {
  const magnitude = Math.abs(value);
  const text = magnitude !== 0 && (magnitude >= 1e5 || magnitude < 1e-3) ? value.toExponential() : String(value);
  return text.replace(/^-/, '−');
}

/** The colour position (0–1 along the colour map) of band k of n: one colour per band, shared by every panel. */
export function levelColourPosition(k: number, n: number): number {
  return n <= 1 ? 0.5 : k / (n - 1);
}

/**
 * Where a value sits on the level scale: k at level k, linear in between, n (the number of levels) at `max`, the top
 * of the last band. Colour maps and colour bars use it, so every band gets the same share of the bar.
 */
export function levelCoordinate(levels: readonly number[], max: number, value: number): number {
  const n = levels.length;
  if (n === 0 || !(value > levels[0]!)) return 0;
  let k = 0;
  while (k + 1 < n && levels[k + 1]! <= value) k++;
  const upper = k + 1 < n ? levels[k + 1]! : max;
  return upper > levels[k]! ? Math.min(n, k + (value - levels[k]!) / (upper - levels[k]!)) : k;
}

/**
 * Colour-bar ticks on the level scale: about ten level coordinates and their labels; the ends are the data's
 * extremes (three digits), the levels between print exactly.
 */
export function levelTicks(levels: readonly number[], max: number): { ticks: number[]; labels: string[] } {
  const n = levels.length;
  const stride = Math.ceil((n + 1) / 11);
  const edges = [...levels, Math.max(max, levels[n - 1] ?? max)];
  const ticks = edges.map((_, k) => k).filter((k) => k % stride === 0 || k === n);
  return { ticks, labels: ticks.map((k) => (k === 0 || k === n ? formatValue(edges[k]!) : formatLevel(edges[k]!))) };
}
