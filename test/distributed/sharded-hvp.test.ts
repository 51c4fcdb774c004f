import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hessianHandler, parseJobSpec, runEmbedded, type HessianResult, type HessianSpec } from '@landscape/core';
import { HvpShardBoard, type ShardTask } from '@landscape/jobs';
import { killAllWorkers, type WorkerProcess } from '../harness/processes';
import { LOCAL_M2, M2, startCluster, uploadM2, waitForJob, type Cluster, type Uploaded } from './helpers';

/**
 * Hessian jobs whose products are split into data shards computed by whichever workers are free
 * (docs/distributed-hessian.md). Batches of 50 put the shard boundaries of 3 shards on batch boundaries, so
 * every float32 batch product is the one of the whole-set product: only the float64 grouping differs.
 */
const reference = JSON.parse(readFileSync(join(M2, 'ref_hessian.json'), 'utf8')) as { top5_eigenvalues_descending: number[] };

/** `parts`: what to compute (default: the top 5 eigenvalues by Lanczos). */
function m2Hessian(refs: Pick<Uploaded, 'model' | 'data'>, hvp: object, parts: object = { top: { k: 5 } }): Record<string, unknown> {
  return {
    kind: 'hessian',
    model: refs.model,
    data: refs.data,
    loss: 'sparse_categorical_crossentropy',
    backend: 'wasm',
    evaluation: { batchSize: 50 },
    ...parts,
    eigenvectors: false,
    hvp,
  };
}

async function embedded(hvp: object, parts?: object): Promise<HessianResult> {
  const out = mkdtempSync(join(tmpdir(), 'landscape-sharded-'));
  try {
    const spec = parseJobSpec(m2Hessian(LOCAL_M2, hvp, parts)) as HessianSpec;
    return (await runEmbedded(hessianHandler, spec, (ref) => ref, out, { threads: 1, backend: 'wasm' })) as HessianResult;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

describe('sharded Hessian-vector products, distributed', () => {
  let cluster: Cluster;
  let ids: Uploaded;
  let workers: WorkerProcess[];
  let whole: HessianResult;
  let localShards: HessianResult;

  beforeAll(async () => {
    cluster = await startCluster();
    ids = await uploadM2(cluster.system);
    workers = await Promise.all([cluster.startWorker(), cluster.startWorker()]);
    whole = await embedded({ mode: 'whole' });
    localShards = await embedded({ mode: 'sharded', shards: 3 });
  }, 120_000);
  afterAll(async () => {
    await killAllWorkers();
    await cluster?.close();
  });

  async function run(hvp: object): Promise<HessianResult> {
    const job = await cluster.system.service.submit(m2Hessian(ids, hvp));
    const done = await waitForJob(cluster.system, job.id, ['completed', 'failed', 'cancelled'], 120_000);
    expect(done.error).toBeUndefined();
    return (await cluster.system.service.result(job.id)) as HessianResult;
  }

  it('two workers share the shards; eigenvalues equal the embedded run and the reference', async () => {
    const first = await run({ mode: 'sharded', shards: 3 });
    expect(first.hvp).toMatchObject({ mode: 'sharded', shards: 3 });
    expect(first.hvp!.localShards + first.hvp!.remoteShards).toBe(3 * first.hvp!.products);
    expect(first.hvp!.remoteShards).toBeGreaterThan(0); // the idle worker took shards
    // The float64 sum in shard order makes the numbers independent of which worker computed which shard.
    expect(first.eigenvalues).toEqual(localShards.eigenvalues);
    const second = await run({ mode: 'sharded', shards: 3 });
    expect(second.eigenvalues).toEqual(first.eigenvalues);
    first.eigenvalues.top!.forEach((value, i) => {
      expect(relative(value, whole.eigenvalues.top![i]!)).toBeLessThan(1e-9);
      expect(relative(value, reference.top5_eigenvalues_descending[i]!)).toBeLessThan(1e-4);
    });
    // Both queue entries and product keys are gone once the job is done.
    expect(await cluster.system.redis.llen(`${cluster.prefix}:hvp:queue`)).toBe(0);
    expect(await cluster.system.redis.keys(`${cluster.prefix}:hvp:*`)).toEqual([]);
  }, 180_000);

  it('auto keeps the small fixture whole, even with two workers alive', async () => {
    const result = await run({ mode: 'auto' });
    expect(result.hvp).toMatchObject({ mode: 'whole', shards: 1, remoteShards: 0 });
    expect(result.hvp!.reason).toMatch(/LANDSCAPE_HVP_SHARD_MIN_WORK/);
    expect(result.eigenvalues).toEqual(whole.eigenvalues);
  }, 120_000);

  it('a shard whose worker dies is recomputed: a claim that lapses, and a helper killed mid-job', async () => {
    // One SLQ run of 120 steps = 120 products in one unit: seconds, so the kill lands mid-job.
    const parts = { density: { runs: 1, steps: 120 } };
    // The test process acts as a worker that pops the first shard request, claims it, and dies.
    const board = new HvpShardBoard(cluster.system.redis, cluster.prefix);
    const blocking = cluster.system.redis.duplicate();
    const zombie = board.take(blocking, 30);
    const job = await cluster.system.service.submit(m2Hessian(ids, { mode: 'sharded', shards: 3 }, parts));
    let task: ShardTask | null;
    try {
      task = await zombie;
      expect(task).toMatchObject({ jobId: job.id, shard: expect.any(Number), count: 3 });
      await board.claim(task!, 1500);
    } finally {
      blocking.disconnect();
    }
    // The driver is the worker that started the unit; the other one only computes shards. Kill it mid-job.
    const started = { timeoutMs: 30_000, where: (line: Record<string, unknown>) => line.jobId === job.id };
    const driver = await Promise.race(workers.map((worker) => worker.waitForLog('unit started', started).then(() => worker)));
    const helper = workers.find((worker) => worker !== driver)!;
    // Past the first product (held up by the lost claim for ~2.5 s), while shards flow to both workers.
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const status = await cluster.system.service.get(job.id);
    expect(status?.status).toBe('running');
    helper.kill('SIGKILL');
    const done = await waitForJob(cluster.system, job.id, ['completed', 'failed'], 120_000);
    expect(done.error).toBeUndefined();
    const result = (await cluster.system.service.result(job.id)) as HessianResult;
    expect(result.hvp!.products).toBe(120);
    expect(result.hvp!.remoteShards).toBeGreaterThan(0);
    // (Computed only now: the embedded run blocks this process's event loop, which plays the dead worker.)
    expect(result.density).toEqual((await embedded({ mode: 'sharded', shards: 3 }, parts)).density);
    // The first product waited for the lost claim (1.5 s) before the driver computed that shard itself.
    expect(result.hvp!.wallMsPerHvp * result.hvp!.products).toBeGreaterThan(1500);
  }, 180_000);

  it('a single worker with concurrency 1 computes every shard itself (no deadlock); cancelling drops pending shards', async () => {
    await killAllWorkers();
    // A threshold below this fixture's 150 × 553 sample·parameters, for the next test.
    const lone = await cluster.startWorker({ WORKER_CONCURRENCY: '1', LANDSCAPE_HVP_SHARD_MIN_WORK: '1000' });
    const result = await run({ mode: 'sharded', shards: 3 });
    expect(result.hvp).toMatchObject({ mode: 'sharded', shards: 3, remoteShards: 0 });
    expect(result.eigenvalues).toEqual(localShards.eigenvalues);

    // 500 products in one unit: cancel while it runs.
    const job = await cluster.system.service.submit(m2Hessian(ids, { mode: 'sharded', shards: 3 }, { density: { runs: 1, steps: 500 } }));
    await waitForJob(cluster.system, job.id, ['running'], 30_000);
    await lone.waitForLog('unit started', { timeoutMs: 30_000, where: (line) => line.jobId === job.id });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await cluster.system.service.cancel(job.id)).toBeTruthy();
    await lone.waitForLog(/unit stopped/, { timeoutMs: 30_000, where: (line) => line.jobId === job.id });
    expect(await cluster.system.redis.llen(`${cluster.prefix}:hvp:queue`)).toBe(0);
    expect(await cluster.system.redis.keys(`${cluster.prefix}:hvp:*`)).toEqual([]);
  }, 180_000);

  it('auto shards from LANDSCAPE_HVP_SHARD_MIN_WORK on, but only while another worker is alive', async () => {
    // The killed workers drop out of the worker list after LANDSCAPE_WORKER_TTL_MS.
    const deadline = Date.now() + 20_000;
    while ((await cluster.system.workers.list()).length > 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
    const alone = await run({ mode: 'auto' });
    expect(alone.hvp).toMatchObject({ mode: 'whole', reason: 'only one worker is alive' });
    await cluster.startWorker({ WORKER_CONCURRENCY: '1', LANDSCAPE_HVP_SHARD_MIN_WORK: '1000' });
    const shared = await run({ mode: 'auto' });
    // Default shard count: the live workers' threads (2).
    expect(shared.hvp).toMatchObject({ mode: 'sharded', shards: 2 });
    expect(shared.hvp!.reason).toMatch(/≥ 1000 and 2 workers alive/);
    shared.eigenvalues.top!.forEach((value, i) => expect(relative(value, whole.eigenvalues.top![i]!)).toBeLessThan(1e-9));
  }, 120_000);
});
