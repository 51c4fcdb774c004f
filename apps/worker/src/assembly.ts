import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInputError, type BackendInfo, type ExecutionRecord, type UnitExecutor } from '@landscape/core';
import { jobKinds, unitStages, withArtifactNames, type AggregateTask, type JobRecord, type JobSystem, type TaskInfo } from '@landscape/jobs';
import type { Logger } from 'pino';
import type { JobControl } from './job-control';

/**
 * Aggregate queue jobs: a stage gate queues the next stage of a job's units; the aggregate assembles the
 * result (the kind's `assemble`, into a temporary directory) and stores its files.
 */
export class Assembler {
  constructor(
    private readonly system: JobSystem,
    private readonly executor: UnitExecutor,
    private readonly control: JobControl,
    private readonly logger: Logger,
  ) {}

  async process({ jobId, stage }: AggregateTask, info: TaskInfo): Promise<unknown> {
    const { store } = this.system;
    const log = this.logger.child({ jobId, attempt: info.attempt, ...(stage ? { stage } : {}) });
    const record = await store.get(jobId);
    if (!record || !(await this.control.stillActive(record))) return { skipped: record?.status ?? 'unknown job' };
    if (stage !== undefined) {
      await this.system.queue.queueStage(jobId, unitStages(record.units), stage);
      log.info('next stage queued');
      return { queued: stage };
    }
    return this.assemble(record, log);
  }

  private async assemble(record: JobRecord, log: Logger): Promise<unknown> {
    const { store, cache, results } = this.system;
    const jobId = record.id;
    const unitResults = await store.unitResults(jobId);
    const missing = record.units.filter((unit) => !unitResults.has(unit.id)).map((unit) => unit.id);
    if (missing.length) {
      await this.control.fail(jobId, `${missing.length} of ${record.units.length} units have no result (${missing.slice(0, 5).join(', ')})`);
      return { failed: 'missing units' };
    }
    await store.markAggregating(jobId);
    const handler = jobKinds.get(record.kind);
    let paths: Record<string, string> = {};
    const outDir = await mkdtemp(join(tmpdir(), 'landscape-assemble-'));
    try {
      paths = (await cache.resolverFor(record.spec, record.inputs)).paths;
      const prepared = await this.executor.prepare(jobId, record.spec, paths);
      await handler.assemble(record.spec, prepared, unitResults, await this.execution(record), outDir);
      for (const name of await readdir(outDir)) {
        if ((await stat(join(outDir, name))).isFile()) await results.put(jobId, name, await readFile(join(outDir, name)));
        else log.warn({ name }, 'result entry is not a plain file; not stored');
      }
    } catch (error) {
      const message = withArtifactNames((error as Error).message, paths);
      if (isInputError(error)) throw await this.control.giveUp(jobId, 'assembling the result failed', message);
      throw new Error(message);
    } finally {
      // Done with the job here and on every thread of this worker.
      this.executor.release(jobId);
      await rm(outDir, { recursive: true, force: true });
    }
    const completed = await store.complete(jobId);
    log.info({ completed }, completed ? 'job completed' : 'job ended while assembling');
    return { completed };
  }

  /** How the job's units were computed, for result.json: over all workers that stored units. */
  private async execution(record: JobRecord): Promise<ExecutionRecord> {
    const workers = await this.system.store.workers(record.id);
    const startedAt = record.startedAt ?? record.createdAt;
    const names = [...new Set(workers.map((worker) => worker.backend))];
    const backend: BackendInfo = record.backend ?? this.executor.backend;
    return {
      startedAt: new Date(startedAt),
      prepareSeconds: record.prepareSeconds,
      evaluateSeconds: ((record.lastUnitAt ?? Date.now()) - startedAt) / 1000,
      backend: names.length > 1 ? { ...backend, name: names.join('+'), device: 'several workers (see workers)' } : backend,
      threads: workers.reduce((sum, worker) => sum + (worker.concurrency ?? 1), 0),
      workers: workers.map(({ id, host, backend: name, units }) => ({ id, host, backend: name, units })),
    };
  }
}
