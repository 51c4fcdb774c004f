import type { UnitRef } from '@landscape/core';
import { DelayedError, FlowProducer, Queue, UnrecoverableError, Worker, type FlowJob, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The only module that talks to BullMQ. A job is a chain of flows, one per stage of its units (a unit's stage
 * is one more than the deepest unit it `needs`; most jobs have one stage). Each flow's children are one "unit"
 * queue job per unit of the stage; its parent is a "stage" gate that queues the next stage's flow, or, for the
 * last stage, the "aggregate" queue job. Queue jobs carry references only ({jobId, unitId}); specs and results
 * live in the job store. BullMQ runs a parent once every child completed; retries, backoff and stalled-job
 * recovery (a killed worker's unit returns to the queue after `lockDurationMs`) are BullMQ's.
 */
export const UNIT_QUEUE = 'landscape-tiles';
export const AGGREGATE_QUEUE = 'landscape-aggregate';

/** Unit ids by stage: stage 0 needs nothing, stage k needs units of stages below k. */
export function unitStages(units: readonly UnitRef[]): string[][] {
  const byId = new Map(units.map((unit) => [unit.id, unit]));
  const stage = new Map<string, number>();
  const stageOf = (unit: UnitRef, path: readonly string[]): number => {
    const known = stage.get(unit.id);
    if (known !== undefined) return known;
    if (path.includes(unit.id)) throw new Error(`units need each other in a cycle: ${[...path, unit.id].join(' → ')}`);
    const needs = (unit.needs ?? []).map((id) => {
      const needed = byId.get(id);
      if (!needed) throw new Error(`unit ${unit.id} needs ${id}, which the job does not have`);
      return stageOf(needed, [...path, unit.id]);
    });
    const value = needs.length ? 1 + Math.max(...needs) : 0;
    stage.set(unit.id, value);
    return value;
  };
  const stages: string[][] = [];
  for (const unit of units) (stages[stageOf(unit, [])] ??= []).push(unit.id);
  return stages;
}

export interface QueueTimings {
  /** Tries per unit and per aggregation (1 = no retry). */
  attempts: number;
  /** First retry delay; doubles each try. */
  backoffMs: number;
  /** How long a worker's claim on a queue job lasts without renewal (a dead worker's unit returns after it). */
  lockDurationMs: number;
  /** How often workers look for stalled queue jobs. */
  stalledIntervalMs: number;
  /** Stalls before a queue job fails for good. */
  maxStalledCount: number;
}

export interface UnitQueueTask {
  jobId: string;
  unitId: string;
}

export interface AggregateTask {
  jobId: string;
  /** Set on a stage gate: the stage whose units to queue now. Absent: assemble the result. */
  stage?: number;
}

export interface TaskInfo {
  /** 1 for the first try. */
  attempt: number;
  attempts: number;
  /** Puts the queue job back for another worker without using up a try; throw the error it returns. */
  handBack(): Promise<Error>;
}

export interface QueueConsumer {
  /** Stops taking queue jobs and waits for the running ones (force: does not wait; their locks lapse). */
  close(force?: boolean): Promise<void>;
}

/** Marks an error as final: the queue job fails now instead of being retried (bad input never gets better). */
export function unrecoverable(message: string): Error {
  return new UnrecoverableError(message);
}

const PENDING_STATES = new Set(['waiting', 'delayed', 'prioritized', 'waiting-children']);

export class JobQueue {
  readonly units: Queue<UnitQueueTask>;
  readonly aggregates: Queue<AggregateTask>;
  private readonly flow: FlowProducer;
  private readonly bullPrefix: string;
  private readonly consumers: QueueConsumer[] = [];

  constructor(
    private readonly connection: Redis,
    prefix: string,
    readonly timings: QueueTimings,
  ) {
    this.bullPrefix = `${prefix}:queue`;
    this.units = new Queue<UnitQueueTask>(UNIT_QUEUE, { connection, prefix: this.bullPrefix });
    this.aggregates = new Queue<AggregateTask>(AGGREGATE_QUEUE, { connection, prefix: this.bullPrefix });
    this.flow = new FlowProducer({ connection, prefix: this.bullPrefix });
  }

  /** BullMQ ids may not contain ':'; unit ids are stable within a job, so this id is too. */
  static unitJobId(jobId: string, unitId: string): string {
    return `${jobId}.${unitId.replace(/:/g, '_')}`;
  }

  private retryOptions(): { attempts: number; backoff: { type: 'exponential'; delay: number } } {
    return { attempts: this.timings.attempts, backoff: { type: 'exponential', delay: this.timings.backoffMs } };
  }

  static gateJobId(jobId: string, stage: number): string {
    return `${jobId}.stage${stage}`;
  }

  /** Queues the job's first stage (the later ones follow as their gates run, see queueStage). */
  async enqueue(jobId: string, units: readonly UnitRef[]): Promise<void> {
    await this.queueStage(jobId, unitStages(units), 0);
  }

  /**
   * Queues the units of one stage under their parent: the next stage's gate, or the aggregate after the last.
   * Ids are fixed, so a gate that runs twice queues nothing new.
   */
  async queueStage(jobId: string, stages: readonly string[][], stage: number): Promise<void> {
    const keep = { removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };
    const last = stage === stages.length - 1;
    const parent: Omit<FlowJob, 'children'> = last
      ? { name: 'aggregate', queueName: AGGREGATE_QUEUE, data: { jobId }, opts: { jobId, ...this.retryOptions(), ...keep } }
      : {
          name: 'stage',
          queueName: AGGREGATE_QUEUE,
          data: { jobId, stage: stage + 1 },
          opts: { jobId: JobQueue.gateJobId(jobId, stage + 1), ...this.retryOptions(), ...keep },
        };
    await this.flow.add({
      ...parent,
      children: (stages[stage] ?? []).map((unitId) => ({
        name: 'unit',
        queueName: UNIT_QUEUE,
        data: { jobId, unitId },
        // A unit that fails for good fails its parent too, so a failed job never waits forever.
        opts: { jobId: JobQueue.unitJobId(jobId, unitId), ...this.retryOptions(), ...keep, failParentOnFailure: true },
      })),
    });
  }

  /** The job's stage gates that exist now, in order. */
  private async gates(jobId: string): Promise<Job<AggregateTask>[]> {
    const gates: Job<AggregateTask>[] = [];
    for (let stage = 1; ; stage++) {
      const gate = await this.aggregates.getJob(JobQueue.gateJobId(jobId, stage));
      if (!gate) return gates;
      gates.push(gate);
    }
  }

  /**
   * Removes a job's units that no worker has taken yet, then its gates and aggregate when nothing holds them.
   * Running units stop at their next point (the worker sees the job ended) and the rest then find nothing to do.
   */
  async removePending(jobId: string, unitIds: readonly string[]): Promise<number> {
    let removed = 0;
    for (const unitId of unitIds) {
      const job = await this.units.getJob(JobQueue.unitJobId(jobId, unitId));
      if (job && PENDING_STATES.has(await job.getState())) {
        removed += await job.remove().then(
          () => 1,
          () => 0, // taken by a worker in the meantime
        );
      }
    }
    for (const gate of await this.gates(jobId)) await this.aggregates.remove(gate.id!, { removeChildren: true }).catch(() => 0);
    await this.aggregates.remove(jobId, { removeChildren: true }).catch(() => 0);
    return removed;
  }

  /** The state of a job's flow: the first failed gate or aggregate (and why), else the latest; null when gone. */
  async aggregateState(jobId: string): Promise<{ state: string; failedReason?: string } | null> {
    const aggregate = await this.aggregates.getJob(jobId);
    const parents = [...(await this.gates(jobId)), ...(aggregate ? [aggregate] : [])];
    let latest: { state: string; failedReason?: string } | null = null;
    for (const job of parents) {
      latest = { state: await job.getState(), ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
      if (latest.state === 'failed') return latest;
    }
    return latest;
  }

  /** Tries used so far by one unit's queue job (null when it is gone). */
  async unitAttempts(jobId: string, unitId: string): Promise<{ attemptsMade: number; state: string } | null> {
    const job = await this.units.getJob(JobQueue.unitJobId(jobId, unitId));
    return job ? { attemptsMade: job.attemptsMade, state: await job.getState() } : null;
  }

  async counts(): Promise<{ units: Record<string, number>; aggregates: Record<string, number> }> {
    const states = ['waiting', 'active', 'delayed', 'completed', 'failed', 'waiting-children', 'prioritized'] as const;
    const [units, aggregates] = await Promise.all([this.units.getJobCounts(...states), this.aggregates.getJobCounts(...states)]);
    return { units, aggregates };
  }

  private consume<T>(
    queueName: string,
    concurrency: number,
    process: (task: T, info: TaskInfo) => Promise<unknown>,
    onFinalFailure: (task: T, error: Error) => void,
  ): QueueConsumer {
    // Workers block on Redis; BullMQ requires retries without limit on these connections.
    const connection = this.connection.duplicate({ maxRetriesPerRequest: null });
    const handBack = async (job: Job<T>, token: string | undefined): Promise<Error> => {
      await job.moveToDelayed(Date.now() + 1, token);
      return new DelayedError();
    };
    const run = (job: Job<T>, token?: string): Promise<unknown> =>
      process(job.data, { attempt: job.attemptsMade + 1, attempts: job.opts.attempts ?? 1, handBack: () => handBack(job, token) });
    const worker = new Worker<T>(queueName, run, {
      connection,
      prefix: this.bullPrefix,
      concurrency,
      lockDuration: this.timings.lockDurationMs,
      stalledInterval: this.timings.stalledIntervalMs,
      maxStalledCount: this.timings.maxStalledCount,
    });
    worker.on('failed', (job, error) => {
      if (job && (error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1))) onFinalFailure(job.data, error);
    });
    // Connection errors are retried by ioredis; without a listener they would crash the process.
    worker.on('error', () => undefined);
    let closing: Promise<void> | undefined;
    const consumer: QueueConsumer = {
      close: (force = false) =>
        (closing ??= worker.close(force).finally(() => {
          connection.disconnect();
        })),
    };
    this.consumers.push(consumer);
    return consumer;
  }

  consumeUnits(
    concurrency: number,
    process: (task: UnitQueueTask, info: TaskInfo) => Promise<unknown>,
    onFinalFailure: (task: UnitQueueTask, error: Error) => void,
  ): QueueConsumer {
    return this.consume(UNIT_QUEUE, concurrency, process, onFinalFailure);
  }

  consumeAggregates(
    process: (task: AggregateTask, info: TaskInfo) => Promise<unknown>,
    onFinalFailure: (task: AggregateTask, error: Error) => void,
  ): QueueConsumer {
    return this.consume(AGGREGATE_QUEUE, 1, process, onFinalFailure);
  }

  async close(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.close(true).catch(() => undefined)));
    await Promise.all([this.units.close(), this.aggregates.close(), this.flow.close()]);
  }
}
