import { availableParallelism } from 'node:os';
import { BACKENDS, DEFAULT_LIMITS, DEFAULT_SHARD_MIN_WORK } from '@landscape/core';
import { z } from 'zod';

/**
 * Every environment variable of the API, the workers and the job system they share, in one schema: one place
 * says what each means, its default and what values it takes. An empty value counts as unset.
 */
const unset = (value: unknown): unknown => (value === '' ? undefined : value);
const text = z.preprocess(unset, z.string().optional());
const positive = z.preprocess(unset, z.coerce.number().finite().positive().optional());
const whole = (min: number, max = Number.MAX_SAFE_INTEGER) => z.preprocess(unset, z.coerce.number().int().min(min).max(max).optional());
const backendStore = z.preprocess(unset, z.enum(['redis', 'fs']).optional());
const keyList = z.preprocess(
  unset,
  z
    .string()
    .optional()
    .transform((value) =>
      (value ?? '')
        .split(',')
        .map((key) => key.trim())
        .filter((key) => key.length > 0),
    ),
);

export const envSchema = z.object({
  // Job system (API and workers)
  REDIS_URL: text,
  LANDSCAPE_REDIS_PREFIX: text,
  LANDSCAPE_ARTIFACT_DIR: text,
  LANDSCAPE_ARTIFACT_BACKEND: backendStore,
  LANDSCAPE_ARTIFACT_MAX_BYTES: whole(1),
  LANDSCAPE_RESULT_DIR: text,
  LANDSCAPE_RESULT_BACKEND: backendStore,
  LANDSCAPE_CACHE_DIR: text,
  LANDSCAPE_JOB_TIMEOUT_S: positive,
  LANDSCAPE_RESULT_TTL_S: whole(0),
  LANDSCAPE_UNIT_ATTEMPTS: whole(1),
  LANDSCAPE_BACKOFF_MS: whole(0),
  LANDSCAPE_LOCK_MS: whole(1),
  LANDSCAPE_STALLED_MS: whole(1),
  LANDSCAPE_MAX_STALLED: whole(1),
  LANDSCAPE_HEARTBEAT_MS: whole(1),
  LANDSCAPE_WORKER_TTL_MS: whole(1),
  // Server limits (docs: apps/api/README.md); never spec fields
  LANDSCAPE_MAX_POINTS: whole(1),
  LANDSCAPE_MAX_UNITS: whole(1),
  LANDSCAPE_MIN_UNIT_POINTS: whole(1),
  LANDSCAPE_MAX_PARAMETERS: whole(1),
  LANDSCAPE_MAX_HVP_PRODUCTS: whole(1),
  LANDSCAPE_MAX_EPOCHS: whole(1),
  // API
  PORT: whole(0, 65535),
  HOST: text,
  LANDSCAPE_API_KEYS: keyList,
  LANDSCAPE_ADMIN_KEYS: keyList,
  LANDSCAPE_MAX_BODY_BYTES: whole(1),
  LANDSCAPE_REQUEST_TIMEOUT_MS: whole(1),
  LANDSCAPE_HEADERS_TIMEOUT_MS: whole(1),
  LANDSCAPE_BODY_TIMEOUT_MS: whole(1),
  LANDSCAPE_KEEPALIVE_TIMEOUT_MS: whole(1),
  LANDSCAPE_RATE_LIMIT: whole(0),
  LANDSCAPE_SIGNIN_RATE_LIMIT: whole(0),
  // Worker
  WORKER_CONCURRENCY: z.preprocess((value) => (value === 'auto' ? availableParallelism() : unset(value)), z.coerce.number().int().min(1).max(256).default(1)),
  LANDSCAPE_BACKEND: z.preprocess(unset, z.enum(BACKENDS).default('auto')),
  LANDSCAPE_SHUTDOWN_GRACE_MS: z.preprocess(unset, z.coerce.number().finite().min(0).default(30_000)),
  /** samples × trainable parameters from which `hvp: {mode: "auto"}` shards products (docs/distributed-hessian.md). */
  LANDSCAPE_HVP_SHARD_MIN_WORK: z.preprocess(unset, z.coerce.number().finite().min(0).default(DEFAULT_SHARD_MIN_WORK)),
});

export type Env = z.infer<typeof envSchema>;

/** Parses the environment; a bad value throws one line naming the variable (the apps print it and exit 2). */
export function parseEnv(env: NodeJS.ProcessEnv = process.env): Env {
  const parsed = envSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0]);
  throw new Error(`${name}: ${issue.message} (got '${env[name]}')`);
}

/** The server limits of the environment, over the defaults. */
export function limitsFromEnv(env: Env): typeof DEFAULT_LIMITS {
  return {
    maxPoints: env.LANDSCAPE_MAX_POINTS ?? DEFAULT_LIMITS.maxPoints,
    maxUnits: env.LANDSCAPE_MAX_UNITS ?? DEFAULT_LIMITS.maxUnits,
    minUnitPoints: env.LANDSCAPE_MIN_UNIT_POINTS ?? DEFAULT_LIMITS.minUnitPoints,
    maxParameters: env.LANDSCAPE_MAX_PARAMETERS ?? DEFAULT_LIMITS.maxParameters,
    maxHvpProducts: env.LANDSCAPE_MAX_HVP_PRODUCTS ?? DEFAULT_LIMITS.maxHvpProducts,
    maxEpochs: env.LANDSCAPE_MAX_EPOCHS ?? DEFAULT_LIMITS.maxEpochs,
  };
}
