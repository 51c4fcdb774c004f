import { hostname } from 'node:os';
import { isInputError, type RunningUnit, type StopReason, type UnitExecutor } from '@landscape/core';
import { unrecoverable, withArtifactNames, type JobSystem, type JobWorker, type TaskInfo, type UnitQueueTask } from '@landscape/jobs';
import type { Logger } from 'pino';
import type { JobControl } from './job-control';
import type { ShardService } from './shards';

export interface UnitRunnerOptions {
  workerId: string;
  concurrency: number;
  logger: Logger;
  /** How often a running unit checks whether its job was cancelled, failed or timed out. */
  watchMs?: number;
}

/**
 * Unit queue jobs → the executor: downloads the job's artifacts (verified, cached), hands the unit and the
 * results it needs to a computing thread, writes its progress, stops it when the job ends, stores its result.
 */
export class UnitRunner {
  /** Units computing now, with their job ids. */
  private readonly running = new Map<RunningUnit, string>();
  unitsDone = 0;

  constructor(
    private readonly system: JobSystem,
    private readonly executor: UnitExecutor,
    private readonly control: JobControl,
    private readonly shards: ShardService,
    private readonly options: UnitRunnerOptions,
  ) {}

  get active(): number {
    return this.running.size;
  }

  /** Stops every running unit of `jobId` (or all units) at its next point. */
  stop(reason: StopReason, jobId?: string): void {
    this.running.forEach((job, running) => (jobId === undefined || job === jobId) && running.stop(reason));
  }

  async process({ jobId, unitId }: UnitQueueTask, info: TaskInfo): Promise<unknown> {
    const { store, cache } = this.system;
    const log = this.options.logger.child({ jobId, unitId, attempt: info.attempt });
    const record = await store.get(jobId);
    if (!record || !(await this.control.stillActive(record))) {
      this.executor.release(jobId);
      return { skipped: record?.status ?? 'unknown job' };
    }
    if (await store.hasUnitResult(jobId, unitId)) return { skipped: 'already computed' };
    const unit = record.units.find((candidate) => candidate.id === unitId);
    if (!unit) throw unrecoverable(`job ${jobId} has no unit ${unitId}`);
    await store.markRunning(jobId);

    let paths: Record<string, string>;
    try {
      paths = (await cache.resolverFor(record.spec, record.inputs)).paths;
    } catch (error) {
      if (isInputError(error)) throw await this.control.giveUp(jobId, `unit ${unitId} failed`, (error as Error).message);
      throw error;
    }
    const inputs = new Map<string, unknown>();
    if (unit.needs?.length) {
      const stored = await store.unitResults(jobId);
      for (const id of unit.needs) {
        if (!stored.has(id)) throw new Error(`unit ${unitId} needs ${id}, which has no result yet`);
        inputs.set(id, stored.get(id));
      }
    }

    const progress = progressWriter((done) => store.setUnitProgress(jobId, unitId, done), log);
    log.info({ work: unit.work }, 'unit started');
    const started = performance.now();
    const sharding = await this.shards.offerFor(jobId, record.kind);
    const running = this.executor.run(
      { jobId, spec: record.spec, paths, unitId, inputs },
      { onWork: progress.update, ...(sharding.hvp ? { hvp: sharding.hvp } : {}) },
    );
    this.running.set(running, jobId);
    // The computing thread checks the shared stop flag at every point; this sets it when the job ends.
    const watch = setInterval(() => {
      void store
        .get(jobId)
        .then(async (current) => {
          if (!current || !(await this.control.stillActive(current))) running.stop('cancelled');
        })
        .catch((error: Error) => log.warn({ err: error.message }, 'job status check failed'));
    }, this.options.watchMs ?? 500);
    let result: unknown;
    try {
      result = await running.result;
    } catch (error) {
      const failure = error as Error;
      if (failure.name === 'UnitCancelled') {
        if (running.stoppedFor === 'shutdown') {
          log.info('unit handed back: worker shutting down');
          throw await info.handBack();
        }
        log.info('unit stopped: job ended');
        return { cancelled: true };
      }
      const message = withArtifactNames(failure.message, paths);
      log.warn({ err: message }, 'unit failed');
      if (isInputError(failure)) throw await this.control.giveUp(jobId, `unit ${unitId} failed`, message);
      throw new Error(message);
    } finally {
      clearInterval(watch);
      this.running.delete(running);
      // A stopped driver's pending shard requests leave the queue.
      await sharding.close().catch((error: Error) => log.warn({ err: error.message }, 'could not drop shard requests'));
    }
    await progress.flushed();
    const worker: JobWorker = {
      id: this.options.workerId,
      host: hostname(),
      backend: this.executor.backend.name,
      units: 0,
      concurrency: this.options.concurrency,
    };
    const stored = await store.putUnitResult(jobId, unitId, result, unit.work, worker, this.executor.backend);
    if (stored) this.unitsDone++;
    log.info(
      { seconds: Math.round(performance.now() - started) / 1000, work: unit.work, stored },
      stored ? 'unit done' : 'unit done (already stored by another worker)',
    );
    return { stored };
  }
}

/** Progress goes to Redis as work finishes; writes are coalesced so a slow Redis never queues up. */
function progressWriter(write: (done: number) => Promise<void>, log: Logger): { update(done: number): void; flushed(): Promise<void> } {
  let latest = 0;
  let written = 0;
  let writing: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    while (written < latest) {
      const value = latest;
      await write(value).catch((error: Error) => log.warn({ err: error.message }, 'progress write failed'));
      written = value;
    }
  };
  return {
    update: (done) => {
      latest = done;
      writing ??= flush().finally(() => (writing = undefined));
    },
    flushed: async () => writing,
  };
}
