import { randomUUID } from 'node:crypto';
import { isInputError, validateJobSpec, type RefResolver, type SpecIssue, type UnitRef } from '@landscape/core';
import { artifactRefs, withArtifactNames, type ArtifactCache, type ArtifactStore } from './artifacts';
import { jobKinds } from './job-kinds';
import { isTerminal, timeoutReason, type JobRecord, type JobStatus, type JobStore, type JobWorker } from './job-store';
import type { JobQueue } from './queue';
import { contentTypeOf, type ResultFile, type ResultStore } from './result-store';

/** A submitted spec that is wrong; `issues` name each field (the API answers 400 with them). */
export class SpecValidationError extends Error {
  constructor(readonly issues: SpecIssue[]) {
    super(`invalid job spec: ${issues.map((issue) => `${issue.field}: ${issue.reason}`).join('; ')}`);
    this.name = 'SpecValidationError';
  }
}

export interface JobView {
  id: string;
  kind: string;
  status: JobStatus;
  progress: { tilesDone: number; tilesTotal: number; pointsDone: number; pointsTotal: number };
  /** ISO timestamps. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  etaSeconds?: number;
  error?: string;
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
  /** Default job timeout; a job still running after it fails. */
  jobTimeoutSeconds: number;
}

export interface SubmitOptions {
  /** Overrides the configured job timeout for this job. */
  timeoutSeconds?: number;
}

/** The job use cases behind the REST API (and tests): submit, inspect, cancel, fetch results. */
export class JobService {
  constructor(private readonly deps: JobServiceDeps) {}

  /**
   * Validates the spec (SpecValidationError naming fields; referenced artifacts must exist), plans its units
   * (cheap: no tfjs, no fitting), records it and queues one tile per unit. Inputs that do not load (a broken model)
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
    const missing: SpecIssue[] = [];
    for (const { id, field } of artifactRefs(spec)) {
      if (!(await this.deps.artifacts.info(id))) missing.push({ field, reason: `artifact ${id} does not exist (upload it first)` });
    }
    if (missing.length) throw new SpecValidationError(missing);

    const handler = jobKinds.get(spec.kind);
    const started = performance.now();
    let units: UnitRef[] = [];
    let error: string | undefined;
    let refIssue: SpecIssue | undefined;
    let paths: Record<string, string> = {};
    try {
      const resolved = await this.deps.cache.resolverFor(spec);
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
    const record = await this.deps.store.create({
      id: randomUUID(),
      kind: spec.kind,
      spec,
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

  async get(id: string): Promise<JobView | null> {
    const record = await this.refresh(await this.deps.store.get(id));
    return record && this.view(record);
  }

  /** Newest first. */
  async list(options: { offset?: number; limit?: number; status?: JobStatus } = {}): Promise<JobList> {
    const offset = Math.max(0, Math.floor(options.offset ?? 0));
    const limit = Math.min(1000, Math.max(1, Math.floor(options.limit ?? 50)));
    const { ids, total } = await this.deps.store.list({ offset, limit, ...(options.status ? { status: options.status } : {}) });
    const items: JobView[] = [];
    for (const id of ids) {
      const view = await this.get(id);
      if (view) items.push(view);
    }
    return { items, total, offset, limit };
  }

  /** Cancels a queued or running job (waiting tiles are removed, running ones stop at their next point). A finished job is returned unchanged. */
  async cancel(id: string): Promise<JobView | null> {
    const record = await this.deps.store.get(id);
    if (!record) return null;
    if (await this.deps.store.cancel(id))
      await this.deps.queue.removePending(
        id,
        record.units.map((unit) => unit.id),
      );
    return this.get(id);
  }

  /** Fails an active job with a reason and drops its waiting tiles (workers call it too). */
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
  async result(id: string): Promise<unknown> {
    const record = await this.deps.store.get(id);
    if (record?.status !== 'completed') return null;
    const bytes = await this.deps.results.get(id, 'result.json');
    return bytes ? (JSON.parse(bytes.toString('utf8')) as unknown) : null;
  }

  /** The files a job produced; null when the job is unknown. */
  async files(id: string): Promise<ResultFile[] | null> {
    if (!(await this.deps.store.get(id))) return null;
    return this.deps.results.list(id);
  }

  async file(id: string, name: string): Promise<{ bytes: Buffer; contentType: string } | null> {
    const bytes = await this.deps.results.get(id, name);
    return bytes ? { bytes, contentType: contentTypeOf(name) } : null;
  }

  /**
   * Ends jobs that can no longer finish, whoever looks first: past their deadline, or whose aggregate queue
   * job failed (a tile failed for good or stalled too often) without a worker recording why.
   */
  private async refresh(record: JobRecord | null): Promise<JobRecord | null> {
    if (!record || isTerminal(record.status)) return record;
    let reason: string | undefined;
    if (record.deadline && Date.now() > record.deadline) {
      reason = timeoutReason(record);
    } else {
      const state = await this.deps.queue.aggregateState(record.id);
      if (state?.state === 'failed') reason = state.failedReason ?? 'a tile failed';
    }
    if (reason && (await this.fail(record.id, reason))) return this.deps.store.get(record.id);
    return record;
  }

  private async view(record: JobRecord): Promise<JobView> {
    const [progress, workers] = await Promise.all([this.deps.store.progress(record), this.deps.store.workers(record.id)]);
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
      progress,
      createdAt: iso(record.createdAt)!,
      ...(record.startedAt ? { startedAt: iso(record.startedAt) } : {}),
      ...(record.finishedAt ? { finishedAt: iso(record.finishedAt) } : {}),
      ...(etaSeconds !== undefined ? { etaSeconds: Math.round(etaSeconds * 10) / 10 } : {}),
      ...(record.error ? { error: record.error } : {}),
      workers,
    };
  }
}
