/** Shared pieces of the SVG plots: colour map, scales, ticks, number formats, axes. Pure string building. */
import { escapeXml } from './escape';

/** matplotlib's viridis sampled at 0, 0.1, …, 1 (perceptually uniform, readable in grey and by most colour-blind readers). */
const VIRIDIS: readonly [number, number, number][] = [
  [68, 1, 84],
  [72, 36, 117],
  [65, 68, 135],
  [53, 95, 141],
  [42, 120, 142],
  [33, 145, 140],
  [34, 168, 132],
  [68, 191, 112],
  [122, 209, 81],
  [189, 223, 38],
  [253, 231, 37],
];

/** Viridis colour at t in [0, 1] as #rrggbb. */
export function viridis(t: number): string {
  const s = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(s));
  const f = s - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  return `#${[0, 1, 2]
    .map((c) =>
      Math.round(a[c]! + (b[c]! - a[c]!) * f)
        .toString(16)
        .padStart(2, '0'),
    )
    .join('')}`;
}

export const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";

export { escapeXml };

/** Pixel coordinates with two decimals: enough for print, keeps files small. */
export function px(value: number): string {
  return String(Math.round(value * 100) / 100);
}

export type Scale = (value: number) => number;

export function linearScale([d0, d1]: readonly [number, number], [r0, r1]: readonly [number, number]): Scale {
  const span = d1 - d0 || 1;
  return (value) => r0 + ((value - d0) / span) * (r1 - r0);
}

/** A domain that is never empty: a single value gets ±0.5 (or ±10 %) around it. */
export function padDomain([min, max]: readonly [number, number]): [number, number] {
  if (max > min) return [min, max];
  const half = min === 0 ? 0.5 : Math.abs(min) * 0.1;
  return [min - half, max + half];
}

/** Round tick positions (1, 2, 5 × 10^k steps) inside [min, max], about `count` of them. */
export function niceTicks(min: number, max: number, count: number): number[] {
  if (!(max > min) || !Number.isFinite(min) || !Number.isFinite(max)) return Number.isFinite(min) ? [min] : [];
  const step = tickStep(min, max, count);
  // Steps below 1 are 1/k for a whole k (0.5, 0.2, 0.1, 0.05, …): dividing by k keeps ticks like 0.3 exact.
  const inverse = step < 1 ? Math.round(1 / step) : 0;
  const start = Math.ceil(inverse ? min * inverse : min / step);
  const stop = Math.floor(inverse ? max * inverse : max / step);
  const ticks: number[] = [];
  for (let i = start; i <= stop; i++) ticks.push(inverse ? i / inverse : i * step);
  return ticks;
}

export function tickStep(min: number, max: number, count: number): number {
  const raw = (max - min) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const error = raw / power;
  return power * (error >= 7.07 ? 10 : error >= 3.16 ? 5 : error >= 1.41 ? 2 : 1);
}

/** Tick label with as many decimals as the tick spacing needs. */
export function formatTick(value: number, step: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || step < 1e-4) return value.toExponential(Math.max(0, Math.min(6, Math.round(Math.log10(magnitude / step)))));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(decimals).replace('-', '−');
}

/** A value with three significant digits, e.g. for colour-bar labels on a log scale. */
export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  const text = magnitude >= 1e5 || magnitude < 1e-3 ? value.toExponential(2).replace(/\.?0+e/, 'e') : String(Number(value.toPrecision(3)));
  return text.replace('-', '−');
}

export interface AxisOptions {
  scale: Scale;
  ticks: number[];
  labels: string[];
  /** Pixel position of the axis line: y for a bottom axis, x for a left or right one. */
  at: number;
  /** Extent of the axis line in pixels. */
  from: number;
  to: number;
  title: string;
  colour?: string;
}

/** Tick marks, tick labels and the axis title. */
export function axis(side: 'bottom' | 'left' | 'right', options: AxisOptions): string {
  const { scale, ticks, labels, at, from, to, title } = options;
  const colour = options.colour ?? '#333';
  const parts: string[] = [`<g class="axis axis-${side}" fill="${colour}" stroke="none" font-size="12">`];
  if (side === 'bottom') {
    parts.push(`<line x1="${px(from)}" y1="${px(at)}" x2="${px(to)}" y2="${px(at)}" stroke="${colour}"/>`);
    ticks.forEach((tick, i) => {
      const p = px(scale(tick));
      parts.push(`<line x1="${p}" y1="${px(at)}" x2="${p}" y2="${px(at + 5)}" stroke="${colour}"/>`);
      parts.push(`<text x="${p}" y="${px(at + 19)}" text-anchor="middle">${escapeXml(labels[i]!)}</text>`);
    });
    parts.push(`<text x="${px((from + to) / 2)}" y="${px(at + 40)}" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`);
  } else {
    const sign = side === 'left' ? -1 : 1;
    parts.push(`<line x1="${px(at)}" y1="${px(from)}" x2="${px(at)}" y2="${px(to)}" stroke="${colour}"/>`);
    let widest = 0;
    ticks.forEach((tick, i) => {
      const p = px(scale(tick));
      parts.push(`<line x1="${px(at)}" y1="${p}" x2="${px(at + 5 * sign)}" y2="${p}" stroke="${colour}"/>`);
      parts.push(`<text x="${px(at + 8 * sign)}" y="${p}" dy="0.35em" text-anchor="${side === 'left' ? 'end' : 'start'}">${escapeXml(labels[i]!)}</text>`);
      widest = Math.max(widest, labels[i]!.length);
    });
    // Rotated title just outside the widest tick label (~7 px per character at 12 px).
    const tx = at + sign * (14 + widest * 7 + 8);
    const ty = (from + to) / 2;
    parts.push(
      `<text transform="translate(${px(tx)},${px(ty)}) rotate(${side === 'left' ? -90 : 90})" text-anchor="middle" font-size="13">${escapeXml(title)}</text>`,
    );
  }
  parts.push('</g>');
  return parts.join('\n');
}

/** Ticks and labels for a linear axis. */
export function linearTicks(domain: readonly [number, number], count: number): { ticks: number[]; labels: string[] } {
  const ticks = niceTicks(domain[0], domain[1], count);
  const step = ticks.length > 1 ? ticks[1]! - ticks[0]! : tickStep(domain[0], domain[1] || 1, count);
  return { ticks, labels: ticks.map((t) => formatTick(t, step)) };
}

/**
 * Ticks for an axis in log10 units: whole decades when the range holds at least two, else round positions
 * in log space; labels show the value itself (10^t).
 */
export function logTicks(domain: readonly [number, number], count: number): { ticks: number[]; labels: string[] } {
  const decades: number[] = [];
  for (let k = Math.ceil(domain[0]); k <= Math.floor(domain[1]); k++) decades.push(k);
  let ticks = decades.length >= 2 ? decades : niceTicks(domain[0], domain[1], count);
  if (ticks.length > count + 3) {
    const stride = Math.ceil(ticks.length / count);
    ticks = ticks.filter((t) => t % stride === 0);
  }
  return { ticks, labels: ticks.map((t) => formatValue(10 ** t)) };
}

export function svgDocument(width: number, height: number, body: string[], defs = ''): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" font-family="${escapeXml(FONT)}" font-size="12">`,
    defs ? `<defs>\n${defs}\n</defs>` : '',
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    ...body,
    '</svg>',
    '',
  ]
    .filter((line) => line !== '')
    .join('\n');
}

/** Title (bold) and a smaller grey subtitle, centred over [left, right]. */
export function titleBlock(title: string, subtitle: string, left: number, right: number): string {
  const mid = px((left + right) / 2);
  return [
    `<text x="${mid}" y="26" text-anchor="middle" font-size="16" font-weight="600" fill="#111">${escapeXml(title)}</text>`,
    `<text x="${mid}" y="46" text-anchor="middle" font-size="12" fill="#555">${escapeXml(subtitle)}</text>`,
  ].join('\n');
}

/** A marker with a label: white-haloed so it stays readable on any colour. */
export function pointMarker(x: number, y: number, label: string, shape: 'star' | 'circle'): string {
  const mark =
    shape === 'star'
      ? `<path d="${starPath(x, y, 8, 3.5)}" fill="#ffffff" stroke="#111" stroke-width="1.3"/>`
      : `<circle cx="${px(x)}" cy="${px(y)}" r="5" fill="#ffffff" stroke="#111" stroke-width="1.3"/>`;
  const text = `<text x="${px(x + 10)}" y="${px(y - 8)}" font-size="12" font-weight="600" fill="#111" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke">${escapeXml(label)}</text>`;
  return `<g class="marker">${mark}${text}</g>`;
}

function starPath(cx: number, cy: number, outer: number, inner: number): string {
  const points: string[] = [];
  for (let i = 0; i < 10; i++) {
    const r = i % 2 === 0 ? outer : inner;
    const angle = -Math.PI / 2 + (i * Math.PI) / 5;
    points.push(`${px(cx + r * Math.cos(angle))},${px(cy + r * Math.sin(angle))}`);
  }
  return `M${points.join('L')}Z`;
}

/** One legend entry: a swatch drawn around (0, 0) in a 24 × 12 box, and its text. */
export interface LegendItem {
  swatch: string;
  label: string;
}

/** Swatches shared by the plots, so a marker looks the same in every legend. */
export const SWATCH = {
  line: (colour: string, width = 2, dash?: string): string =>
    `<line x1="-12" x2="12" y1="0" y2="0" stroke="${colour}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`,
  star: (): string => `<path d="${starPath(0, 0, 6.5, 2.8)}" fill="#ffffff" stroke="#111" stroke-width="1.2"/>`,
  circle: (): string => `<circle r="4.5" fill="#ffffff" stroke="#111" stroke-width="1.2"/>`,
};

/**
 * A legend that flows left to right from (x, y), wrapping before `right`; entries are about 7 px per character at
 * 12 px. Returns the SVG and the height it takes.
 */
export function legend(items: readonly LegendItem[], x: number, y: number, right: number): { svg: string; height: number } {
  if (items.length === 0) return { svg: '', height: 0 };
  const rowHeight = 18;
  let cx = x;
  let cy = y + rowHeight / 2;
  const parts = [`<g class="legend" font-size="12" fill="#222">`];
  for (const item of items) {
    const width = 30 + item.label.length * 6.6 + 16;
    if (cx > x && cx + width > right) {
      cx = x;
      cy += rowHeight;
    }
    parts.push(
      `<g class="legend-item" transform="translate(${px(cx + 12)},${px(cy)})">${item.swatch}<text x="18" dy="0.35em">${escapeXml(item.label)}</text></g>`,
    );
    cx += width;
  }
  parts.push('</g>');
  return { svg: parts.join(''), height: cy - y + rowHeight / 2 };
}
