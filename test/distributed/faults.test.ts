import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LandscapeResult } from '@landscape/core';
import { encodeModelBundle, readModelDirectory } from '@landscape/jobs';
import { killAllWorkers, type WorkerProcess } from '../harness/processes';
import { embeddedResult, M2, m2Surface, startCluster, uploadM2, waitForJob, type Cluster, type Uploaded } from './helpers';

const unitsStarted = (worker: WorkerProcess): string[] => worker.logs.filter((line) => line.msg === 'unit started').map((line) => String(line.unitId));
const unitsStored = (worker: WorkerProcess): string[] => worker.logs.filter((line) => line.msg === 'unit done').map((line) => String(line.unitId));

describe('distributed jobs under faults', () => {
  let cluster: Cluster;
  let refs: Uploaded;

  beforeAll(async () => {
    cluster = await startCluster();
    refs = await uploadM2(cluster.system);
  });
  afterEach(() => killAllWorkers());
  afterAll(async () => {
    await killAllWorkers();
    await cluster?.close();
  });

  it('a worker killed with SIGKILL mid-tile: its tile comes back, every point is computed, numbers unchanged', async () => {
    // Tiles of 200 points take long enough (~0.3 s) that the kill lands mid-tile.
    const grid = { nx: 200, ny: 4 };
    const [a, b] = await Promise.all([cluster.startWorker(), cluster.startWorker()]);
    const job = await cluster.system.service.submit(m2Surface(refs, grid));
    // Kill a while it computes its second tile: that tile's lock lapses and b takes it over.
    const first = await a.waitForLog('unit done', { timeoutMs: 60_000 });
    const second = await a.waitForLog('unit started', {
      timeoutMs: 60_000,
      where: (line) => line.unitId !== first.unitId && !unitsStored(a).includes(String(line.unitId)),
    });
    a.kill('SIGKILL');
    await a.exited;
    const done = await waitForJob(cluster.system, job.id, ['completed', 'failed'], 90_000);
    expect(done.status).toBe('completed');
    const abandoned = String(second.unitId);
    expect(unitsStored(a)).not.toContain(abandoned);
    expect(unitsStored(b)).toContain(abandoned);
    const result = (await cluster.system.service.result(job.id)) as LandscapeResult;
    expect(unitsStarted(a)).toContain(abandoned);
    expect(result.pointsComputed).toBe(800);
    const reference = await embeddedResult(grid);
    expect(result.loss).toEqual(reference.loss);
    expect(result.accuracy).toEqual(reference.accuracy);
    expect(done.progress).toEqual({ unitsDone: 4, unitsTotal: 4, pointsDone: 800, pointsTotal: 800 });
  });

  it('a tile computed twice (worker frozen past its lock, then resumed) is stored and counted once', async () => {
    const grid = { nx: 200, ny: 4 };
    const [a, b] = await Promise.all([cluster.startWorker(), cluster.startWorker()]);
    const job = await cluster.system.service.submit(m2Surface(refs, grid));
    const started = await a.waitForLog('unit started', { timeoutMs: 60_000 });
    a.kill('SIGSTOP');
    const frozen = String(started.unitId);
    await b.waitForLog('unit done', { timeoutMs: 60_000, where: (line) => line.unitId === frozen });
    a.kill('SIGCONT');
    await a.waitForLog(/already stored/, { timeoutMs: 30_000, where: (line) => line.unitId === frozen });
    const done = await waitForJob(cluster.system, job.id, ['completed', 'failed'], 60_000);
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ unitsDone: 4, unitsTotal: 4, pointsDone: 800, pointsTotal: 800 });
    expect(done.workers.reduce((sum, worker) => sum + worker.units, 0)).toBe(4);
    const result = (await cluster.system.service.result(job.id)) as LandscapeResult;
    expect(result.workers!.reduce((sum, worker) => sum + worker.units, 0)).toBe(4);
    expect(result.loss).toEqual((await embeddedResult(grid)).loss);
  });

  it('cancel mid-job: waiting units are removed, the running one stops at its next point, the job stays cancelled', async () => {
    const worker = await cluster.startWorker();
    const job = await cluster.system.service.submit(m2Surface(refs, { nx: 600, ny: 3 }));
    const first = await worker.waitForLog('unit done', { timeoutMs: 60_000 });
    const second = await worker.waitForLog('unit started', { timeoutMs: 10_000, where: (line) => line.unitId !== first.unitId });
    const running = (await cluster.system.service.get(job.id))!;
    expect(running).toMatchObject({ status: 'running', progress: { unitsDone: 1, unitsTotal: 3, pointsTotal: 1800 } });
    expect(running.etaSeconds).toBeGreaterThan(0);
    expect(running.startedAt).toBeDefined();
    const cancelled = await cluster.system.service.cancel(job.id);
    expect(cancelled!.status).toBe('cancelled');
    // The second tile stops part-way (workers hear about the cancellation at once).
    const stopped = await worker.waitForLog('unit stopped: job ended', { timeoutMs: 10_000 });
    expect(stopped.unitId).toBe(second.unitId);
    const later = (await cluster.system.service.get(job.id))!;
    expect(later.status).toBe('cancelled');
    expect(later.progress.unitsDone).toBe(1);
    expect(later.progress.pointsDone).toBeGreaterThanOrEqual(600);
    expect(later.progress.pointsDone).toBeLessThan(1200);
    const counts = await cluster.system.queue.counts();
    expect(counts.units.waiting + counts.units.active + counts.units.delayed).toBe(0);
    expect(await cluster.system.service.result(job.id)).toBeNull();
    // The worker is still alive and takes the next job.
    const next = await cluster.system.service.submit(m2Surface(refs, { nx: 2, ny: 2 }));
    expect((await waitForJob(cluster.system, next.id, ['completed', 'failed'])).status).toBe('completed');
  });

  it('a model that does not load: the job fails at submission with the reason, nothing is queued', async () => {
    const files = readModelDirectory(join(M2, 'model_trained'));
    files['weights.bin'] = files['weights.bin']!.subarray(0, 100);
    const broken = await cluster.system.artifacts.put(encodeModelBundle(files), { kind: 'model' });
    const before = await cluster.system.queue.counts();
    const job = await cluster.system.service.submit({ ...m2Surface(refs, { nx: 3, ny: 3 }), model: broken.id });
    expect(job.status).toBe('failed');
    expect(job.error).toMatch(/weight files hold 100 bytes but the manifest needs 2212/);
    expect(job.error).toContain(broken.id);
    expect(job.error).not.toContain(cluster.tmp);
    expect(await cluster.system.queue.counts()).toEqual(before);
  });

  it('a model that fails to load on the worker fails the job once, without retries', async () => {
    // Another model (init weights) so no worker has it cached; it is corrupted in the store after submission.
    const model = await cluster.system.artifacts.put(encodeModelBundle(readModelDirectory(join(M2, 'model_init'))), { kind: 'model' });
    const job = await cluster.system.service.submit({ ...m2Surface(refs, { nx: 4, ny: 3 }), model: model.id });
    const stored = join(cluster.tmp, 'artifacts', model.id.slice('sha256:'.length));
    writeFileSync(stored, readFileSync(stored).subarray(0, 50));
    await cluster.startWorker();
    const failed = await waitForJob(cluster.system, job.id, ['failed', 'completed'], 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/unit r\dc0 failed: model: artifact sha256:[0-9a-f]{64} is corrupted/);
    const attempts = await Promise.all(['r0c0', 'r1c0', 'r2c0'].map((unit) => cluster.system.queue.unitAttempts(job.id, unit)));
    expect(attempts.filter((attempt) => attempt?.state === 'failed').map((attempt) => attempt!.attemptsMade)).toEqual([1]);
    expect(attempts.filter((attempt) => attempt && attempt.state !== 'failed')).toEqual([]);
  });

  it('a job past its timeout fails with the reason', async () => {
    const job = await cluster.system.service.submit(m2Surface(refs, { nx: 2, ny: 2 }), { timeoutSeconds: 0.5 });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const view = (await cluster.system.service.get(job.id))!;
    expect(view.status).toBe('failed');
    expect(view.error).toMatch(/timed out/);
  });

  it('SIGTERM: the worker finishes its tile, deregisters and exits 0', async () => {
    const worker = await cluster.startWorker();
    const job = await cluster.system.service.submit(m2Surface(refs, { nx: 10, ny: 3 }));
    const started = await worker.waitForLog('unit started', { timeoutMs: 60_000 });
    worker.kill('SIGTERM');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(unitsStored(worker)).toContain(String(started.unitId));
    expect((await cluster.system.workers.list()).map((info) => info.pid)).not.toContain(worker.pid);
    await cluster.startWorker();
    expect((await waitForJob(cluster.system, job.id, ['completed', 'failed'])).status).toBe('completed');
  });

  it('SIGTERM past the grace period: the running tile is handed back without using up a try', async () => {
    const worker = await cluster.startWorker({ LANDSCAPE_SHUTDOWN_GRACE_MS: '0' });
    const job = await cluster.system.service.submit(m2Surface(refs, { nx: 600, ny: 2 }));
    const started = await worker.waitForLog('unit started', { timeoutMs: 60_000 });
    worker.kill('SIGTERM');
    await worker.waitForLog('unit handed back: worker shutting down', { timeoutMs: 10_000 });
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    await cluster.startWorker();
    expect((await waitForJob(cluster.system, job.id, ['completed', 'failed'])).status).toBe('completed');
    expect(await cluster.system.queue.unitAttempts(job.id, String(started.unitId))).toEqual({ state: 'completed', attemptsMade: 1 });
  });
});

describe('Redis restarted mid-job (append-only file on)', () => {
  let cluster: Cluster;
  afterAll(async () => {
    await killAllWorkers();
    await cluster?.close();
  });

  it('the job completes with the same numbers', async () => {
    cluster = await startCluster({ appendonly: true });
    const refs = await uploadM2(cluster.system);
    const [a] = await Promise.all([cluster.startWorker(), cluster.startWorker()]);
    const grid = { nx: 400, ny: 6 };
    const job = await cluster.system.service.submit(m2Surface(refs, grid));
    await a.waitForLog('unit done', { timeoutMs: 60_000 });
    expect((await cluster.system.service.get(job.id))!.status).toBe('running');
    await cluster.redis.restart(500);
    const restartedAt = Date.now();
    const done = await waitForJob(cluster.system, job.id, ['completed', 'failed'], 90_000);
    expect(done.status).toBe('completed');
    expect(Date.parse(done.finishedAt!)).toBeGreaterThan(restartedAt);
    const result = (await cluster.system.service.result(job.id)) as LandscapeResult;
    expect(result.pointsComputed).toBe(2400);
    expect(result.loss).toEqual((await embeddedResult(grid)).loss);
  });
});
