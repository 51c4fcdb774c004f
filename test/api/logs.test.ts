import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '@landscape/jobs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllWorkers, type WorkerProcess } from '../harness/processes';
import { m2Surface, startCluster, uploadM2, waitForJob, type Cluster } from '../distributed/helpers';
import { call, postJson, startApi, type TestApi } from './support';

const REPO_ROOT = resolve(__dirname, '..', '..');
const MACHINE_PATHS = [REPO_ROOT, tmpdir()];

/** A pino destination that keeps every line it is given. */
function capture(): { lines: string[]; stream: Writable } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

const leaks = (lines: string[]): string[] => lines.filter((line) => MACHINE_PATHS.some((path) => line.includes(path)));

describe('log lines carry no machine paths', () => {
  it('the shared logger rewrites the checkout and temporary directories, error stacks included', () => {
    // An error made here has this test file (under the checkout) in its stack; its message names a temporary file.
    const error = new Error(`ENOENT: no such file or directory, open '${join(tmpdir(), 'landscape-x', 'weights.bin')}'`);
    const plain = capture();
    pino({}, plain.stream).error({ err: error, dir: join(REPO_ROOT, 'out') }, 'failed');
    expect(leaks(plain.lines)).toHaveLength(1); // the reference: plain pino shows the paths

    const safe = capture();
    createLogger({}, safe.stream).error({ err: error, dir: join(REPO_ROOT, 'out') }, 'failed');
    expect(leaks(safe.lines)).toEqual([]);
    const line = JSON.parse(safe.lines[0]!);
    expect(line.err.message).toBe(`ENOENT: no such file or directory, open '<tmp>/landscape-x/weights.bin'`);
    expect(line.dir).toMatch(/^(<app>|\.)\/out$/);
  });

  describe('through the API and a worker process', () => {
    let cluster: Cluster;
    let server: TestApi;
    let worker: WorkerProcess;
    const apiLog = capture();

    beforeAll(async () => {
      cluster = await startCluster();
      server = await startApi(cluster.system, { logger: createLogger({ level: 'debug' }, apiLog.stream) });
      worker = await cluster.startWorker();
    });

    afterAll(async () => {
      await killAllWorkers();
      await server?.close();
      await cluster?.close();
    });

    it('a job run end to end logs requests, units and completion without the repo root or the temporary directory', async () => {
      const refs = await uploadM2(cluster.system);
      const submitted = await postJson(server.url, '/v1/jobs', m2Surface(refs, { nx: 3, ny: 2, batchSize: 50 }));
      expect(submitted.status).toBe(202);
      const view = await waitForJob(cluster.system, submitted.json.id, ['completed', 'failed', 'cancelled'], 120_000);
      expect(view.status).toBe('completed');
      // A 4xx and a missing file are logged too (warn level).
      expect((await call(server.url, 'GET', '/v1/jobs/nope')).status).toBe(404);
      expect((await call(server.url, 'GET', `/v1/jobs/${submitted.json.id}/files/nope.json`)).status).toBe(404);

      await worker.waitForLog('job completed');
      const workerLines = worker.logs.map((line) => JSON.stringify(line));
      expect(apiLog.lines.length).toBeGreaterThan(3);
      expect(workerLines.length).toBeGreaterThan(3);
      expect(leaks(apiLog.lines)).toEqual([]);
      expect(leaks(workerLines)).toEqual([]);
    });
  });
});
