import { InputError } from '@landscape/core';

export const DEFAULT_API = 'http://127.0.0.1:8080';

/**
 * A failure the user can act on (bad input, unreachable API, an answer of 4xx): an InputError, so the CLI exits
 * with code 2 and prints one line.
 */
export class ClientError extends InputError {}

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
      throw new ClientError(`cannot reach the API at ${this.baseUrl}: ${reason}`);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw new ClientError(`${method} ${path} failed with HTTP ${response.status}: ${describeError(response.status, text)}`);
    }
    return response;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(
      method,
      path,
      body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } },
    );
    return (await response.json()) as T;
  }

  async bytes(path: string): Promise<Buffer> {
    const response = await this.request('GET', path);
    return Buffer.from(await response.arrayBuffer());
  }
}
