import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LandscapeResult } from '@landscape/core';
import { SpecValidationError } from '@landscape/jobs';
import { killAllWorkers, type WorkerProcess } from '../harness/processes';
import { embeddedResult, m2Surface, startCluster, uploadM2, waitForJob, type Cluster, type Uploaded } from './helpers';

describe('distributed jobs: two worker processes', () => {
  let cluster: Cluster;
  let refs: Uploaded;
  let workers: WorkerProcess[];

  beforeAll(async () => {
    cluster = await startCluster();
    refs = await uploadM2(cluster.system);
    workers = await Promise.all([cluster.startWorker(), cluster.startWorker({ WORKER_CONCURRENCY: '2' })]);
  });

  afterAll(async () => {
    await killAllWorkers();
    await cluster?.close();
  });

  it('computes exactly the numbers of runEmbedded, with both workers recorded', async () => {
    const grid = { nx: 7, ny: 6, batchSize: 50 };
    const submitted = await cluster.system.service.submit(m2Surface(refs, grid));
    expect(submitted.status).toBe('queued');
    expect(submitted.progress).toEqual({ unitsDone: 0, unitsTotal: 6, pointsDone: 0, pointsTotal: 42 });

    const done = await waitForJob(cluster.system, submitted.id, ['completed', 'failed'], 90_000);
    expect(done.error).toBeUndefined();
    expect(done.status).toBe('completed');
    expect(done.progress).toEqual({ unitsDone: 6, unitsTotal: 6, pointsDone: 42, pointsTotal: 42 });

    const result = (await cluster.system.service.result(submitted.id)) as LandscapeResult;
    const reference = await embeddedResult(grid);
    expect(result.loss).toEqual(reference.loss);
    expect(result.accuracy).toEqual(reference.accuracy);
    expect(result.x).toEqual(reference.x);
    expect(result.y).toEqual(reference.y);
    expect(result.pointsComputed).toBe(42);
    expect(result.backend).toBe('wasm');
    expect(result.workers!.reduce((sum, worker) => sum + worker.units, 0)).toBe(6);
    expect(done.workers.reduce((sum, worker) => sum + worker.units, 0)).toBe(6);

    const files = await cluster.system.service.files(submitted.id);
    expect(files!.map((file) => file.name)).toContain('result.json');
    expect((await cluster.system.service.file(submitted.id, 'result.json'))!.contentType).toBe('application/json');
  });

  it('lists jobs newest first, by status', async () => {
    const extra = await cluster.system.service.submit(m2Surface(refs, { nx: 2, ny: 2 }));
    await waitForJob(cluster.system, extra.id, ['completed']);
    const all = await cluster.system.service.list({ offset: 0, limit: 10 });
    expect(all.total).toBe(2);
    expect(all.items[0]!.id).toBe(extra.id);
    expect((await cluster.system.service.list({ status: 'completed', limit: 1, offset: 1 })).items).toHaveLength(1);
    expect((await cluster.system.service.list({ status: 'failed' })).total).toBe(0);
    expect(await cluster.system.service.get('no-such-job')).toBeNull();
    expect(await cluster.system.service.cancel('no-such-job')).toBeNull();
    expect((await cluster.system.service.cancel(extra.id))!.status).toBe('completed');
  });

  it('lists live workers from their heartbeats', async () => {
    const live = await cluster.system.workers.list();
    expect(live.map((worker) => worker.pid).sort()).toEqual(workers.map((worker) => worker.pid).sort());
    expect(live.map((worker) => worker.concurrency).sort()).toEqual([1, 2]);
    expect(live.every((worker) => worker.backend === 'wasm' && worker.device.startsWith('cpu'))).toBe(true);
  });

  it('rejects specs naming fields: unknown artifacts, plain paths, bad grids', async () => {
    const missing = `sha256:${'0'.repeat(64)}`;
    const error = await cluster.system.service.submit({ ...m2Surface(refs, { nx: 3, ny: 3 }), model: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SpecValidationError);
    expect((error as SpecValidationError).issues).toEqual([{ field: 'model', reason: `artifact ${missing} does not exist (upload it first)` }]);

    const path = await cluster.system.service.submit({ ...m2Surface(refs, { nx: 3, ny: 3 }), data: '/etc/passwd' }).catch((e: unknown) => e);
    expect((path as SpecValidationError).issues[0]!.field).toBe('data');
    expect((path as SpecValidationError).issues[0]!.reason).toMatch(/not an artifact id/);

    const grid = await cluster.system.service.submit({ ...m2Surface(refs, { nx: 3, ny: 3 }), grid: { x: [1, -1, 3], y: [0, 1, 2] } }).catch((e: unknown) => e);
    expect((grid as SpecValidationError).issues.map((issue) => issue.field)).toEqual(['grid.x']);
  });
});
