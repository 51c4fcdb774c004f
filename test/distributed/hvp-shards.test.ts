import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ShardStep } from '@landscape/core';
import { HvpShardBoard, ShardDriver, type ShardTask } from '@landscape/jobs';
import { RedisServer } from '../harness/redis';

/**
 * The shard exchange on its own, over a real Redis: one driver, "helper" workers played by this test with
 * the board's own calls. A driver takes back every request nobody popped (work stealing), waits for popped
 * ones while their claims live, and recomputes a popped shard whose claim lapsed (its worker died).
 */
const vector = Float64Array.from([1, 2, 3]);
const product = (shard: number) => ({ vector: Float64Array.from([shard, shard, shard]), seconds: 0.001 });

describe('HVP shard exchange', () => {
  let server: RedisServer;
  let redis: Redis;
  let helper: Redis;
  let board: HvpShardBoard;
  let prefix = 0;

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = new Redis(server.url);
    helper = new Redis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    helper?.disconnect();
    await server?.destroy();
  });

  const fresh = (): void => {
    board = new HvpShardBoard(redis, `t${prefix++}`);
  };
  const driver = (lostAfterMs: number): ShardDriver => new ShardDriver(board, redis, 'job', { lostAfterMs, pollMs: 50 });

  it('steals what nobody took, waits for a live claim, and sums in shard order', async () => {
    fresh();
    const d = driver(60_000);
    await d.begin(0, vector, 3);
    const taken = (await board.take(helper, 1))!;
    expect(taken).toMatchObject({ jobId: 'job', product: 0, shard: 0, count: 3 });
    await board.claim(taken, 60_000);
    expect(Array.from((await board.vector(taken))!)).toEqual([1, 2, 3]);

    const stolen: number[] = [];
    for (let step = await d.next(0); 'compute' in step; step = await d.next(0)) {
      stolen.push(step.compute);
      d.submit(0, step.compute, product(step.compute));
      // Both free shards are stolen before the driver waits; then the helper finishes its shard.
      if (stolen.length === 2) setTimeout(() => void board.putResult(taken, product(0)), 100);
    }
    expect(stolen).toEqual([1, 2]);
    expect(await board.pending()).toBe(0);
    await d.close();
  });

  it('returns the products with how many came from other workers', async () => {
    fresh();
    const d = driver(60_000);
    await d.begin(7, vector, 2);
    const taken = (await board.take(helper, 1))!;
    await board.claim(taken, 60_000);
    const first = (await d.next(7)) as { compute: number };
    expect(first).toEqual({ compute: 1 });
    d.submit(7, 1, product(1));
    await board.putResult(taken, product(0));
    const done = (await d.next(7)) as Extract<ShardStep, { products: unknown }>;
    expect(done.remote).toBe(1);
    expect(done.products.map((p) => Array.from(p.vector))).toEqual([
      [0, 0, 0],
      [1, 1, 1],
    ]);
    await d.close();
  });

  it('recomputes a shard whose worker died (claim lapsed, no result)', async () => {
    fresh();
    const d = driver(150);
    await d.begin(1, vector, 2);
    const dead: ShardTask = (await board.take(helper, 1))!;
    await board.claim(dead, 100); // never renewed: the worker is gone
    const steps: number[] = [];
    for (let step = await d.next(1); 'compute' in step; step = await d.next(1)) {
      steps.push(step.compute);
      d.submit(1, step.compute, product(step.compute));
    }
    expect(steps).toEqual([1, 0]);
    expect(await board.claimed(dead)).toBe(false);
    await d.close();
  });

  it('drops its unfinished product: pending requests leave the queue', async () => {
    fresh();
    const d = driver(60_000);
    await d.begin(2, vector, 4);
    expect(await board.pending()).toBe(4);
    await d.close();
    expect(await board.pending()).toBe(0);
    expect(await board.take(helper, 0.05)).toBeNull();
  });
});
