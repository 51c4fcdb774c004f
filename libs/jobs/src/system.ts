import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LIMITS, type ResourceLimits } from '@landscape/core';
import { Redis } from 'ioredis';
import { limitsFromEnv, parseEnv } from './config';
import { ArtifactCache, FsArtifactStore, RedisArtifactStore, type ArtifactStore } from './artifacts';
import { JobService } from './job-service';
import { JobStore } from './job-store';
import { JobQueue, type QueueTimings } from './queue';
import { FsResultStore, RedisResultStore, type ResultStore } from './result-store';
import { WorkerRegistry } from './workers';

export interface JobSystemConfig {
  redisUrl: string;
  /** Prefix of every Redis key (jobs, artifacts, queues), so several systems can share one Redis. */
  prefix: string;
  /** `chunkBytes`: Redis values are split into pieces of this size (default 4 MiB). */
  artifacts: { backend: 'redis' | 'fs'; dir?: string; maxBytes: number; chunkBytes?: number };
  results: { backend: 'redis' | 'fs'; dir?: string };
  /** This process's local artifact cache (materialized models and data). */
  cacheDir: string;
  queue: QueueTimings;
  jobTimeoutSeconds: number;
  /** Finished jobs (record, unit results, files) are deleted this long after they end; 0 keeps them. */
  resultTtlSeconds: number;
  /** What one job may ask for (server configuration, never spec fields). */
  limits: ResourceLimits;
  /** A worker missing heartbeats for this long drops out of the worker list. */
  workerTtlMs: number;
  heartbeatMs: number;
}

export type JobSystemOptions = Partial<Omit<JobSystemConfig, 'artifacts' | 'results' | 'queue' | 'limits'>> & {
  limits?: Partial<ResourceLimits>;
  artifacts?: Partial<JobSystemConfig['artifacts']>;
  results?: Partial<JobSystemConfig['results']>;
  queue?: Partial<QueueTimings>;
};

export const DEFAULT_CONFIG: JobSystemConfig = {
  redisUrl: 'redis://127.0.0.1:6379',
  prefix: 'landscape',
  artifacts: { backend: 'redis', maxBytes: 256 * 1024 * 1024 },
  results: { backend: 'redis' },
  cacheDir: join(tmpdir(), 'landscape-cache'),
  queue: { attempts: 3, backoffMs: 2000, lockDurationMs: 30_000, stalledIntervalMs: 15_000, maxStalledCount: 3 },
  jobTimeoutSeconds: 6 * 3600,
  resultTtlSeconds: 7 * 24 * 3600,
  limits: DEFAULT_LIMITS,
  workerTtlMs: 30_000,
  heartbeatMs: 5000,
};

export function resolveConfig(options: JobSystemOptions = {}): JobSystemConfig {
  const config: JobSystemConfig = {
    ...DEFAULT_CONFIG,
    ...options,
    artifacts: { ...DEFAULT_CONFIG.artifacts, ...options.artifacts },
    results: { ...DEFAULT_CONFIG.results, ...options.results },
    queue: { ...DEFAULT_CONFIG.queue, ...options.queue },
    limits: { ...DEFAULT_CONFIG.limits, ...options.limits },
  };
  if (config.artifacts.backend === 'fs' && !config.artifacts.dir) throw new Error('artifacts.backend fs needs artifacts.dir (LANDSCAPE_ARTIFACT_DIR)');
  if (config.results.backend === 'fs' && !config.results.dir) throw new Error('results.backend fs needs results.dir (LANDSCAPE_RESULT_DIR)');
  return config;
}

/**
 * The job system's part of the environment (parseEnv in ./config: REDIS_URL, LANDSCAPE_REDIS_PREFIX,
 * LANDSCAPE_ARTIFACT_DIR/BACKEND/MAX_BYTES, LANDSCAPE_RESULT_DIR/BACKEND/TTL_S, LANDSCAPE_CACHE_DIR,
 * LANDSCAPE_JOB_TIMEOUT_S, the queue timings and the server limits LANDSCAPE_MAX_*).
 */
export function loadConfigFromEnv(raw: NodeJS.ProcessEnv = process.env): JobSystemConfig {
  const env = parseEnv(raw);
  const backend = (value: 'redis' | 'fs' | undefined, dir: string | undefined): 'redis' | 'fs' => value ?? (dir ? 'fs' : 'redis');
  const defined = <T extends object>(value: T): Partial<T> => Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
  return resolveConfig({
    ...defined({
      redisUrl: env.REDIS_URL,
      prefix: env.LANDSCAPE_REDIS_PREFIX,
      cacheDir: env.LANDSCAPE_CACHE_DIR,
      jobTimeoutSeconds: env.LANDSCAPE_JOB_TIMEOUT_S,
      resultTtlSeconds: env.LANDSCAPE_RESULT_TTL_S,
      heartbeatMs: env.LANDSCAPE_HEARTBEAT_MS,
      workerTtlMs: env.LANDSCAPE_WORKER_TTL_MS,
    }),
    limits: limitsFromEnv(env),
    artifacts: defined({
      backend: backend(env.LANDSCAPE_ARTIFACT_BACKEND, env.LANDSCAPE_ARTIFACT_DIR),
      dir: env.LANDSCAPE_ARTIFACT_DIR,
      maxBytes: env.LANDSCAPE_ARTIFACT_MAX_BYTES,
    }),
    results: defined({ backend: backend(env.LANDSCAPE_RESULT_BACKEND, env.LANDSCAPE_RESULT_DIR), dir: env.LANDSCAPE_RESULT_DIR }),
    queue: defined({
      attempts: env.LANDSCAPE_UNIT_ATTEMPTS,
      backoffMs: env.LANDSCAPE_BACKOFF_MS,
      lockDurationMs: env.LANDSCAPE_LOCK_MS,
      stalledIntervalMs: env.LANDSCAPE_STALLED_MS,
      maxStalledCount: env.LANDSCAPE_MAX_STALLED,
    }),
  });
}

/** Everything the API and the workers share, built from one config. */
export interface JobSystem {
  config: JobSystemConfig;
  redis: Redis;
  artifacts: ArtifactStore;
  results: ResultStore;
  cache: ArtifactCache;
  store: JobStore;
  queue: JobQueue;
  workers: WorkerRegistry;
  service: JobService;
  close(): Promise<void>;
}

export function createJobSystem(options: JobSystemOptions = {}): JobSystem {
  const config = resolveConfig(options);
  // Commands wait through a Redis restart instead of failing (BullMQ requires it on its worker connections).
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null, enableReadyCheck: true });
  redis.on('error', () => undefined); // reconnects are ioredis' job; an unhandled 'error' would crash
  const artifacts: ArtifactStore =
    config.artifacts.backend === 'fs'
      ? new FsArtifactStore(config.artifacts.dir!, config.artifacts.maxBytes)
      : new RedisArtifactStore(redis, config.prefix, config.artifacts.maxBytes, config.artifacts.chunkBytes);
  const results: ResultStore = config.results.backend === 'fs' ? new FsResultStore(config.results.dir!) : new RedisResultStore(redis, config.prefix);
  const cache = new ArtifactCache(artifacts, config.cacheDir);
  const store = new JobStore(redis, config.prefix, config.resultTtlSeconds);
  const queue = new JobQueue(redis, config.prefix, config.queue);
  const workers = new WorkerRegistry(redis, config.prefix, config.workerTtlMs);
  const service = new JobService({ store, queue, artifacts, results, cache, workers, jobTimeoutSeconds: config.jobTimeoutSeconds, limits: config.limits });
  let closed: Promise<void> | undefined;
  return {
    config,
    redis,
    artifacts,
    results,
    cache,
    store,
    queue,
    workers,
    service,
    close: () =>
      (closed ??= (async () => {
        await queue.close();
        await redis.quit().catch(() => redis.disconnect());
      })()),
  };
}
