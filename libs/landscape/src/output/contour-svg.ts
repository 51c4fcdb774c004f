import { InputError } from '../errors';
import type { LandscapeResult } from '../result';
import { requireEsm } from './esm';
import { defaultLogScale, directionLabel, directionModel, finiteExtent, landscapeData, resultSubtitle, resultTitle } from './landscape-data';
import { axis, escapeXml, linearScale, linearTicks, logTicks, pointMarker, px, svgDocument, titleBlock, viridis } from './plot';

/** The part of d3-contour 4 used here (the package ships no types). */
interface ContourMultiPolygon {
  value: number;
  /** Polygons → rings → [x, y] points in grid units: value i sits at i + 0.5, the grid spans [0, n]. */
  coordinates: [number, number][][][];
}
interface ContoursGenerator {
  (values: ArrayLike<number>): ContourMultiPolygon[];
  size(size: [number, number]): ContoursGenerator;
  thresholds(thresholds: number[]): ContoursGenerator;
}
interface D3Contour {
  contours(): ContoursGenerator;
}

export interface ContourOptions {
  /** Contour levels on log10(loss). Default: on when the finite loss spans max/min > 100 (and is positive). */
  logScale?: boolean;
  /** Number of filled levels (default 20). */
  levels?: number;
  /** A path drawn over the contours (e.g. a training trajectory in plot coordinates): a polyline, start and end marked. */
  path?: PlotPath;
  /** Overrides of the title, subtitle and axis titles (default: from the result's label and directions). */
  title?: string;
  subtitle?: string;
  xLabel?: string;
  yLabel?: string;
  /** Mark (0, 0) as the origin when it is inside the plot (default true). */
  markOrigin?: boolean;
}

export interface PlotPath {
  x: number[];
  y: number[];
  /** Loss along the path (used by the 3-D view; the contour plot ignores it). */
  z?: (number | null)[];
  /** Legend text, e.g. "training trajectory". */
  name?: string;
}

export const DEFAULT_CONTOUR_LEVELS = 20;

const MARGIN = { left: 76, right: 138, top: 66, bottom: 58 };
const PLOT_WIDTH = 520;

/**
 * A filled contour plot of the loss of a surface result as an SVG document: levels stacked from the lowest
 * (covering every computed point) up, so each band shows loss ≥ its threshold. Points that were not computed
 * or are NaN are holes (hatched background); +Infinity (diverged) counts as above every level.
 */
export async function renderContourSvg(result: LandscapeResult, options: ContourOptions = {}): Promise<string> {
  const data = landscapeData(result);
  if (data.kind !== 'surface') throw new InputError('a contour plot needs a surface result (got a line)', 'kind');
  const levels = options.levels ?? DEFAULT_CONTOUR_LEVELS;
  if (!Number.isInteger(levels) || levels < 1 || levels > 256) throw new InputError(`must be a whole number from 1 to 256 (got ${levels})`, 'levels');
  const { x, y, nx, ny } = data;
  const losses = data.loss.flat();
  const logScale = options.logScale ?? defaultLogScale(losses);
  const positive = finiteExtent(losses.filter((v) => v !== null && v > 0));
  if (logScale && !positive) throw new InputError('the loss has no positive finite value to put on a log scale', 'logScale');

  // Row-major [iy][ix], exactly the layout d3-contour reads (x fastest). null/NaN/−∞ → NaN = hole.
  const z = new Float64Array(nx * ny);
  losses.forEach((v, i) => {
    if (v === null || Number.isNaN(v) || v === -Infinity) z[i] = NaN;
    else if (!logScale) z[i] = v;
    else z[i] = v === Infinity ? Infinity : Math.log10(v > 0 ? v : positive![0]);
  });
  const zExtent = finiteExtent(z);
  const holes = z.some((v) => Number.isNaN(v));
  const diverged = losses.some((v) => v === Infinity);

  const xDomain: [number, number] = [x[0]!, x[nx - 1]!];
  const yDomain: [number, number] = [y[0]!, y[ny - 1]!];
  const width = PLOT_WIDTH;
  const aspect = nx > 1 && ny > 1 ? (yDomain[1] - yDomain[0]) / (xDomain[1] - xDomain[0]) : 0.75;
  const height = Math.min(620, Math.max(260, width * aspect));
  const left = MARGIN.left;
  const top = MARGIN.top;
  const notes: string[] = [];
  if (holes) notes.push('hatched: not computed or NaN');
  if (diverged) notes.push('+∞ (diverged) drawn in the top colour');
  const totalWidth = left + width + MARGIN.right;
  const totalHeight = top + height + MARGIN.bottom + (notes.length ? 18 : 0);
  const X = linearScale(xDomain, [left, left + width]);
  const Y = linearScale(yDomain, [top + height, top]);

  const body: string[] = [titleBlock(options.title ?? `${resultTitle(result)} — loss surface`, options.subtitle ?? resultSubtitle(result), 0, totalWidth)];
  body.push(`<rect class="plot-area" x="${left}" y="${top}" width="${px(width)}" height="${px(height)}" fill="url(#ll-missing)"/>`);

  const drawable = nx > 1 && ny > 1 && zExtent !== undefined;
  let thresholds: number[] = [];
  if (drawable) {
    const [zMin, zMax] = zExtent;
    const bands = zMax > zMin ? levels : 1;
    thresholds = Array.from({ length: bands }, (_, k) => zMin + ((zMax - zMin) * k) / bands);
    const d3 = requireEsm<D3Contour>('d3-contour');
    const contours = d3.contours().size([nx, ny]).thresholds(thresholds)(z);
    // Grid units → data: value i sits at i + 0.5; positions beyond the outer points are clamped to the edge.
    const toData = (c: number, axisValues: number[]): number => {
      const i = Math.min(axisValues.length - 1, Math.max(0, c - 0.5));
      const k = Math.min(axisValues.length - 2, Math.floor(i));
      return axisValues[k]! + (i - k) * (axisValues[k + 1]! - axisValues[k]!);
    };
    body.push(`<g class="contours" clip-path="url(#ll-clip)" stroke-linejoin="round">`);
    contours.forEach((contour, k) => {
      const d = contour.coordinates
        .map((polygon) => polygon.map((ring) => `M${ring.map(([cx, cy]) => `${px(X(toData(cx, x)))},${px(Y(toData(cy, y)))}`).join('L')}Z`).join(''))
        .join('');
      const colour = viridis(bands === 1 ? 0.5 : k / (bands - 1));
      // The outline of each level above the first is its iso-line: drawn faintly in white.
      const stroke = k === 0 ? 'stroke="none"' : 'stroke="#ffffff" stroke-opacity="0.4" stroke-width="0.6"';
      body.push(`<path class="level" data-level="${k}" data-threshold="${contour.value}" fill="${colour}" fill-rule="evenodd" ${stroke} d="${d}"/>`);
    });
    body.push('</g>');

    // Colour bar: one band per level, labelled in loss units.
    const barX = left + width + 22;
    const barScale = linearScale(zMax > zMin ? [zMin, zMax] : [zMin - 0.5, zMin + 0.5], [top + height, top]);
    body.push('<g class="colour-bar">');
    thresholds.forEach((t, k) => {
      const upper = k + 1 < thresholds.length ? thresholds[k + 1]! : zMax > zMin ? zMax : zMin + 0.5;
      const lower = zMax > zMin ? t : zMin - 0.5;
      body.push(
        `<rect x="${px(barX)}" y="${px(barScale(upper))}" width="16" height="${px(barScale(lower) - barScale(upper) + 0.3)}" fill="${viridis(bands === 1 ? 0.5 : k / (bands - 1))}"/>`,
      );
    });
    body.push(`<rect x="${px(barX)}" y="${top}" width="16" height="${px(height)}" fill="none" stroke="#333" stroke-width="0.8"/>`);
    const barTicks = logScale ? logTicks([zMin, zMax], 6) : linearTicks(zMax > zMin ? [zMin, zMax] : [zMin, zMin], 6);
    body.push(axis('right', { scale: barScale, ...barTicks, at: barX + 16, from: top, to: top + height, title: logScale ? 'loss (log scale)' : 'loss' }));
    body.push('</g>');
  } else {
    const message = nx < 2 || ny < 2 ? 'a contour plot needs at least 2 × 2 grid points (see result.csv)' : 'no finite loss was computed';
    body.push(`<text x="${px(left + width / 2)}" y="${px(top + height / 2)}" text-anchor="middle" font-size="14" fill="#555">${escapeXml(message)}</text>`);
  }

  body.push(`<rect x="${left}" y="${top}" width="${px(width)}" height="${px(height)}" fill="none" stroke="#333"/>`);
  const xTicks = linearTicks(xDomain, 6);
  const yTicks = linearTicks(yDomain, Math.max(3, Math.round((6 * height) / width)));
  body.push(
    axis('bottom', { scale: X, ...xTicks, at: top + height, from: left, to: left + width, title: options.xLabel ?? `x: ${directionLabel(result, 0)}` }),
  );
  body.push(axis('left', { scale: Y, ...yTicks, at: left, from: top, to: top + height, title: options.yLabel ?? `y: ${directionLabel(result, 1)}` }));

  const inside = (px0: number, py0: number): boolean => px0 >= xDomain[0] && px0 <= xDomain[1] && py0 >= yDomain[0] && py0 <= yDomain[1];
  if (options.markOrigin !== false && inside(0, 0)) body.push(pointMarker(X(0), Y(0), 'origin', 'star'));
  const xModel = directionModel(result, 0);
  const yModel = directionModel(result, 1);
  if (xModel && inside(1, 0)) body.push(pointMarker(X(1), Y(0), xModel, 'circle'));
  if (yModel && inside(0, 1)) body.push(pointMarker(X(0), Y(1), yModel, 'circle'));
  if (options.path) body.push(pathOverlay(options.path, X, Y));
  if (notes.length) body.push(`<text x="${left}" y="${px(totalHeight - 10)}" font-size="11" fill="#555">${escapeXml(notes.join(' · '))}</text>`);

  const defs = [
    `<clipPath id="ll-clip"><rect x="${left}" y="${top}" width="${px(width)}" height="${px(height)}"/></clipPath>`,
    `<pattern id="ll-missing" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern>`,
  ].join('\n');
  return svgDocument(totalWidth, totalHeight, body, defs);
}

/** The path as a white-haloed polyline with a dot per point, its first point marked "start" and its last "end". */
function pathOverlay(path: PlotPath, X: (v: number) => number, Y: (v: number) => number): string {
  if (path.x.length !== path.y.length) throw new InputError(`has ${path.x.length} x and ${path.y.length} y values`, 'path');
  const points = path.x.map((x, i) => [X(x), Y(path.y[i]!)] as const).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
  if (points.length === 0) return '';
  const d = points.map(([a, b], i) => `${i ? 'L' : 'M'}${px(a)},${px(b)}`).join('');
  const first = points[0]!;
  const last = points[points.length - 1]!;
  return [
    `<g class="path" clip-path="url(#ll-clip)">`,
    `<title>${escapeXml(path.name ?? 'path')}</title>`,
    `<path d="${d}" fill="none" stroke="#ffffff" stroke-width="4" stroke-linejoin="round" stroke-opacity="0.8"/>`,
    `<path d="${d}" fill="none" stroke="#d62728" stroke-width="1.8" stroke-linejoin="round"/>`,
    points.map(([a, b]) => `<circle cx="${px(a)}" cy="${px(b)}" r="2.2" fill="#d62728"/>`).join(''),
    '</g>',
    pointMarker(first[0], first[1], 'start', 'circle'),
    pointMarker(last[0], last[1], 'end', 'star'),
  ].join('\n');
}
