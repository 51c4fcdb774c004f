import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { runEmbedded } from '../embedded';
import { parseJobSpec, validateJobSpec, type HessianSpec } from '../spec';
import { REFERENCE, referenceCase, relativeError } from './fixtures.test-util';
import { hessianHandler, type HessianResult } from './hessian-job';
import { HessianOperator } from './hvp';
import { DEFAULT_SHARD_MIN_WORK, localExchange, planHvp, shardedOperator, shardRanges, emptyHvpStats, type ShardExchange, type ShardProduct } from './sharded';

const out = mkdtempSync(join(tmpdir(), 'hessian-sharded-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
beforeAll(async () => {
  await selectBackend('wasm');
});

describe('shard ranges', () => {
  it('cuts on batch boundaries when there are enough batches, else evenly by samples', () => {
    expect(shardRanges(150, 50, 3)).toEqual([
      { start: 0, end: 50 },
      { start: 50, end: 100 },
      { start: 100, end: 150 },
    ]);
    // 7 batches of 20 (the last one 10) over 3 shards: whole batches each.
    expect(shardRanges(130, 20, 3)).toEqual([
      { start: 0, end: 40 },
      { start: 40, end: 80 },
      { start: 80, end: 130 },
    ]);
    // One batch only: shards split it by samples.
    expect(shardRanges(10, 1024, 3)).toEqual([
      { start: 0, end: 3 },
      { start: 3, end: 6 },
      { start: 6, end: 10 },
    ]);
    expect(() => shardRanges(5, 2, 6)).toThrow(/cannot cut 5 samples into 6 shards/);
    expect(() => shardRanges(5, 2, 0)).toThrow();
  });
});

describe('choosing whole or sharded products', () => {
  const facts = { samples: 150, trainableParameters: 553, batchSize: 1024, workers: 3, threads: 4, minWork: DEFAULT_SHARD_MIN_WORK };
  it('auto keeps small sets whole and shards large ones only when other workers are alive', () => {
    expect(planHvp(undefined, facts)).toMatchObject({ mode: 'whole', shards: 1 });
    expect(planHvp({ mode: 'auto' }, { ...facts, samples: 2000 })).toMatchObject({ mode: 'sharded', shards: 4 });
    expect(planHvp({ mode: 'auto' }, { ...facts, samples: 2000, workers: 1 })).toMatchObject({ mode: 'whole', reason: 'only one worker is alive' });
    expect(planHvp({ mode: 'auto' }, { ...facts, minWork: 1000 })).toMatchObject({ mode: 'sharded' });
  });
  it('forced modes win; shard counts are capped by the samples', () => {
    expect(planHvp({ mode: 'whole' }, { ...facts, samples: 1e9 })).toMatchObject({ mode: 'whole' });
    expect(planHvp({ mode: 'sharded', shards: 3 }, { ...facts, workers: 1 })).toMatchObject({ mode: 'sharded', shards: 3 });
    expect(planHvp({ mode: 'sharded', shards: 500 }, facts)).toMatchObject({ mode: 'sharded', shards: 150 });
    expect(planHvp({ mode: 'sharded', shards: 1 }, facts)).toMatchObject({ mode: 'whole' });
  });
  it('validates the spec field', () => {
    const base = { kind: 'hessian', model: 'm', data: 'd', loss: 'mse', top: { k: 1 } };
    expect((parseJobSpec({ ...base, hvp: { mode: 'sharded', shards: 3 } }) as HessianSpec).hvp).toEqual({ mode: 'sharded', shards: 3 });
    expect((parseJobSpec({ ...base, hvp: {} }) as HessianSpec).hvp).toEqual({ mode: 'auto' });
    const bad = validateJobSpec({ ...base, hvp: { mode: 'split' } });
    expect(bad.ok).toBe(false);
    expect(JSON.stringify(bad)).toContain('hvp');
    expect(validateJobSpec({ ...base, hvp: { shards: 0 } }).ok).toBe(false);
  });
});

describe('sharded products on the reference CNN', () => {
  const m2 = referenceCase('m2_cnn', 50);

  function sharded(exchange: () => ShardExchange, shards = 3) {
    const ranges = shardRanges(m2.setup.data.n, m2.setup.batchSize, shards);
    const operators = ranges.map((range) => new HessianOperator(m2.setup, m2.theta, { range }));
    const whole = new HessianOperator(m2.setup, m2.theta);
    const stats = emptyHvpStats({ mode: 'sharded', shards, reason: 'test' });
    const op = shardedOperator(
      {
        dimension: whole.operator.dimension,
        shards,
        expand: (u) => whole.expand(u),
        compact: (v) => whole.compact(v),
        product: (s, v) => operators[s]!.hvp(v),
        weights: ranges.map((r) => (r.end - r.start) / m2.setup.data.n),
        exchange: exchange(),
      },
      stats,
    );
    return { op, whole, stats, dispose: () => [whole, ...operators].forEach((o) => o.dispose()) };
  }

  /** Hands out shards last-first and returns their products in that order: the sum must not care. */
  function reversedExchange(): ShardExchange {
    let pending: number[] = [];
    let done: ShardProduct[] = [];
    return {
      begin: (_i, _v, shards) => {
        pending = Array.from({ length: shards }, (_, s) => shards - 1 - s);
        done = [];
      },
      next: () => (pending.length ? { compute: pending.shift()! } : { products: done, remote: 0 }),
      submit: (_i, s, p) => void (done[s] = p),
    };
  }

  it('equals the whole-set product (float64 regrouping only) and is the same whatever order shards finish in', () => {
    const a = sharded(localExchange);
    const b = sharded(reversedExchange);
    try {
      const u = Float64Array.from({ length: a.op.dimension }, (_, i) => Math.sin(i + 1));
      const whole = a.whole.operator.apply(u);
      const first = a.op.apply(u);
      expect(relativeError(first, whole)).toBeLessThan(1e-12);
      expect(Array.from(b.op.apply(u))).toEqual(Array.from(first));
      expect(Array.from(a.op.apply(u))).toEqual(Array.from(first));
      expect(a.stats).toMatchObject({ products: 2, localShards: 6, remoteShards: 0 });
      expect(a.stats.computeSeconds).toBeGreaterThan(0);
    } finally {
      a.dispose();
      b.dispose();
    }
  });

  it('rejects an exchange that returns the wrong number of shard products', () => {
    const broken = sharded(() => ({ begin: () => undefined, next: () => ({ products: [], remote: 0 }), submit: () => undefined }));
    try {
      expect(() => broken.op.apply(new Float64Array(broken.op.dimension))).toThrow(/expected 3 shard products/);
    } finally {
      broken.dispose();
    }
  });

  it('an embedded hessian job with sharded products gives the whole-product eigenvalues and records the mode', async () => {
    const spec = (hvp: object) =>
      parseJobSpec({
        kind: 'hessian',
        model: join(REFERENCE, 'm2_cnn', 'model_trained'),
        data: join(REFERENCE, 'm2_cnn', 'dataset.json'),
        loss: 'sparse_categorical_crossentropy',
        backend: 'wasm',
        evaluation: { batchSize: 50 },
        top: { k: 2 },
        eigenvectors: false,
        hvp,
      }) as HessianSpec;
    const run = async (hvp: object) =>
      (await runEmbedded(hessianHandler, spec(hvp), (ref) => ref, join(out, JSON.stringify(hvp).replace(/\W/g, '')), {
        threads: 1,
        backend: 'wasm',
      })) as HessianResult;
    const whole = await run({ mode: 'whole' });
    const split = await run({ mode: 'sharded', shards: 3 });
    const auto = await run({});
    expect(whole.hvp).toMatchObject({ mode: 'whole', shards: 1 });
    expect(auto.hvp).toMatchObject({ mode: 'whole', shards: 1 });
    expect(split.hvp).toMatchObject({ mode: 'sharded', shards: 3, remoteShards: 0 });
    expect(split.hvp!.localShards).toBe(3 * split.hvp!.products);
    const top = split.eigenvalues.top!;
    top.forEach((value, i) => {
      expect(Math.abs(value - whole.eigenvalues.top![i]!) / Math.abs(whole.eigenvalues.top![i]!)).toBeLessThan(1e-9);
      expect(Math.abs(value - m2.hessian.top5_eigenvalues_descending[i]!) / m2.hessian.top5_eigenvalues_descending[i]!).toBeLessThan(1e-4);
    });
  });
});
