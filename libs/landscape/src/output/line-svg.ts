import { InputError } from '../errors';
import type { LandscapeResult } from '../result';
import { defaultLogScale, directionLabel, directionModel, landscapeData, resultSubtitle, resultTitle } from './landscape-data';
import { finiteExtent } from './levels';
import {
  axis,
  escapeXml,
  legend,
  linearScale,
  linearTicks,
  logTicks,
  padDomain,
  px,
  svgDocument,
  SWATCH,
  titleBlock,
  viridis,
  type LegendItem,
  type Scale,
} from './plot';

export interface LinePlotOptions {
  /** Loss axis in log10. Default: on when the finite loss spans max/min > 100 (and is positive). */
  logScale?: boolean;
}

const MARGIN = { left: 76, right: 84, top: 92, bottom: 58 };
const WIDTH = 600;
const HEIGHT = 340;
const LOSS_COLOUR = viridis(0.12);
const ACCURACY_COLOUR = viridis(0.62);

/** Polyline segments through consecutive points with a value; gaps where a point has none. */
function segments(xs: number[], values: (number | null)[], X: Scale, Y: Scale): string {
  let d = '';
  let open = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) {
      open = false;
      return;
    }
    d += `${open ? 'L' : 'M'}${px(X(xs[i]!))},${px(Y(v))}`;
    open = true;
  });
  return d;
}

/**
 * Loss along a line (left axis) and, when computed, accuracy in percent (right axis, 0–100 %). Points are
 * marked; diverged points (±∞/NaN) get a red × at the top edge, points not computed are gaps. Interpolations
 * (x direction towards a model) mark α = 0 and α = 1, other lines the origin x = 0.
 */
export function renderLineSvg(result: LandscapeResult, options: LinePlotOptions = {}): string {
  const data = landscapeData(result);
  if (data.kind !== 'line') throw new InputError('a line plot needs a line result (got a surface)', 'kind');
  const { x } = data;
  const losses = data.loss[0]!;
  const accuracy = data.accuracy[0]!;
  const logScale = options.logScale ?? defaultLogScale(losses);
  const positive = finiteExtent(losses.filter((v) => v !== null && v > 0));
  if (logScale && !positive) throw new InputError('the loss has no positive finite value to put on a log scale', 'logScale');
  const shown = losses.map((v) => (v === null || !Number.isFinite(v) ? v : logScale ? Math.log10(v > 0 ? v : positive![0]) : v));

  const left = MARGIN.left;
  const top = MARGIN.top;
  const xDomain = padDomain([x[0]!, x[x.length - 1]!]);
  const extent = finiteExtent(shown);
  const lossDomain = extent ? padDomain(extent) : ([0, 1] as [number, number]);
  // 5 % head room so the extreme points are not drawn on the frame.
  const room = (lossDomain[1] - lossDomain[0]) * 0.05;
  const yDomain: [number, number] = [lossDomain[0] - room, lossDomain[1] + room];
  const X = linearScale(xDomain, [left, left + WIDTH]);
  const Y = linearScale(yDomain, [top + HEIGHT, top]);
  const A = linearScale([0, 100], [top + HEIGHT, top]);
  const diverged = losses.map((v, i) => (v !== null && !Number.isFinite(v) ? i : -1)).filter((i) => i >= 0);
  const missing = losses.some((v) => v === null);
  const notes: string[] = [];
  if (missing) notes.push('gaps: not computed');
  const totalWidth = left + WIDTH + MARGIN.right;
  const totalHeight = top + HEIGHT + MARGIN.bottom + (notes.length ? 18 : 0);

  const body: string[] = [titleBlock(`${resultTitle(result)} — loss along a line`, resultSubtitle(result), 0, totalWidth)];
  body.push(`<rect x="${left}" y="${top}" width="${WIDTH}" height="${HEIGHT}" fill="#fcfcfc" stroke="none"/>`);
  // Light horizontal grid at the loss ticks.
  const lossTicks = logScale ? logTicks(yDomain, 6) : linearTicks(yDomain, 6);
  body.push(
    `<g class="grid" stroke="#e6e6e6">${lossTicks.ticks.map((t) => `<line x1="${left}" x2="${left + WIDTH}" y1="${px(Y(t))}" y2="${px(Y(t))}"/>`).join('')}</g>`,
  );

  // α = 0 / α = 1 for interpolations, else the origin.
  const target = directionModel(result, 0);
  const marks: [number, string][] = target
    ? [
        [0, `α = 0 (${result.model?.name ?? 'origin'})`],
        [1, `α = 1 (${target})`],
      ]
    : [[0, 'origin']];
  // Dashed lines under the curves; labels just above the frame, where no data is drawn.
  const markLabels: string[] = [];
  for (const [at, label] of marks) {
    if (at < xDomain[0] || at > xDomain[1]) continue;
    body.push(`<line class="marker" x1="${px(X(at))}" x2="${px(X(at))}" y1="${top}" y2="${top + HEIGHT}" stroke="#555" stroke-dasharray="4 3"/>`);
    markLabels.push(
      `<text class="marker" x="${px(X(at))}" y="${top - 5}" text-anchor="middle" font-size="11" fill="#333" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">${escapeXml(label)}</text>`,
    );
  }

  if (data.hasAccuracy) {
    const percent = accuracy.map((v) => (v === null ? null : v * 100));
    body.push(`<path class="accuracy" d="${segments(x, percent, X, A)}" fill="none" stroke="${ACCURACY_COLOUR}" stroke-width="1.8" stroke-dasharray="6 3"/>`);
    body.push(
      `<g class="accuracy-points" fill="#ffffff" stroke="${ACCURACY_COLOUR}" stroke-width="1.3">` +
        percent
          .map((v, i) => (v === null || !Number.isFinite(v) ? '' : `<rect x="${px(X(x[i]!) - 2.5)}" y="${px(A(v) - 2.5)}" width="5" height="5"/>`))
          .join('') +
        '</g>',
    );
  }
  body.push(`<path class="loss" d="${segments(x, shown, X, Y)}" fill="none" stroke="${LOSS_COLOUR}" stroke-width="2"/>`);
  body.push(
    `<g class="loss-points" fill="${LOSS_COLOUR}">` +
      shown.map((v, i) => (v === null || !Number.isFinite(v) ? '' : `<circle cx="${px(X(x[i]!))}" cy="${px(Y(v))}" r="2.8"/>`)).join('') +
      '</g>',
  );
  if (diverged.length) {
    body.push(
      `<g class="diverged" stroke="#d62728" stroke-width="2">` +
        diverged.map((i) => `<path d="M${px(X(x[i]!) - 4)},${top + 2}l8,8M${px(X(x[i]!) + 4)},${top + 2}l-8,8"/>`).join('') +
        '</g>',
    );
  }
  body.push(...markLabels);
  if (!extent)
    body.push(
      `<text x="${px(left + WIDTH / 2)}" y="${px(top + HEIGHT / 2)}" text-anchor="middle" font-size="14" fill="#555">no finite loss was computed</text>`,
    );

  body.push(`<rect x="${left}" y="${top}" width="${WIDTH}" height="${HEIGHT}" fill="none" stroke="#333"/>`);
  body.push(
    axis('bottom', {
      scale: X,
      ...linearTicks(xDomain, 8),
      at: top + HEIGHT,
      from: left,
      to: left + WIDTH,
      title: target ? `α (interpolation ${directionLabel(result, 0)})` : `x: ${directionLabel(result, 0)}`,
    }),
  );
  body.push(
    axis('left', { scale: Y, ...lossTicks, at: left, from: top, to: top + HEIGHT, title: logScale ? 'loss (log scale)' : 'loss', colour: LOSS_COLOUR }),
  );
  if (data.hasAccuracy)
    body.push(
      axis('right', { scale: A, ...linearTicks([0, 100], 5), at: left + WIDTH, from: top, to: top + HEIGHT, title: 'accuracy (%)', colour: ACCURACY_COLOUR }),
    );

  // Legend between the subtitle and the plot: every line and marker drawn.
  const items: LegendItem[] = [{ swatch: `${SWATCH.line(LOSS_COLOUR)}<circle r="2.8" fill="${LOSS_COLOUR}"/>`, label: 'loss' }];
  if (data.hasAccuracy)
    items.push({
      swatch: `${SWATCH.line(ACCURACY_COLOUR, 1.8, '6 3')}<rect x="-2.5" y="-2.5" width="5" height="5" fill="#fff" stroke="${ACCURACY_COLOUR}"/>`,
      label: 'accuracy',
    });
  if (markLabels.length) items.push({ swatch: SWATCH.line('#555', 1, '4 3'), label: target ? 'the two models (α = 0, 1)' : 'origin' });
  if (diverged.length) items.push({ swatch: `<path d="M-4,-4l8,8M4,-4l-8,8" stroke="#d62728" stroke-width="2"/>`, label: 'diverged (NaN or ±∞)' });
  body.push(legend(items, left - 12, 57, left + WIDTH).svg);
  if (notes.length) body.push(`<text x="${left}" y="${px(totalHeight - 10)}" font-size="11" fill="#555">${escapeXml(notes.join(' · '))}</text>`);
  return svgDocument(totalWidth, totalHeight, body);
}
