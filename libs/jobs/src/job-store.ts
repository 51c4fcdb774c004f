import type { BackendInfo, JobSpec, UnitRef } from '@landscape/core';
import type { Redis } from 'ioredis';
import { withScripts } from './scripts';

export const JOB_STATUSES = ['queued', 'running', 'aggregating', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
const ACTIVE: readonly JobStatus[] = ['queued', 'running', 'aggregating'];

export function isTerminal(status: JobStatus): boolean {
  return !ACTIVE.includes(status);
}

export interface JobRecord {
  id: string;
  kind: string;
  status: JobStatus;
  spec: JobSpec;
  units: UnitRef[];
  tilesTotal: number;
  pointsTotal: number;
  /** Epoch milliseconds. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** When the job times out (epoch ms). */
  deadline?: number;
  /** When the last unit result arrived (epoch ms). */
  lastTileAt?: number;
  error?: string;
  prepareSeconds: number;
  /** The backend of the first worker that stored a unit. */
  backend?: BackendInfo;
}

/** Why a job past its deadline failed. */
export function timeoutReason(record: Pick<JobRecord, 'deadline' | 'createdAt'>): string {
  return `timed out: not finished ${Math.round(((record.deadline ?? record.createdAt) - record.createdAt) / 1000)} s after submission`;
}

/** A worker that computed units of a job. */
export interface JobWorker {
  id: string;
  host: string;
  backend: string;
  /** Unit results it stored (a unit computed twice counts for the worker that stored it first). */
  tiles: number;
  concurrency?: number;
}

export interface JobProgress {
  tilesDone: number;
  tilesTotal: number;
  pointsDone: number;
  pointsTotal: number;
}

/**
 * NaN and ±Infinity survive the trip through JSON (a diverging loss is a real value, not null); typed arrays
 * become plain arrays instead of `{"0": …}` objects.
 */
const NON_FINITE = '$nonFinite';
export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return { [NON_FINITE]: String(v) };
    if (ArrayBuffer.isView(v) && !(v instanceof DataView)) return Array.from(v as unknown as ArrayLike<number>);
    return v;
  });
}
export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && NON_FINITE in v ? Number((v as Record<string, string>)[NON_FINITE]) : v,
  ) as T;
}

export interface NewJob {
  id: string;
  kind: string;
  spec: JobSpec;
  units: UnitRef[];
  prepareSeconds: number;
  deadline?: number;
  /** A job can be created already failed (its inputs did not load at submission). */
  error?: string;
}

/** Job records, unit results, progress and participating workers, all in Redis under `<prefix>:job:<id>…`. */
export class JobStore {
  private readonly redis: Redis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
  ) {
    this.redis = withScripts(redis);
  }

  private key(id: string, part?: 'results' | 'progress' | 'workers' | 'worker-tiles'): string {
    return part ? `${this.prefix}:job:${id}:${part}` : `${this.prefix}:job:${id}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:jobs`;
  }

  async create(job: NewJob): Promise<JobRecord> {
    const now = Date.now();
    const fields: Record<string, string> = {
      id: job.id,
      kind: job.kind,
      status: job.error ? 'failed' : 'queued',
      spec: JSON.stringify(job.spec),
      units: JSON.stringify(job.units),
      tilesTotal: String(job.units.length),
      pointsTotal: String(job.units.reduce((sum, unit) => sum + unit.work, 0)),
      createdAt: String(now),
      prepareSeconds: String(job.prepareSeconds),
      ...(job.deadline ? { deadline: String(job.deadline) } : {}),
      ...(job.error ? { error: job.error, finishedAt: String(now) } : {}),
    };
    await this.redis.multi().hset(this.key(job.id), fields).zadd(this.indexKey, now, job.id).exec();
    return (await this.get(job.id))!;
  }

  async get(id: string): Promise<JobRecord | null> {
    const raw = await this.redis.hgetall(this.key(id));
    if (!raw.id) return null;
    const num = (value: string | undefined): number | undefined => (value === undefined ? undefined : Number(value));
    return {
      id: raw.id,
      kind: raw.kind!,
      status: raw.status as JobStatus,
      spec: JSON.parse(raw.spec!) as JobSpec,
      units: JSON.parse(raw.units!) as UnitRef[],
      tilesTotal: Number(raw.tilesTotal),
      pointsTotal: Number(raw.pointsTotal),
      createdAt: Number(raw.createdAt),
      startedAt: num(raw.startedAt),
      finishedAt: num(raw.finishedAt),
      deadline: num(raw.deadline),
      lastTileAt: num(raw.lastTileAt),
      error: raw.error,
      prepareSeconds: Number(raw.prepareSeconds ?? 0),
      backend: raw.backend ? (JSON.parse(raw.backend) as BackendInfo) : undefined,
    };
  }

  async status(id: string): Promise<JobStatus | null> {
    return (await this.redis.hget(this.key(id), 'status')) as JobStatus | null;
  }

  /** Job ids, newest first, optionally only those with one status. */
  async list(options: { offset: number; limit: number; status?: JobStatus }): Promise<{ ids: string[]; total: number }> {
    if (!options.status) {
      const [ids, total] = await Promise.all([
        this.redis.zrevrange(this.indexKey, options.offset, options.offset + options.limit - 1),
        this.redis.zcard(this.indexKey),
      ]);
      return { ids, total };
    }
    const all = await this.redis.zrevrange(this.indexKey, 0, -1);
    const pipeline = this.redis.pipeline();
    all.forEach((id) => pipeline.hget(this.key(id), 'status'));
    const statuses = ((await pipeline.exec()) ?? []).map(([, value]) => value);
    const matching = all.filter((_, i) => statuses[i] === options.status);
    return { ids: matching.slice(options.offset, options.offset + options.limit), total: matching.length };
  }

  private async transition(id: string, to: JobStatus, from: readonly JobStatus[], stamp?: 'startedAt' | 'finishedAt', error?: string): Promise<boolean> {
    const changed = await this.redis.landscapeTransition(this.key(id), to, from.join(','), stamp ?? '', String(Date.now()), error ?? '');
    return changed === 1;
  }

  markRunning(id: string): Promise<boolean> {
    return this.transition(id, 'running', ['queued'], 'startedAt');
  }

  markAggregating(id: string): Promise<boolean> {
    return this.transition(id, 'aggregating', ['queued', 'running']);
  }

  complete(id: string): Promise<boolean> {
    return this.transition(id, 'completed', ['aggregating'], 'finishedAt');
  }

  /** Fails an active job with a reason; false when it had already ended. */
  async fail(id: string, reason: string): Promise<boolean> {
    return this.ended(id, 'failed', await this.transition(id, 'failed', ACTIVE, 'finishedAt', reason || 'failed'));
  }

  async cancel(id: string): Promise<boolean> {
    return this.ended(id, 'cancelled', await this.transition(id, 'cancelled', ACTIVE, 'finishedAt'));
  }

  /** Pub/sub channel announcing jobs that ended early ({jobId, status}), so workers stop their units at once. */
  get endedChannel(): string {
    return `${this.prefix}:job-ended`;
  }

  private async ended(id: string, status: JobStatus, changed: boolean): Promise<boolean> {
    if (changed) await this.redis.publish(this.endedChannel, JSON.stringify({ jobId: id, status }));
    return changed;
  }

  /** Stores a unit's result once; true when this call stored it (and counted it for `worker`). */
  async putUnitResult(id: string, unitId: string, result: unknown, work: number, worker: JobWorker, backend: BackendInfo): Promise<boolean> {
    const workerInfo = JSON.stringify({ id: worker.id, host: worker.host, backend: worker.backend, concurrency: worker.concurrency });
    const stored = await this.redis.landscapePutResult(
      this.key(id, 'results'),
      this.key(id, 'progress'),
      this.key(id, 'workers'),
      this.key(id, 'worker-tiles'),
      this.key(id),
      unitId,
      encodeJson(result),
      String(work),
      worker.id,
      workerInfo,
      JSON.stringify(backend),
      String(Date.now()),
    );
    return stored === 1;
  }

  async hasUnitResult(id: string, unitId: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(id, 'results'), unitId)) === 1;
  }

  async setUnitProgress(id: string, unitId: string, done: number): Promise<void> {
    await this.redis.landscapeProgress(this.key(id, 'progress'), this.key(id, 'results'), unitId, String(done));
  }

  async unitResults(id: string): Promise<Map<string, unknown>> {
    const raw = await this.redis.hgetall(this.key(id, 'results'));
    return new Map(Object.entries(raw).map(([unitId, text]) => [unitId, decodeJson(text)]));
  }

  async progress(record: JobRecord): Promise<JobProgress> {
    const [tilesDone, values] = await Promise.all([this.redis.hlen(this.key(record.id, 'results')), this.redis.hvals(this.key(record.id, 'progress'))]);
    return { tilesDone, tilesTotal: record.tilesTotal, pointsDone: values.reduce((sum, v) => sum + Number(v), 0), pointsTotal: record.pointsTotal };
  }

  async workers(id: string): Promise<JobWorker[]> {
    const [infos, tiles] = await Promise.all([this.redis.hgetall(this.key(id, 'workers')), this.redis.hgetall(this.key(id, 'worker-tiles'))]);
    return Object.entries(infos)
      .map(([workerId, text]) => ({ ...(JSON.parse(text) as Omit<JobWorker, 'tiles'>), id: workerId, tiles: Number(tiles[workerId] ?? 0) }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Drops everything about a job (records are otherwise kept). */
  async remove(id: string): Promise<void> {
    await this.redis
      .multi()
      .del(this.key(id), this.key(id, 'results'), this.key(id, 'progress'), this.key(id, 'workers'), this.key(id, 'worker-tiles'))
      .zrem(this.indexKey, id)
      .exec();
  }
}
