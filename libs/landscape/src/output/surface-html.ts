import { readFileSync } from 'node:fs';
import { InputError } from '../errors';
import type { LandscapeResult } from '../result';
import type { PlotPath } from './contour-svg';
import { defaultLogScale, directionLabel, landscapeData, resultSubtitle, resultTitle } from './landscape-data';
import { escapeXml, FONT } from './plot';

export interface SurfaceHtmlOptions {
  /** z axis of the loss surface in log10. Default: on when the finite loss spans max/min > 100 (and is positive). */
  logScale?: boolean;
  /** A path drawn on the surface (x, y and its loss z): a 3-D polyline, start and end marked. */
  path?: PlotPath;
  title?: string;
  subtitle?: string;
  xLabel?: string;
  yLabel?: string;
  /** Mark (0, 0) as the origin when it is a grid point (default true). */
  markOrigin?: boolean;
  /** The loss range of the colour scale (default: this surface's): panels shown together share one. */
  colourRange?: readonly [number, number];
}

let plotlyBundle: string | undefined;

/** plotly.js-dist-min, read once per process (≈ 4.6 MB) and inlined so the page works offline. */
function plotly(): string {
  plotlyBundle ??= readFileSync(require.resolve('plotly.js-dist-min'), 'utf8');
  return plotlyBundle;
}

/** JSON that is safe inside <script>: non-finite numbers (not JSON) become null = a gap in the surface; no "</". */
function scriptJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)).replace(/</g, '\\u003c');
}

/**
 * A self-contained interactive 3-D view of a surface result: the loss surface (viridis), the accuracy surface
 * (percent) behind a toggle, and the origin marked when it is a grid point. Non-finite and missing values are
 * gaps. Data is embedded as JSON in `<script id="landscape-data" type="application/json">`.
 */
export function renderSurfaceHtml(result: LandscapeResult, options: SurfaceHtmlOptions = {}): string {
  const data = landscapeData(result);
  if (data.kind !== 'surface') throw new InputError('a 3-D surface needs a surface result (got a line)', 'kind');
  const logScale = options.logScale ?? defaultLogScale(data.loss.flat());
  const title = options.title ?? `${resultTitle(result)} — loss surface`;
  const payload = {
    title,
    subtitle: options.subtitle ?? resultSubtitle(result),
    x: data.x,
    y: data.y,
    /** [iy][ix], row = y: the orientation plotly's surface expects for z with separate x and y vectors. */
    loss: data.loss,
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
    colourRange: options.colourRange ?? null,
  };
  return `<!DOCTYPE html>
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
<script>${plotly().replace(/<\/script/gi, '<\\/script')}</script>
</head>
<body>
<header><h1>${escapeXml(title)}</h1><p>${escapeXml(payload.subtitle)}</p></header>
<div id="plot"></div>
<script id="landscape-data" type="application/json">${scriptJson(payload)}</script>
<script>
(function () {
  var d = JSON.parse(document.getElementById('landscape-data').textContent);
  var traces = [{
    type: 'surface', name: 'loss', x: d.x, y: d.y, z: d.loss, colorscale: 'Viridis',
    colorbar: { title: { text: 'loss' } }, cmin: d.colourRange ? d.colourRange[0] : undefined, cmax: d.colourRange ? d.colourRange[1] : undefined,
    contours: { z: { show: true, usecolormap: true, project: { z: true } } },
    hovertemplate: 'x=%{x:.4g}<br>y=%{y:.4g}<br>loss=%{z:.5g}<extra></extra>'
  }];
  if (d.accuracy) traces.push({
    type: 'surface', name: 'accuracy', x: d.x, y: d.y, z: d.accuracy, colorscale: 'Viridis', visible: false,
    colorbar: { title: { text: 'accuracy (%)' } },
    hovertemplate: 'x=%{x:.4g}<br>y=%{y:.4g}<br>accuracy=%{z:.4g}%<extra></extra>'
  });
  var ix = d.x.findIndex(function (v) { return Math.abs(v) < 1e-12; });
  var iy = d.y.findIndex(function (v) { return Math.abs(v) < 1e-12; });
  var originAt = function (z) { return ix >= 0 && iy >= 0 && z && z[iy][ix] != null ? z[iy][ix] : null; };
  var lossOrigin = d.markOrigin ? originAt(d.loss) : null;
  if (lossOrigin != null) traces.push({
    type: 'scatter3d', mode: 'markers+text', name: 'origin', x: [0], y: [0], z: [lossOrigin], text: ['origin'],
    textposition: 'top center', marker: { size: 5, color: '#ffffff', line: { color: '#111', width: 2 } }
  });
  var zLoss = { title: { text: d.logScale ? 'loss (log scale)' : 'loss' }, type: d.logScale ? 'log' : 'linear' };
  var zAccuracy = { title: { text: 'accuracy (%)' }, type: 'linear' };
  var layout = {
    margin: { l: 0, r: 0, t: 10, b: 0 },
    scene: { xaxis: { title: { text: d.xLabel } }, yaxis: { title: { text: d.yLabel } }, zaxis: zLoss, aspectmode: 'manual', aspectratio: { x: 1, y: 1, z: 0.7 } },
    font: { family: ${JSON.stringify(FONT)} },
    // Every marker and line has a legend entry; the surfaces have their colour bars.
    showlegend: true, legend: { x: 0.02, y: 0.02, xanchor: 'left', yanchor: 'bottom', bgcolor: 'rgba(255,255,255,0.8)' }
  };
  if (d.accuracy) {
    var origin = lossOrigin != null ? [true] : [];
    var accuracyOrigin = originAt(d.accuracy);
    // Only the surfaces (and the origin marker) switch; a path drawn after them stays as it is.
    var switched = [0, 1].concat(origin.length ? [2] : []);
    layout.updatemenus = [{
      type: 'buttons', direction: 'right', x: 0.02, y: 0.98, xanchor: 'left', yanchor: 'top', showactive: true,
      buttons: [
        { label: 'Loss', method: 'update', args: [{ visible: [true, false].concat(origin), z: [d.loss, d.accuracy].concat(origin.length ? [[lossOrigin]] : []) }, { 'scene.zaxis': zLoss }, switched] },
        { label: 'Accuracy', method: 'update', args: [{ visible: [false, true].concat(origin.length ? [accuracyOrigin != null] : []), z: [d.loss, d.accuracy].concat(origin.length ? [[accuracyOrigin]] : []) }, { 'scene.zaxis': zAccuracy }, switched] }
      ]
    }];
  }
  if (d.path) {
    var n = d.path.x.length;
    traces.push({
      type: 'scatter3d', mode: 'lines+markers', name: d.path.name, x: d.path.x, y: d.path.y, z: d.path.z,
      line: { color: '#d62728', width: 5 }, marker: { size: 2.5, color: '#d62728' },
      hovertemplate: 'x=%{x:.4g}<br>y=%{y:.4g}<br>loss=%{z:.5g}<extra>' + d.path.name + '</extra>'
    });
    [0, n - 1].forEach(function (i, end) {
      traces.push({
        type: 'scatter3d', mode: 'markers+text', name: d.path.ends[end], x: [d.path.x[i]], y: [d.path.y[i]], z: [d.path.z[i]],
        text: [end ? 'end' : 'start'], textposition: 'top center',
        marker: { size: 5, symbol: end ? 'diamond' : 'circle', color: '#ffffff', line: { color: '#111', width: 2 } }
      });
    });
  }
  Plotly.newPlot('plot', traces, layout, { responsive: true, displaylogo: false });
})();
</script>
</body>
</html>
`;
}
