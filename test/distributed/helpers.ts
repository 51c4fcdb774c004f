import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { landscapeHandler, parseJobSpec, runEmbedded, type LandscapeResult, type SurfaceSpec } from '@landscape/core';
import { createJobSystem, encodeModelBundle, readModelDirectory, type JobStatus, type JobSystem, type JobSystemOptions, type JobView } from '@landscape/jobs';
import { RedisServer } from '../harness/redis';
import { spawnWorker, type WorkerProcess } from '../harness/processes';

export const M2 = join(__dirname, '..', 'fixtures', 'reference', 'm2_cnn');

/** Fast queue timings so a killed worker's tile comes back within seconds. */
export const FAST_QUEUE = { attempts: 3, backoffMs: 200, lockDurationMs: 2000, stalledIntervalMs: 1000, maxStalledCount: 5 };

export interface Cluster {
  redis: RedisServer;
  system: JobSystem;
  prefix: string;
  tmp: string;
  /** Environment for worker processes of this cluster. */
  workerEnv(extra?: Record<string, string>): Record<string, string>;
  startWorker(extra?: Record<string, string>): Promise<WorkerProcess>;
  close(): Promise<void>;
}

/** A private Redis, a job system on it, and a way to start worker processes that share its configuration. */
export async function startCluster(options: { appendonly?: boolean; system?: JobSystemOptions } = {}): Promise<Cluster> {
  const redis = await RedisServer.start({ appendonly: options.appendonly ?? false });
  const tmp = mkdtempSync(join(tmpdir(), 'landscape-dist-'));
  const prefix = 'ltest';
  const system = createJobSystem({
    redisUrl: redis.url,
    prefix,
    artifacts: { backend: 'fs', dir: join(tmp, 'artifacts') },
    results: { backend: 'redis' },
    cacheDir: join(tmp, 'cache-api'),
    queue: FAST_QUEUE,
    heartbeatMs: 500,
    workerTtlMs: 3000,
    // Tiny tiles keep the fault tests fast; the unit-size limit has tests of its own (test/api/validation.test.ts).
    limits: { minUnitPoints: 1 },
    ...options.system,
  });
  let workerCount = 0;
  const workerEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
    REDIS_URL: redis.url,
    LANDSCAPE_REDIS_PREFIX: prefix,
    LANDSCAPE_ARTIFACT_DIR: join(tmp, 'artifacts'),
    LANDSCAPE_RESULT_BACKEND: 'redis',
    LANDSCAPE_CACHE_DIR: join(tmp, `cache-worker-${workerCount++}`),
    LANDSCAPE_BACKEND: 'wasm',
    WORKER_CONCURRENCY: '1',
    LANDSCAPE_UNIT_ATTEMPTS: String(FAST_QUEUE.attempts),
    LANDSCAPE_BACKOFF_MS: String(FAST_QUEUE.backoffMs),
    LANDSCAPE_LOCK_MS: String(FAST_QUEUE.lockDurationMs),
    LANDSCAPE_STALLED_MS: String(FAST_QUEUE.stalledIntervalMs),
    LANDSCAPE_MAX_STALLED: String(FAST_QUEUE.maxStalledCount),
    LANDSCAPE_HEARTBEAT_MS: '500',
    LANDSCAPE_WORKER_TTL_MS: '3000',
    LOG_LEVEL: 'info',
    ...extra,
  });
  return {
    redis,
    system,
    prefix,
    tmp,
    workerEnv,
    async startWorker(extra) {
      const worker = spawnWorker(workerEnv(extra));
      await worker.waitForLog('worker started', { timeoutMs: 60_000 });
      return worker;
    },
    async close() {
      await system.close();
      await redis.destroy();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export interface Uploaded {
  model: string;
  data: string;
  d1: string;
  d2: string;
}

export async function uploadM2(system: JobSystem): Promise<Uploaded> {
  const put = async (file: string, kind: 'data' | 'weights'): Promise<string> =>
    (await system.artifacts.put(readFileSync(join(M2, file)), { kind, filename: file })).id;
  return {
    model: (await system.artifacts.put(encodeModelBundle(readModelDirectory(join(M2, 'model_trained'))), { kind: 'model' })).id,
    data: await put('dataset.json', 'data'),
    d1: await put('direction_d1_raw.json', 'weights'),
    d2: await put('direction_d2_raw.json', 'weights'),
  };
}

/** A filter-normalized m2 surface; `refs` are artifact ids (distributed) or file paths (embedded). */
export function m2Surface(refs: Uploaded, grid: { nx: number; ny: number; batchSize?: number; tileRows?: number }): SurfaceSpec {
  return parseJobSpec({
    kind: 'surface',
    model: refs.model,
    data: refs.data,
    loss: 'sparse_categorical_crossentropy',
    backend: 'wasm',
    threads: 1,
    evaluation: { batchSize: grid.batchSize ?? 1024 },
    directions: { x: { file: refs.d1 }, y: { file: refs.d2 }, normalization: 'filter', bias: 'ignore' },
    grid: { x: [-1, 1, grid.nx], y: [-0.5, 0.5, grid.ny] },
    tiles: { x: grid.nx, y: grid.tileRows ?? 1 },
  }) as SurfaceSpec;
}

export const LOCAL_M2: Uploaded = {
  model: join(M2, 'model_trained'),
  data: join(M2, 'dataset.json'),
  d1: join(M2, 'direction_d1_raw.json'),
  d2: join(M2, 'direction_d2_raw.json'),
};

/** The same job run by `runEmbedded` in this process (wasm, one thread): the numbers a distributed run must match. */
export async function embeddedResult(grid: Parameters<typeof m2Surface>[1]): Promise<LandscapeResult> {
  const out = mkdtempSync(join(tmpdir(), 'landscape-embedded-'));
  try {
    const spec = m2Surface(LOCAL_M2, grid);
    return (await runEmbedded(landscapeHandler, spec, (ref) => ref, out, { threads: 1, backend: 'wasm' })) as LandscapeResult;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function waitForJob(system: JobSystem, id: string, statuses: JobStatus[], timeoutMs = 60_000, poll?: (view: JobView) => void): Promise<JobView> {
  const deadline = Date.now() + timeoutMs;
  let view: JobView | null = null;
  while (Date.now() < deadline) {
    view = await system.service.get(id);
    if (view && poll) poll(view);
    if (view && statuses.includes(view.status)) return view;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`job ${id} not ${statuses.join('|')} within ${timeoutMs} ms: ${JSON.stringify(view)}`);
}
