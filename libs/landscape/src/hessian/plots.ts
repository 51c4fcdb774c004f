import {
  axis,
  escapeXml,
  formatValue,
  legend,
  linearScale,
  linearTicks,
  padDomain,
  px,
  svgDocument,
  SWATCH,
  titleBlock,
  viridis,
  type LegendItem,
} from '../output/plot';

const MARGIN = { left: 76, right: 40, top: 66, bottom: 58 };
const DENSITY_TOP = 84;

/** The SLQ spectral density as a filled curve, with markers at the given eigenvalues (e.g. the computed top-k). */
export function densitySvg(
  grid: readonly number[],
  values: readonly number[],
  options: { title: string; subtitle: string; marks?: number[]; marksLabel?: string },
): string {
  const width = 600;
  const height = 320;
  const { left } = MARGIN;
  const top = DENSITY_TOP;
  const xDomain = padDomain([grid[0]!, grid[grid.length - 1]!]);
  const yDomain = padDomain([0, Math.max(...values) * 1.05]);
  const X = linearScale(xDomain, [left, left + width]);
  const Y = linearScale(yDomain, [top + height, top]);
  const path = values.map((v, i) => `${i ? 'L' : 'M'}${px(X(grid[i]!))},${px(Y(v))}`).join('');
  const area = `${path}L${px(X(grid[grid.length - 1]!))},${px(Y(0))}L${px(X(grid[0]!))},${px(Y(0))}Z`;
  const xt = linearTicks(xDomain, 7);
  const yt = linearTicks(yDomain, 5);
  const body = [
    titleBlock(options.title, options.subtitle, 0, left + width + MARGIN.right),
    `<rect x="${left}" y="${top}" width="${width}" height="${height}" fill="#fcfcfc"/>`,
    `<path d="${area}" fill="${viridis(0.35)}" fill-opacity="0.35" stroke="none"/>`,
    `<path d="${path}" fill="none" stroke="${viridis(0.15)}" stroke-width="1.5"/>`,
    ...(options.marks ?? []).map(
      (m) =>
        `<line x1="${px(X(m))}" x2="${px(X(m))}" y1="${top}" y2="${top + height}" stroke="#c0392b" stroke-dasharray="4 3"><title>${escapeXml(formatValue(m))}</title></line>`,
    ),
    axis('bottom', { scale: X, ...xt, at: top + height, from: left, to: left + width, title: 'eigenvalue λ' }),
    axis('left', { scale: Y, ...yt, at: left, from: top + height, to: top, title: 'density' }),
  ];
  const items: LegendItem[] = [
    {
      swatch: `<rect x="-12" y="-6" width="24" height="12" fill="${viridis(0.35)}" fill-opacity="0.35"/>${SWATCH.line(viridis(0.15), 1.5)}`,
      label: 'spectral density (SLQ)',
    },
  ];
  if (options.marks?.length) items.push({ swatch: SWATCH.line('#c0392b', 1, '4 3'), label: options.marksLabel ?? 'computed eigenvalues' });
  body.push(legend(items, left - 12, 56, left + width).svg);
  return svgDocument(left + width + MARGIN.right, top + height + MARGIN.bottom, body);
}

/** A heat map of values[iy][ix] (null = not computed, drawn hatched grey) with a colour bar. */
export function heatmapSvg(
  xs: readonly number[],
  ys: readonly number[],
  values: readonly (readonly (number | null)[])[],
  options: { title: string; subtitle: string; label: string },
): string {
  const size = 480;
  const bar = 110;
  const { left, top } = MARGIN;
  const finite = values.flat().filter((v): v is number => v !== null && Number.isFinite(v));
  const domain = padDomain(finite.length ? [Math.min(...finite), Math.max(...finite)] : [0, 1]);
  const cellW = size / xs.length;
  const cellH = size / ys.length;
  const cells: string[] = [];
  values.forEach((row, iy) =>
    row.forEach((v, ix) => {
      const fill = v === null || !Number.isFinite(v) ? '#bbbbbb' : viridis((v - domain[0]) / (domain[1] - domain[0]));
      const x = left + ix * cellW;
      const y = top + size - (iy + 1) * cellH;
      cells.push(
        `<rect x="${px(x)}" y="${px(y)}" width="${px(cellW + 0.3)}" height="${px(cellH + 0.3)}" fill="${fill}"><title>${v === null ? 'not computed' : formatValue(v)}</title></rect>`,
      );
    }),
  );
  // Cell centres sit at the grid coordinates, so the axes reach half a cell beyond the first and last ones.
  const cellDomain = (c: readonly number[]): [number, number] => {
    const half = c.length > 1 ? (c[1]! - c[0]!) / 2 : 0.5;
    return [c[0]! - half, c[c.length - 1]! + half];
  };
  const xAxis = linearScale(cellDomain(xs), [left, left + size]);
  const yAxis = linearScale(cellDomain(ys), [top + size, top]);
  const barX = left + size + 30;
  const B = linearScale(domain, [top + size, top]);
  const steps = 64;
  const gradient = Array.from({ length: steps }, (_, i) => {
    const y0 = top + size - ((i + 1) * size) / steps;
    return `<rect x="${barX}" y="${px(y0)}" width="16" height="${px(size / steps + 0.3)}" fill="${viridis((i + 0.5) / steps)}"/>`;
  });
  const bt = linearTicks(domain, 6);
  const xt = linearTicks([xs[0]!, xs[xs.length - 1]!], 6);
  const yt = linearTicks([ys[0]!, ys[ys.length - 1]!], 6);
  const body = [
    titleBlock(options.title, options.subtitle, 0, barX + bar),
    ...cells,
    axis('bottom', { scale: xAxis, ...xt, at: top + size, from: left, to: left + size, title: 'x' }),
    axis('left', { scale: yAxis, ...yt, at: left, from: top + size, to: top, title: 'y' }),
    ...gradient,
    axis('right', { scale: B, ...bt, at: barX + 16, from: top + size, to: top, title: options.label }),
  ];
  return svgDocument(barX + bar, top + size + MARGIN.bottom, body);
}
