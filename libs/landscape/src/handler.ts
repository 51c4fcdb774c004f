import type { BackendChoice } from './backend';
import type { HvpBackend } from './hessian/sharded';
import type { RefResolver } from './prepare';
import type { Progress } from './run';
import type { JobSpec } from './spec';

/**
 * A job kind, declared once and used by both execution paths: `landscape run` (embedded: every unit in this
 * process) and the distributed system (every unit a queue job on some worker, then one assembly step).
 * Units must be computable independently and in any order; their results are plain JSON.
 */
export interface UnitRef {
  /** Stable within a job: the same spec always gives the same unit ids. */
  id: string;
  /** Relative cost (points, HVPs) for progress and ETA. */
  work: number;
}

export interface UnitContext {
  backend: BackendChoice;
  /** Called as work advances (in `work` units, cumulative within the unit); false = cancelled, stop. */
  onWork?: (done: number) => boolean | void;
  /** Distributed workers only: lets a unit spread each Hessian-vector product over data shards (hessian/sharded.ts). */
  hvp?: HvpBackend;
}

/** One data shard of a sharded Hessian-vector product: shard `index` of `count` (ranges follow from the job). */
export interface HvpShardRef {
  index: number;
  count: number;
}

export interface EmbeddedOptions {
  threads: number | 'auto';
  backend: BackendChoice;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface JobHandler<Spec extends JobSpec = JobSpec, Prepared = unknown, UnitResult = unknown> {
  kind: Spec['kind'];
  /** Loads and checks everything the units need (throws InputError on bad input). Cached per job by callers. */
  prepare(spec: Spec, resolve: RefResolver): Promise<Prepared> | Prepared;
  units(spec: Spec, prepared: Prepared): UnitRef[];
  runUnit(spec: Spec, prepared: Prepared, unitId: string, context: UnitContext): Promise<UnitResult>;
  /**
   * Optional fast path for the embedded mode (e.g. a thread pool); resolves with every unit's result and the
   * backend/threads used. Without it, units run one after another on the calling thread.
   */
  runAllEmbedded?(spec: Spec, prepared: Prepared, options: EmbeddedOptions): Promise<{ results: Map<string, UnitResult>; execution: ExecutionRecord }>;
  /** Optional (kinds with sharded products): H_s·v for one data shard, computed for another worker's driver unit. */
  hvpShard?(spec: Spec, prepared: Prepared, shard: HvpShardRef, vector: Float64Array, context: { backend: BackendChoice }): Promise<Float64Array>;
  /** Builds result.json from all unit results; writes plots and exports into `outDir`. */
  assemble(spec: Spec, prepared: Prepared, results: ReadonlyMap<string, UnitResult>, execution: ExecutionRecord, outDir: string): Promise<unknown>;
}

/** How the units were executed, recorded in the result. */
export interface ExecutionRecord {
  startedAt: Date;
  prepareSeconds: number;
  evaluateSeconds: number;
  backend: import('./backend').BackendInfo;
  threads: number;
  workers?: { id: string; host: string; backend: string; tiles: number }[];
}
