#!/usr/bin/env node
import 'reflect-metadata';
import { createLogger, jobKinds, loadConfigFromEnv } from '@landscape/jobs';
import { createApp } from './app';
import { apiSettingsFromEnv, listenAddressFromEnv } from './config';

/** Closing waits for Redis; an unreachable one must not keep the process alive forever. */
const SHUTDOWN_GRACE_MS = 10_000;

/**
 * `npm run start:api`: PORT (8080), HOST (0.0.0.0 with keys, else 127.0.0.1), LOG_LEVEL, and the variables of
 * parseEnv in @landscape/jobs (one schema for the API, the workers and the job system).
 */
async function main(): Promise<void> {
  const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'info', base: { app: 'landscape-api' } });
  let api: Awaited<ReturnType<typeof createApp>>;
  let address: { port: number; host: string };
  let settings: ReturnType<typeof apiSettingsFromEnv>;
  try {
    settings = apiSettingsFromEnv();
    address = listenAddressFromEnv(settings);
    // Every kind the spec schema accepts must have a handler, or its submissions would fail (as the worker checks).
    jobKinds.checkComplete();
    api = await createApp({ jobs: loadConfigFromEnv(), ...settings, logger });
  } catch (error) {
    // Bad configuration: one readable line, exit 2 (as the CLI does for bad input).
    process.stderr.write(`landscape-api: ${(error as Error).message}\n`);
    process.exit(2);
  }
  const url = await api.listen(address.port, address.host);
  const auth = settings.apiKeys.length + settings.adminKeys.length > 0;
  logger.info({ url, host: address.host, docs: `${url}/docs`, auth }, auth ? 'API listening' : 'API listening without keys (open to anyone who can reach it)');
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ graceMs: SHUTDOWN_GRACE_MS }, 'shutdown did not finish in time; exiting');
      process.exit(1);
    }, SHUTDOWN_GRACE_MS).unref();
    api.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

void main().catch((error: unknown) => {
  process.stderr.write(`landscape-api: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
