import { InputError } from '@landscape/core';

/** Settings of the HTTP layer; the job system (Redis, artifact storage) is configured by @landscape/jobs. */
export interface ApiSettings {
  /** Bearer keys; empty = the API is open. */
  apiKeys: string[];
  /** Limit for JSON bodies (job specs). */
  maxBodyBytes: number;
  /**
   * Limit for one uploaded artifact (raw body, or all parts of a multipart model upload together). Unset: the
   * artifact store's own limit (LANDSCAPE_ARTIFACT_MAX_BYTES of @landscape/jobs), so the two cannot disagree.
   */
  maxArtifactBytes?: number;
  /** Most multipart parts of one model upload (model.json + weight shards). */
  maxModelFiles: number;
  /** Longest a route handler may take before the client gets a 503 (e.g. while Redis is unreachable). */
  requestTimeoutMs: number;
}

export const DEFAULT_SETTINGS: ApiSettings = {
  apiKeys: [],
  maxBodyBytes: 1024 * 1024,
  maxModelFiles: 64,
  requestTimeoutMs: 30_000,
};

function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) throw new InputError(`must be a positive whole number (got '${raw}')`, name);
  return value;
}

/**
 * Reads LANDSCAPE_API_KEYS, LANDSCAPE_MAX_BODY_BYTES and LANDSCAPE_REQUEST_TIMEOUT_MS (the artifact limit is the
 * job system's LANDSCAPE_ARTIFACT_MAX_BYTES).
 */
export function apiSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): ApiSettings {
  return {
    apiKeys: (env.LANDSCAPE_API_KEYS ?? '')
      .split(',')
      .map((key) => key.trim())
      .filter((key) => key.length > 0),
    maxBodyBytes: positiveInt(env, 'LANDSCAPE_MAX_BODY_BYTES', DEFAULT_SETTINGS.maxBodyBytes),
    maxModelFiles: DEFAULT_SETTINGS.maxModelFiles,
    requestTimeoutMs: positiveInt(env, 'LANDSCAPE_REQUEST_TIMEOUT_MS', DEFAULT_SETTINGS.requestTimeoutMs),
  };
}

export function portFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.PORT;
  if (raw === undefined || raw.trim() === '') return 8080;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InputError(`must be a port number 0-65535 (got '${raw}')`, 'PORT');
  return port;
}
