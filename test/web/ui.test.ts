import { readFileSync } from 'node:fs';
import { contourLevels } from '@landscape/core';
import { encodeModelBundle, readModelDirectory } from '@landscape/jobs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllWorkers } from '../harness/processes';
import { M2, startCluster, waitForJob, type Cluster } from '../distributed/helpers';
import { call, postJson, startApi, type TestApi } from '../api/support';
import { launchChromium, recordErrors, screenshot } from './browser';

const M1 = join(__dirname, '..', 'fixtures', 'reference', 'm1_mlp');
const KEY = `ui-test-${process.pid}-${Date.now()}`;
const BEARER = { authorization: `Bearer ${KEY}` };
/** Plotly's first load and the jobs are CPU-bound: room for a CI machine running other test files at once. */
const HEAVY_TEST_MS = 240_000;

/** A surface on seeded directions: 9×7 points in 3×… tiles, small enough for one wasm worker in seconds. */
const surfaceSpec = (model: string, data: string, steps: [number, number]) => ({
  kind: 'surface',
  model,
  data,
  loss: 'sparse_categorical_crossentropy',
  backend: 'wasm',
  threads: 1,
  directions: { x: { seed: 1 }, y: { seed: 2 } },
  grid: { x: [-1, 1, steps[0]], y: [-1, 1, steps[1]] },
  tiles: { x: 3, y: 1 },
});

/**
 * The web app in a real browser (Debian's chromium) against the real API with keys on, a real worker process and
 * a private Redis. The numbers the page shows are checked against the job's result.json, as the API serves it.
 */
describe('web app in chromium', () => {
  let cluster: Cluster;
  let server: TestApi;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let errors: string[];
  let model: string;
  let data: string;

  beforeAll(async () => {
    cluster = await startCluster();
    [server, browser] = await Promise.all([startApi(cluster.system, { adminKeys: [KEY] }), launchChromium(), cluster.startWorker()]).then(
      ([api, chromium]) => [api, chromium] as const,
    );
    context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    page = await context.newPage();
    errors = recordErrors(page);
    // Inputs for the jobs submitted with the Bearer header (scripts) rather than through the page.
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(M2, 'model_trained', name))]), name);
    model = (await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: form, headers: BEARER })).json.id;
    data = (
      await call(server.url, 'POST', '/v1/artifacts?kind=data&filename=dataset.json', {
        body: readFileSync(join(M2, 'dataset.json')),
        headers: { ...BEARER, 'content-type': 'application/octet-stream' },
      })
    ).json.id;
  });

  afterAll(async () => {
    await browser?.close();
    await killAllWorkers();
    await server?.close();
    await cluster?.close();
  });

  it('without a key shows the sign-in page and no data', async () => {
    const job = await postJson(server.url, '/v1/jobs', surfaceSpec(model, data, [3, 3]), BEARER);
    expect(job.status).toBe(202);
    await waitForJob(cluster.system, job.json.id, ['completed'], 60_000);

    await page.goto(server.url);
    await page.locator('input[name=key]').waitFor();
    expect(await page.locator('table').count()).toBe(0);
    expect(await page.content()).not.toContain(job.json.id.slice(0, 8));
    // The data routes answer nothing without the cookie or the header.
    expect((await call(server.url, 'GET', '/v1/jobs')).status).toBe(401);
    expect((await call(server.url, 'GET', `/v1/jobs/${job.json.id}/files/result.json`)).status).toBe(401);
    expect((await call(server.url, 'GET', '/admin/queues')).status).toBe(401);
    await screenshot(page, 'sign-in');
  });

  it('signs in with a key: an HttpOnly SameSite=Strict session cookie, never the key; its writes need the CSRF token', async () => {
    await page.fill('input[name=key]', KEY);
    await page.click('button[type=submit]');
    await page.locator('table.jobs tbody tr').first().waitFor();
    expect(await page.locator('table.jobs tbody tr').count()).toBe(1);

    const cookies = await context.cookies();
    expect(cookies).toHaveLength(1);
    const [cookie] = cookies;
    expect(cookie).toMatchObject({ name: 'landscape_session', httpOnly: true, sameSite: 'Strict', path: '/' });
    expect(cookie!.value).not.toContain(KEY);
    expect(await page.evaluate(() => document.cookie)).toBe('');

    const asBrowser = { cookie: `${cookie!.name}=${cookie!.value}` };
    expect((await call(server.url, 'GET', '/v1/jobs', { headers: asBrowser })).status).toBe(200);
    const forged = await postJson(server.url, '/v1/jobs', surfaceSpec(model, data, [3, 3]), asBrowser);
    expect(forged.status).toBe(403);
    expect(forged.json.message).toContain('x-csrf-token');
    // A wrong key gets no session; the Bearer header keeps working beside the cookie.
    const wrong = await postJson(server.url, '/v1/session', { key: `${KEY}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect((await call(server.url, 'GET', '/v1/jobs', { headers: BEARER })).status).toBe(200);
  });

  it(
    'submits a surface from the page, shows its progress up to 100%, and plots it with labelled levels and hover values',
    async () => {
      await page.click('a[href="#/submit"]');
      await page.setInputFiles(
        'input[name=model]',
        ['model.json', 'weights.bin'].map((name) => join(M2, 'model_trained', name)),
      );
      await page.setInputFiles('input[name=data]', join(M2, 'dataset.json'));
      const spec = { ...surfaceSpec('(file)', '(file)', [9, 7]), model: undefined, data: undefined };
      // The server's schema speaks as the spec is typed: a bad grid names its field, and Submit stays disabled.
      await page.fill('textarea[name=spec]', JSON.stringify({ ...spec, grid: { x: [1, -1, 9], y: [-1, 1, 7] } }));
      await page.locator('li[data-field="grid.x"]').waitFor();
      expect(await page.locator('button[type=submit]').isDisabled()).toBe(true);
      await page.fill('textarea[name=spec]', JSON.stringify(spec, null, 2));
      await page.locator('li.ok').waitFor();
      await screenshot(page, 'submit');
      await page.click('button[type=submit]');
      await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
      const id = page.url().split('/').pop()!;

      // Every progress value the page shows until it completes: never backwards, ending at 100.
      const seen: number[] = [];
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        // Status first: the page may re-render between the two reads, and a value read before
        // "completed" appeared can be a running one.
        const completed = (await page.locator('.status.completed').count()) > 0;
        const value = Number(await page.locator('[role=progressbar]').getAttribute('aria-valuenow'));
        if (seen[seen.length - 1] !== value) seen.push(value);
        if (completed) break;
        await page.waitForTimeout(100);
      }
      expect(seen[seen.length - 1]).toBe(100);
      expect([...seen].sort((a, b) => a - b)).toEqual(seen);
      expect(await page.locator('.job-head .percent').textContent()).toBe('100%');

      const result = (await call(server.url, 'GET', `/v1/jobs/${id}/result`, { headers: BEARER })).json;
      expect(result.x).toHaveLength(9);
      expect(result.y).toHaveLength(7);

      const contour = page.locator('[data-plot=contour]');
      await contour.locator('.contourlevel path').first().waitFor({ timeout: 60_000 });
      expect(await contour.locator('.contourlabels text').count()).toBeGreaterThan(0);
      expect(await contour.locator('.contourlevel path').count()).toBeGreaterThan(3);
      // The labelled iso-lines are the static figures' levels (dense near the minimum), not plotly's even steps.
      const levels = contourLevels(result.loss.flat(), 20);
      for (const label of await contour.locator('.contourlabels text').allTextContents()) {
        const value = Number(label.replace('−', '-'));
        expect(
          levels.some((level) => Math.abs(level - value) <= 0.01 * Math.abs(level)),
          `label ${label} is one of ${levels.join(', ')}`,
        ).toBe(true);
      }

      // Hover the grid point (ix, iy): the label shows x, y and exactly the loss result.json has there.
      const hoverAt = async (plot: ReturnType<Page['locator']>, ix: number, iy: number): Promise<string[]> => {
        const area = await plot.locator('.nsewdrag').first().boundingBox();
        const fx = (result.x[ix] - result.x[0]) / (result.x[8] - result.x[0]);
        const fy = (result.y[iy] - result.y[0]) / (result.y[6] - result.y[0]);
        await page.mouse.move(area!.x + fx * area!.width, area!.y + (1 - fy) * area!.height);
        await plot.locator('.hoverlayer .hovertext').first().waitFor();
        return plot.locator('.hoverlayer .hovertext tspan.line').allTextContents();
      };
      const sixDigits = (value: number): number => Number(value.toPrecision(6));
      const lines = await hoverAt(contour, 6, 2);
      expect(lines[0]).toBe(`x ${Number(result.x[6].toPrecision(4))}`);
      expect(lines[1]).toBe(`y ${Number(result.y[2].toPrecision(4))}`);
      expect(Number(lines[2]!.replace('loss ', ''))).toBe(sixDigits(result.loss[2][6]));

      // The 3-D surface: a WebGL scene whose picking finds the surface under the cursor (so it was drawn).
      const surface = page.locator('[data-plot=surface3d]');
      await surface.locator('canvas').first().waitFor({ timeout: 60_000 });
      const scene = await surface.boundingBox();
      let hover3d: string[] = [];
      // Picking reads back the WebGL frame: slow on a software renderer, and the first frames may not be drawn yet.
      const until = Date.now() + 30_000;
      for (let attempt = 0; hover3d.length === 0 && Date.now() < until; attempt++) {
        const [fx, fy] = [0.5 + 0.05 * Math.sin(attempt), 0.5 + 0.05 * Math.cos(attempt)];
        await page.mouse.move(scene!.x + fx * scene!.width, scene!.y + fy * scene!.height, { steps: 4 });
        for (let wait = 0; wait < 10 && hover3d.length === 0; wait++) {
          await page.waitForTimeout(200);
          hover3d = await surface.locator('.hovertext tspan.line').allTextContents();
        }
      }
      expect(hover3d).toHaveLength(3);
      const [hx, hy, hz] = hover3d.map((line) => Number(line.split(' ').pop()));
      const ix = result.x.findIndex((x: number) => Number(x.toPrecision(4)) === hx);
      const iy = result.y.findIndex((y: number) => Number(y.toPrecision(4)) === hy);
      expect(ix).toBeGreaterThanOrEqual(0);
      expect(iy).toBeGreaterThanOrEqual(0);
      expect(hz).toBe(sixDigits(result.loss[iy][ix]));
      await screenshot(page, 'job-surface');

      // Log scale and the accuracy view redraw both plots with their own titles.
      await page.check('input[name=log]');
      await contour.locator('.cbtitle text', { hasText: 'log-spaced levels' }).waitFor();
      expect(Number((await hoverAt(contour, 6, 2))[2]!.replace('loss ', ''))).toBe(sixDigits(result.loss[2][6]));
      await page.uncheck('input[name=log]');
      await page.selectOption('select[name=metric]', 'accuracy');
      await contour.locator('.gtitle', { hasText: 'accuracy' }).waitFor();
      expect(Number((await hoverAt(contour, 6, 2))[2]!.replace('accuracy ', ''))).toBe(sixDigits(result.accuracy[2][6]));

      // Every file the job wrote, downloadable with the session cookie alone, byte for byte what the API serves.
      const files = (await call(server.url, 'GET', `/v1/jobs/${id}/files`, { headers: BEARER })).json.items as { name: string }[];
      const links = await page.locator('ul.files a').evaluateAll((anchors) => anchors.map((a) => (a as HTMLAnchorElement).getAttribute('href')!));
      expect(links).toEqual(files.map((file) => `/v1/jobs/${id}/files/${encodeURIComponent(file.name)}`));
      const download = await page.request.get(`${server.url}${links[0]}`);
      expect(download.status()).toBe(200);
      expect(Buffer.from(await download.body()).equals(Buffer.from((await call(server.url, 'GET', links[0]!, { headers: BEARER })).text))).toBe(true);
    },
    HEAVY_TEST_MS,
  );

  it('cancels a running job from its page', async () => {
    // ~23k points: far longer than the test waits (the worker computes ~1000 points/s), in row tiles.
    const big = await postJson(server.url, '/v1/jobs', { ...surfaceSpec(model, data, [151, 151]), tiles: { x: 151, y: 1 } }, BEARER);
    expect(big.status).toBe(202);
    await page.goto(`${server.url}/#/jobs/${big.json.id}`);
    await page.locator('.status.running').waitFor({ timeout: 30_000 });
    await page.click('button[name=cancel]');
    await page.locator('.status.cancelled').waitFor({ timeout: 30_000 });
    expect(await page.locator('button[name=cancel]').count()).toBe(0);
    const view = (await call(server.url, 'GET', `/v1/jobs/${big.json.id}`, { headers: BEARER })).json;
    expect(view.status).toBe('cancelled');
    expect(view.progress.pointsDone).toBeLessThan(view.progress.pointsTotal);
  });

  it('lists jobs with filters, the live workers and the queue dashboard', async () => {
    await page.goto(`${server.url}/#/jobs`);
    await page.locator('table.jobs tbody tr').nth(2).waitFor();
    await page.selectOption('select[name=status]', 'cancelled');
    await page.waitForFunction(() => document.querySelectorAll('table.jobs tbody tr').length === 1);
    expect(await page.locator('table.jobs tbody tr .status').allTextContents()).toEqual(['cancelled']);
    await page.selectOption('select[name=status]', '');
    await page.selectOption('select[name=kind]', 'line');
    await page.locator('text=No jobs match these filters').waitFor();
    await page.selectOption('select[name=kind]', '');
    await page.locator('table.jobs tbody tr').nth(2).waitFor();
    await screenshot(page, 'jobs');

    await page.click('a[href="#/workers"]');
    const live = (await call(server.url, 'GET', '/v1/workers', { headers: BEARER })).json.items as { pid: number; backend: string }[];
    expect(live).toHaveLength(1);
    const row = page.locator(`tr[data-worker="${live[0]!.pid}"]`);
    await row.waitFor();
    expect(await row.locator('td').nth(2).textContent()).toBe(live[0]!.backend);
    await screenshot(page, 'workers');

    await page.goto(`${server.url}/admin/queues`);
    await page.locator('text=landscape-tiles').first().waitFor();
    await screenshot(page, 'queues');
  });

  it(
    'shows the page of every other kind: line, hessian, curvature, trajectory, train',
    async () => {
      const m1 = {
        model: (await cluster.system.artifacts.put(encodeModelBundle(readModelDirectory(join(M1, 'model_trained'))), { kind: 'model' })).id,
        data: (await cluster.system.artifacts.put(readFileSync(join(M1, 'dataset.json')), { kind: 'data', filename: 'dataset.json' })).id,
        trajectory: (await cluster.system.artifacts.put(readFileSync(join(M1, 'trajectory.json')), { kind: 'trajectory', filename: 'trajectory.json' })).id,
      };
      const common = { model: m1.model, data: m1.data, loss: 'sparse_categorical_crossentropy', backend: 'wasm' };
      const specs = {
        line: { kind: 'line', ...common, directions: { x: { seed: 1 } }, grid: { x: [-1, 1, 21] } },
        hessian: { kind: 'hessian', ...common, top: { k: 3 }, trace: { method: 'hutchinson', samples: 12, batch: 6 }, density: { runs: 2, steps: 20 } },
        curvature: { kind: 'curvature', ...common, directions: { x: { seed: 1 }, y: { seed: 2 } }, grid: { x: [-1, 1, 4], y: [-1, 1, 3] } },
        trajectory: {
          kind: 'trajectory',
          ...common,
          trajectory: m1.trajectory,
          methods: ['pca', 'umap'],
          grid: { steps: [9, 9] },
          umap: { nNeighbors: 8, nEpochs: 100 },
        },
        train: {
          kind: 'train',
          model: { type: 'mlp', input: [2], hidden: [{ units: 8 }], outputs: 3 },
          data: { synthetic: 'spirals', n: 150, classes: 3, seed: 1 },
          loss: 'sparse_categorical_crossentropy',
          backend: 'wasm',
          epochs: 5,
        },
      };
      const results: Record<string, any> = {};
      const ids: Record<string, string> = {};
      for (const [kind, spec] of Object.entries(specs)) {
        const submitted = await postJson(server.url, '/v1/jobs', spec, BEARER);
        expect(submitted.status, JSON.stringify(submitted.json)).toBe(202);
        ids[kind] = submitted.json.id;
      }
      for (const [kind, id] of Object.entries(ids)) {
        const done = await waitForJob(cluster.system, id, ['completed', 'failed'], 90_000);
        expect(done.error, kind).toBeUndefined();
        results[kind] = (await call(server.url, 'GET', `/v1/jobs/${id}/result`, { headers: BEARER })).json;
      }
      const open = async (kind: string): Promise<void> => {
        await page.goto(`${server.url}/#/jobs/${ids[kind]}`);
        await page.locator('.status.completed').waitFor();
        await page.locator('ul.files li').first().waitFor();
      };
      const sixDigits = (text: string): number => Number(Number(text).toPrecision(6));

      await open('line');
      await page.locator('[data-plot=line] .scatterlayer .trace').nth(1).waitFor({ timeout: 60_000 });
      await screenshot(page, 'job-line');

      await open('hessian');
      const top = (await page.locator('[data-fact=top]').textContent())!.split(', ').map(sixDigits);
      expect(top).toEqual(results.hessian.eigenvalues.top.map((v: number) => Number(v.toPrecision(6))));
      const trace = (await page.locator('[data-fact=trace]').textContent())!;
      expect(sixDigits(trace.split(' ± ')[0]!)).toBe(Number(results.hessian.trace.value.toPrecision(6)));
      await page.locator('[data-plot=density] .scatterlayer .trace').first().waitFor({ timeout: 60_000 });
      await page.locator('[data-plot=eigenvalues] .scatterlayer .trace').first().waitFor();
      await page.check('input[name=log-density]');
      await page.waitForFunction(() => (document.querySelector('[data-plot=density]') as any)?._fullLayout?.yaxis?.type === 'log');
      await screenshot(page, 'job-hessian');

      await open('curvature');
      for (const name of ['λmax', 'λmin', '|λmin/λmax|'])
        await page.locator(`[data-plot="curvature-${name}"] .contourlevel path`).first().waitFor({ timeout: 60_000 });
      await screenshot(page, 'job-curvature');

      await open('trajectory');
      const panels = ['pca', 'umap'].map((method) => page.locator(`[data-plot="trajectory-${method}"]`));
      for (const panel of panels) await panel.locator('.scatterlayer .trace').first().waitFor({ timeout: 60_000 });
      // One colour scale: both panels' colour bars carry the same ticks.
      const ticks = await Promise.all(panels.map((panel) => panel.locator('.cbaxis text').allTextContents()));
      expect(ticks[0]!.length).toBeGreaterThan(2);
      expect(ticks[1]).toEqual(ticks[0]);
      const rows = page.locator('table.metrics tbody tr');
      expect(await rows.count()).toBe(2);
      expect(Number(await rows.nth(0).locator('td').nth(1).textContent())).toBe(Number(results.trajectory.methods.pca.trustworthiness.toPrecision(4)));
      await screenshot(page, 'job-trajectory');

      await open('train');
      expect(sixDigits((await page.locator('[data-fact=final-loss]').textContent())!)).toBe(Number(results.train.finalLoss.toPrecision(6)));
      await page.locator('[data-plot=loss-curve] .scatterlayer .trace').first().waitFor({ timeout: 60_000 });
      await screenshot(page, 'job-train');
    },
    HEAVY_TEST_MS,
  );

  it('logged no console errors', () => {
    expect(errors).toEqual([]);
  });
});
