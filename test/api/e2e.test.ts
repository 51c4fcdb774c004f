import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { LandscapeResult } from '@landscape/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllWorkers, type WorkerProcess } from '../harness/processes';
import { embeddedResult, LOCAL_M2, M2, m2Surface, startCluster, type Cluster, type Uploaded } from '../distributed/helpers';
import { call, postJson, runCliAsync, startApi, type TestApi } from './support';

/** Everything over HTTP: upload, submit, two worker processes compute the units, poll, fetch; then the CLI client. */
describe('end to end over HTTP with two workers', () => {
  let cluster: Cluster;
  let server: TestApi;
  let workers: WorkerProcess[];
  let tmp: string;

  beforeAll(async () => {
    cluster = await startCluster();
    server = await startApi(cluster.system);
    workers = await Promise.all([cluster.startWorker(), cluster.startWorker()]);
    tmp = mkdtempSync(join(tmpdir(), 'landscape-e2e-'));
  });

  afterAll(async () => {
    await killAllWorkers();
    await server?.close();
    await cluster?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function pollUntilDone(id: string, timeoutMs = 120_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const view = (await call(server.url, 'GET', `/v1/jobs/${id}`)).json;
      if (['completed', 'failed', 'cancelled'].includes(view.status)) return view;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${view.status} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  it('computes the same surface as runEmbedded', async () => {
    const upload = async (file: string, kind: string): Promise<string> =>
      (
        await call(server.url, 'POST', `/v1/artifacts?kind=${kind}&filename=${file}`, {
          body: readFileSync(join(M2, file)),
          headers: { 'content-type': 'application/octet-stream' },
        })
      ).json.id;
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(M2, 'model_trained', name))]), name);
    const refs: Uploaded = {
      model: (await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: form })).json.id,
      data: await upload('dataset.json', 'data'),
      d1: await upload('direction_d1_raw.json', 'weights'),
      d2: await upload('direction_d2_raw.json', 'weights'),
    };
    const grid = { nx: 5, ny: 4, batchSize: 50 };
    const submitted = await postJson(server.url, '/v1/jobs', m2Surface(refs, grid));
    expect(submitted.status).toBe(202);
    expect(submitted.json).toMatchObject({ status: 'queued', units: 4, points: 20 });

    const done = await pollUntilDone(submitted.json.id);
    expect(done.error).toBeUndefined();
    expect(done).toMatchObject({ status: 'completed', progress: { unitsDone: 4, unitsTotal: 4, pointsDone: 20, pointsTotal: 20 } });
    expect(done.workers.reduce((sum: number, worker: { units: number }) => sum + worker.units, 0)).toBe(4);

    const result = (await call(server.url, 'GET', `/v1/jobs/${submitted.json.id}/result`)).json as LandscapeResult;
    const reference = await embeddedResult(grid);
    expect(result.loss).toEqual(reference.loss);
    expect(result.accuracy).toEqual(reference.accuracy);
    expect(result.x).toEqual(reference.x);
    expect(result.y).toEqual(reference.y);
    expect(result.backend).toBe('wasm');

    const files = (await call(server.url, 'GET', `/v1/jobs/${submitted.json.id}/files`)).json.items as { name: string }[];
    expect(files.map((file) => file.name)).toContain('result.json');
    const live = (await call(server.url, 'GET', '/v1/workers')).json.items as { pid: number }[];
    expect(live.map((worker) => worker.pid).sort()).toEqual(workers.map((worker) => worker.pid).sort());
  });

  it('runs the CLI flow submit → wait → fetch with local files', async () => {
    // Relative paths, resolved against the spec file's directory, as for `landscape run`.
    const rel = (path: string): string => relative(tmp, path);
    const spec = {
      ...m2Surface({ model: rel(LOCAL_M2.model), data: rel(LOCAL_M2.data), d1: rel(LOCAL_M2.d1), d2: rel(LOCAL_M2.d2) }, { nx: 4, ny: 3, batchSize: 50 }),
    };
    const specFile = join(tmp, 'job.json');
    writeFileSync(specFile, JSON.stringify(spec));
    const api = ['--api', server.url];

    const submitted = await runCliAsync(['submit', specFile, ...api]);
    expect(submitted.stderr).toBe('');
    expect(submitted.status).toBe(0);
    const id = submitted.stdout.trim().split('\n').pop()!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const waited = await runCliAsync(['wait', id, '--interval', '200', ...api]);
    expect(waited.status).toBe(0);
    const lines = waited.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { status: string; pointsDone: number; pointsTotal: number });
    expect(lines[lines.length - 1]).toMatchObject({ status: 'completed', pointsDone: 12, pointsTotal: 12 });

    const status = await runCliAsync(['status', id, ...api]);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, status: 'completed' });

    const out = join(tmp, 'out');
    const fetched = await runCliAsync(['fetch', id, '--out', out, ...api]);
    expect(fetched.status).toBe(0);
    const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as LandscapeResult;
    const reference = await embeddedResult({ nx: 4, ny: 3, batchSize: 50 });
    expect(result.loss).toEqual(reference.loss);
    const files = (await call(server.url, 'GET', `/v1/jobs/${id}/files`)).json.items as { name: string }[];
    for (const { name } of files) expect(existsSync(join(out, name)), name).toBe(true);

    // submit --wait: progress on stderr, the id still alone on the last stdout line.
    const again = await runCliAsync(['submit', specFile, '--wait', '--interval', '200', ...api]);
    expect(again.status).toBe(0);
    expect(again.stdout.trim().split('\n').pop()).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('exits 1 when the awaited job is cancelled, 2 with one line for bad input or no API', async () => {
    const spec = m2Surface({ model: LOCAL_M2.model, data: LOCAL_M2.data, d1: LOCAL_M2.d1, d2: LOCAL_M2.d2 }, { nx: 3, ny: 3 });
    const specFile = join(tmp, 'cancel.json');
    writeFileSync(specFile, JSON.stringify({ ...spec, grid: { x: [-1, 1, 60], y: [-1, 1, 60] }, tiles: { x: 60, y: 1 } }));
    const submitted = await runCliAsync(['submit', specFile, '--api', server.url]);
    const id = submitted.stdout.trim().split('\n').pop()!;
    expect((await call(server.url, 'DELETE', `/v1/jobs/${id}`)).json.status).toBe('cancelled');
    const waited = await runCliAsync(['wait', id, '--api', server.url]);
    expect(waited.status).toBe(1);
    expect(waited.stderr.trim().split('\n')).toEqual([expect.stringContaining('cancelled')]);

    const oneLine = (result: { status: number | null; stderr: string }, pattern: RegExp): void => {
      expect(result.status).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
    };
    writeFileSync(join(tmp, 'missing.json'), JSON.stringify({ ...spec, model: 'no-such-model' }));
    oneLine(await runCliAsync(['submit', join(tmp, 'missing.json'), '--api', server.url]), /model.*not found/);
    writeFileSync(join(tmp, 'invalid.json'), JSON.stringify({ ...spec, grid: { x: [1, 0, 3] } }));
    oneLine(await runCliAsync(['submit', join(tmp, 'invalid.json'), '--api', server.url]), /grid/);
    oneLine(await runCliAsync(['status', '6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10', '--api', server.url]), /404/);
    oneLine(await runCliAsync(['status', 'abc', '--api', 'http://127.0.0.1:1']), /cannot reach the API/);
    oneLine(await runCliAsync(['fetch', id, '--out', join(tmp, 'x'), '--api', server.url]), /cancelled/);
  });
});
