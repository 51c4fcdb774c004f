import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  levelScale,
  DEFAULT_CONTOUR_LEVELS,
  escapeXml,
  FONT,
  formatValue,
  renderContourSvg,
  renderSurfaceHtml,
  type ContourOptions,
  type LevelScale,
  type LandscapeResult,
  type TrajectoryMethod,
} from '@landscape/core';
import type { MethodResult, TrajectoryResult } from './trajectory-job';

const METHOD_TITLES: Record<TrajectoryMethod, string> = {
  pca: 'PCA (mean-centred)',
  'pca-directions': 'PCA directions (Li et al., around θ_final)',
  umap: 'UMAP + inverse-distance map',
  autoencoder: 'autoencoder (decoder as inverse)',
};

/** A method's grid as a surface result, so the core's contour and 3-D writers draw it. */
function asSurface(result: TrajectoryResult, name: TrajectoryMethod, method: MethodResult): LandscapeResult {
  const { methods: _methods, kind: _kind, label: _label, points: _points, pointsComputed: _computed, ...provenance } = result;
  return {
    ...provenance,
    kind: 'surface',
    label: `${result.label ?? result.model.name} — ${METHOD_TITLES[name]}`,
    x: method.grid.x,
    y: method.grid.y,
    loss: method.grid.loss,
    accuracy: method.grid.accuracy,
    directions: [],
    normalization: 'none',
    bias: 'ignore',
    points: method.grid.points,
    pointsComputed: method.grid.pointsComputed,
  };
}

/** What the path's first point is: the initial weights when the trajectory starts at step 0 (a `train` job's does). */
function startName(result: TrajectoryResult): string {
  const first = result.steps?.[0];
  return first === 0 ? 'initial weights (step 0)' : first !== undefined ? `first checkpoint (step ${first})` : 'first checkpoint';
}

/**
 * One set of contour levels over every method's grid, for the contours and the 3-D views alike: one colour means
 * one loss in every panel (panels are compared side by side; a scale each would mislead).
 */
export function sharedLevels(result: TrajectoryResult): LevelScale {
  return levelScale(
    Object.values(result.methods).flatMap((method) => method.grid.loss.flat()),
    DEFAULT_CONTOUR_LEVELS,
  );
}

function plotOptions(
  result: TrajectoryResult,
  name: TrajectoryMethod,
  method: MethodResult,
  levels: LevelScale,
): ContourOptions & { path: NonNullable<ContourOptions['path']> } {
  const quality = `T(${result.neighbors}) ${method.trustworthiness.toFixed(3)} · C(${result.neighbors}) ${method.continuity.toFixed(3)}`;
  const last = result.steps?.at(-1);
  return {
    levels,
    title: METHOD_TITLES[name],
    subtitle: `${result.label ?? result.model.name} · loss: ${result.lossFunction} · ${result.data.n} samples · ${result.checkpoints} checkpoints · ${quality}`,
    xLabel: method.axes.x,
    yLabel: method.axes.y,
    // (0, 0) means θ_final for the Li directions (the path's end marks it); elsewhere it is no particular point.
    markOrigin: false,
    path: {
      x: method.coords.map((p) => p[0]!),
      y: method.coords.map((p) => p[1]!),
      z: method.pathLoss,
      name: 'training trajectory',
      startName: startName(result),
      endName: last !== undefined ? `last checkpoint (step ${last})` : 'last checkpoint',
    },
  };
}

function csv(result: TrajectoryResult): string {
  const lines = ['method,ix,iy,x,y,loss,accuracy'];
  for (const [name, method] of Object.entries(result.methods)) {
    method.grid.y.forEach((y, iy) =>
      method.grid.x.forEach((x, ix) => lines.push([name, ix, iy, x, y, method.grid.loss[iy]![ix] ?? '', method.grid.accuracy[iy]![ix] ?? ''].join(','))),
    );
  }
  return `${lines.join('\n')}\n`;
}

const cell = (value: number | null | undefined): string => (value === null || value === undefined ? '–' : escapeXml(formatValue(value)));

/** A self-contained page: the metrics of every method side by side, then each method's contour plot inline. */
export function renderTrajectoryReport(result: TrajectoryResult, contours: Partial<Record<TrajectoryMethod, string>>): string {
  const entries = Object.entries(result.methods) as [TrajectoryMethod, MethodResult][];
  const rows: [string, (m: MethodResult) => string][] = [
    [`trustworthiness (k = ${result.neighbors})`, (m) => cell(m.trustworthiness)],
    [`continuity (k = ${result.neighbors})`, (m) => cell(m.continuity)],
    ['reconstruction MSE', (m) => cell(m.reconstructionMse)],
    ['relative loss error', (m) => cell(m.relativeLossError)],
    ['explained variance (PC1, PC2)', (m) => (m.explainedVarianceRatio ? m.explainedVarianceRatio.map((r) => `${(100 * r).toFixed(2)} %`).join(', ') : '–')],
    ['lowest grid loss', (m) => cell(Math.min(...m.grid.loss.flat().filter((v): v is number => v !== null && Number.isFinite(v))))],
  ];
  const table = [
    '<table><thead><tr><th></th>',
    ...entries.map(([name]) => `<th>${escapeXml(METHOD_TITLES[name])}</th>`),
    '</tr></thead><tbody>',
    ...rows.map(([label, value]) => `<tr><th>${escapeXml(label)}</th>${entries.map(([, m]) => `<td>${value(m)}</td>`).join('')}</tr>`),
    '</tbody></table>',
  ].join('');
  // Each SVG uses the ids ll-clip / ll-missing; inlined side by side they must not collide.
  const figures = entries
    .map(([name], i) => {
      const svg = (contours[name] ?? '')
        .replace(/^<\?xml[^>]*>\s*/, '')
        .replace(/id="ll-/g, `id="ll${i}-`)
        .replace(/url\(#ll-/g, `url(#ll${i}-`);
      return `<figure>${svg}<figcaption><a href="${escapeXml(name)}-surface.html">3-D view</a></figcaption></figure>`;
    })
    .join('\n');
  const title = `${result.label ?? result.model.name}: embedding landscapes of ${result.checkpoints} checkpoints`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeXml(title)}</title>
<style>
  body { font-family: ${FONT}; color: #222; margin: 20px; }
  h1 { font-size: 20px; font-weight: 600; }
  table { border-collapse: collapse; margin: 12px 0 24px; font-size: 14px; }
  th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
  thead th, tbody th { background: #f4f4f4; }
  tbody th { text-align: left; font-weight: 500; }
  .figures { display: flex; flex-wrap: wrap; gap: 16px; }
  figure { margin: 0; }
  figure svg { max-width: 100%; height: auto; }
  p { color: #555; font-size: 13px; max-width: 60em; }
</style>
</head>
<body>
<h1>${escapeXml(title)}</h1>
<p>Model ${escapeXml(result.model.name)} (${result.model.parameters} parameters), loss ${escapeXml(result.lossFunction)} on ${result.data.n} samples.
Trustworthiness: no false neighbours in the embedding (1 = none); continuity: no checkpoint neighbours lost.
Reconstruction MSE: mean squared difference between each checkpoint and its reconstruction θ̂; relative loss error:
mean |L(θ̂) − L(θ)| / L(θ). The red line is the training path (${escapeXml(startName(result))} ○, last checkpoint ☆).
Every panel uses the same contour levels, so one colour is one loss across panels.</p>
${table}
<div class="figures">
${figures}
</div>
</body>
</html>
`;
}

/** Writes result.csv, each method's <method>-contour.svg and <method>-surface.html (path overlaid), and report.html; returns the file names. */
export async function writeTrajectoryOutputs(result: TrajectoryResult, outDir: string): Promise<Record<string, string>> {
  mkdirSync(outDir, { recursive: true });
  const files: Record<string, string> = { csv: 'result.csv', report: 'report.html' };
  writeFileSync(join(outDir, 'result.csv'), csv(result));
  const contours: Partial<Record<TrajectoryMethod, string>> = {};
  const levels = sharedLevels(result);
  for (const [name, method] of Object.entries(result.methods) as [TrajectoryMethod, MethodResult][]) {
    const surface = asSurface(result, name, method);
    const options = plotOptions(result, name, method, levels);
    contours[name] = await renderContourSvg(surface, options);
    // Flat names: distributed result stores keep no folders.
    writeFileSync(join(outDir, `${name}-contour.svg`), contours[name]!);
    writeFileSync(join(outDir, `${name}-surface.html`), renderSurfaceHtml(surface, options));
    files[`${name}.contour`] = `${name}-contour.svg`;
    files[`${name}.surface`] = `${name}-surface.html`;
  }
  writeFileSync(join(outDir, 'report.html'), renderTrajectoryReport(result, contours));
  return files;
}
