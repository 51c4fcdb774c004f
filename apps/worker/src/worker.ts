import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { UnitExecutor, type BackendChoice, type BackendInfo } from '@landscape/core';
import { jobKinds, type JobSystem, type QueueConsumer } from '@landscape/jobs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Assembler } from './assembly';
import { JobControl } from './job-control';
import { ShardService } from './shards';
import { UnitRunner } from './units';

export interface WorkerOptions {
  concurrency: number;
  backend: BackendChoice;
  logger: Logger;
  /** On shutdown, how long running units may take to finish before they are stopped and handed back. */
  shutdownGraceMs: number;
  /** How often a running unit checks whether its job was cancelled, failed or timed out. */
  watchMs?: number;
  /** `auto` shards Hessian-vector products from this many samples × trainable parameters (LANDSCAPE_HVP_SHARD_MIN_WORK). */
  hvpShardMinWork?: number;
}

function parseEnded(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { jobId?: string }).jobId;
  } catch {
    return undefined;
  }
}

/**
 * A worker process: takes unit queue jobs (run by the same executor as `landscape run`, on a pool of
 * computing threads), stage gates and aggregate queue jobs, and reports itself with heartbeats. Any worker can
 * take any unit of any job.
 */
export class LandscapeWorker {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private executor?: UnitExecutor;
  private units?: UnitRunner;
  private shards?: ShardService;
  private consumers: QueueConsumer[] = [];
  private heartbeat?: NodeJS.Timeout;
  private subscriber?: Redis;
  private readonly startedAt = new Date();
  private stopping?: Promise<void>;

  constructor(
    private readonly system: JobSystem,
    private readonly options: WorkerOptions,
  ) {}

  get backend(): BackendInfo | undefined {
    return this.executor?.backend;
  }

  async start(): Promise<void> {
    const { system, options } = this;
    const executor = await UnitExecutor.start({ registry: jobKinds, threads: options.concurrency, backend: options.backend });
    this.executor = executor;
    const control = new JobControl(system, options.logger);
    this.shards = new ShardService(system, executor, control, options);
    this.units = new UnitRunner(system, executor, control, this.shards, { ...options, workerId: this.id });
    const units = this.units;
    const assembler = new Assembler(system, executor, control, options.logger);
    // Cancellation and failure are announced on a channel so running units stop at their next point; each
    // unit also polls its job's status in case a message is missed (e.g. while Redis restarts).
    this.subscriber = system.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, text: string) => {
      const jobId = parseEnded(text);
      if (jobId) units.stop('cancelled', jobId);
    });
    await this.subscriber.subscribe(system.store.endedChannel);
    this.consumers = [
      system.queue.consumeUnits(
        options.concurrency,
        (task, info) => units.process(task, info),
        (task, error) => void control.fail(task.jobId, `unit ${task.unitId} failed: ${error.message}`),
      ),
      system.queue.consumeAggregates(
        (task, info) => assembler.process(task, info),
        (task, error) =>
          void control.fail(
            task.jobId,
            task.stage ? `queueing stage ${task.stage} failed: ${error.message}` : `assembling the result failed: ${error.message}`,
          ),
      ),
    ];
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), system.config.heartbeatMs);
    this.shards.start();
  }

  private async beat(): Promise<void> {
    const backend = this.executor!.backend;
    await this.system.workers
      .heartbeat({
        id: this.id,
        host: hostname(),
        pid: process.pid,
        backend: backend.name,
        device: backend.device,
        concurrency: this.options.concurrency,
        unitsDone: this.units?.unitsDone ?? 0,
        activeUnits: this.units?.active ?? 0,
        startedAt: this.startedAt.toISOString(),
      })
      .catch((error: Error) => this.options.logger.warn({ err: error.message }, 'heartbeat failed'));
  }

  /** Stops taking work, lets running units finish (up to the grace period, then hands them back), deregisters. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.heartbeat);
      const grace = setTimeout(() => this.units?.stop('shutdown'), this.options.shutdownGraceMs);
      await Promise.all(this.consumers.map((consumer) => consumer.close()));
      clearTimeout(grace);
      await this.shards?.stop();
      this.subscriber?.disconnect();
      await this.executor?.close();
      await this.system.workers.remove(this.id).catch(() => undefined);
    })();
    return this.stopping;
  }
}
