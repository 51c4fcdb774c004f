import type { BackendInfo, JobSpec, UnitRef } from '@landscape/core';
import type { Redis } from 'ioredis';
import type { JobInputs } from './artifact-cache';
import { OPEN_OWNER } from './artifact-store';
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
  /** Key id of the submitter (never the key itself). */
  owner: string;
  spec: JobSpec;
  /** The submitter's kind and file name of each artifact the spec names. */
  inputs: JobInputs;
  units: UnitRef[];
  unitsTotal: number;
  pointsTotal: number;
  /** Epoch milliseconds. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** When the job times out (epoch ms). */
  deadline?: number;
  /** When the last unit result arrived (epoch ms). */
  lastUnitAt?: number;
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
  units: number;
  concurrency?: number;
}

export interface JobProgress {
  unitsDone: number;
  unitsTotal: number;
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

/** The keys of a job besides its record; `files` is where the Redis result store keeps result files. */
const JOB_PARTS = ['results', 'progress', 'workers', 'worker-units', 'files'] as const;

export interface NewJob {
  id: string;
  kind: string;
  owner?: string;
  spec: JobSpec;
  inputs?: JobInputs;
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
    /** Finished jobs expire this long after they end (0: kept until deleted). */
    private readonly ttlSeconds = 0,
  ) {
    this.redis = withScripts(redis);
  }

  private key(id: string, part?: (typeof JOB_PARTS)[number]): string {
    return part ? `${this.prefix}:job:${id}:${part}` : `${this.prefix}:job:${id}`;
  }

  private indexKey(owner?: string): string {
    return owner === undefined ? `${this.prefix}:jobs` : `${this.prefix}:jobs:owner:${owner}`;
  }

  /** Every key of a job (its result files too, when they are kept in Redis). */
  private keys(id: string): string[] {
    return [this.key(id), ...JOB_PARTS.map((part) => this.key(id, part))];
  }

  async create(job: NewJob): Promise<JobRecord> {
    const now = Date.now();
    const fields: Record<string, string> = {
      id: job.id,
      kind: job.kind,
      status: job.error ? 'failed' : 'queued',
      owner: job.owner ?? OPEN_OWNER,
      spec: JSON.stringify(job.spec),
      inputs: JSON.stringify(job.inputs ?? {}),
      units: JSON.stringify(job.units),
      unitsTotal: String(job.units.length),
      pointsTotal: String(job.units.reduce((sum, unit) => sum + unit.work, 0)),
      createdAt: String(now),
      prepareSeconds: String(job.prepareSeconds),
      ...(job.deadline ? { deadline: String(job.deadline) } : {}),
      ...(job.error ? { error: job.error, finishedAt: String(now) } : {}),
    };
    await this.redis.multi().hset(this.key(job.id), fields).zadd(this.indexKey(), now, job.id).zadd(this.indexKey(fields.owner), now, job.id).exec();
    if (job.error) await this.expire(job.id);
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
      owner: raw.owner ?? OPEN_OWNER,
      spec: JSON.parse(raw.spec!) as JobSpec,
      inputs: raw.inputs ? (JSON.parse(raw.inputs) as JobInputs) : {},
      units: JSON.parse(raw.units!) as UnitRef[],
      unitsTotal: Number(raw.unitsTotal),
      pointsTotal: Number(raw.pointsTotal),
      createdAt: Number(raw.createdAt),
      startedAt: num(raw.startedAt),
      finishedAt: num(raw.finishedAt),
      deadline: num(raw.deadline),
      lastUnitAt: num(raw.lastUnitAt),
      error: raw.error,
      prepareSeconds: Number(raw.prepareSeconds ?? 0),
      backend: raw.backend ? (JSON.parse(raw.backend) as BackendInfo) : undefined,
    };
  }

  async status(id: string): Promise<JobStatus | null> {
    return (await this.redis.hget(this.key(id), 'status')) as JobStatus | null;
  }

  /** Job ids, newest first, optionally only one owner's and only those with one status. */
  async list(options: { offset: number; limit: number; status?: JobStatus; owner?: string }): Promise<{ ids: string[]; total: number }> {
    const index = this.indexKey(options.owner);
    if (!options.status) {
      const [ids, total] = await Promise.all([this.redis.zrevrange(index, options.offset, options.offset + options.limit - 1), this.redis.zcard(index)]);
      return { ids, total };
    }
    const all = await this.redis.zrevrange(index, 0, -1);
    const pipeline = this.redis.pipeline();
    all.forEach((id) => pipeline.hget(this.key(id), 'status'));
    const statuses = ((await pipeline.exec()) ?? []).map(([, value]) => value);
    const matching = all.filter((_, i) => statuses[i] === options.status);
    return { ids: matching.slice(options.offset, options.offset + options.limit), total: matching.length };
  }

  private async transition(id: string, to: JobStatus, from: readonly JobStatus[], stamp?: 'startedAt' | 'finishedAt', error?: string): Promise<boolean> {
    const changed = (await this.redis.landscapeTransition(this.key(id), to, from.join(','), stamp ?? '', String(Date.now()), error ?? '')) === 1;
    if (changed && isTerminal(to)) await this.expire(id);
    return changed;
  }

  /** Retention: a finished job's keys expire together; the index entries go on the next listing. */
  private async expire(id: string): Promise<void> {
    if (this.ttlSeconds <= 0) return;
    const owner = (await this.redis.hget(this.key(id), 'owner')) ?? OPEN_OWNER;
    const multi = this.redis.multi();
    for (const key of this.keys(id)) multi.expire(key, this.ttlSeconds);
    // An expiry index (`owner/id`) tells listings which ids to drop from which indexes (the hashes are gone by then).
    await multi.zadd(this.expiryKey, Date.now() + this.ttlSeconds * 1000, `${owner}/${id}`).exec();
  }

  private get expiryKey(): string {
    return `${this.prefix}:jobs:expiry`;
  }

  /** Drops expired jobs from the indexes and returns their ids (their keys are gone; their result files go with JobService.sweepExpired). */
  async sweepExpired(): Promise<string[]> {
    const due = await this.redis.zrangebyscore(this.expiryKey, 0, Date.now());
    if (!due.length) return [];
    const entries = due.map((member) => ({ member, owner: member.slice(0, member.indexOf('/')), id: member.slice(member.indexOf('/') + 1) }));
    // A job whose hash still exists has not actually expired yet (clocks differ by a little).
    const present = await Promise.all(entries.map(({ id }) => this.redis.exists(this.key(id))));
    const multi = this.redis.multi();
    entries.forEach(({ member, owner, id }, i) => {
      if (!present[i]) multi.zrem(this.expiryKey, member).zrem(this.indexKey(), id).zrem(this.indexKey(owner), id);
    });
    await multi.exec();
    return entries.filter((_, i) => !present[i]).map(({ id }) => id);
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
      this.key(id, 'worker-units'),
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
    const [unitsDone, values] = await Promise.all([this.redis.hlen(this.key(record.id, 'results')), this.redis.hvals(this.key(record.id, 'progress'))]);
    return { unitsDone, unitsTotal: record.unitsTotal, pointsDone: values.reduce((sum, v) => sum + Number(v), 0), pointsTotal: record.pointsTotal };
  }

  async workers(id: string): Promise<JobWorker[]> {
    const [infos, units] = await Promise.all([this.redis.hgetall(this.key(id, 'workers')), this.redis.hgetall(this.key(id, 'worker-units'))]);
    return Object.entries(infos)
      .map(([workerId, text]) => ({ ...(JSON.parse(text) as Omit<JobWorker, 'units'>), id: workerId, units: Number(units[workerId] ?? 0) }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Drops everything about a job (its record, unit results and Redis-held files). */
  async remove(id: string): Promise<void> {
    const owner = (await this.redis.hget(this.key(id), 'owner')) ?? OPEN_OWNER;
    await this.redis
      .multi()
      .del(...this.keys(id))
      .zrem(this.indexKey(), id)
      .zrem(this.indexKey(owner), id)
      .zrem(this.expiryKey, `${owner}/${id}`)
      .exec();
  }

  /** A value kept with the job (e.g. its result's checksum), written once. */
  async annotate(id: string, field: 'resultSha256' | 'nonFinite', value: string): Promise<void> {
    await this.redis.hsetnx(this.key(id), field, value);
  }

  async annotation(id: string, field: 'resultSha256' | 'nonFinite'): Promise<string | null> {
    return this.redis.hget(this.key(id), field);
  }

  /**
   * Reserves an idempotency key for a job id (first caller wins) and answers the id it is bound to, with the
   * fingerprint of the request that bound it. Scoped per owner; kept `ttlSeconds`.
   */
  async claimIdempotencyKey(
    owner: string,
    key: string,
    jobId: string,
    fingerprint: string,
    ttlSeconds: number,
  ): Promise<{ jobId: string; fingerprint: string }> {
    const redisKey = `${this.prefix}:idempotency:${owner}:${key}`;
    const value = JSON.stringify({ jobId, fingerprint });
    const stored = await this.redis.set(redisKey, value, 'EX', ttlSeconds, 'NX');
    if (stored === 'OK') return { jobId, fingerprint };
    const existing = await this.redis.get(redisKey);
    return existing ? (JSON.parse(existing) as { jobId: string; fingerprint: string }) : { jobId, fingerprint };
  }

  /** Frees a reservation whose job was never created (the request was refused), so a retry is judged afresh. */
  async releaseIdempotencyKey(owner: string, key: string, jobId: string): Promise<void> {
    const redisKey = `${this.prefix}:idempotency:${owner}:${key}`;
    const existing = await this.redis.get(redisKey);
    if (existing && (JSON.parse(existing) as { jobId: string }).jobId === jobId) await this.redis.del(redisKey);
  }
}
