import type { BackendChoice } from '@landscape/core';
import { createJobSystem, createLogger, jobKinds, loadConfigFromEnv, parseEnv } from '@landscape/jobs';
import { LandscapeWorker } from './worker';

/**
 * `node apps/worker/dist/main.js`: REDIS_URL, WORKER_CONCURRENCY (computing threads; default 1, `auto` = one
 * per core), LANDSCAPE_BACKEND (auto|wasm|cpu|tensorflow|tensorflow-gpu), LANDSCAPE_CACHE_DIR,
 * LANDSCAPE_SHUTDOWN_GRACE_MS, LANDSCAPE_HVP_SHARD_MIN_WORK, and the job system variables (all in parseEnv of
 * @landscape/jobs). Logs are pino JSON lines.
 */
function workerEnv(env: NodeJS.ProcessEnv): { concurrency: number; backend: BackendChoice; shutdownGraceMs: number; hvpShardMinWork: number } {
  const parsed = parseEnv(env);
  return {
    concurrency: parsed.WORKER_CONCURRENCY,
    backend: parsed.LANDSCAPE_BACKEND,
    shutdownGraceMs: parsed.LANDSCAPE_SHUTDOWN_GRACE_MS,
    hvpShardMinWork: parsed.LANDSCAPE_HVP_SHARD_MIN_WORK,
  };
}

async function main(): Promise<void> {
  const logger = createLogger({ name: 'landscape-worker', level: process.env.LOG_LEVEL ?? 'info' });
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
