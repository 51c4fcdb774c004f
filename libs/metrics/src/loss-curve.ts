// The shared SVG pieces of the core's plots (scales, ticks, axes); core's index does not re-export them.
import { axis, escapeXml, legend, linearScale, linearTicks, logTicks, padDomain, px, svgDocument, SWATCH, titleBlock, viridis } from '@landscape/core';

const MARGIN = { left: 76, right: 30, top: 84, bottom: 58 };
const WIDTH = 600;
const HEIGHT = 320;

/**
 * The training loss at each checkpoint against the optimizer step, as an SVG document. The loss axis is log10
 * when the positive losses span more than two decades (training curves usually do).
 */
export function renderLossCurveSvg(steps: readonly number[], losses: readonly number[], options: { title: string; subtitle: string }): string {
  const points = steps.map((step, i) => [step, losses[i]!] as const).filter(([s, l]) => Number.isFinite(s) && Number.isFinite(l));
  const positive = points.every(([, l]) => l > 0);
  const values = points.map(([, l]) => l);
  const logScale = positive && values.length > 0 && Math.max(...values) / Math.min(...values) > 100;
  const shown = points.map(([s, l]) => [s, logScale ? Math.log10(l) : l] as const);
  const xDomain = padDomain(shown.length ? [Math.min(...shown.map((p) => p[0])), Math.max(...shown.map((p) => p[0]))] : [0, 1]);
  const [low, high] = padDomain(shown.length ? [Math.min(...shown.map((p) => p[1])), Math.max(...shown.map((p) => p[1]))] : [0, 1]);
  // 5 % head room so the extreme points are not drawn on the frame.
  const yDomain: [number, number] = [low - 0.05 * (high - low), high + 0.05 * (high - low)];
  const left = MARGIN.left;
  const top = MARGIN.top;
  const X = linearScale(xDomain, [left, left + WIDTH]);
  const Y = linearScale(yDomain, [top + HEIGHT, top]);
  const colour = viridis(0.12);
  const yTicks = logScale ? logTicks(yDomain, 6) : linearTicks(yDomain, 6);
  const totalWidth = left + WIDTH + MARGIN.right;
  const body = [
    titleBlock(options.title, options.subtitle, 0, totalWidth),
    `<rect x="${left}" y="${top}" width="${WIDTH}" height="${HEIGHT}" fill="#fcfcfc" stroke="#333"/>`,
    `<g class="grid" stroke="#e6e6e6">${yTicks.ticks.map((t) => `<line x1="${left}" x2="${left + WIDTH}" y1="${px(Y(t))}" y2="${px(Y(t))}"/>`).join('')}</g>`,
    `<path class="loss" d="${shown.map(([s, l], i) => `${i ? 'L' : 'M'}${px(X(s))},${px(Y(l))}`).join('')}" fill="none" stroke="${colour}" stroke-width="2"/>`,
    `<g class="loss-points" fill="${colour}">${shown.map(([s, l]) => `<circle cx="${px(X(s))}" cy="${px(Y(l))}" r="2.5"/>`).join('')}</g>`,
    axis('bottom', { scale: X, ...linearTicks(xDomain, 8), at: top + HEIGHT, from: left, to: left + WIDTH, title: 'optimizer step' }),
    axis('left', { scale: Y, ...yTicks, at: left, from: top, to: top + HEIGHT, title: logScale ? 'training loss (log scale)' : 'training loss' }),
    legend(
      [
        {
          swatch: `${SWATCH.line(colour)}<circle r="2.5" fill="${colour}"/>`,
          label: 'training loss at each checkpoint (step 0: the initial weights)',
        },
      ],
      left - 12,
      56,
      totalWidth,
    ).svg,
  ];
  if (!shown.length)
    body.push(`<text x="${px(left + WIDTH / 2)}" y="${px(top + HEIGHT / 2)}" text-anchor="middle" fill="#555">${escapeXml('no finite loss recorded')}</text>`);
  return svgDocument(totalWidth, top + HEIGHT + MARGIN.bottom, body);
}
