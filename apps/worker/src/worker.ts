import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SHARD_MIN_WORK, isInputError, type BackendChoice, type BackendInfo, type ExecutionRecord } from '@landscape/core';
import {
  handlerEntryFor,
  HvpShardBoard,
  ShardDriver,
  type ShardTask,
  isTerminal,
  timeoutReason,
  unrecoverable,
  withArtifactNames,
  type AggregateTask,
  type JobRecord,
  type JobSystem,
  type JobWorker,
  type QueueConsumer,
  type TaskInfo,
  type TileTask,
} from '@landscape/jobs';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { UnitPool, type HvpCall, type RunningUnit, type UnitTask } from './unit-pool';

export interface WorkerOptions {
  concurrency: number;
  backend: BackendChoice;
  logger: Logger;
  /** On shutdown, how long running tiles may take to finish before they are stopped and handed back. */
  shutdownGraceMs: number;
  /** How often a running tile checks whether its job was cancelled, failed or timed out. */
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
 * A worker process: takes tile queue jobs (computed on a pool of threads) and aggregate queue jobs (assembled
 * here), and reports itself with heartbeats. Any worker can take any tile of any job.
 */
export class LandscapeWorker {
  readonly id = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private pool?: UnitPool;
  private consumers: QueueConsumer[] = [];
  private heartbeat?: NodeJS.Timeout;
  /** Units computing now, with their job ids. */
  private readonly running = new Map<RunningUnit, string>();
  private subscriber?: Redis;
  private tilesDone = 0;
  private readonly startedAt = new Date();
  private stopping?: Promise<void>;
  private readonly shards: HvpShardBoard;
  private shardLoop?: Promise<void>;
  private shardConnection?: Redis;

  constructor(
    private readonly system: JobSystem,
    private readonly options: WorkerOptions,
  ) {
    this.shards = new HvpShardBoard(system.redis, system.config.prefix);
  }

  get backend(): BackendInfo | undefined {
    return this.pool?.backend;
  }

  async start(): Promise<void> {
    this.pool = await UnitPool.start(this.options.concurrency, this.options.backend);
    const { queue } = this.system;
    // Cancellation and failure are announced on a channel so running units stop at their next point; each
    // unit also polls its job's status in case a message is missed (e.g. while Redis restarts).
    this.subscriber = this.system.redis.duplicate();
    this.subscriber.on('error', () => undefined);
    this.subscriber.on('message', (_channel: string, text: string) => {
      const jobId = parseEnded(text);
      this.running.forEach((job, running) => job === jobId && running.stop('cancelled'));
    });
    await this.subscriber.subscribe(this.system.store.endedChannel);
    this.consumers = [
      queue.consumeTiles(
        this.options.concurrency,
        (task, info) => this.processTile(task, info),
        (task, error) => void this.failJob(task.jobId, `tile ${task.unitId} failed: ${error.message}`),
      ),
      queue.consumeAggregates(
        (task, info) => this.processAggregate(task, info),
        (task, error) => void this.failJob(task.jobId, `assembling the result failed: ${error.message}`),
      ),
    ];
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), this.system.config.heartbeatMs);
    this.shardConnection = this.system.redis.duplicate();
    this.shardConnection.on('error', () => undefined);
    this.shardLoop = this.takeShards(this.shardConnection);
  }

  /** A claim on a shard lasts as long as a tile's lock: a dead worker's shard is recomputed after it. */
  private get claimMs(): number {
    return this.system.config.queue.lockDurationMs;
  }

  /** Takes shard requests of other units' products whenever a computing thread is free. */
  private async takeShards(connection: Redis): Promise<void> {
    while (!this.stopping) {
      if (this.pool!.idle <= 0) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        continue;
      }
      let task: ShardTask | null = null;
      try {
        task = await this.shards.take(connection, 1);
        if (!task) continue;
        // Claimed at once, so the driver does not take the shard for lost while this worker gets ready.
        await this.shards.claim(task, this.claimMs);
        await this.computeShard(task);
      } catch (error) {
        if (this.stopping) return;
        this.options.logger.warn({ err: (error as Error).message, shard: task }, 'shard request failed');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Starts one shard product on a free thread (returns once started); the driver recomputes it if this fails. */
  private async computeShard(task: ShardTask): Promise<void> {
    const { store, cache } = this.system;
    const renew = setInterval(() => void this.shards.claim(task, this.claimMs).catch(() => undefined), this.claimMs / 3);
    let started = false;
    try {
      const record = await store.get(task.jobId);
      if (!record || !(await this.stillActive(record)) || !handlerEntryFor(record.kind).handler.hvpShard) return;
      const vector = await this.shards.vector(task);
      if (!vector) return; // the driver finished or stopped this product
      const { paths } = await cache.resolverFor(record.spec, record.inputs);
      const t0 = performance.now();
      const running = this.pool!.runShard({ jobId: task.jobId, spec: record.spec, paths, shard: { index: task.shard, count: task.count }, vector });
      if (!running) {
        await this.shards.giveBack(task);
        return;
      }
      started = true;
      void running
        .then((product) => {
          // Stop renewing first: a renewal sent after the result would leave a stale claim behind.
          clearInterval(renew);
          return this.shards.putResult(task, { vector: product, seconds: (performance.now() - t0) / 1000 });
        })
        .catch((error: Error) => this.options.logger.warn({ jobId: task.jobId, shard: task.shard, err: error.message }, 'shard product failed'))
        .finally(() => clearInterval(renew));
    } finally {
      if (!started) clearInterval(renew);
    }
  }

  /** Sharded products for a driver unit: the facts for its choice, and its exchange calls answered over Redis. */
  private async hvpFor(jobId: string, kind: string): Promise<{ hvp?: UnitTask['hvp']; close(): Promise<void> }> {
    if (!handlerEntryFor(kind).handler.hvpShard) return { close: async () => undefined };
    const alive = await this.system.workers.list();
    let driver: ShardDriver | undefined;
    const exchange = async (call: HvpCall) => {
      driver ??= new ShardDriver(this.shards, this.system.redis, jobId, { lostAfterMs: Math.min(1000, this.claimMs) });
      if (call.op === 'begin') await driver.begin(call.index, call.vector, call.shards);
      else if (call.op === 'next') return driver.next(call.index);
      else driver.submit(call.index, call.shard, call.product);
      return null;
    };
    return {
      hvp: {
        facts: {
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

  private async beat(): Promise<void> {
    const backend = this.pool!.backend;
    await this.system.workers
      .heartbeat({
        id: this.id,
        host: hostname(),
        pid: process.pid,
        backend: backend.name,
        device: backend.device,
        concurrency: this.options.concurrency,
        tilesDone: this.tilesDone,
        activeTiles: this.running.size,
        startedAt: this.startedAt.toISOString(),
      })
      .catch((error: Error) => this.options.logger.warn({ err: error.message }, 'heartbeat failed'));
  }

  private async failJob(jobId: string, reason: string): Promise<void> {
    try {
      if (await this.system.service.fail(jobId, reason)) this.options.logger.warn({ jobId, reason }, 'job failed');
    } catch (error) {
      this.options.logger.error({ jobId, err: (error as Error).message }, 'could not record job failure');
    }
  }

  /**
   * Bad input never gets better: the job fails now (before this worker takes its next tile, which then sees
   * the job ended) and the queue job is not retried.
   */
  private async giveUp(jobId: string, what: string, message: string): Promise<Error> {
    await this.failJob(jobId, `${what}: ${message}`);
    return unrecoverable(message);
  }

  /** Should this job's work go on? Fails it when its deadline has passed. */
  private async stillActive(record: JobRecord): Promise<boolean> {
    if (isTerminal(record.status)) return false;
    if (record.deadline && Date.now() > record.deadline) {
      await this.failJob(record.id, timeoutReason(record));
      return false;
    }
    return true;
  }

  private async processTile({ jobId, unitId }: TileTask, info: TaskInfo): Promise<unknown> {
    const { store, cache } = this.system;
    const log = this.options.logger.child({ jobId, unitId, attempt: info.attempt });
    const record = await store.get(jobId);
    if (!record || !(await this.stillActive(record))) {
      this.pool!.release(jobId);
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
      if (isInputError(error)) throw await this.giveUp(jobId, `tile ${unitId} failed`, (error as Error).message);
      throw error;
    }

    // Progress goes to Redis as points finish; writes are coalesced so a slow Redis never queues up.
    let latest = 0;
    let written = 0;
    let writing: Promise<void> | undefined;
    const flush = async (): Promise<void> => {
      while (written < latest) {
        const value = latest;
        await store.setUnitProgress(jobId, unitId, value).catch((error: Error) => log.warn({ err: error.message }, 'progress write failed'));
        written = value;
      }
    };
    const onWork = (done: number): void => {
      latest = done;
      writing ??= flush().finally(() => (writing = undefined));
    };

    log.info({ points: unit.work }, 'tile started');
    const started = performance.now();
    const sharding = await this.hvpFor(jobId, record.kind);
    const running = this.pool!.run({ jobId, spec: record.spec, paths, unitId, ...(sharding.hvp ? { hvp: sharding.hvp } : {}) }, onWork);
    this.running.set(running, jobId);
    // The computing thread checks the shared stop flag at every point; this sets it when the job ends.
    const watch = setInterval(() => {
      void store
        .get(jobId)
        .then(async (current) => {
          if (!current || !(await this.stillActive(current))) running.stop('cancelled');
        })
        .catch((error: Error) => log.warn({ err: error.message }, 'job status check failed'));
    }, this.options.watchMs ?? 500);
    let result: unknown;
    try {
      result = await running.result;
    } catch (error) {
      const failure = error as Error;
      if (failure.name === 'TileCancelled') {
        if (running.stoppedFor === 'shutdown') {
          log.info('tile handed back: worker shutting down');
          throw await info.handBack();
        }
        log.info('tile stopped: job ended');
        return { cancelled: true };
      }
      const message = withArtifactNames(failure.message, paths);
      log.warn({ err: message }, 'tile failed');
      if (isInputError(failure)) throw await this.giveUp(jobId, `tile ${unitId} failed`, message);
      throw new Error(message);
    } finally {
      clearInterval(watch);
      this.running.delete(running);
      // A stopped driver's pending shard requests leave the queue.
      await sharding.close().catch((error: Error) => log.warn({ err: error.message }, 'could not drop shard requests'));
    }
    await writing;
    const worker: JobWorker = { id: this.id, host: hostname(), backend: this.pool!.backend.name, tiles: 0, concurrency: this.options.concurrency };
    const stored = await store.putUnitResult(jobId, unitId, result, unit.work, worker, this.pool!.backend);
    if (stored) this.tilesDone++;
    log.info(
      { seconds: Math.round(performance.now() - started) / 1000, points: unit.work, stored },
      stored ? 'tile done' : 'tile done (already stored by another worker)',
    );
    return { stored };
  }

  private async processAggregate({ jobId }: AggregateTask, info: TaskInfo): Promise<unknown> {
    const { store, cache, results } = this.system;
    const log = this.options.logger.child({ jobId, attempt: info.attempt });
    const record = await store.get(jobId);
    if (!record || !(await this.stillActive(record))) return { skipped: record?.status ?? 'unknown job' };
    const unitResults = await store.unitResults(jobId);
    const missing = record.units.filter((unit) => !unitResults.has(unit.id)).map((unit) => unit.id);
    if (missing.length) {
      await this.failJob(jobId, `${missing.length} of ${record.units.length} tiles have no result (${missing.slice(0, 5).join(', ')})`);
      return { failed: 'missing tiles' };
    }
    await store.markAggregating(jobId);
    const { handler, release } = handlerEntryFor(record.kind);
    let paths: Record<string, string> = {};
    const outDir = await mkdtemp(join(tmpdir(), 'landscape-assemble-'));
    try {
      const resolved = await cache.resolverFor(record.spec, record.inputs);
      paths = resolved.paths;
      const prepared = await handler.prepare(record.spec, resolved.resolve);
      try {
        await handler.assemble(record.spec, prepared, unitResults, await this.execution(record), outDir);
      } finally {
        release?.(prepared);
      }
      for (const name of await readdir(outDir)) {
        if ((await stat(join(outDir, name))).isFile()) await results.put(jobId, name, await readFile(join(outDir, name)));
        else log.warn({ name }, 'result entry is not a plain file; not stored');
      }
    } catch (error) {
      const message = withArtifactNames((error as Error).message, paths);
      if (isInputError(error)) throw await this.giveUp(jobId, 'assembling the result failed', message);
      throw new Error(message);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
    const completed = await store.complete(jobId);
    log.info({ completed }, completed ? 'job completed' : 'job ended while assembling');
    return { completed };
  }

  /** How the job's units were computed, for result.json: over all workers that stored tiles. */
  private async execution(record: JobRecord): Promise<ExecutionRecord> {
    const workers = await this.system.store.workers(record.id);
    const startedAt = record.startedAt ?? record.createdAt;
    const names = [...new Set(workers.map((worker) => worker.backend))];
    const backend: BackendInfo = record.backend ?? this.pool!.backend;
    return {
      startedAt: new Date(startedAt),
      prepareSeconds: record.prepareSeconds,
      evaluateSeconds: ((record.lastTileAt ?? Date.now()) - startedAt) / 1000,
      backend: names.length > 1 ? { ...backend, name: names.join('+'), device: 'several workers (see workers)' } : backend,
      threads: workers.reduce((sum, worker) => sum + (worker.concurrency ?? 1), 0),
      workers: workers.map(({ id, host, backend: name, tiles }) => ({ id, host, backend: name, tiles })),
    };
  }

  /** Stops taking work, lets running tiles finish (up to the grace period, then hands them back), deregisters. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.heartbeat);
      const grace = setTimeout(() => this.running.forEach((_job, running) => running.stop('shutdown')), this.options.shutdownGraceMs);
      await Promise.all(this.consumers.map((consumer) => consumer.close()));
      clearTimeout(grace);
      this.shardConnection?.disconnect();
      await this.shardLoop;
      this.subscriber?.disconnect();
      await this.pool?.close();
      await this.system.workers.remove(this.id).catch(() => undefined);
    })();
    return this.stopping;
  }
}
