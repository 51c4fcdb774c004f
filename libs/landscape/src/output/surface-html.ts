import { readFileSync } from 'node:fs';
import { InputError } from '../errors';
import type { LandscapeResult } from '../result';
import { DEFAULT_CONTOUR_LEVELS, type PlotPath } from './contour-svg';
import { contourBands, gridToData, isoRuns } from './iso-lines';
import { defaultLogScale, directionLabel, landscapeData, resultSubtitle, resultTitle, type LandscapeData } from './landscape-data';
import { formatLevel, levelColourPosition, levelCoordinate, levelScale, levelTicks, type LevelScale, type LevelScheme } from './levels';
import { escapeXml, FONT, viridis } from './plot';

export interface SurfaceHtmlOptions {
  /** z axis of the loss surface in log10. Default: on when the finite loss spans max/min > 100 (and is positive). */
  logScale?: boolean;
  /** Colour levels and iso-lines, as for the contour plot (ContourOptions): a count or a shared level scale. */
  levels?: number | LevelScale;
  levelScheme?: LevelScheme;
  /** A path drawn on the surface (x, y and its loss z): a 3-D polyline, start and end marked. */
  path?: PlotPath;
  title?: string;
  subtitle?: string;
  xLabel?: string;
  yLabel?: string;
  /** Mark (0, 0) as the origin when it is a grid point (default true). */
  markOrigin?: boolean;
}

let plotlyBundle: Buffer | undefined;

/**
 * plotly.js's gl3d partial bundle (its surface and scatter3d traces, ≈ 1.7 MB; the full bundle is 4.8 MB), read
 * once per process and inlined so the page works offline. Kept as bytes: decoding and re-encoding it as a string
 * took longer than the rest of the page.
 */
function plotlyScript(): Buffer {
  if (!plotlyBundle) {
    const bundle = readFileSync(require.resolve('plotly.js-gl3d-dist-min'));
    // A "</script" inside would end the inline script early.
    plotlyBundle = closesScript(bundle) ? Buffer.from(bundle.toString('utf8').replace(/<\/script/gi, '<\\/script')) : bundle;
  }
  return plotlyBundle;
}

function closesScript(bytes: Buffer): boolean {
  for (let at = bytes.indexOf('</'); at >= 0; at = bytes.indexOf('</', at + 2)) {
    if (bytes.toString('latin1', at + 2, at + 8).toLowerCase() === 'script') return true;
  }
  return false;
}

/**
 * JSON that is safe inside <script>: no "</"; non-finite numbers (not JSON) become null, a gap in the surface, as
 * JSON.stringify itself writes them (a replacer doing the same took most of the page's time on 10⁴ points).
 */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/**
 * The iso-lines of the levels above the first as one polyline in data coordinates (null between stretches), each
 * at its level's loss, and labels on the longest stretch of about ten of them.
 */
function isoLines(
  data: LandscapeData,
  levels: readonly number[],
): { lines: Record<'x' | 'y' | 'z', (number | null)[]>; labels: Record<'x' | 'y' | 'z' | 'text', (number | string)[]> } {
  const lines = { x: [] as (number | null)[], y: [] as (number | null)[], z: [] as (number | null)[] };
  const labels = { x: [] as number[], y: [] as number[], z: [] as number[], text: [] as string[] };
  contourBands(data, levels).forEach((band, k) => {
    if (k === 0) return;
    const runs = band.coordinates.flatMap((polygon) => polygon.flatMap((ring) => isoRuns(ring, data)));
    for (const run of runs) {
      for (const [cx, cy] of run) {
        lines.x.push(gridToData(cx, data.x));
        lines.y.push(gridToData(cy, data.y));
        lines.z.push(band.value);
      }
      lines.x.push(null);
      lines.y.push(null);
      lines.z.push(null);
    }
    // About ten labels, each at a different turn of its line (a golden-ratio step), so they do not stack up.
    const longest = runs.reduce<[number, number][] | undefined>((best, run) => (!best || run.length > best.length ? run : best), undefined);
    if (!longest || k % Math.ceil(levels.length / 10) !== 0) return;
    const [cx, cy] = longest[Math.floor(((k * 0.618) % 1) * longest.length)]!;
    labels.x.push(gridToData(cx, data.x));
    labels.y.push(gridToData(cy, data.y));
    labels.z.push(band.value);
    labels.text.push(formatLevel(band.value));
  });
  return { lines, labels };
}

/**
 * A self-contained interactive 3-D view of a surface result: the loss surface coloured by the contour plot's
 * levels (dense near the minimum, the same colours as contour.svg), its labelled iso-lines, the accuracy surface
 * (percent) behind a toggle, and the origin marked when it is a grid point; every marker and line is in the legend.
 * Non-finite and missing values are gaps. Data is embedded as JSON in `<script id="landscape-data" type="application/json">`.
 */
export function renderSurfaceHtml(result: LandscapeResult, options: SurfaceHtmlOptions = {}): Buffer {
  const data = landscapeData(result);
  if (data.kind !== 'surface') throw new InputError('a 3-D surface needs a surface result (got a line)', 'kind');
  const losses = data.loss.flat();
  const logScale = options.logScale ?? defaultLogScale(losses);
  const title = options.title ?? `${resultTitle(result)} — loss surface`;
  const { levels, max } =
    typeof options.levels === 'object' ? options.levels : levelScale(losses, options.levels ?? DEFAULT_CONTOUR_LEVELS, options.levelScheme);
  const n = levels.length;
  // Band k in the colour of contour.svg's band k: a step colour scale over the level coordinate [0, n].
  const colourscale = levels.flatMap((_, k) => [
    [k / Math.max(1, n), viridis(levelColourPosition(k, n))],
    [(k + 1) / Math.max(1, n), viridis(levelColourPosition(k, n))],
  ]);
  const payload = {
    title,
    subtitle: options.subtitle ?? resultSubtitle(result),
    x: data.x,
    y: data.y,
    /** [iy][ix], row = y: the orientation plotly's surface expects for z with separate x and y vectors. */
    loss: data.loss,
    colour: {
      values: data.loss.map((row) => row.map((v) => (v === null || !Number.isFinite(v) ? null : levelCoordinate(levels, max, v)))),
      scale: colourscale,
      max: Math.max(1, n),
      ...levelTicks(levels, max),
    },
    iso: n > 1 ? isoLines(data, levels) : null,
    accuracy: data.hasAccuracy ? data.accuracy.map((row) => row.map((v) => (v === null ? null : 100 * v))) : null,
    xLabel: options.xLabel ?? `x: ${directionLabel(result, 0)}`,
    yLabel: options.yLabel ?? `y: ${directionLabel(result, 1)}`,
    logScale,
    markOrigin: options.markOrigin !== false,
    path: options.path?.z
      ? {
          x: options.path.x,
          y: options.path.y,
          z: options.path.z,
          name: options.path.name ?? 'path',
          ends: [options.path.startName ?? 'start', options.path.endName ?? 'end'],
        }
      : null,
  };
  const head = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>
  html, body { margin: 0; height: 100%; font-family: ${FONT}; color: #222; background: #fff; }
  header { padding: 12px 20px 0; }
  h1 { font-size: 18px; margin: 0 0 4px; font-weight: 600; }
  p { margin: 0; color: #555; font-size: 13px; }
  #plot { width: 100%; height: calc(100% - 64px); min-height: 480px; }
</style>
<script>`;
  const tail = `</script>
</head>
<body>
<header><h1>${escapeXml(title)}</h1><p>${escapeXml(payload.subtitle)}</p></header>
<div id="plot"></div>
<script id="landscape-data" type="application/json">${scriptJson(payload)}</script>
<script>
(function () {
  var d = JSON.parse(document.getElementById('landscape-data').textContent);
  // Each trace shows with the loss view, the accuracy view, or both ('all').
  var traces = [{
    type: 'surface', name: 'loss', meta: 'loss', x: d.x, y: d.y, z: d.loss, surfacecolor: d.colour.values,
    colorscale: d.colour.scale, cmin: 0, cmax: d.colour.max,
    colorbar: { title: { text: 'loss (contour levels)' }, tickvals: d.colour.ticks, ticktext: d.colour.labels },
    hovertemplate: 'x=%{x:.4g}<br>y=%{y:.4g}<br>loss=%{z:.5g}<extra></extra>'
  }];
  if (d.iso) {
    traces.push({
      type: 'scatter3d', mode: 'lines', name: 'iso-loss lines (contour levels)', meta: 'loss', x: d.iso.lines.x, y: d.iso.lines.y,
      z: d.iso.lines.z, line: { color: '#ffffff', width: 2 }, connectgaps: false, hoverinfo: 'skip'
    });
    traces.push({
      type: 'scatter3d', mode: 'text', name: 'iso-line values', meta: 'loss', x: d.iso.labels.x, y: d.iso.labels.y, z: d.iso.labels.z,
      text: d.iso.labels.text, textfont: { size: 11, color: '#111' }, hoverinfo: 'skip', showlegend: false
    });
  }
  if (d.accuracy) traces.push({
    type: 'surface', name: 'accuracy', meta: 'accuracy', x: d.x, y: d.y, z: d.accuracy, colorscale: 'Viridis', visible: false,
    colorbar: { title: { text: 'accuracy (%)' } },
    hovertemplate: 'x=%{x:.4g}<br>y=%{y:.4g}<br>accuracy=%{z:.4g}%<extra></extra>'
  });
  var ix = d.x.findIndex(function (v) { return Math.abs(v) < 1e-12; });
  var iy = d.y.findIndex(function (v) { return Math.abs(v) < 1e-12; });
  var origin = function (z, meta) {
    if (!d.markOrigin || ix < 0 || iy < 0 || !z || z[iy][ix] == null) return;
    traces.push({
      type: 'scatter3d', mode: 'markers+text', name: 'origin (the model’s weights)', meta: meta, x: [0], y: [0], z: [z[iy][ix]],
      text: ['origin'], textposition: 'top center', visible: meta === 'loss', marker: { size: 5, symbol: 'diamond', color: '#ffffff', line: { color: '#111', width: 2 } }
    });
  };
  origin(d.loss, 'loss');
  origin(d.accuracy, 'accuracy');
  if (d.path) {
    var n = d.path.x.length;
    traces.push({
      type: 'scatter3d', mode: 'lines+markers', name: d.path.name, meta: 'all', x: d.path.x, y: d.path.y, z: d.path.z,
      line: { color: '#d62728', width: 5 }, marker: { size: 2.5, color: '#d62728' },
      hovertemplate: 'x=%{x:.4g}<br>y=%{y:.4g}<br>loss=%{z:.5g}<extra>' + d.path.name + '</extra>'
    });
    [0, n - 1].forEach(function (i, end) {
      traces.push({
        type: 'scatter3d', mode: 'markers+text', name: d.path.ends[end], meta: 'all', x: [d.path.x[i]], y: [d.path.y[i]], z: [d.path.z[i]],
        text: [end ? 'end' : 'start'], textposition: 'top center',
        marker: { size: 5, symbol: end ? 'diamond' : 'circle', color: '#ffffff', line: { color: '#111', width: 2 } }
      });
    });
  }
  var zLoss = { title: { text: d.logScale ? 'loss (log scale)' : 'loss' }, type: d.logScale ? 'log' : 'linear' };
  var zAccuracy = { title: { text: 'accuracy (%)' }, type: 'linear' };
  var layout = {
    margin: { l: 0, r: 0, t: 10, b: 0 },
    scene: { xaxis: { title: { text: d.xLabel } }, yaxis: { title: { text: d.yLabel } }, zaxis: zLoss, aspectmode: 'manual', aspectratio: { x: 1, y: 1, z: 0.7 } },
    font: { family: ${JSON.stringify(FONT)} },
    showlegend: true, legend: { x: 0.02, y: 0.02, xanchor: 'left', yanchor: 'bottom', bgcolor: 'rgba(215,215,215,0.85)' }
  };
  if (d.accuracy) {
    var view = function (meta) { return traces.map(function (t) { return t.meta === 'all' || t.meta === meta; }); };
    layout.updatemenus = [{
      type: 'buttons', direction: 'right', x: 0.02, y: 0.98, xanchor: 'left', yanchor: 'top', showactive: true,
      buttons: [
        { label: 'Loss', method: 'update', args: [{ visible: view('loss') }, { 'scene.zaxis': zLoss }] },
        { label: 'Accuracy', method: 'update', args: [{ visible: view('accuracy') }, { 'scene.zaxis': zAccuracy }] }
      ]
    }];
  }
  Plotly.newPlot('plot', traces, layout, { responsive: true, displaylogo: false });
})();
</script>
</body>
</html>
`;
  return Buffer.concat([Buffer.from(head), plotlyScript(), Buffer.from(tail)]);
}
