import type { JobList, JobStatus, JobView, ResultFile } from '@landscape/jobs';

export type { JobList, JobStatus, JobView, ResultFile };

/** What GET /v1/session says about this browser (apps/api/src/session.ts). */
export interface SessionState {
  authRequired: boolean;
  authenticated: boolean;
  /** Sent back as `x-csrf-token` on every write made with the session cookie. */
  csrfToken?: string;
}

export interface SpecIssue {
  field: string;
  reason: string;
}

/** An API error answer (`{statusCode, message, issues?}`), thrown by `api`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: SpecIssue[] = [],
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;
let onSignedOut: () => void = () => undefined;

/** Called when an answer says the session is gone (401), so the app shows the sign-in page again. */
export function whenSignedOut(callback: () => void): void {
  onSignedOut = callback;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Same-origin fetch with the session cookie; writes carry the session's CSRF token. */
export async function api<T>(method: string, path: string, body?: BodyInit | object): Promise<T> {
  const headers: Record<string, string> = {};
  if (WRITES.has(method) && csrfToken) headers['x-csrf-token'] = csrfToken;
  let payload: BodyInit | undefined;
  if (body instanceof FormData || body instanceof Blob || body instanceof ArrayBuffer) payload = body;
  else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await response.text();
  if (!response.ok) {
    let answer: { message?: string; issues?: SpecIssue[] } = {};
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      // not JSON: keep the status line
    }
    if (response.status === 401 && path !== '/v1/session') onSignedOut();
    throw new ApiError(response.status, answer.message ?? `${response.status} ${response.statusText}`, answer.issues ?? []);
  }
  return (text ? parseResultJson(text) : undefined) as T;
}

/** Results keep NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity" (stringifyResult of @landscape/core). */
export function parseResultJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => (value === 'NaN' ? NaN : value === 'Infinity' ? Infinity : value === '-Infinity' ? -Infinity : value));
}

export async function loadSession(): Promise<SessionState> {
  const state = await api<SessionState>('GET', '/v1/session');
  csrfToken = state.csrfToken;
  return state;
}

export const signIn = (key: string): Promise<SessionState> => api<SessionState>('POST', '/v1/session', { key }).then(() => loadSession());

export async function signOut(): Promise<void> {
  await api('DELETE', '/v1/session');
  csrfToken = undefined;
}

export const fileUrl = (id: string, name: string): string => `/v1/jobs/${encodeURIComponent(id)}/files/${encodeURIComponent(name)}`;

/** Every status, in lifecycle order; `satisfies` makes the compiler check it against @landscape/jobs' JobStatus. */
const STATUS_ORDER = { queued: 0, running: 1, aggregating: 2, completed: 3, failed: 4, cancelled: 5 } satisfies Record<JobStatus, number>;
export const JOB_STATUSES = Object.keys(STATUS_ORDER) as JobStatus[];

export const isFinished = (status: JobStatus): boolean => status === 'completed' || status === 'failed' || status === 'cancelled';
