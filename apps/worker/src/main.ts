import { availableParallelism } from 'node:os';
import { BACKENDS, DEFAULT_SHARD_MIN_WORK, type BackendChoice } from '@landscape/core';
import { jobKinds, createJobSystem, loadConfigFromEnv } from '@landscape/jobs';
import pino from 'pino';
import { LandscapeWorker } from './worker';

/**
 * `node apps/worker/dist/main.js`: REDIS_URL, WORKER_CONCURRENCY (computing threads; default 1, `auto` = one
 * per core), LANDSCAPE_BACKEND (auto|wasm|cpu|tensorflow|tensorflow-gpu), LANDSCAPE_CACHE_DIR,
 * LANDSCAPE_SHUTDOWN_GRACE_MS, LANDSCAPE_HVP_SHARD_MIN_WORK, and the job system variables of loadConfigFromEnv. Logs are pino JSON lines.
 */
function workerEnv(env: NodeJS.ProcessEnv): { concurrency: number; backend: BackendChoice; shutdownGraceMs: number; hvpShardMinWork: number } {
  const rawConcurrency = env.WORKER_CONCURRENCY ?? '1';
  const concurrency = rawConcurrency === 'auto' ? availableParallelism() : Number(rawConcurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new Error(`WORKER_CONCURRENCY must be an integer 1..256 or auto (got '${rawConcurrency}')`);
  const backend = (env.LANDSCAPE_BACKEND || 'auto') as BackendChoice;
  if (!BACKENDS.includes(backend)) throw new Error(`LANDSCAPE_BACKEND must be one of ${BACKENDS.join(', ')} (got '${backend}')`);
  const shutdownGraceMs = Number(env.LANDSCAPE_SHUTDOWN_GRACE_MS ?? 30_000);
  if (!(shutdownGraceMs >= 0)) throw new Error('LANDSCAPE_SHUTDOWN_GRACE_MS must be a number of milliseconds');
  // samples × trainable parameters from which `hvp: {mode: "auto"}` shards products (docs/distributed-hessian.md).
  const rawMinWork = env.LANDSCAPE_HVP_SHARD_MIN_WORK;
  const hvpShardMinWork = rawMinWork === undefined || rawMinWork === '' ? DEFAULT_SHARD_MIN_WORK : Number(rawMinWork);
  if (!(hvpShardMinWork >= 0)) throw new Error(`LANDSCAPE_HVP_SHARD_MIN_WORK must be a number ≥ 0 (got '${rawMinWork}')`);
  return { concurrency, backend, shutdownGraceMs, hvpShardMinWork };
}

async function main(): Promise<void> {
  const logger = pino({ name: 'landscape-worker', level: process.env.LOG_LEVEL ?? 'info' });
  // A stray rejection (e.g. from a connection library during a Redis outage) is logged, not fatal.
  process.on('unhandledRejection', (reason) => logger.error({ err: reason instanceof Error ? reason.message : String(reason) }, 'unhandled rejection'));
  let worker: LandscapeWorker | undefined;
  try {
    jobKinds.checkComplete();
    const config = loadConfigFromEnv();
    const options = workerEnv(process.env);
    const system = createJobSystem(config);
    worker = new LandscapeWorker(system, { ...options, logger });
    await worker.start();
    logger.info(
      { workerId: worker.id, backend: worker.backend, concurrency: options.concurrency, redis: config.redisUrl.replace(/\/\/[^@]*@/, '//***@') },
      'worker started',
    );
    const shutdown = (signal: string): void => {
      logger.info({ signal }, 'stopping: finishing running units');
      // Handing units back and deregistering need Redis; if it is gone, do not hang: the queue's stalled-job
      // recovery gives the units to another worker anyway.
      setTimeout(() => {
        logger.error('could not stop cleanly in time (Redis unreachable?); exiting');
        process.exit(1);
      }, options.shutdownGraceMs + 15_000).unref();
      void worker!
        .stop()
        .then(() => system.close())
        .then(
          () => {
            logger.info('stopped');
            process.exit(0);
          },
          (error: Error) => {
            logger.error({ err: error.message }, 'unclean stop');
            process.exit(1);
          },
        );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  } catch (error) {
    logger.fatal({ err: (error as Error).message }, 'worker could not start');
    process.exit(1);
  }
}

void main();
