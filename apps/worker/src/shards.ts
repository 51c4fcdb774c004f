import { DEFAULT_SHARD_MIN_WORK, type HvpCall, type UnitExecutor, type UnitRunOptions } from '@landscape/core';
import { HvpShardBoard, jobKinds, ShardDriver, type JobSystem, type ShardTask } from '@landscape/jobs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { JobControl } from './job-control';

export interface ShardOptions {
  concurrency: number;
  /** `auto` shards Hessian-vector products from this many samples × trainable parameters. */
  hvpShardMinWork?: number;
  logger: Logger;
}

/**
 * This worker's part in sharded Hessian-vector products (docs/distributed-hessian.md): it takes other
 * drivers' shard requests whenever a computing thread is free, and gives its own driver units an exchange.
 */
export class ShardService {
  private readonly board: HvpShardBoard;
  private loop?: Promise<void>;
  private connection?: Redis;
  private stopping = false;

  constructor(
    private readonly system: JobSystem,
    private readonly executor: UnitExecutor,
    private readonly control: JobControl,
    private readonly options: ShardOptions,
  ) {
    this.board = new HvpShardBoard(system.redis, system.config.prefix);
  }

  /** A claim on a shard lasts as long as a unit's lock: a dead worker's shard is recomputed after it. */
  private get claimMs(): number {
    return this.system.config.queue.lockDurationMs;
  }

  start(): void {
    this.connection = this.system.redis.duplicate();
    this.connection.on('error', () => undefined);
    this.loop = this.take(this.connection);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.connection?.disconnect();
    await this.loop;
  }

  private async take(connection: Redis): Promise<void> {
    while (!this.stopping) {
      if (this.executor.idle <= 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      let task: ShardTask | null = null;
      try {
        task = await this.board.take(connection, 1);
        if (!task) continue;
        // Claimed at once, so the driver does not take the shard for lost while this worker gets ready.
        await this.board.claim(task, this.claimMs);
        await this.compute(task);
      } catch (error) {
        if (this.stopping) return;
        this.options.logger.warn({ err: (error as Error).message, shard: task }, 'shard request failed');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Starts one shard product on a free thread (returns once started); the driver recomputes it if this fails. */
  private async compute(task: ShardTask): Promise<void> {
    const { store, cache } = this.system;
    const renew = setInterval(() => void this.board.claim(task, this.claimMs).catch(() => undefined), this.claimMs / 3);
    let started = false;
    try {
      const record = await store.get(task.jobId);
      if (!record || !(await this.control.stillActive(record)) || !jobKinds.get(record.kind).hvpShard) return;
      const vector = await this.board.vector(task);
      if (!vector) return; // the driver finished or stopped this product
      const { paths } = await cache.resolverFor(record.spec, record.inputs);
      const t0 = performance.now();
      const running = this.executor.runShard({ jobId: task.jobId, spec: record.spec, paths, shard: { index: task.shard, count: task.count }, vector });
      if (!running) {
        await this.board.giveBack(task);
        return;
      }
      started = true;
      void running
        .then((product) => {
          // Stop renewing first: a renewal sent after the result would leave a stale claim behind.
          clearInterval(renew);
          return this.board.putResult(task, { vector: product, seconds: (performance.now() - t0) / 1000 });
        })
        .catch((error: Error) => this.options.logger.warn({ jobId: task.jobId, shard: task.shard, err: error.message }, 'shard product failed'))
        .finally(() => clearInterval(renew));
    } finally {
      if (!started) clearInterval(renew);
    }
  }

  /** For a driver unit: the facts for its choice, and its exchange calls answered over Redis. */
  async offerFor(jobId: string, kind: string): Promise<{ hvp?: UnitRunOptions['hvp']; close(): Promise<void> }> {
    if (!jobKinds.get(kind).hvpShard) return { close: async () => undefined };
    const alive = await this.system.workers.list();
    let driver: ShardDriver | undefined;
    const exchange = async (call: HvpCall) => {
      driver ??= new ShardDriver(this.board, this.system.redis, jobId, { lostAfterMs: Math.min(1000, this.claimMs) });
      if (call.op === 'begin') await driver.begin(call.index, call.vector, call.shards);
      else if (call.op === 'next') return driver.next(call.index);
      else driver.submit(call.index, call.shard, call.product);
      return null;
    };
    return {
      hvp: {
        offer: {
          workers: Math.max(1, alive.length),
          threads: Math.max(
            this.options.concurrency,
            alive.reduce((sum, worker) => sum + worker.concurrency, 0),
          ),
          minWork: this.options.hvpShardMinWork ?? DEFAULT_SHARD_MIN_WORK,
        },
        exchange,
      },
      close: async () => driver?.close(),
    };
  }
}
