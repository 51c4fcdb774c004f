import type { LinearOperator } from './hvp';

/**
 * Data-sharded Hessian-vector products. H = Σ_s (n_s/n) H_s, where H_s is the Hessian of the mean loss over
 * shard s (a contiguous range of the evaluation set). A driver (the unit running a solver) publishes each
 * vector; shard products are computed wherever there is a free thread (other workers, or the driver itself)
 * and summed here in float64, in shard order, so the sum does not depend on who computed what.
 *
 * This module knows nothing about queues: the distributed worker supplies a `ShardExchange` (Redis behind it);
 * without one, `localExchange` computes every shard in this process (same numbers, no parallelism).
 */

export type HvpMode = 'auto' | 'whole' | 'sharded';

export interface HvpSetting {
  mode?: HvpMode;
  shards?: number;
}

/**
 * Default of LANDSCAPE_HVP_SHARD_MIN_WORK: `auto` shards when samples × trainable parameters reaches this.
 * Measured on the reference CNN (docs/distributed-hessian.md): a sharded product costs 12–60 ms more than its
 * compute in queue round trips and waiting for the slowest shard; 1e6 sample·parameters is ≈ 0.4 s of compute
 * per product (wasm, one core), where two workers already made products 1.4–1.6× faster.
 */
export const DEFAULT_SHARD_MIN_WORK = 1e6;

export interface HvpPlan {
  mode: 'whole' | 'sharded';
  shards: number;
  /** Why this mode (recorded in result.json). */
  reason: string;
}

export interface HvpFacts {
  samples: number;
  trainableParameters: number;
  batchSize: number;
  /** Workers alive (the driver's included); 1 in embedded runs. */
  workers: number;
  /** Computing threads over all live workers (the default shard count). */
  threads: number;
  minWork: number;
}

/** Picks whole or sharded products for a unit. Pure, so the choice is testable and documented in one place. */
export function planHvp(setting: HvpSetting | undefined, facts: HvpFacts): HvpPlan {
  const mode = setting?.mode ?? 'auto';
  const shards = Math.min(facts.samples, setting?.shards ?? Math.max(2, facts.threads));
  const work = facts.samples * facts.trainableParameters;
  if (mode === 'whole') return { mode: 'whole', shards: 1, reason: 'hvp.mode is "whole"' };
  if (mode === 'sharded') {
    if (shards < 2) return { mode: 'whole', shards: 1, reason: `hvp.shards is ${shards}: nothing to split` };
    return { mode: 'sharded', shards, reason: 'hvp.mode is "sharded"' };
  }
  if (work < facts.minWork) return { mode: 'whole', shards: 1, reason: `samples × parameters = ${work} < ${facts.minWork} (LANDSCAPE_HVP_SHARD_MIN_WORK)` };
  if (facts.workers < 2) return { mode: 'whole', shards: 1, reason: 'only one worker is alive' };
  if (shards < 2) return { mode: 'whole', shards: 1, reason: 'one shard only' };
  return { mode: 'sharded', shards, reason: `samples × parameters = ${work} ≥ ${facts.minWork} and ${facts.workers} workers alive` };
}

export interface SampleRange {
  start: number;
  end: number;
}

/**
 * Contiguous sample ranges of `shards` shards. When there are at least as many batches as shards, boundaries
 * fall on batch boundaries, so every float32 batch product equals the one of a whole-set product and only
 * the float64 grouping of the sum differs.
 */
export function shardRanges(samples: number, batchSize: number, shards: number): SampleRange[] {
  if (!Number.isInteger(shards) || shards < 1 || shards > samples) throw new Error(`cannot cut ${samples} samples into ${shards} shards`);
  const batches = Math.ceil(samples / batchSize);
  const unit = shards <= batches ? batchSize : 1;
  const blocks = Math.ceil(samples / unit);
  return Array.from({ length: shards }, (_, s) => ({
    start: Math.min(samples, Math.floor((s * blocks) / shards) * unit),
    end: Math.min(samples, Math.floor(((s + 1) * blocks) / shards) * unit),
  }));
}

/** One shard's product as computed somewhere: H_s·v (flat) and the seconds it took. */
export interface ShardProduct {
  vector: Float64Array;
  seconds: number;
}

/** The next thing a driver does within a product: compute a shard itself, or sum the finished products. */
export type ShardStep = { compute: number } | { products: ShardProduct[]; remote: number };

/**
 * The driver's side of the shard exchange. Synchronous, because the solvers are: the distributed worker
 * implements it by blocking the computing thread while its main thread talks to Redis.
 */
export interface ShardExchange {
  /** Publishes product `index` (vector v, flat) as `shards` shard requests. */
  begin(index: number, v: Float64Array, shards: number): void;
  /** Blocks until a shard is left for this driver to compute (stolen or reclaimed), or every shard is done. */
  next(index: number): ShardStep;
  /** A shard this driver computed. */
  submit(index: number, shard: number, product: ShardProduct): void;
}

/** What a distributed worker offers a unit (UnitContext.hvp). */
export interface HvpBackend {
  /** Live workers, this one included. */
  workers: number;
  /** Computing threads over all live workers. */
  threads: number;
  /** LANDSCAPE_HVP_SHARD_MIN_WORK of this worker. */
  minWork: number;
  exchange(): ShardExchange;
}

/** An exchange with nobody else: every shard is computed here, in order. */
export function localExchange(): ShardExchange {
  let pending: number[] = [];
  let done: ShardProduct[] = [];
  return {
    begin(_index, _v, shards) {
      pending = Array.from({ length: shards }, (_, s) => s);
      done = [];
    },
    next() {
      const shard = pending.shift();
      return shard === undefined ? { products: done, remote: 0 } : { compute: shard };
    },
    submit(_index, shard, product) {
      done[shard] = product;
    },
  };
}

/** Per-product latency figures of a unit (result.json `hvp`). */
export interface HvpRunStats {
  mode: 'whole' | 'sharded';
  shards: number;
  reason: string;
  products: number;
  /** Shards computed by the driver / by other workers, over all products. */
  localShards: number;
  remoteShards: number;
  /** Sums over products (seconds): driver wall time, compute wherever it ran, the driver's own compute. */
  wallSeconds: number;
  computeSeconds: number;
  localComputeSeconds: number;
}

export interface ShardedOperatorOptions {
  dimension: number;
  shards: number;
  /** Trainable coordinates ↔ flat vectors. */
  expand(u: Float64Array): Float64Array;
  compact(v: Float64Array): Float64Array;
  /** H_s·v (flat) for shard s, computed in this process. */
  product(shard: number, v: Float64Array): Float64Array;
  /** Shard weights n_s / n. */
  weights: number[];
  exchange: ShardExchange;
}

/** The Hessian on trainable coordinates as the weighted sum of shard products; `stats` accumulates latencies. */
export function shardedOperator(options: ShardedOperatorOptions, stats: HvpRunStats): LinearOperator {
  const { shards, weights, exchange } = options;
  return {
    dimension: options.dimension,
    apply(u) {
      const started = performance.now();
      const v = options.expand(u);
      const index = stats.products;
      exchange.begin(index, v, shards);
      let local = 0;
      for (;;) {
        const step = exchange.next(index);
        if ('compute' in step) {
          const t0 = performance.now();
          const vector = options.product(step.compute, v);
          const seconds = (performance.now() - t0) / 1000;
          local += seconds;
          stats.localShards++;
          exchange.submit(index, step.compute, { vector, seconds });
          continue;
        }
        if (step.products.length !== shards || step.products.some((p) => !p || p.vector.length !== v.length)) {
          throw new Error(`product ${index}: expected ${shards} shard products of length ${v.length}`);
        }
        // float64, fixed shard order: the same sum whoever computed the shards.
        const sum = new Float64Array(v.length);
        step.products.forEach((p, s) => {
          const w = weights[s]!;
          for (let i = 0; i < sum.length; i++) sum[i] += w * p.vector[i]!;
        });
        stats.products++;
        stats.remoteShards += step.remote;
        stats.computeSeconds += step.products.reduce((acc, p) => acc + p.seconds, 0);
        stats.localComputeSeconds += local;
        stats.wallSeconds += (performance.now() - started) / 1000;
        return options.compact(sum);
      }
    },
  };
}

/** Whole products, timed the same way (wall = compute, no exchange). */
export function timedOperator(operator: LinearOperator, stats: HvpRunStats): LinearOperator {
  return {
    dimension: operator.dimension,
    apply(u, into) {
      const started = performance.now();
      const out = operator.apply(u, into);
      const seconds = (performance.now() - started) / 1000;
      stats.products++;
      stats.localShards++;
      stats.wallSeconds += seconds;
      stats.computeSeconds += seconds;
      stats.localComputeSeconds += seconds;
      return out;
    },
  };
}

export function emptyHvpStats(plan: HvpPlan): HvpRunStats {
  return { ...plan, products: 0, localShards: 0, remoteShards: 0, wallSeconds: 0, computeSeconds: 0, localComputeSeconds: 0 };
}

/** result.json `hvp`: the mode that ran and mean milliseconds per product (over every unit). */
export interface HvpSummary {
  mode: 'whole' | 'sharded' | 'mixed';
  shards: number;
  reason: string;
  products: number;
  localShards: number;
  remoteShards: number;
  /** Mean per product: driver wall time; compute (summed over shards, wherever run); wall − the driver's own compute (queue, transfer, waiting). */
  wallMsPerHvp: number;
  computeMsPerHvp: number;
  overheadMsPerHvp: number;
  /** Layers whose Jacobian was factored out of the products (linear-input.ts); the rest were differentiated twice. */
  factoredLayers?: string[];
}

export function summarizeHvp(list: HvpRunStats[]): HvpSummary | undefined {
  if (!list.length) return undefined;
  const modes = new Set(list.map((s) => s.mode));
  const sum = (f: (s: HvpRunStats) => number): number => list.reduce((acc, s) => acc + f(s), 0);
  const products = sum((s) => s.products);
  const per = (seconds: number): number => (products ? (1000 * seconds) / products : 0);
  return {
    mode: modes.size > 1 ? 'mixed' : list[0]!.mode,
    shards: Math.max(...list.map((s) => s.shards)),
    reason: list[0]!.reason,
    products,
    localShards: sum((s) => s.localShards),
    remoteShards: sum((s) => s.remoteShards),
    wallMsPerHvp: per(sum((s) => s.wallSeconds)),
    computeMsPerHvp: per(sum((s) => s.computeSeconds)),
    overheadMsPerHvp: per(sum((s) => s.wallSeconds - s.localComputeSeconds)),
  };
}
