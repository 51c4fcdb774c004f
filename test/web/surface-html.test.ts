import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { landscapeHandler, parseJobSpec, runEmbedded, type LandscapeResult } from '@landscape/core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, recordErrors } from './browser';

const M1 = join(__dirname, '..', 'fixtures', 'reference', 'm1_mlp');

interface PlotlyDiv {
  _fullData?: { type: string; visible: boolean | string; z?: (number | null)[][] }[];
}

/**
 * surface.html as a user opens it: a file in a real browser, offline, with the plotly bundle it inlines (the gl3d
 * partial bundle: a trace type it lacked would fall back to a 2-D scatter, and the page would show no surface).
 */
describe('surface.html in chromium', () => {
  let browser: Browser;
  let dir: string;
  let result: LandscapeResult;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'landscape-surface-html-'));
    const spec = parseJobSpec({
      kind: 'surface',
      model: join(M1, 'model_trained'),
      data: join(M1, 'dataset.json'),
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 7], y: [-1, 1, 5] },
    });
    [result, browser] = await Promise.all([
      runEmbedded(landscapeHandler, spec, (ref) => ref, dir, { threads: 1, backend: 'cpu' }) as Promise<LandscapeResult>,
      launchChromium(),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws the loss surface, its iso-lines and the origin in WebGL, with the numbers of result.json', async () => {
    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    const errors = recordErrors(page);
    await page.goto(pathToFileURL(join(dir, 'surface.html')).href);
    await page.locator('#plot canvas').first().waitFor({ timeout: 60_000 });
    const traces = await page.evaluate(() =>
      ((document.getElementById('plot') as unknown as PlotlyDiv)._fullData ?? []).map((t) => ({ type: t.type, visible: t.visible, z: t.z })),
    );
    const types = new Set(traces.map((t) => t.type));
    expect(types).toEqual(new Set(['surface', 'scatter3d']));
    const loss = traces.find((t) => t.type === 'surface' && t.visible === true)!;
    expect(loss.z).toEqual(result.loss);
    expect(JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')).loss).toEqual(result.loss);
    expect(errors).toEqual([]);
    await page.close();
  });
});
