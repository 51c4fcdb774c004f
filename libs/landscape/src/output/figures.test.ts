import { describe, expect, it } from 'vitest';
import type { LandscapeResult } from '../result';
import { renderContourSvg } from './contour-svg';
import { provenance } from './fixtures.test-util';
import { basinEpsilon, contourLevels, formatLevel, levelScale } from './levels';

/** The rules a figure for a paper follows: labelled iso-lines, levels dense near the minimum, shared colour scales, legends. */

const linspace = (a: number, b: number, n: number): number[] => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));
const N = 61;
const XS = linspace(-1, 1, N);
/** An anisotropic bowl with its minimum 0.07 at the origin, rising to about 6 at the corners, like a trained network's. */
const bowl = (x: number, y: number): number => 0.07 + 2 * x * x + 1 * y * y + 1.5 * x * x * y * y + 0.5 * Math.abs(x) ** 3;

function surface(f = bowl): LandscapeResult {
  return {
    ...provenance(),
    kind: 'surface',
    x: XS,
    y: XS,
    loss: XS.map((y) => XS.map((x) => f(x, y))),
    accuracy: XS.map(() => XS.map(() => null)),
    directions: [],
    points: N * N,
    pointsComputed: N * N,
  };
}

const attribute = (tag: string, name: string): string => new RegExp(`\\s${name}="([^"]*)"`).exec(tag)![1]!;
const tags = (svg: string, pattern: RegExp): string[] => [...svg.matchAll(pattern)].map((m) => m[0]);

describe('contour levels', () => {
  const values = XS.flatMap((y) => XS.map((x) => bowl(x, y)));
  const min = Math.min(...values);
  const max = Math.max(...values);

  it('basin: uniform in log(loss − min + ε) up to rounding, the first at the minimum', () => {
    const levels = contourLevels(values, 20, 'basin');
    const epsilon = basinEpsilon(min, max);
    expect(levels).toHaveLength(20);
    expect(levels[0]).toBe(min);
    levels.forEach((t, k) => {
      if (k === 0) return;
      expect(t).toBeGreaterThan(levels[k - 1]!);
      const exact = min + epsilon * ((1 + (max - min) / epsilon) ** (k / 20) - 1);
      const below = min + epsilon * ((1 + (max - min) / epsilon) ** ((k - 1) / 20) - 1);
      expect(Math.abs(t - exact)).toBeLessThanOrEqual(0.05 * (exact - below) + 1e-15);
    });
    // Dense at the bottom: the gaps grow, and at least 9 of the 20 levels lie in the lowest tenth of the range.
    const gaps = levels.slice(1).map((t, k) => t - levels[k]!);
    gaps.forEach((gap, k) => k > 0 && expect(gap).toBeGreaterThan(gaps[k - 1]! * 0.9));
    expect(levels.filter((t) => t < min + 0.1 * (max - min)).length).toBeGreaterThanOrEqual(9);
    // Linear levels put 3 there: the basin would be nearly one colour.
    expect(contourLevels(values, 20, 'linear').filter((t) => t < min + 0.1 * (max - min))).toHaveLength(3);
  });

  it('a loss spanning decades is spaced like a log scale; labels print every digit of the rounded level', () => {
    const steep = [0.01, 0.5, 3, 1e3];
    const levels = contourLevels(steep, 7, 'basin');
    expect(basinEpsilon(0.01, 1e3)).toBe(0.01);
    const logs = levels.map(Math.log10);
    logs.slice(2).forEach((l, k) => expect(l - logs[k + 1]!).toBeCloseTo(logs[2]! - logs[1]!, 1));
    for (const t of levels.slice(1)) expect(Number(formatLevel(t).replace('−', '-'))).toBe(t);
    expect(contourLevels([2, 2], 20)).toEqual([2]);
    expect(contourLevels([null, NaN], 20)).toEqual([]);
  });
});

describe('contour figure', () => {
  it('labels iso-lines with their values, on the lines, without overlaps', async () => {
    const svg = await renderContourSvg(surface());
    const levels = new Map(tags(svg, /<path class="level"[^>]*>/g).map((tag) => [attribute(tag, 'data-level'), Number(attribute(tag, 'data-threshold'))]));
    const labels = tags(svg, /<text class="level-label"[^>]*>[^<]*<\/text>/g);
    expect(labels.length).toBeGreaterThanOrEqual(12);
    const area = /<rect class="plot-area"[^>]*>/.exec(svg)![0];
    const [left, top, width, height] = ['x', 'y', 'width', 'height'].map((name) => Number(attribute(area, name)));
    const boxes = labels.map((label) => {
      const value = levels.get(attribute(label, 'data-level'))!;
      const text = />([^<]*)</.exec(label)![1]!;
      expect(text).toBe(formatLevel(value));
      // The label sits on its iso-line: the analytic loss there is the level's value (up to the grid's interpolation).
      const cx = Number(attribute(label, 'x'));
      const cy = Number(attribute(label, 'y'));
      const x = -1 + (2 * (cx - left!)) / width!;
      const y = 1 - (2 * (cy - top!)) / height!;
      const step = 2 / (N - 1);
      const slope = Math.hypot(4 * x + 3 * x * y * y + 1.5 * x * Math.abs(x), 2 * y + 3 * x * x * y);
      expect(Math.abs(bowl(x, y) - value)).toBeLessThanOrEqual(slope * step * 0.05 + 0.02 * value);
      const halfWidth = (text.length * 5.6 + 4) / 2;
      return { x0: cx - halfWidth, x1: cx + halfWidth, y0: cy - 6, y1: cy + 6 };
    });
    boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => expect(a.x1 < b.x0 || b.x1 < a.x0 || a.y1 < b.y0 || b.y1 < a.y0).toBe(true)));
    // Labels of the bottom levels are there: the basin is readable.
    const labelled = new Set(labels.map((label) => Number(attribute(label, 'data-level'))));
    expect([1, 2, 3, 4, 5, 6].filter((k) => labelled.has(k)).length).toBeGreaterThanOrEqual(3);
  });

  it('panels drawn with the same thresholds share one colour per level', async () => {
    const a = surface();
    const b = surface((x, y) => 3 + bowl(x, y));
    const shared = levelScale([...(a.loss as number[][]).flat(), ...(b.loss as number[][]).flat()], 20);
    const fills = async (result: LandscapeResult): Promise<Map<string, string>> =>
      new Map(
        tags(await renderContourSvg(result, { levels: shared }), /<path class="level"[^>]*>/g).map((tag) => [
          attribute(tag, 'data-threshold'),
          attribute(tag, 'fill'),
        ]),
      );
    const [fa, fb] = [await fills(a), await fills(b)];
    expect([...fa.keys()]).toEqual(shared.levels.map(String));
    expect(fa).toEqual(fb);
    // b starts at 3.07, so its lowest bands are empty and its deepest point is not drawn in a's deepest colour.
    const bSvg = await renderContourSvg(b, { levels: shared });
    expect(bSvg).toContain('loss (levels shared by all panels)');
    const ownB = await renderContourSvg(b);
    expect(attribute(tags(ownB, /<path class="level"[^>]*>/g)[0]!, 'fill')).toBe(fa.get(String(shared.levels[0])));
    expect(Number(attribute(tags(ownB, /<path class="level"[^>]*>/g)[0]!, 'data-threshold'))).toBeCloseTo(3.07, 12);
  });

  it('has a legend entry for every marker and line it draws', async () => {
    const path = { x: [-0.8, -0.3, 0], y: [0.6, 0.2, 0], name: 'training trajectory', startName: 'initial weights', endName: 'final weights' };
    const svg = await renderContourSvg(surface(), { path });
    const legend = /<g class="legend"[\s\S]*?<\/g><\/g>/.exec(svg)![0];
    const entries = tags(legend, /<text[^>]*>[^<]*<\/text>/g).map((t) => />([^<]*)</.exec(t)![1]);
    expect(entries).toEqual(['iso-loss line (its value on it)', 'origin (the model’s weights)', 'training trajectory', 'initial weights', 'final weights']);
    expect(svg).toContain('class="path"');
  });
});
