import { randomBytes } from 'node:crypto';
import type { ShardProduct, ShardStep } from '@landscape/core';
import type { Redis } from 'ioredis';

/**
 * Sharded Hessian-vector products over Redis (docs/distributed-hessian.md). A driver unit publishes each
 * product's vector under a run id of its own and pushes one request per shard onto a shared list; any worker
 * with a free computing thread pops a request (BLPOP), claims it (a key that expires unless renewed), computes
 * H_s·v and stores it. The driver takes back every request nobody popped yet (LREM: it either removes the
 * entry, so no worker will see it, or finds it gone) and computes those shards itself, so a lone worker never
 * waits on itself. A popped shard whose claim lapses (its worker died) is recomputed by the driver.
 *
 * Requests carry references only; vectors and results are binary float64 values under per-product keys.
 */
export interface ShardTask {
  jobId: string;
  /** Unique per driver attempt: a rerun after a crash never mixes with the dead attempt's keys. */
  run: string;
  product: number;
  shard: number;
  count: number;
}

/** Products are dropped by their driver; this only bounds what a crashed driver leaves behind. */
const LEFTOVER_TTL_MS = 3600_000;

const toBuffer = (v: Float64Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
/** A copy, so the Float64Array is aligned whatever the Buffer's offset. */
const toFloat64 = (b: Buffer): Float64Array => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

export class HvpShardBoard {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  get queueKey(): string {
    return `${this.prefix}:hvp:queue`;
  }

  private key(task: Pick<ShardTask, 'run' | 'product'>, part: string): string {
    return `${this.prefix}:hvp:${task.run}:${task.product}:${part}`;
  }

  /** The list entry of a request; fixed field order, so LREM finds exactly the string that was pushed. */
  static entry(task: ShardTask): string {
    return JSON.stringify({ jobId: task.jobId, run: task.run, product: task.product, shard: task.shard, count: task.count });
  }

  static newRun(): string {
    return randomBytes(8).toString('hex');
  }

  /** Stores the vector, then queues one request per shard. */
  async publish(jobId: string, run: string, product: number, vector: Float64Array, count: number): Promise<void> {
    const ref = { run, product };
    const entries = Array.from({ length: count }, (_, shard) => HvpShardBoard.entry({ jobId, run, product, shard, count }));
    await this.redis
      .multi()
      .set(this.key(ref, 'v'), toBuffer(vector), 'PX', LEFTOVER_TTL_MS)
      .rpush(this.queueKey, ...entries)
      .exec();
  }

  /** Removes a request nobody has popped; true = the caller now owns the shard. */
  async steal(task: ShardTask): Promise<boolean> {
    return (await this.redis.lrem(this.queueKey, 1, HvpShardBoard.entry(task))) === 1;
  }

  /** Waits up to `timeoutS` for a request (on a connection of its own: BLPOP blocks it). */
  async take(blocking: Redis, timeoutS: number): Promise<ShardTask | null> {
    const popped = await blocking.blpop(this.queueKey, timeoutS);
    return popped ? (JSON.parse(popped[1]) as ShardTask) : null;
  }

  /** Puts a popped request back at the head (this worker had no free thread after all). */
  async giveBack(task: ShardTask): Promise<void> {
    await this.redis
      .multi()
      .lpush(this.queueKey, HvpShardBoard.entry(task))
      .del(this.key(task, `c${task.shard}`))
      .exec();
  }

  /** The product's vector, or null when the driver has finished or dropped it. */
  async vector(task: ShardTask): Promise<Float64Array | null> {
    const value = await this.redis.getBuffer(this.key(task, 'v'));
    return value ? toFloat64(value) : null;
  }

  /** Marks the shard as being computed for `ms` (renew before it lapses). */
  async claim(task: ShardTask, ms: number): Promise<void> {
    await this.redis.set(this.key(task, `c${task.shard}`), '1', 'PX', Math.max(1, Math.round(ms)));
  }

  async claimed(task: ShardTask): Promise<boolean> {
    return (await this.redis.exists(this.key(task, `c${task.shard}`))) === 1;
  }

  /** Stores H_s·v (with its compute seconds) and wakes the driver. */
  async putResult(task: ShardTask, product: ShardProduct): Promise<void> {
    const header = Buffer.alloc(8);
    header.writeDoubleLE(product.seconds);
    const results = this.key(task, 'r');
    const notify = this.key(task, 'n');
    await this.redis
      .multi()
      .hset(results, String(task.shard), Buffer.concat([header, toBuffer(product.vector)]))
      .pexpire(results, LEFTOVER_TTL_MS)
      .del(this.key(task, `c${task.shard}`))
      .rpush(notify, String(task.shard))
      .pexpire(notify, LEFTOVER_TTL_MS)
      .exec();
  }

  /** The stored results among `shards` (only those: vectors can be large). */
  async results(run: string, product: number, shards: number[]): Promise<Map<number, ShardProduct>> {
    const out = new Map<number, ShardProduct>();
    if (!shards.length) return out;
    const raw = await this.redis.hmgetBuffer(this.key({ run, product }, 'r'), ...shards.map(String));
    raw.forEach((value, i) => value && out.set(shards[i]!, { seconds: value.readDoubleLE(0), vector: toFloat64(value.subarray(8)) }));
    return out;
  }

  /** Returns when a result of this product arrives, or after `timeoutS`. */
  async waitForResult(blocking: Redis, run: string, product: number, timeoutS: number): Promise<void> {
    await blocking.blpop(this.key({ run, product }, 'n'), timeoutS);
  }

  /** Removes the product's queued requests and keys (done, or the driver stopped). */
  async drop(jobId: string, run: string, product: number, count: number): Promise<void> {
    const multi = this.redis.multi();
    for (let shard = 0; shard < count; shard++) {
      multi.lrem(this.queueKey, 1, HvpShardBoard.entry({ jobId, run, product, shard, count }));
      multi.del(this.key({ run, product }, `c${shard}`));
    }
    for (const part of ['v', 'r', 'n']) multi.del(this.key({ run, product }, part));
    await multi.exec();
  }

  /** Requests waiting in the queue (all jobs). */
  async pending(): Promise<number> {
    return this.redis.llen(this.queueKey);
  }
}

export interface ShardDriverOptions {
  /** A popped shard with no claim and no result for this long is taken to be lost and computed by the driver. */
  lostAfterMs: number;
  /** Longest wait for a result before looking again for shards to steal or reclaim. */
  pollMs?: number;
}

/**
 * The driver's side of one unit's sharded products (the async half of core's ShardExchange; the worker
 * bridges it to the computing thread, which blocks on it).
 */
export class ShardDriver {
  readonly run = HvpShardBoard.newRun();
  private readonly blocking: Redis;
  private current?: {
    product: number;
    count: number;
    local: Map<number, ShardProduct>;
    remote: Map<number, ShardProduct>;
    missingSince: Map<number, number>;
  };

  constructor(
    private readonly board: HvpShardBoard,
    redis: Redis,
    private readonly jobId: string,
    private readonly options: ShardDriverOptions,
  ) {
    this.blocking = redis.duplicate();
    this.blocking.on('error', () => undefined);
  }

  private task(shard: number): ShardTask {
    const { product, count } = this.current!;
    return { jobId: this.jobId, run: this.run, product, shard, count };
  }

  async begin(product: number, vector: Float64Array, count: number): Promise<void> {
    await this.dropCurrent();
    this.current = { product, count, local: new Map(), remote: new Map(), missingSince: new Map() };
    await this.board.publish(this.jobId, this.run, product, vector, count);
  }

  async next(product: number): Promise<ShardStep> {
    const current = this.current;
    if (!current || current.product !== product) throw new Error(`product ${product} was not begun`);
    const { local, remote } = current;
    const missing = (): number[] => Array.from({ length: current.count }, (_, s) => s).filter((s) => !local.has(s) && !remote.has(s));
    for (;;) {
      (await this.board.results(this.run, product, missing())).forEach((result, s) => remote.set(s, result));
      const left = missing();
      if (!left.length) {
        // A shard computed both here (reclaimed) and remotely: the same numbers; the local copy is used.
        const products = Array.from({ length: current.count }, (_, s) => local.get(s) ?? remote.get(s)!);
        const remoteCount = products.filter((_, s) => !local.has(s)).length;
        await this.dropCurrent();
        return { products, remote: remoteCount };
      }
      for (const s of left) if (await this.board.steal(this.task(s))) return { compute: s };
      const now = Date.now();
      for (const s of left) {
        if (await this.board.claimed(this.task(s))) current.missingSince.delete(s);
        else {
          const since = current.missingSince.get(s) ?? now;
          current.missingSince.set(s, since);
          if (now - since >= this.options.lostAfterMs) {
            current.missingSince.delete(s);
            return { compute: s };
          }
        }
      }
      await this.board.waitForResult(this.blocking, this.run, product, (this.options.pollMs ?? 200) / 1000);
    }
  }

  submit(product: number, shard: number, result: ShardProduct): void {
    if (this.current?.product === product) this.current.local.set(shard, result);
  }

  private async dropCurrent(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    if (current) await this.board.drop(this.jobId, this.run, current.product, current.count);
  }

  /** Drops the unfinished product (its pending requests leave the queue) and closes the connection. */
  async close(): Promise<void> {
    try {
      await this.dropCurrent();
    } finally {
      this.blocking.disconnect();
    }
  }
}
