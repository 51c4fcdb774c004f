import { parseEnv } from '@landscape/jobs';

/** Settings of the HTTP layer; the job system (Redis, artifact storage, limits) is configured by @landscape/jobs. */
export interface ApiSettings {
  /** Bearer keys; empty (and no admin keys) = the API is open. */
  apiKeys: string[];
  /** Keys that see and manage every owner's jobs and artifacts. */
  adminKeys: string[];
  /** Limit for JSON bodies (job specs). */
  maxBodyBytes: number;
  /** Deepest nesting of a JSON body (and of an uploaded model.json); refused before it is parsed. */
  maxJsonDepth: number;
  /**
   * Limit for one uploaded artifact (raw body, or all parts of a multipart model upload together). Unset: the
   * artifact store's own limit (LANDSCAPE_ARTIFACT_MAX_BYTES of @landscape/jobs), so the two cannot disagree.
   */
  maxArtifactBytes?: number;
  /** Most multipart parts of one model upload (model.json + weight shards). */
  maxModelFiles: number;
  /** Longest a route handler may take before the client gets a 503 (e.g. while Redis is unreachable). */
  requestTimeoutMs: number;
  /** A client must have sent all request headers within this time, or the connection is closed (slowloris). */
  headersTimeoutMs: number;
  /** A client must have sent the whole request, body included, within this time, or the connection is closed. */
  bodyTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** How often the server checks connections against the two timeouts above. */
  timeoutCheckIntervalMs: number;
  /** Requests per minute and key (or client address, without keys); 0 = unlimited. /health is never limited. */
  rateLimitPerMinute: number;
  /** Sign-ins (POST /v1/session) per minute and client address, whatever the key; 0 = unlimited. Guessing keys needs many. */
  signInRatePerMinute: number;
}

export const DEFAULT_SETTINGS: ApiSettings = {
  apiKeys: [],
  adminKeys: [],
  maxBodyBytes: 1024 * 1024,
  maxJsonDepth: 64,
  maxModelFiles: 64,
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5000,
  timeoutCheckIntervalMs: 1000,
  rateLimitPerMinute: 600,
  signInRatePerMinute: 10,
};

/**
 * The API's part of the environment (parseEnv of @landscape/jobs: LANDSCAPE_API_KEYS, LANDSCAPE_ADMIN_KEYS,
 * LANDSCAPE_MAX_BODY_BYTES, LANDSCAPE_REQUEST_TIMEOUT_MS, LANDSCAPE_HEADERS_TIMEOUT_MS, LANDSCAPE_BODY_TIMEOUT_MS,
 * LANDSCAPE_KEEPALIVE_TIMEOUT_MS, LANDSCAPE_RATE_LIMIT, LANDSCAPE_SIGNIN_RATE_LIMIT); the artifact limit is the job system's.
 */
export function apiSettingsFromEnv(raw: NodeJS.ProcessEnv = process.env): ApiSettings {
  const env = parseEnv(raw);
  return {
    ...DEFAULT_SETTINGS,
    apiKeys: env.LANDSCAPE_API_KEYS,
    adminKeys: env.LANDSCAPE_ADMIN_KEYS,
    maxBodyBytes: env.LANDSCAPE_MAX_BODY_BYTES ?? DEFAULT_SETTINGS.maxBodyBytes,
    requestTimeoutMs: env.LANDSCAPE_REQUEST_TIMEOUT_MS ?? DEFAULT_SETTINGS.requestTimeoutMs,
    headersTimeoutMs: env.LANDSCAPE_HEADERS_TIMEOUT_MS ?? DEFAULT_SETTINGS.headersTimeoutMs,
    bodyTimeoutMs: env.LANDSCAPE_BODY_TIMEOUT_MS ?? DEFAULT_SETTINGS.bodyTimeoutMs,
    keepAliveTimeoutMs: env.LANDSCAPE_KEEPALIVE_TIMEOUT_MS ?? DEFAULT_SETTINGS.keepAliveTimeoutMs,
    rateLimitPerMinute: env.LANDSCAPE_RATE_LIMIT ?? DEFAULT_SETTINGS.rateLimitPerMinute,
    signInRatePerMinute: env.LANDSCAPE_SIGNIN_RATE_LIMIT ?? DEFAULT_SETTINGS.signInRatePerMinute,
  };
}

/**
 * Where to listen: PORT (8080) and HOST. Without HOST the API listens on every interface only when it requires
 * keys; an open API stays on 127.0.0.1.
 */
export function listenAddressFromEnv(
  settings: Pick<ApiSettings, 'apiKeys' | 'adminKeys'>,
  raw: NodeJS.ProcessEnv = process.env,
): { port: number; host: string } {
  const env = parseEnv(raw);
  const keyed = settings.apiKeys.length + settings.adminKeys.length > 0;
  return { port: env.PORT ?? 8080, host: env.HOST ?? (keyed ? '0.0.0.0' : '127.0.0.1') };
}
