import { formatSeconds } from '../progress';
import { randomUUID } from 'node:crypto';
import { DEFAULT_RETRY, withRetries, type ApiClient, type RetryOptions } from './http';

/** The job as GET /v1/jobs/:id reports it (the fields the client uses). */
export interface JobView {
  id: string;
  kind: string;
  status: 'queued' | 'running' | 'aggregating' | 'completed' | 'failed' | 'cancelled';
  progress: { unitsDone: number; unitsTotal: number; pointsDone: number; pointsTotal: number };
  etaSeconds?: number;
  error?: string;
  /** Set while no live worker is there to run the job. */
  waitingFor?: 'workers';
}

const TERMINAL = new Set<JobView['status']>(['completed', 'failed', 'cancelled']);

export function jobPath(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}

export function getJob(client: ApiClient, id: string): Promise<JobView> {
  return client.json<JobView>('GET', jobPath(id));
}

/**
 * Submits a spec once, whatever happens to the connection: the request carries an Idempotency-Key, so a retry
 * after a timeout or an API restart answers the job the first attempt created instead of creating another.
 */
export function submitJob(client: ApiClient, spec: unknown, retry: RetryOptions = DEFAULT_RETRY): Promise<JobView> {
  const key = randomUUID();
  return withRetries(() => client.json<JobView>('POST', '/v1/jobs', spec, { 'idempotency-key': key }), retry);
}

export interface WaitOptions {
  intervalMs: number;
  /** Where progress goes: a redrawn bar when it is a TTY, else one JSON line per change. */
  stream: NodeJS.WriteStream;
  /** How polls ride out an API restart or a Redis outage (default: back off for up to 5 minutes). */
  retry?: RetryOptions;
}

function snapshot(job: JobView): Record<string, unknown> {
  return {
    id: job.id,
    status: job.status,
    ...job.progress,
    ...(job.etaSeconds !== undefined ? { etaSeconds: job.etaSeconds } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(job.waitingFor ? { waitingFor: job.waitingFor } : {}),
  };
}

function bar(job: JobView): string {
  const { pointsDone, pointsTotal, unitsDone, unitsTotal } = job.progress;
  const width = 30;
  const filled = pointsTotal > 0 ? Math.min(width, Math.round((width * pointsDone) / pointsTotal)) : 0;
  const eta = job.etaSeconds === undefined ? '--' : formatSeconds(job.etaSeconds);
  const status = job.waitingFor ? `${job.status} (waiting for workers)` : job.status;
  return `\r${job.id.slice(0, 8)} ${status.padEnd(11)} ${'█'.repeat(filled)}${'░'.repeat(width - filled)} ${pointsDone}/${pointsTotal} points  units ${unitsDone}/${unitsTotal}  ETA ${eta}   `;
}

/** Polls a job until it ends, reporting progress as it changes; resolves with the final view. */
export async function waitForJob(client: ApiClient, id: string, options: WaitOptions): Promise<JobView> {
  let last = '';
  for (;;) {
    const job = await withRetries(() => getJob(client, id), {
      ...(options.retry ?? DEFAULT_RETRY),
      onRetry: (error, delayMs) => {
        if (!options.stream.isTTY) options.stream.write(`${JSON.stringify({ id, retrying: error.message, delayMs })}\n`);
      },
    });
    const done = TERMINAL.has(job.status);
    if (options.stream.isTTY) {
      options.stream.write(bar(job) + (done ? '\n' : ''));
    } else {
      const line = JSON.stringify(snapshot(job));
      // Only changes: a long job polled every second must not flood a log.
      const key = JSON.stringify({ ...snapshot(job), etaSeconds: undefined });
      if (key !== last || done) options.stream.write(`${line}\n`);
      last = key;
    }
    if (done) return job;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
