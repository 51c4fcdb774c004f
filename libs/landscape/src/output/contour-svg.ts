import { InputError } from '../errors';
import type { LandscapeResult } from '../result';
import { directionLabel, directionModel, landscapeData, resultSubtitle, resultTitle, type LandscapeData } from './landscape-data';
import { contourBands, gridToData, isoRuns, type ContourMultiPolygon } from './iso-lines';
import { finiteExtent, formatLevel, LEVEL_SCHEMES, levelColourPosition, levelScale, levelTicks, type LevelScale, type LevelScheme } from './levels';
import { axis, escapeXml, legend, linearScale, linearTicks, pointMarker, px, svgDocument, SWATCH, titleBlock, viridis, type LegendItem } from './plot';

export interface ContourOptions {
  /** How levels are spaced (levels.ts; default `basin`: dense near the minimum). Ignored when `levels` lists the thresholds. */
  levelScheme?: LevelScheme;
  /**
   * Number of filled levels (default 20), or a level scale (levelScale: thresholds ascending, the first at or below
   * the lowest loss, and the top of the colour bar): panels drawn with the same scale share one colour scale.
   */
  levels?: number | LevelScale;
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
  /** Legend text of the first and last points (default "start", "end"). */
  startName?: string;
  endName?: string;
}

export const DEFAULT_CONTOUR_LEVELS = 20;

const MARGIN = { left: 76, right: 138, top: 66, bottom: 58 };
const PLOT_WIDTH = 520;
const PATH_COLOUR = '#d62728';

/** The finite losses of a surface result, for thresholds shared by several panels (contourLevels). */
export function surfaceLosses(result: LandscapeResult): (number | null)[] {
  return landscapeData(result).loss.flat();
}

/**
 * A filled contour plot of the loss of a surface result as an SVG document: levels stacked from the lowest
 * (covering every computed point) up, so each band shows loss ≥ its threshold, each iso-line labelled with its
 * value where the label fits. Points that were not computed or are NaN are holes (hatched background); +Infinity
 * (diverged) counts as above every level.
 */
export async function renderContourSvg(result: LandscapeResult, options: ContourOptions = {}): Promise<string> {
  const data = landscapeData(result);
  if (data.kind !== 'surface') throw new InputError('a contour plot needs a surface result (got a line)', 'kind');
  const { x, y, nx, ny } = data;
  const losses = data.loss.flat();
  const scheme = options.levelScheme ?? 'basin';
  if (!LEVEL_SCHEMES.includes(scheme)) throw new InputError(`must be one of ${LEVEL_SCHEMES.join(', ')} (got ${JSON.stringify(scheme)})`, 'levelScheme');
  const scale = typeof options.levels === 'object' ? options.levels : levelScale(losses, options.levels ?? DEFAULT_CONTOUR_LEVELS, scheme);
  const thresholds = [...scale.levels];
  if (thresholds.some((t, k) => !Number.isFinite(t) || (k > 0 && t <= thresholds[k - 1]!))) throw new InputError('must be finite and ascending', 'levels');
  const zExtent = finiteExtent(losses);
  const holes = losses.some((v) => v === null || Number.isNaN(v) || v === -Infinity);
  const diverged = losses.some((v) => v === Infinity);

  const xDomain: [number, number] = [x[0]!, x[nx - 1]!];
  const yDomain: [number, number] = [y[0]!, y[ny - 1]!];
  const width = PLOT_WIDTH;
  const aspect = nx > 1 && ny > 1 ? (yDomain[1] - yDomain[0]) / (xDomain[1] - xDomain[0]) : 0.75;
  const height = Math.min(620, Math.max(260, width * aspect));
  const left = MARGIN.left;
  const top = MARGIN.top;
  const totalWidth = left + width + MARGIN.right;
  const X = linearScale(xDomain, [left, left + width]);
  const Y = linearScale(yDomain, [top + height, top]);

  const body: string[] = [titleBlock(options.title ?? `${resultTitle(result)} — loss surface`, options.subtitle ?? resultSubtitle(result), 0, totalWidth)];
  body.push(`<rect class="plot-area" x="${left}" y="${top}" width="${px(width)}" height="${px(height)}" fill="url(#ll-missing)"/>`);

  const inside = (px0: number, py0: number): boolean => px0 >= xDomain[0] && px0 <= xDomain[1] && py0 >= yDomain[0] && py0 <= yDomain[1];
  const markers: { x: number; y: number; label: string; shape: 'star' | 'circle' }[] = [];
  const showOrigin = options.markOrigin !== false && inside(0, 0);
  if (showOrigin) markers.push({ x: X(0), y: Y(0), label: 'origin', shape: 'star' });
  const models = [directionModel(result, 0), directionModel(result, 1)];
  if (models[0] && inside(1, 0)) markers.push({ x: X(1), y: Y(0), label: models[0], shape: 'circle' });
  if (models[1] && inside(0, 1)) markers.push({ x: X(0), y: Y(1), label: models[1], shape: 'circle' });
  const pathPoints = options.path ? pathPixels(options.path, X, Y) : [];

  const drawable = nx > 1 && ny > 1 && zExtent !== undefined && thresholds.length > 0;
  let labelled = false;
  if (drawable) {
    const contours = contourBands(data, thresholds);
    const toPixel = ([cx, cy]: [number, number]): [number, number] => [X(gridToData(cx, x)), Y(gridToData(cy, y))];
    // "Mx,yLx,y…Z" by concatenation: 10⁴-point surfaces have ~10⁵ ring points, and per-point arrays were most of it.
    const ringPath = (ring: [number, number][]): string => {
      let path = 'M';
      ring.forEach(([cx, cy], k) => (path += `${k ? 'L' : ''}${px(X(gridToData(cx, x)))},${px(Y(gridToData(cy, y)))}`));
      return `${path}Z`;
    };
    body.push(`<g class="contours" clip-path="url(#ll-clip)" stroke-linejoin="round">`);
    contours.forEach((contour, k) => {
      const d = contour.coordinates.map((polygon) => polygon.map(ringPath).join('')).join('');
      // The outline of each level above the first is its iso-line, drawn in white.
      const stroke = k === 0 ? 'stroke="none"' : 'stroke="#ffffff" stroke-opacity="0.75" stroke-width="0.7"';
      body.push(
        `<path class="level" data-level="${k}" data-threshold="${contour.value}" fill="${viridis(levelColourPosition(k, thresholds.length))}" fill-rule="evenodd" ${stroke} d="${d}"/>`,
      );
    });
    body.push('</g>');
    const labels = levelLabels(contours, {
      data,
      toPixel,
      plot: { left, top, width, height },
      avoid: [...markers, ...pathPoints.map(([a, b]) => ({ x: a, y: b }))],
    });
    labelled = labels.length > 0;
    body.push(
      `<g class="level-labels" font-size="10" fill="#111" stroke="#ffffff" stroke-width="2.6" stroke-linejoin="round" paint-order="stroke">${labels.join('')}</g>`,
    );
    body.push(colourBar(thresholds, Math.max(scale.max, zExtent[1]), scheme, typeof options.levels === 'object', { x: left + width + 22, top, height }));
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
  for (const marker of markers) body.push(pointMarker(marker.x, marker.y, marker.label, marker.shape));
  if (options.path && pathPoints.length) body.push(pathOverlay(pathPoints, options.path));

  const items: LegendItem[] = [];
  if (drawable && thresholds.length > 1)
    items.push({
      swatch: `<rect x="-12" y="-6" width="24" height="12" fill="${viridis(0.3)}"/>${SWATCH.line('#ffffff', 0.9)}`,
      label: labelled ? 'iso-loss line (its value on it)' : 'iso-loss line',
    });
  if (showOrigin) items.push({ swatch: SWATCH.star(), label: 'origin (the model’s weights)' });
  if (markers.some((m) => m.shape === 'circle')) items.push({ swatch: SWATCH.circle(), label: 'model a direction points to' });
  if (options.path && pathPoints.length) {
    items.push({
      swatch: `${SWATCH.line('#ffffff', 4)}${SWATCH.line(PATH_COLOUR, 1.8)}<circle r="2.2" fill="${PATH_COLOUR}"/>`,
      label: options.path.name ?? 'path',
    });
    items.push({ swatch: SWATCH.circle(), label: options.path.startName ?? 'start' });
    items.push({ swatch: SWATCH.star(), label: options.path.endName ?? 'end' });
  }
  if (holes)
    items.push({
      swatch: `<rect x="-12" y="-6" width="24" height="12" fill="url(#ll-missing)" stroke="#999" stroke-width="0.5"/>`,
      label: 'not computed or NaN',
    });
  if (diverged) items.push({ swatch: `<rect x="-12" y="-6" width="24" height="12" fill="${viridis(1)}"/>`, label: '+∞ (diverged)' });
  const key = legend(items, left, top + height + MARGIN.bottom - 4, totalWidth - 10);
  body.push(key.svg);
  const totalHeight = top + height + MARGIN.bottom + key.height + (key.height ? 6 : 0);

  const defs = [
    `<clipPath id="ll-clip"><rect x="${left}" y="${top}" width="${px(width)}" height="${px(height)}"/></clipPath>`,
    `<pattern id="ll-missing" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern>`,
  ].join('\n');
  return svgDocument(totalWidth, totalHeight, body, defs);
}

/**
 * Colour bar: one band of equal height per level (the levels are not evenly spaced in loss), ticks at the level
 * values (thinned to about ten), the top edge at the highest loss.
 */
function colourBar(thresholds: number[], max: number, scheme: LevelScheme, shared: boolean, at: { x: number; top: number; height: number }): string {
  const n = thresholds.length;
  const band = at.height / n;
  const parts = ['<g class="colour-bar">'];
  thresholds.forEach((_, k) => {
    const y0 = at.top + at.height - (k + 1) * band;
    parts.push(`<rect x="${px(at.x)}" y="${px(y0)}" width="16" height="${px(band + 0.3)}" fill="${viridis(levelColourPosition(k, n))}"/>`);
  });
  parts.push(`<rect x="${px(at.x)}" y="${at.top}" width="16" height="${px(at.height)}" fill="none" stroke="#333" stroke-width="0.8"/>`);
  const position = (k: number): number => at.top + at.height - k * band;
  const title = shared
    ? 'loss (levels shared by all panels)'
    : scheme === 'basin'
      ? 'loss (levels finer near the minimum)'
      : scheme === 'log'
        ? 'loss (log-spaced levels)'
        : 'loss';
  parts.push(
    axis('right', {
      scale: position,
      ...levelTicks(thresholds, max),
      at: at.x + 16,
      from: at.top,
      to: at.top + at.height,
      title,
    }),
  );
  parts.push('</g>');
  return parts.join('\n');
}

interface LabelContext {
  data: LandscapeData;
  toPixel: (point: [number, number]) => [number, number];
  plot: { left: number; top: number; width: number; height: number };
  /** Points a label must not cover (markers, path points). */
  avoid: { x: number; y: number }[];
}

/**
 * Value labels on the iso-lines, placed greedily where they overlap nothing already placed: every fourth level
 * first, then every second, then the rest, so crowded bottom levels give way evenly; at most two labels per level,
 * each on a stretch of line at least 70 px long that does not run along the plot's edge.
 */
function levelLabels(contours: readonly ContourMultiPolygon[], context: LabelContext): string[] {
  const { plot } = context;
  const boxes: { x0: number; y0: number; x1: number; y1: number }[] = context.avoid.map((p) => ({ x0: p.x - 7, y0: p.y - 7, x1: p.x + 7, y1: p.y + 7 }));
  const free = (box: (typeof boxes)[number]): boolean =>
    box.x0 >= plot.left + 2 &&
    box.x1 <= plot.left + plot.width - 2 &&
    box.y0 >= plot.top + 2 &&
    box.y1 <= plot.top + plot.height - 2 &&
    boxes.every((b) => box.x1 + 3 < b.x0 || box.x0 - 3 > b.x1 || box.y1 + 3 < b.y0 || box.y0 - 3 > b.y1);
  const order: number[] = [];
  for (const stride of [4, 2, 1]) for (let k = stride; k < contours.length; k += stride) if (!order.includes(k)) order.push(k);
  const labels: string[] = [];
  for (const k of order) {
    const contour = contours[k]!;
    const text = formatLevel(contour.value);
    const halfWidth = (text.length * 5.6 + 4) / 2;
    const candidates = contour.coordinates.flatMap((polygon) => polygon.flatMap((ring) => interiorRuns(ring, context)));
    candidates.sort((a, b) => b.length - a.length);
    let placed = 0;
    for (const run of candidates) {
      if (placed === 2) break;
      for (const at of [0.5, 0.25, 0.75]) {
        const [cx, cy] = run.pointAt(at);
        const box = { x0: cx - halfWidth, y0: cy - 6, x1: cx + halfWidth, y1: cy + 6 };
        if (!free(box)) continue;
        boxes.push(box);
        labels.push(`<text class="level-label" data-level="${k}" x="${px(cx)}" y="${px(cy)}" dy="0.35em" text-anchor="middle">${escapeXml(text)}</text>`);
        placed++;
        break;
      }
    }
  }
  return labels;
}

/** The iso-line stretches of a ring in pixels, at least 70 px long (room for a label). */
function interiorRuns(ring: [number, number][], context: LabelContext): { length: number; pointAt(f: number): [number, number] }[] {
  return isoRuns(ring, context.data)
    .map((run) => {
      const points = run.map(context.toPixel);
      const cumulative = [0];
      for (let i = 1; i < points.length; i++)
        cumulative.push(cumulative[i - 1]! + Math.hypot(points[i]![0] - points[i - 1]![0], points[i]![1] - points[i - 1]![1]));
      const length = cumulative[cumulative.length - 1]!;
      const pointAt = (f: number): [number, number] => {
        const i = Math.max(
          1,
          cumulative.findIndex((c) => c >= f * length),
        );
        const span = cumulative[i]! - cumulative[i - 1]! || 1;
        const t = (f * length - cumulative[i - 1]!) / span;
        return [points[i - 1]![0] + t * (points[i]![0] - points[i - 1]![0]), points[i - 1]![1] + t * (points[i]![1] - points[i - 1]![1])];
      };
      return { length, pointAt };
    })
    .filter((run) => run.length >= 70);
}

/** The path's points in pixels (non-finite ones dropped). */
function pathPixels(path: PlotPath, X: (v: number) => number, Y: (v: number) => number): [number, number][] {
  if (path.x.length !== path.y.length) throw new InputError(`has ${path.x.length} x and ${path.y.length} y values`, 'path');
  return path.x.map((x, i) => [X(x), Y(path.y[i]!)] as [number, number]).filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b));
}

/** The path as a white-haloed polyline with a dot per point, its first point marked "start" and its last "end". */
function pathOverlay(points: [number, number][], path: PlotPath): string {
  const d = points.map(([a, b], i) => `${i ? 'L' : 'M'}${px(a)},${px(b)}`).join('');
  const first = points[0]!;
  const last = points[points.length - 1]!;
  return [
    `<g class="path" clip-path="url(#ll-clip)">`,
    `<title>${escapeXml(path.name ?? 'path')}</title>`,
    `<path d="${d}" fill="none" stroke="#ffffff" stroke-width="4" stroke-linejoin="round" stroke-opacity="0.8"/>`,
    `<path d="${d}" fill="none" stroke="${PATH_COLOUR}" stroke-width="1.8" stroke-linejoin="round"/>`,
    points.map(([a, b]) => `<circle cx="${px(a)}" cy="${px(b)}" r="2.2" fill="${PATH_COLOUR}"/>`).join(''),
    '</g>',
    pointMarker(first[0], first[1], 'start', 'circle'),
    pointMarker(last[0], last[1], 'end', 'star'),
  ].join('\n');
}
