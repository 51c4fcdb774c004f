import { createHash, randomUUID } from 'node:crypto';
import {
  checkLimits,
  isInputError,
  validateJobSpec,
  type NonFiniteSummary,
  type RefResolver,
  type ResourceLimits,
  type SpecIssue,
  type UnitRef,
} from '@landscape/core';
import { artifactRefs, expectedKind, OPEN_OWNER, withArtifactNames, type ArtifactCache, type ArtifactStore, type JobInputs } from './artifacts';
import { jobKinds } from './job-kinds';
import { isTerminal, timeoutReason, type JobRecord, type JobStatus, type JobStore, type JobWorker } from './job-store';
import type { JobQueue } from './queue';
import { contentTypeOf, type ResultFile, type ResultStore } from './result-store';
import type { WorkerRegistry } from './workers';

/** A submitted spec that is wrong; `issues` name each field (the API answers 400 with them). */
export class SpecValidationError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(`invalid job spec: ${issues.map((issue) => `${issue.field}: ${issue.reason}`).join('; ')}`);
    this.name = 'SpecValidationError';
  }
}

/** An Idempotency-Key reused with another request, or while its first request is still being answered (409). */
export class IdempotencyConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdempotencyConflictError';
  }
}

/** Who asks: a key id, and whether it is an admin key (admins see and manage every owner's jobs and artifacts). */
export interface Access {
  owner: string;
  admin: boolean;
}

/** Callers inside the system (workers, tests, an API without keys) see everything. */
export const FULL_ACCESS: Access = { owner: OPEN_OWNER, admin: true };

export function canAccess(owner: string, access: Access): boolean {
  return access.admin || owner === access.owner;
}

export interface JobView {
  id: string;
  kind: string;
  status: JobStatus;
  /** Set while an active job has no live worker to run it. */
  waitingFor?: 'workers';
  /** Key id of the submitter. */
  owner: string;
  progress: { unitsDone: number; unitsTotal: number; pointsDone: number; pointsTotal: number };
  /** ISO timestamps. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  etaSeconds?: number;
  error?: string;
  /** Completed jobs: the checksum of result.json, and where the result holds NaN or ±Infinity. */
  result?: { sha256: string; nonFinite?: NonFiniteSummary };
  workers: JobWorker[];
}

export interface JobList {
  items: JobView[];
  total: number;
  offset: number;
  limit: number;
}

export interface JobServiceDeps {
  store: JobStore;
  queue: JobQueue;
  artifacts: ArtifactStore;
  results: ResultStore;
  /** Local copies of artifacts for preparing jobs at submission. */
  cache: ArtifactCache;
  workers: WorkerRegistry;
  /** Default job timeout; a job still running after it fails. */
  jobTimeoutSeconds: number;
  limits: ResourceLimits;
  /** How long an Idempotency-Key stays bound to its job. */
  idempotencyTtlSeconds?: number;
}

export interface SubmitOptions {
  /** Overrides the configured job timeout for this job. */
  timeoutSeconds?: number;
  /** The submitter (default: the open owner). */
  owner?: string;
  /** Admins may use any owner's artifacts. */
  admin?: boolean;
  /** A retried submit with the same key (and owner) answers the job the first one created. */
  idempotencyKey?: string;
  /** Aborted when the caller stopped waiting (the API's request timeout): the job is then not created. */
  signal?: AbortSignal;
}

/** The job use cases behind the REST API (and tests): submit, inspect, cancel, fetch results. */
export class JobService {
  constructor(private readonly deps: JobServiceDeps) {}

  /**
   * Validates the spec (SpecValidationError naming fields; referenced artifacts must exist), plans its units
   * (cheap: no tfjs, no fitting), records it and queues one queue job per unit. Inputs that do not load (a broken model)
   * give a job that is already failed with the reason, and nothing is queued.
   */
  async submit(specInput: unknown, options: SubmitOptions = {}): Promise<JobView> {
    const validated = validateJobSpec(specInput);
    if (!validated.ok) throw new SpecValidationError(validated.issues);
    const spec = validated.spec;
    if (!jobKinds.has(spec.kind))
      throw new SpecValidationError([{ field: 'kind', reason: `jobs of kind '${spec.kind}' cannot run on this deployment (no handler)` }]);
    const timeoutSeconds = options.timeoutSeconds ?? this.deps.jobTimeoutSeconds;
    if (!(timeoutSeconds > 0)) throw new SpecValidationError([{ field: 'timeoutSeconds', reason: 'must be a positive number of seconds' }]);
    // Sizes first: nothing below allocates in proportion to what the spec asks for until these hold.
    const overLimits = checkLimits(spec, this.deps.limits);
    if (overLimits.length) throw new SpecValidationError(overLimits);
    const owner = options.owner ?? OPEN_OWNER;
    const inputs = await this.inputsOf(spec, owner, options.admin ?? options.owner === undefined);

    const id = randomUUID();
    const idempotency = options.idempotencyKey === undefined ? undefined : createHash('sha256').update(options.idempotencyKey).digest('hex');
    if (idempotency) {
      const fingerprint = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
      const claim = await this.deps.store.claimIdempotencyKey(owner, idempotency, id, fingerprint, this.deps.idempotencyTtlSeconds ?? 24 * 3600);
      if (claim.jobId !== id) {
        if (claim.fingerprint !== fingerprint) throw new IdempotencyConflictError('this Idempotency-Key was used with a different job spec');
        const first = await this.get(claim.jobId);
        if (!first) throw new IdempotencyConflictError('the first request with this Idempotency-Key is still being answered; retry shortly');
        return first;
      }
    }
    try {
      return await this.create(id, spec, owner, inputs, timeoutSeconds, options.signal);
    } catch (failure) {
      if (idempotency) await this.deps.store.releaseIdempotencyKey(owner, idempotency, id);
      throw failure;
    }
  }

  /**
   * Every artifact the spec names must be one the submitter uploaded (any upload, for admins) and of the kind
   * its field takes; the job keeps the submitter's kind and file name of each.
   */
  private async inputsOf(spec: unknown, owner: string, admin: boolean): Promise<JobInputs> {
    const issues: SpecIssue[] = [];
    const inputs: JobInputs = {};
    for (const { id, field } of artifactRefs(spec)) {
      const info = await this.deps.artifacts.info(id, admin ? undefined : owner);
      const expected = expectedKind(field);
      if (!info) issues.push({ field, reason: `artifact ${id} does not exist (upload it first)` });
      else if (expected && info.kind !== expected)
        issues.push({ field, reason: `artifact ${id} is a ${info.kind} upload, but this field takes a ${expected}` });
      else inputs[id] = { kind: info.kind, ...(info.filename ? { filename: info.filename } : {}) };
    }
    if (issues.length) throw new SpecValidationError(issues);
    return inputs;
  }

  private async create(id: string, spec: JobRecord['spec'], owner: string, inputs: JobInputs, timeoutSeconds: number, signal?: AbortSignal): Promise<JobView> {
    const handler = jobKinds.get(spec.kind);
    const started = performance.now();
    let units: UnitRef[] = [];
    let error: string | undefined;
    let refIssue: SpecIssue | undefined;
    let paths: Record<string, string> = {};
    try {
      const resolved = await this.deps.cache.resolverFor(spec, inputs);
      paths = resolved.paths;
      // A reference that is no artifact id is a spec error (400), unlike a model that does not load.
      const resolve: RefResolver = (ref, field) => {
        try {
          return resolved.resolve(ref, field);
        } catch (failure) {
          refIssue = { field, reason: (failure as Error).message.replace(`${field}: `, '') };
          throw failure;
        }
      };
      units = await handler.plan(spec, resolve);
    } catch (failure) {
      if (refIssue) throw new SpecValidationError([refIssue]);
      if (!isInputError(failure)) throw failure;
      error = `inputs could not be loaded: ${withArtifactNames((failure as Error).message, paths)}`;
    }
    if (units.length > this.deps.limits.maxUnits) {
      // Grid kinds are split by `tiles`; the others by their own settings (e.g. a hessian job's trace batches).
      const field = 'grid' in spec && spec.kind !== 'trajectory' ? 'tiles' : '(spec)';
      throw new SpecValidationError([{ field, reason: `${units.length} units of work exceed the limit of ${this.deps.limits.maxUnits} units per job` }]);
    }
    // The caller gave up waiting (and was told so): creating the job now would leave a job nobody knows of.
    if (signal?.aborted) throw new Error('submission abandoned: the request timed out before the job was created');
    const record = await this.deps.store.create({
      id,
      kind: spec.kind,
      owner,
      spec,
      inputs,
      units,
      prepareSeconds: (performance.now() - started) / 1000,
      deadline: Date.now() + timeoutSeconds * 1000,
      ...(error ? { error } : {}),
    });
    if (!error) {
      try {
        await this.deps.queue.enqueue(record.id, units);
      } catch (failure) {
        await this.deps.store.fail(record.id, `could not be queued: ${(failure as Error).message}`);
        throw failure;
      }
    }
    return this.view(record);
  }

  /** A job the caller may see (null when unknown or another owner's: the two look the same from outside). */
  async get(id: string, access: Access = FULL_ACCESS): Promise<JobView | null> {
    const record = await this.visible(id, access);
    const current = await this.refresh(record);
    return current && this.view(current);
  }

  private async visible(id: string, access: Access): Promise<JobRecord | null> {
    const record = await this.deps.store.get(id);
    return record && canAccess(record.owner, access) ? record : null;
  }

  /** Newest first; only the caller's own jobs unless it is an admin. */
  async list(options: { offset?: number; limit?: number; status?: JobStatus } = {}, access: Access = FULL_ACCESS): Promise<JobList> {
    const offset = Math.max(0, Math.floor(options.offset ?? 0));
    const limit = Math.min(1000, Math.max(1, Math.floor(options.limit ?? 50)));
    await this.sweepExpired();
    const { ids, total } = await this.deps.store.list({
      offset,
      limit,
      ...(options.status ? { status: options.status } : {}),
      ...(access.admin ? {} : { owner: access.owner }),
    });
    const items: JobView[] = [];
    for (const id of ids) {
      const view = await this.get(id, access);
      if (view) items.push(view);
    }
    return { items, total, offset, limit };
  }

  /** Cancels a queued or running job (waiting units are removed, running ones stop at their next point). A finished job is returned unchanged. */
  async cancel(id: string, access: Access = FULL_ACCESS): Promise<JobView | null> {
    const record = await this.visible(id, access);
    if (!record) return null;
    if (await this.deps.store.cancel(id))
      await this.deps.queue.removePending(
        id,
        record.units.map((unit) => unit.id),
      );
    return this.get(id, access);
  }

  /**
   * Retention: jobs past the result TTL leave the listings, and their result files go too (Redis expires its own
   * copies; a file store does not). Run on every listing and periodically by the API. Returns the swept ids.
   */
  async sweepExpired(): Promise<string[]> {
    const ids = await this.deps.store.sweepExpired();
    for (const id of ids) await this.deps.results.remove(id);
    return ids;
  }

  /** Deletes a job with its results (an active one is cancelled first). False when the caller has no such job. */
  async remove(id: string, access: Access = FULL_ACCESS): Promise<boolean> {
    if (!(await this.cancel(id, access))) return false;
    await this.deps.results.remove(id);
    await this.deps.store.remove(id);
    return true;
  }

  /** Fails an active job with a reason and drops its waiting units (workers call it too). */
  async fail(id: string, reason: string): Promise<boolean> {
    const record = await this.deps.store.get(id);
    if (!record || !(await this.deps.store.fail(id, reason))) return false;
    await this.deps.queue.removePending(
      id,
      record.units.map((unit) => unit.id),
    );
    return true;
  }

  /** The parsed result.json of a completed job; null when the job is unknown or not completed. */
  async result(id: string, access: Access = FULL_ACCESS): Promise<unknown> {
    const record = await this.visible(id, access);
    if (record?.status !== 'completed') return null;
    const bytes = await this.deps.results.get(id, 'result.json');
    return bytes ? (JSON.parse(bytes.toString('utf8')) as unknown) : null;
  }

  /** The files a job produced; null when the job is unknown. */
  async files(id: string, access: Access = FULL_ACCESS): Promise<ResultFile[] | null> {
    if (!(await this.visible(id, access))) return null;
    return this.deps.results.list(id);
  }

  /** One file of a job with its SHA-256 (hex); null when the job or the file is unknown. */
  async file(id: string, name: string, access: Access = FULL_ACCESS): Promise<{ bytes: Buffer; contentType: string; sha256: string } | null> {
    if (!(await this.visible(id, access))) return null;
    const bytes = await this.deps.results.get(id, name);
    return bytes ? { bytes, contentType: contentTypeOf(name), sha256: createHash('sha256').update(bytes).digest('hex') } : null;
  }

  /**
   * Ends jobs that can no longer finish, whoever looks first: past their deadline, or whose aggregate queue
   * job failed (a unit failed for good or stalled too often) without a worker recording why.
   */
  private async refresh(record: JobRecord | null): Promise<JobRecord | null> {
    if (!record || isTerminal(record.status)) return record;
    let reason: string | undefined;
    if (record.deadline && Date.now() > record.deadline) {
      reason = timeoutReason(record);
    } else {
      const state = await this.deps.queue.aggregateState(record.id);
      if (state?.state === 'failed') reason = state.failedReason ?? 'a unit failed';
    }
    if (reason && (await this.fail(record.id, reason))) return this.deps.store.get(record.id);
    return record;
  }

  /** Checksum and non-finite summary of a completed job's result.json, computed once and kept with the job. */
  private async resultSummary(id: string): Promise<JobView['result']> {
    const [sha256, nonFinite] = await Promise.all([this.deps.store.annotation(id, 'resultSha256'), this.deps.store.annotation(id, 'nonFinite')]);
    if (sha256 !== null) return { sha256, ...(nonFinite ? { nonFinite: JSON.parse(nonFinite) as NonFiniteSummary } : {}) };
    const bytes = await this.deps.results.get(id, 'result.json');
    if (!bytes) return undefined;
    const summary = (JSON.parse(bytes.toString('utf8')) as { nonFinite?: NonFiniteSummary }).nonFinite;
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (summary) await this.deps.store.annotate(id, 'nonFinite', JSON.stringify(summary));
    await this.deps.store.annotate(id, 'resultSha256', digest);
    return { sha256: digest, ...(summary ? { nonFinite: summary } : {}) };
  }

  private async view(record: JobRecord): Promise<JobView> {
    const active = !isTerminal(record.status);
    const [progress, workers, live, result] = await Promise.all([
      this.deps.store.progress(record),
      this.deps.store.workers(record.id),
      active ? this.deps.workers.list() : Promise.resolve([]),
      record.status === 'completed' ? this.resultSummary(record.id) : Promise.resolve(undefined),
    ]);
    const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
    let etaSeconds: number | undefined;
    if (record.status === 'running' && record.startedAt && progress.pointsDone > 0) {
      const elapsed = (Date.now() - record.startedAt) / 1000;
      etaSeconds = Math.max(0, (elapsed * (progress.pointsTotal - progress.pointsDone)) / progress.pointsDone);
    }
    return {
      id: record.id,
      kind: record.kind,
      status: record.status,
      ...(active && live.length === 0 ? { waitingFor: 'workers' as const } : {}),
      owner: record.owner,
      progress,
      createdAt: iso(record.createdAt)!,
      ...(record.startedAt ? { startedAt: iso(record.startedAt) } : {}),
      ...(record.finishedAt ? { finishedAt: iso(record.finishedAt) } : {}),
      ...(etaSeconds !== undefined ? { etaSeconds: Math.round(etaSeconds * 10) / 10 } : {}),
      ...(record.error ? { error: record.error } : {}),
      ...(result ? { result } : {}),
      workers,
    };
  }
}
