import { mkdtempSync, readFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../errors';
import { landscapeHandler } from '../landscape-job';
import { runEmbedded } from '../embedded';
import type { LandscapeResult } from '../result';
import { parseJobSpec, type SurfaceSpec } from '../spec';
import { requireEsm } from './esm';
import { provenance } from './fixtures.test-util';
import { levelScale, renderContourSvg, surfaceLosses, writeLandscapeOutputs } from './index';
import { niceTicks } from './plot';

type H5 = typeof import('h5wasm');

const dirs: string[] = [];
function outDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'landscape-output-'));
  dirs.push(dir);
  return dir;
}
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const linspace = (a: number, b: number, n: number): number[] => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));

/** 9 columns (x) × 7 rows (y): loss = x² + 3y² + 1; one point not computed (null), one diverged (NaN). */
const NX = 9;
const NY = 7;
const X = linspace(-2, 2, NX);
const Y = linspace(-1.5, 1.5, NY);
const f = (x: number, y: number): number => x * x + 3 * y * y + 1;
const accuracyOf = (x: number, y: number): number => 1 - f(x, y) / 20;
const NULL_AT = { ix: 2, iy: 5 };
const NAN_AT = { ix: 6, iy: 2 };

function surface(scale = 1): LandscapeResult {
  const loss = Y.map((y, iy) =>
    X.map((x, ix): number | null => (ix === NULL_AT.ix && iy === NULL_AT.iy ? null : ix === NAN_AT.ix && iy === NAN_AT.iy ? NaN : scale * f(x, y))),
  );
  const accuracy = Y.map((y, iy) => X.map((x, ix): number | null => (ix === NULL_AT.ix && iy === NULL_AT.iy ? null : accuracyOf(x, y))));
  return {
    ...provenance(),
    kind: 'surface',
    x: X,
    y: Y,
    loss,
    accuracy,
    directions: [
      { source: { seed: 1 }, normalization: 'filter', bias: 'ignore', norm: 1 },
      { source: { seed: 2 }, normalization: 'filter', bias: 'ignore', norm: 1 },
    ] as LandscapeResult['directions'],
    points: NX * NY,
    pointsComputed: NX * NY - 1,
  };
}

const ALPHAS = linspace(-0.5, 1.5, 9);
function line(): LandscapeResult {
  return {
    ...provenance(),
    kind: 'line',
    x: ALPHAS,
    loss: ALPHAS.map((a, i) => (i === 3 ? null : i === 8 ? Infinity : (a - 1) ** 2 + 0.2)),
    accuracy: ALPHAS.map((a, i) => (i === 3 ? null : 0.5 + a / 4)),
    directions: [{ source: { model: 'models/trained/model.json' }, normalization: 'none', bias: 'ignore', norm: 3 }] as LandscapeResult['directions'],
    points: 9,
    pointsComputed: 8,
  };
}

/** A strict check of XML well-formedness (balanced, properly nested tags, quoted unique attributes, valid entities). */
function parseXml(text: string): { root: string; elements: number } {
  const entity = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/;
  const stack: string[] = [];
  let i = text.startsWith('<?xml') ? text.indexOf('?>') + 2 : 0;
  let root = '';
  let elements = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    if (entity.test(chunk)) throw new Error(`bad entity in text near ${i}`);
    if (stack.length === 0 && chunk.trim() !== '') throw new Error(`text outside the root element near ${i}`);
    if (lt < 0) break;
    if (text.startsWith('<!--', lt)) {
      i = text.indexOf('-->', lt) + 3;
      continue;
    }
    const end = text.indexOf('>', lt);
    if (end < 0) throw new Error(`unclosed tag at ${lt}`);
    const tag = text.slice(lt + 1, end);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      if (stack.pop() !== name) throw new Error(`mismatched </${name}> at ${lt}`);
    } else {
      const match = /^([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)$/.exec(tag);
      if (!match) throw new Error(`malformed tag <${tag.slice(0, 80)}> at ${lt}`);
      const names = [...match[2]!.matchAll(/([A-Za-z_][\w.:-]*)\s*=/g)].map((m) => m[1]);
      if (new Set(names).size !== names.length) throw new Error(`duplicate attribute in <${match[1]}>`);
      if (entity.test(match[2]!)) throw new Error(`bad entity in attributes of <${match[1]}>`);
      if (stack.length === 0) {
        if (root) throw new Error('more than one root element');
        root = match[1]!;
      }
      elements++;
      if (!match[3]) stack.push(match[1]!);
    }
    i = end + 1;
  }
  if (stack.length) throw new Error(`unclosed <${stack.join('>, <')}>`);
  return { root, elements };
}

function attribute(tag: string, name: string): string {
  const value = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)?.[1];
  if (value === undefined) throw new Error(`no ${name} in ${tag.slice(0, 80)}`);
  return value;
}

describe('landscape outputs: surface', () => {
  const dir = outDir();
  const written = writeLandscapeOutputs(surface(), dir);

  it('writes every file', async () => {
    expect(await written).toEqual(['result.csv', 'contour.svg', 'surface.html', 'surface.h5', 'surface.vtp']);
    for (const name of await written) expect(statSync(join(dir, name)).size).toBeGreaterThan(0);
  });

  it('contours each surface by its values: the bands kept for the 3-D view never leak into another result', async () => {
    const a = surface();
    const b = surface();
    (b.loss as number[][])[3]![4] = 2.5; // inside the levels' range: the same thresholds, other bands
    const levels = levelScale(surfaceLosses(a), 10);
    const svgA = await renderContourSvg(a, { levels });
    const svgB = await renderContourSvg(b, { levels });
    expect(svgB).not.toBe(svgA);
    await renderContourSvg(surface(2));
    expect(await renderContourSvg(b, { levels })).toBe(svgB);
    expect(await renderContourSvg(a, { levels })).toBe(svgA);
  });

  it('result.csv has one row per point, x fastest, empty cells for null', async () => {
    await written;
    const rows = readFileSync(join(dir, 'result.csv'), 'utf8').trimEnd().split('\n');
    expect(rows[0]).toBe('ix,iy,x,y,loss,accuracy');
    expect(rows).toHaveLength(1 + NX * NY);
    const at = (ix: number, iy: number): string[] => rows[1 + iy * NX + ix]!.split(',');
    expect(at(8, 0).map(Number)).toEqual([8, 0, 2, -1.5, f(2, -1.5), accuracyOf(2, -1.5)]);
    expect(at(1, 6).map(Number)).toEqual([1, 6, -1.5, 1.5, f(-1.5, 1.5), accuracyOf(-1.5, 1.5)]);
    expect(at(NULL_AT.ix, NULL_AT.iy).slice(4)).toEqual(['', '']);
    expect(at(NAN_AT.ix, NAN_AT.iy)[4]).toBe('NaN');
  });

  it('contour.svg is well-formed XML with one filled path per level', async () => {
    await written;
    const svg = readFileSync(join(dir, 'contour.svg'), 'utf8');
    expect(parseXml(svg).root).toBe('svg');
    const levels = [...svg.matchAll(/<path class="level"[^>]*>/g)].map((m) => m[0]);
    expect(levels).toHaveLength(20);
    const thresholds = levels.map((tag) => Number(attribute(tag, 'data-threshold')));
    expect(thresholds[0]).toBe(1); // the lowest level starts at the minimum and covers every computed point
    thresholds.forEach((t, k) => k > 0 && expect(t).toBeGreaterThan(thresholds[k - 1]!));
    for (const tag of levels) expect(attribute(tag, 'fill')).toMatch(/^#[0-9a-f]{6}$/);
    // The null and NaN points are holes in the lowest level: outer ring plus two hole rings.
    expect(attribute(levels[0]!, 'd').match(/M/g)).toHaveLength(3);
    expect(svg).toMatch(/<g class="legend-item"[^>]*><rect[^>]*url\(#ll-missing\)[^>]*\/><text[^>]*>not computed or NaN</);
    expect(svg).toContain('synthetic bowl — loss surface');
    expect(svg).toContain('normalization: filter');
    expect(svg).toContain('class="colour-bar"');
    expect(svg).toContain('>origin<');
  });

  it('contour.svg draws rows as y on a non-square grid', async () => {
    const svg = await renderContourSvg(surface(), { levels: 10 });
    const area = /<rect class="plot-area"[^>]*>/.exec(svg)![0];
    const [left, top, width, height] = ['x', 'y', 'width', 'height'].map((name) => Number(attribute(area, name)));
    const toData = (px: number, py: number): [number, number] => [-2 + (4 * (px - left!)) / width!, 1.5 - (3 * (py - top!)) / height!];
    // loss ≥ 6.5 can only be reached by |y| large (3y² ≥ 1.5 + … while x² + 1 ≤ 5): every vertex lies at |y| > 0.5.
    const level = [...svg.matchAll(/<path class="level"[^>]*>/g)].map((m) => m[0]).find((tag) => Number(attribute(tag, 'data-threshold')) >= 6.5)!;
    const vertices = [...attribute(level, 'd').matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((m) => toData(Number(m[1]), Number(m[2])));
    expect(vertices.length).toBeGreaterThan(8);
    for (const [, y] of vertices) expect(Math.abs(y)).toBeGreaterThan(0.5);
    // …and both the top and the bottom edge regions are there.
    expect(vertices.some(([, y]) => y > 1.4)).toBe(true);
    expect(vertices.some(([, y]) => y < -1.4)).toBe(true);
    // The plot keeps the data aspect ratio: 4 wide, 3 high.
    expect(height! / width!).toBeCloseTo(0.75, 5);
  });

  it('contour levels follow the chosen scheme: log10-spaced and linear', async () => {
    const steep = surface();
    steep.loss = (steep.loss as (number | null)[][]).map((row) => row.map((v) => (v === null || Number.isNaN(v) ? v : 10 ** (v - 1))));
    const thresholds = (svg: string): number[] => [...svg.matchAll(/data-threshold="([^"]*)"/g)].map((m) => Number(m[1]));
    const log = thresholds(await renderContourSvg(steep, { levels: 5, levelScheme: 'log' }));
    expect(log).toHaveLength(5);
    expect(log[0]).toBe(1); // min loss = 10^0
    // 10^(k · 10.75 / 5), rounded by at most 5 % of the gap to the level beneath.
    log.forEach(
      (t, k) => k > 0 && expect(Math.abs(t - 10 ** ((k * 10.75) / 5))).toBeLessThanOrEqual(0.05 * (10 ** ((k * 10.75) / 5) - 10 ** (((k - 1) * 10.75) / 5))),
    );
    const linear = thresholds(await renderContourSvg(steep, { levels: 5, levelScheme: 'linear' }));
    const gap = (10 ** 10.75 - 1) / 5;
    linear.forEach((t, k) => expect(Math.abs(t - (1 + k * gap))).toBeLessThanOrEqual(0.05 * gap));
    await expect(renderContourSvg(surface(), { levels: 0 })).rejects.toThrow(InputError);
  });

  it('surface.h5 has the layout of Li et al. with rows = y', async () => {
    await written;
    const h5 = requireEsm<H5>('h5wasm', 'dist/node/hdf5_hl.js');
    await h5.ready;
    const file = new h5.File(join(dir, 'surface.h5'), 'r');
    try {
      expect(file.keys().sort()).toEqual(['computed', 'train_acc', 'train_loss', 'xcoordinates', 'ycoordinates']);
      const get = (name: string) => file.get(name) as InstanceType<H5['Dataset']>;
      expect(get('xcoordinates').shape).toEqual([NX]);
      expect(get('ycoordinates').shape).toEqual([NY]);
      expect(Array.from(get('xcoordinates').value as Float64Array)).toEqual(X);
      expect(Array.from(get('ycoordinates').value as Float64Array)).toEqual(Y);
      expect(get('train_loss').shape).toEqual([NY, NX]);
      expect(get('train_acc').shape).toEqual([NY, NX]);
      expect(get('train_loss').dtype).toBe('<d');
      const loss = get('train_loss').value as Float64Array;
      const acc = get('train_acc').value as Float64Array;
      const computed = get('computed').value as Uint8Array;
      // Flat index iy·nx + ix (C order of [ny, nx]) = the order of np.meshgrid(x, y) raveled.
      expect(loss[0 * NX + 8]).toBe(f(2, -1.5));
      expect(loss[6 * NX + 1]).toBe(f(-1.5, 1.5));
      expect(acc[6 * NX + 1]).toBeCloseTo(100 * accuracyOf(-1.5, 1.5), 12);
      expect(loss[NULL_AT.iy * NX + NULL_AT.ix]).toBeNaN();
      expect(computed[NULL_AT.iy * NX + NULL_AT.ix]).toBe(0);
      expect(loss[NAN_AT.iy * NX + NAN_AT.ix]).toBeNaN();
      expect(computed[NAN_AT.iy * NX + NAN_AT.ix]).toBe(1);
      expect(file.attrs['accuracy_unit']!.value).toBe('percent');
      expect(JSON.parse(file.attrs['provenance']!.value as string).model.name).toBe('bowl');
    } finally {
      file.close();
    }
  });

  it('surface.vtp is well-formed PolyData with nx·ny points and quads around valid points only', async () => {
    await written;
    const vtp = readFileSync(join(dir, 'surface.vtp'), 'utf8');
    expect(parseXml(vtp).root).toBe('VTKFile');
    expect(vtp).toContain(`NumberOfPoints="${NX * NY}"`);
    const array = (name: string): string[] => new RegExp(`Name="${name}"[^>]*>([^<]*)<`).exec(vtp)![1]!.trim().split(/\s+/);
    const points = array('Points').map(Number);
    expect(points).toHaveLength(3 * NX * NY);
    const k = 6 * NX + 1;
    expect(points.slice(3 * k, 3 * k + 3)).toEqual([-1.5, 1.5, f(-1.5, 1.5)]);
    // 8×6 cells, minus the 4 around each of the two interior bad points.
    const polys = Number(/NumberOfPolys="(\d+)"/.exec(vtp)![1]);
    expect(polys).toBe(8 * 6 - 8);
    expect(array('connectivity')).toHaveLength(4 * polys);
    expect(array('offsets').at(-1)).toBe(String(4 * polys));
    expect(array('loss')).toHaveLength(NX * NY);
    // First quad: grid points (0,0), (1,0), (1,1), (0,1).
    expect(array('connectivity').slice(0, 4)).toEqual(['0', '1', String(NX + 1), String(NX)]);
    expect(Number(array('averaged loss')[0])).toBeCloseTo((f(-2, -1.5) + f(-1.5, -1.5) + f(-1.5, -1) + f(-2, -1)) / 4, 12);
    expect(array('valid').filter((v) => v === '0')).toHaveLength(2);
    expect(array('accuracy')).toHaveLength(NX * NY);
    expect(vtp).not.toMatch(/NaN|Infinity/);
  });

  it('surface.html inlines plotly and the data', async () => {
    await written;
    const html = readFileSync(join(dir, 'surface.html'), 'utf8');
    const bundle = readFileSync(require.resolve('plotly.js-gl3d-dist-min'), 'utf8');
    expect(html.length).toBeGreaterThan(bundle.length);
    expect(html).toContain(bundle.slice(0, 2000));
    expect(html).toContain(bundle.slice(-2000));
    expect(html).not.toMatch(/<script[^>]*\ssrc=/);
    const json = /<script id="landscape-data" type="application\/json">([^<]*)<\/script>/.exec(html)![1]!;
    const data = JSON.parse(json);
    expect(data.x).toEqual(X);
    expect(data.y).toEqual(Y);
    expect(data.loss).toHaveLength(NY);
    expect(data.loss[6][1]).toBe(f(-1.5, 1.5));
    expect(data.loss[NAN_AT.iy][NAN_AT.ix]).toBeNull();
    expect(data.accuracy[6][1]).toBeCloseTo(100 * accuracyOf(-1.5, 1.5), 12);
    // The page script builds the loss surface with its iso-lines, the hidden accuracy surface and an origin marker on each.
    const script = /<script>\s*(\(function \(\) \{[\s\S]*?\}\)\(\);)\s*<\/script>\s*<\/body>/.exec(html)![1]!;
    const calls: unknown[][] = [];
    runInNewContext(script, {
      document: { getElementById: (id: string) => (id === 'landscape-data' ? { textContent: json } : null) },
      Plotly: { newPlot: (...args: unknown[]) => calls.push(args) },
    });
    expect(calls).toHaveLength(1);
    const [target, traces, layout] = calls[0] as [
      string,
      { name: string; type: string; z: unknown; visible?: boolean }[],
      { updatemenus: { buttons: unknown[] }[] },
    ];
    expect(target).toBe('plot');
    expect(traces.map((t) => [t.name, t.type, t.visible])).toEqual([
      ['loss', 'surface', undefined],
      ['iso-loss lines (contour levels)', 'scatter3d', undefined],
      ['iso-line values', 'scatter3d', undefined],
      ['accuracy', 'surface', false],
      ['origin (the model’s weights)', 'scatter3d', true],
      ['origin (the model’s weights)', 'scatter3d', false],
    ]);
    expect(traces[0]!.z).toEqual(data.loss);
    expect(traces[4]!.z).toEqual([f(0, 0)]);
    expect(traces[5]!.z).toEqual([100 * accuracyOf(0, 0)]);
    // Colours follow contour.svg's levels; each iso-line point lies where the analytic loss equals its level (up to
    // linear interpolation on this coarse grid: |f''| h² / 8 ≤ 6 · 0.25 / 8); the rims of the two holes are no iso-lines.
    const contour = readFileSync(join(dir, 'contour.svg'), 'utf8');
    const thresholds = [...contour.matchAll(/data-threshold="([^"]*)"/g)].map((m) => Number(m[1]));
    expect(data.colour.scale.filter((_: unknown, i: number) => i % 2 === 0).map((stop: [number, string]) => stop[1])).toEqual(
      [...contour.matchAll(/<path class="level"[^>]*fill="([^"]*)"/g)].map((m) => m[1]),
    );
    const iso = traces[1] as unknown as { x: (number | null)[]; y: (number | null)[]; z: (number | null)[] };
    let checked = 0;
    iso.z.forEach((z, i) => {
      if (z === null) return;
      expect(thresholds).toContain(z);
      expect(Math.abs(f(iso.x[i]!, iso.y[i]!) - z)).toBeLessThanOrEqual(0.19);
      checked++;
    });
    expect(checked).toBeGreaterThan(20);
    const labels = traces[2] as unknown as { text: string[]; z: number[] };
    labels.z.forEach((z, i) => expect(Number(labels.text[i])).toBe(z));
    const buttons = layout.updatemenus[0]!.buttons as { args: [{ visible: boolean[] }] }[];
    expect(buttons.map((b) => b.args[0].visible)).toEqual([
      [true, true, true, false, true, false],
      [false, false, false, true, false, true],
    ]);
    expect(layout.updatemenus[0]!.buttons).toHaveLength(2);
  });
});

describe('landscape outputs: line', () => {
  const dir = outDir();
  const written = writeLandscapeOutputs(line(), dir);

  it('writes result.csv, line.svg and line.h5', async () => {
    expect(await written).toEqual(['result.csv', 'line.svg', 'line.h5']);
    const rows = readFileSync(join(dir, 'result.csv'), 'utf8').trimEnd().split('\n');
    expect(rows[0]).toBe('ix,x,loss,accuracy');
    expect(rows).toHaveLength(10);
    expect(rows[1]).toBe(`0,-0.5,${1.5 ** 2 + 0.2},${0.5 - 0.5 / 4}`);
    expect(rows[4]).toBe('3,0.25,,');
    expect(rows[9]).toBe('8,1.5,Infinity,0.875');
  });

  it('line.svg is well-formed with loss, accuracy, points and the α markers', async () => {
    await written;
    const svg = readFileSync(join(dir, 'line.svg'), 'utf8');
    expect(parseXml(svg).root).toBe('svg');
    expect(svg.match(/<circle /g)!.length).toBe(7 + 1); // 7 finite losses + the legend dot
    expect(svg).toContain('class="accuracy"');
    expect(svg).toContain('accuracy (%)');
    expect(svg).toContain('α = 0 (bowl)');
    expect(svg).toContain('α = 1 (trained)');
    expect(svg).toContain('class="diverged"');
    // The gap at the null point splits the loss line in two pieces.
    expect(/<path class="loss" d="([^"]*)"/.exec(svg)![1]!.match(/M/g)).toHaveLength(2);
  });

  it('line.h5 holds 1-D xcoordinates, train_loss and train_acc (percent)', async () => {
    await written;
    const h5 = requireEsm<H5>('h5wasm', 'dist/node/hdf5_hl.js');
    await h5.ready;
    const file = new h5.File(join(dir, 'line.h5'), 'r');
    try {
      const get = (name: string) => file.get(name) as InstanceType<H5['Dataset']>;
      expect(file.keys().sort()).toEqual(['computed', 'train_acc', 'train_loss', 'xcoordinates']);
      expect(get('train_loss').shape).toEqual([9]);
      const loss = Array.from(get('train_loss').value as Float64Array);
      expect(loss[0]).toBe(1.5 ** 2 + 0.2);
      expect(loss[3]).toBeNaN();
      expect(loss[8]).toBe(Infinity);
      expect((get('train_acc').value as Float64Array)[0]).toBeCloseTo(37.5, 12);
    } finally {
      file.close();
    }
  });
});

describe('landscape outputs: input checks', () => {
  it('rejects a loss grid that does not match x and y, naming the row', async () => {
    const bad = surface();
    (bad.loss as (number | null)[][])[2] = [1, 2, 3];
    const dir = outDir();
    await expect(writeLandscapeOutputs(bad, dir)).rejects.toThrow(/loss\[2\]: must have 9 values/);
    expect(existsSync(join(dir, 'result.csv'))).toBe(false);
  });

  it('reads the "NaN"/"Infinity" strings of result.json back as numbers', async () => {
    const fromJson = JSON.parse(JSON.stringify(line(), (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))) as LandscapeResult;
    const dir = outDir();
    await writeLandscapeOutputs(fromJson, dir);
    expect(readFileSync(join(dir, 'result.csv'), 'utf8')).toContain('8,1.5,Infinity,0.875');
  });

  it('handles a loss without accuracy and a grid of a single row', async () => {
    const flat = surface();
    flat.y = [0];
    flat.loss = [X.map((x) => f(x, 0))];
    flat.accuracy = [X.map(() => null)];
    const dir = outDir();
    await writeLandscapeOutputs(flat, dir);
    const svg = readFileSync(join(dir, 'contour.svg'), 'utf8');
    expect(parseXml(svg).root).toBe('svg');
    expect(svg).toContain('at least 2 × 2 grid points');
    expect(svg).not.toContain('class="level"');
    const vtp = readFileSync(join(dir, 'surface.vtp'), 'utf8');
    expect(parseXml(vtp).root).toBe('VTKFile');
    expect(vtp).toContain('NumberOfPolys="0"');
    expect(vtp).not.toContain('Name="accuracy"');
    expect(readFileSync(join(dir, 'result.csv'), 'utf8').split('\n')[1]).toBe(`0,0,-2,0,${f(-2, 0)},`);
    const noAccuracyLine = line();
    noAccuracyLine.accuracy = ALPHAS.map(() => null);
    const lineDir = outDir();
    await writeLandscapeOutputs(noAccuracyLine, lineDir);
    const lineSvg = readFileSync(join(lineDir, 'line.svg'), 'utf8');
    expect(parseXml(lineSvg).root).toBe('svg');
    expect(lineSvg).not.toContain('accuracy');
  });

  it('nice ticks are exact round numbers', () => {
    expect(niceTicks(-1.5, 1.5, 6)).toEqual([-1.5, -1, -0.5, 0, 0.5, 1, 1.5]);
    expect(niceTicks(0.01, 0.07, 3)).toEqual([0.02, 0.04, 0.06]);
  });
});

describe('landscape job writes the outputs', () => {
  it('a real surface job (reference MLP) ends with every file in the output folder', async () => {
    const fixtures = resolve(__dirname, '../../../../test/fixtures/reference/m1_mlp');
    const spec = parseJobSpec({
      kind: 'surface',
      model: 'model_trained/model.json',
      data: 'dataset.json',
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 5], y: [-0.5, 0.5, 3] },
      threads: 1,
      backend: 'cpu',
    }) as SurfaceSpec;
    const dir = outDir();
    await runEmbedded(landscapeHandler, spec, (ref) => join(fixtures, ref), dir, { threads: 1, backend: 'cpu' });
    for (const name of ['result.json', 'result.csv', 'contour.svg', 'surface.html', 'surface.h5', 'surface.vtp'])
      expect(existsSync(join(dir, name))).toBe(true);
    const rows = readFileSync(join(dir, 'result.csv'), 'utf8').trimEnd().split('\n');
    expect(rows).toHaveLength(1 + 15);
    const result = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect(Number(rows[1 + 2 * 5 + 4]!.split(',')[4])).toBe(result.loss[2][4]);
  });
});
