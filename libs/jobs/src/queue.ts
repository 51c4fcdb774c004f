import { DelayedError, FlowProducer, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * The only module that talks to BullMQ. A job is one flow: a parent "aggregate" queue job whose children are
 * one "tile" queue job per unit. Queue jobs carry references only ({jobId, unitId}); specs and results live in
 * the job store. BullMQ runs the parent once every child completed; retries, backoff and stalled-job recovery
 * (a killed worker's tile returns to the queue after `lockDurationMs`) are BullMQ's.
 */
export const TILE_QUEUE = 'landscape-tiles';
export const AGGREGATE_QUEUE = 'landscape-aggregate';

export interface QueueTimings {
  /** Tries per tile and per aggregation (1 = no retry). */
  attempts: number;
  /** First retry delay; doubles each try. */
  backoffMs: number;
  /** How long a worker's claim on a queue job lasts without renewal (a dead worker's tile returns after it). */
  lockDurationMs: number;
  /** How often workers look for stalled queue jobs. */
  stalledIntervalMs: number;
  /** Stalls before a queue job fails for good. */
  maxStalledCount: number;
}

export interface TileTask {
  jobId: string;
  unitId: string;
}

export interface AggregateTask {
  jobId: string;
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
  readonly tiles: Queue<TileTask>;
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
    this.tiles = new Queue<TileTask>(TILE_QUEUE, { connection, prefix: this.bullPrefix });
    this.aggregates = new Queue<AggregateTask>(AGGREGATE_QUEUE, { connection, prefix: this.bullPrefix });
    this.flow = new FlowProducer({ connection, prefix: this.bullPrefix });
  }

  /** BullMQ ids may not contain ':'; unit ids are stable within a job, so this id is too. */
  static tileJobId(jobId: string, unitId: string): string {
    return `${jobId}.${unitId.replace(/:/g, '_')}`;
  }

  private retryOptions(): { attempts: number; backoff: { type: 'exponential'; delay: number } } {
    return { attempts: this.timings.attempts, backoff: { type: 'exponential', delay: this.timings.backoffMs } };
  }

  async enqueue(jobId: string, unitIds: readonly string[]): Promise<void> {
    const keep = { removeOnComplete: { age: 7 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };
    await this.flow.add({
      name: 'aggregate',
      queueName: AGGREGATE_QUEUE,
      data: { jobId },
      opts: { jobId, ...this.retryOptions(), ...keep },
      children: unitIds.map((unitId) => ({
        name: 'tile',
        queueName: TILE_QUEUE,
        data: { jobId, unitId },
        // A tile that fails for good fails the aggregate too, so a failed job never waits forever.
        opts: { jobId: JobQueue.tileJobId(jobId, unitId), ...this.retryOptions(), ...keep, failParentOnFailure: true },
      })),
    });
  }

  /**
   * Removes a job's tiles that no worker has taken yet, then its aggregate when nothing holds it. Running
   * tiles stop at their next point (the worker sees the job ended) and the aggregate then finds nothing to do.
   */
  async removePending(jobId: string, unitIds: readonly string[]): Promise<number> {
    let removed = 0;
    for (const unitId of unitIds) {
      const job = await this.tiles.getJob(JobQueue.tileJobId(jobId, unitId));
      if (job && PENDING_STATES.has(await job.getState())) {
        removed += await job.remove().then(
          () => 1,
          () => 0, // taken by a worker in the meantime
        );
      }
    }
    await this.aggregates.remove(jobId, { removeChildren: true }).catch(() => 0);
    return removed;
  }

  /** The state of a job's aggregate queue job (and why it failed), or null when it is gone. */
  async aggregateState(jobId: string): Promise<{ state: string; failedReason?: string } | null> {
    const job = await this.aggregates.getJob(jobId);
    if (!job) return null;
    return { state: await job.getState(), ...(job.failedReason ? { failedReason: job.failedReason } : {}) };
  }

  /** Tries used so far by one tile's queue job (null when it is gone). */
  async tileAttempts(jobId: string, unitId: string): Promise<{ attemptsMade: number; state: string } | null> {
    const job = await this.tiles.getJob(JobQueue.tileJobId(jobId, unitId));
    return job ? { attemptsMade: job.attemptsMade, state: await job.getState() } : null;
  }

  async counts(): Promise<{ tiles: Record<string, number>; aggregates: Record<string, number> }> {
    const states = ['waiting', 'active', 'delayed', 'completed', 'failed', 'waiting-children', 'prioritized'] as const;
    const [tiles, aggregates] = await Promise.all([this.tiles.getJobCounts(...states), this.aggregates.getJobCounts(...states)]);
    return { tiles, aggregates };
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

  consumeTiles(
    concurrency: number,
    process: (task: TileTask, info: TaskInfo) => Promise<unknown>,
    onFinalFailure: (task: TileTask, error: Error) => void,
  ): QueueConsumer {
    return this.consume(TILE_QUEUE, concurrency, process, onFinalFailure);
  }

  consumeAggregates(
    process: (task: AggregateTask, info: TaskInfo) => Promise<unknown>,
    onFinalFailure: (task: AggregateTask, error: Error) => void,
  ): QueueConsumer {
    return this.consume(AGGREGATE_QUEUE, 1, process, onFinalFailure);
  }

  async close(): Promise<void> {
    await Promise.all(this.consumers.map((consumer) => consumer.close(true).catch(() => undefined)));
    await Promise.all([this.tiles.close(), this.aggregates.close(), this.flow.close()]);
  }
}
