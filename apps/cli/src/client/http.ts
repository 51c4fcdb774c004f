import { InputError } from '@landscape/core';

export const DEFAULT_API = 'http://127.0.0.1:8080';

/**
 * A failure the user can act on (bad input, unreachable API, an answer of 4xx): an InputError, so the CLI exits
 * with code 2 and prints one line.
 */
export class ClientError extends InputError {
  constructor(
    message: string,
    field?: string,
    /** Worth retrying: the API could not be reached, or answered 429/502/503/504 (restarting, overloaded). */
    readonly transient = false,
  ) {
    super(message, field);
  }
}

const TRANSIENT_STATUSES = new Set([429, 502, 503, 504]);

export interface RetryOptions {
  /** Give up once requests have failed for this long in a row. */
  outageMs: number;
  /** First pause; doubled after each failure up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Told about each failure that will be retried. */
  onRetry?: (error: ClientError, delayMs: number) => void;
}

export const DEFAULT_RETRY: RetryOptions = { outageMs: 5 * 60_000, initialDelayMs: 250, maxDelayMs: 10_000 };

/** Runs `attempt` until it succeeds, retrying transient failures with exponential backoff (and jitter) for up to `outageMs`. */
export async function withRetries<T>(attempt: () => Promise<T>, options: RetryOptions = DEFAULT_RETRY): Promise<T> {
  const started = Date.now();
  for (let delay = options.initialDelayMs; ; delay = Math.min(options.maxDelayMs, delay * 2)) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ClientError) || !error.transient || Date.now() - started + delay > options.outageMs) throw error;
      const pause = Math.round(delay * (0.5 + Math.random() / 2));
      options.onRetry?.(error, pause);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

export interface ClientOptions {
  api?: string;
  /** Defaults to env LANDSCAPE_API_KEY. */
  key?: string;
  /** Per-request timeout. */
  timeoutMs?: number;
}

interface ErrorBody {
  message?: unknown;
  issues?: { field?: unknown; reason?: unknown }[];
}

/** Turns an error answer into one readable line, listing each offending field. */
function describeError(status: number, text: string): string {
  try {
    const body = JSON.parse(text) as ErrorBody;
    if (Array.isArray(body.issues) && body.issues.length > 0) {
      return body.issues.map((issue) => `${String(issue.field)}: ${String(issue.reason)}`).join('; ');
    }
    if (typeof body.message === 'string') return body.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text.trim().slice(0, 300) || `HTTP ${status}`;
}

/** A thin wrapper over Node's global fetch: bearer auth, JSON, and errors as single lines. */
export class ApiClient {
  readonly baseUrl: string;
  private readonly key?: string;
  private readonly timeoutMs: number;

  constructor(options: ClientOptions = {}) {
    const raw = options.api ?? process.env.LANDSCAPE_API ?? DEFAULT_API;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ClientError(`not a URL: '${raw}'`, '--api');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ClientError(`must be an http(s) URL (got '${raw}')`, '--api');
    this.baseUrl = url.toString().replace(/\/+$/, '');
    const key = options.key ?? process.env.LANDSCAPE_API_KEY;
    this.key = key && key.trim() ? key.trim() : undefined;
    this.timeoutMs = options.timeoutMs ?? 10 * 60_000;
  }

  async request(method: string, path: string, init: { body?: RequestInit['body']; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, { method, headers, body: init.body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new ClientError(`cannot reach the API at ${this.baseUrl}: ${reason}`, undefined, true);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new ClientError(
        `${method} ${path} failed with HTTP ${response.status}: ${describeError(response.status, text)}`,
        undefined,
        TRANSIENT_STATUSES.has(response.status),
      );
    }
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const response = await this.request(
      method,
      path,
      body === undefined ? { headers } : { body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } },
    );
    return (await response.json()) as T;
  }

  async bytes(path: string): Promise<Buffer> {
    const response = await this.request('GET', path);
    return Buffer.from(await response.arrayBuffer());
  }
}
