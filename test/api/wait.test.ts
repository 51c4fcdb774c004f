import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createApp, type ApiApp } from '@landscape/api';
import { createJobSystem, type JobSystem } from '@landscape/jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/cli';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, postJson, quietLogger, startRedisSystem } from './support';

/** `landscape wait` keeps going through an API restart (backing off) and ends with the job. */
const M1 = join(REFERENCE_DIR, 'm1_mlp');
let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let system: JobSystem;

beforeAll(async () => {
  backing = await startRedisSystem();
  // The test owns the job system, so closing an API leaves it (and the job) alone.
  system = createJobSystem(backing.jobs);
});

afterAll(async () => {
  await system?.close();
  await backing?.close();
});

async function apiOn(port: number): Promise<{ api: ApiApp; url: string }> {
  const api = await createApp({ jobs: system, logger: quietLogger });
  return { api, url: await api.listen(port, '127.0.0.1') };
}

describe('landscape wait', () => {
  it('rides out an API restart with backoff and exits 0 when the job completes', async () => {
    const first = await apiOn(0);
    const url = first.url;
    let api = first.api;
    const port = Number(new URL(url).port);
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(M1, 'model_trained', name))]), name);
    const model = (await call(url, 'POST', '/v1/artifacts?kind=model', { body: form })).json.id;
    const data = (
      await call(url, 'POST', '/v1/artifacts?kind=data&filename=dataset.json', {
        body: readFileSync(join(M1, 'dataset.json')),
        headers: { 'content-type': 'application/octet-stream' },
      })
    ).json.id;
    const job = await postJson(url, '/v1/jobs', { kind: 'line', model, to: model, data, loss: 'sparse_categorical_crossentropy', grid: { x: [0, 1, 16] } });
    expect(job.status).toBe(202);

    const child = spawn(process.execPath, [CLI, 'wait', job.json.id, '--api', url, '--interval', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines = createInterface({ input: child.stdout! });
    const seen: Record<string, unknown>[] = [];
    const waiters: { test: (line: Record<string, unknown>) => boolean; resolve: () => void }[] = [];
    lines.on('line', (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      seen.push(line);
      for (const waiter of waiters.filter((w) => w.test(line))) waiter.resolve();
    });
    const next = (test: (line: Record<string, unknown>) => boolean): Promise<void> =>
      seen.some(test) ? Promise.resolve() : new Promise((resolve) => waiters.push({ test, resolve }));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    try {
      await next((line) => line.status === 'queued');
      await api.close();
      // The client notices the outage and keeps retrying instead of exiting 2.
      await next((line) => typeof line.retrying === 'string');
      ({ api } = await apiOn(port));
      // The job completes while the client polls the new API process (done as a worker would: real store).
      await system.store.markAggregating(job.json.id);
      await system.results.put(job.json.id, 'result.json', Buffer.from('{"loss": [0.1]}'));
      expect(await system.store.complete(job.json.id)).toBe(true);
      expect(await exited).toBe(0);
      expect(seen.at(-1)).toMatchObject({ id: job.json.id, status: 'completed' });
    } finally {
      child.kill();
      await api.close();
    }
  });
});
