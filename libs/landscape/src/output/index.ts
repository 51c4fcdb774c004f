import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LandscapeResult } from '../result';
import { renderContourSvg, type ContourOptions } from './contour-svg';
import { renderCsv } from './csv';
import { writeHdf5 } from './hdf5';
import { landscapeData } from './landscape-data';
import { renderLineSvg } from './line-svg';
import { renderSurfaceHtml } from './surface-html';
import { renderVtp } from './vtp';

export { renderContourSvg, surfaceLosses, DEFAULT_CONTOUR_LEVELS, type ContourOptions, type PlotPath } from './contour-svg';
// The level rule of every contour (static or in a browser): one source of truth.
export {
  basinEpsilon,
  contourLevels,
  finiteExtent,
  formatLevel,
  LEVEL_SCHEMES,
  levelColourPosition,
  levelCoordinate,
  levelScale,
  levelTicks,
  type LevelScale,
  type LevelScheme,
} from './levels';
export { renderCsv } from './csv';
// Checked numbers of a line or surface result in one shape (also for summaries and other readers).
export { landscapeData, type LandscapeData } from './landscape-data';
export { writeHdf5 } from './hdf5';
export { renderLineSvg, type LinePlotOptions } from './line-svg';
export { renderSurfaceHtml, type SurfaceHtmlOptions } from './surface-html';
export { renderVtp } from './vtp';
// SVG primitives, shared by the plots of other packages (loss curves, trajectory reports).
export {
  axis,
  escapeXml,
  FONT,
  formatValue,
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
} from './plot';

/** `logScale`: the loss axis of the line plot and the 3-D view (contour levels follow `levelScheme`). */
export type LandscapeOutputOptions = ContourOptions & { logScale?: boolean };

/**
 * Writes every output file of a line or surface job into `outDir` (created if needed) and returns the file
 * names. Both kinds: result.csv. Surfaces: contour.svg, surface.html, surface.h5, surface.vtp. Lines:
 * line.svg, line.h5. result.json is written by the job itself (stringifyResult).
 */
export async function writeLandscapeOutputs(result: LandscapeResult, outDir: string, options: LandscapeOutputOptions = {}): Promise<string[]> {
  // Checks the shapes once up front, so a bad result fails before any file is written.
  const { kind } = landscapeData(result);
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const write = (name: string, text: string | Buffer): void => {
    writeFileSync(join(outDir, name), text);
    written.push(name);
  };
  write('result.csv', renderCsv(result));
  if (kind === 'surface') {
    write('contour.svg', await renderContourSvg(result, options));
    write('surface.html', renderSurfaceHtml(result, { logScale: options.logScale }));
    writeHdf5(result, join(outDir, 'surface.h5'));
    written.push('surface.h5');
    write('surface.vtp', renderVtp(result));
  } else {
    write('line.svg', renderLineSvg(result, { logScale: options.logScale }));
    writeHdf5(result, join(outDir, 'line.h5'));
    written.push('line.h5');
  }
  return written;
}
