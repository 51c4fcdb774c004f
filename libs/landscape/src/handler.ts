import type { BackendChoice } from './backend';
import type { HvpBackend } from './hessian/sharded';
import type { RefResolver } from './prepare';
import type { JobSpec } from './spec';

/**
 * A job kind, declared once and used by both execution paths: `landscape run` (embedded: every unit on this
 * machine's threads) and the distributed system (every unit a queue job on some worker, then one assembly
 * step). Both run units through the same executor (executor/); only the transport differs.
 * Units are computed independently, in any order that respects `needs`; their results are plain JSON.
 */
export interface UnitRef {
  /** Stable within a job: the same spec always gives the same unit ids. */
  id: string;
  /** Relative cost (points, HVPs) for progress and ETA. */
  work: number;
  /** Units whose results this one consumes (`UnitContext.inputs`); they run first. */
  needs?: string[];
}

export interface UnitContext {
  backend: BackendChoice;
  /** Called as work advances (in `work` units, cumulative within the unit); false = cancelled, stop. */
  onWork?: (done: number) => boolean | void;
  /** The results of the units this one `needs`, by unit id. */
  inputs: ReadonlyMap<string, unknown>;
  /** Distributed workers only: lets a unit spread each Hessian-vector product over data shards (hessian/sharded.ts). */
  hvp?: HvpBackend;
}

/** One data shard of a sharded Hessian-vector product: shard `index` of `count` (ranges follow from the job). */
export interface HvpShardRef {
  index: number;
  count: number;
}

export interface JobHandler<Spec extends JobSpec = JobSpec, Prepared = unknown, UnitResult = unknown> {
  /**
   * Cheap: checks the inputs (throws InputError naming the field) and lists the units. Reads files, never
   * touches tfjs, trains or embeds nothing: the API calls it for every submitted job.
   */
  plan(spec: Spec, resolve: RefResolver): Promise<UnitRef[]> | UnitRef[];
  /** What a unit's `work` counts, for progress bars ('points', 'steps'); default 'work'. */
  workUnit?: string;
  /** Loads what the units need (model, data, directions); runs where units run. Cached per job by the executor. */
  prepare(spec: Spec, resolve: RefResolver): Promise<Prepared> | Prepared;
  runUnit(spec: Spec, prepared: Prepared, unitId: string, context: UnitContext): Promise<UnitResult>;
  /** Optional (kinds with sharded products): H_s·v for one data shard, computed for another worker's driver unit. */
  hvpShard?(spec: Spec, prepared: Prepared, shard: HvpShardRef, vector: Float64Array, context: { backend: BackendChoice }): Promise<Float64Array>;
  /** Builds result.json from all unit results; writes plots and exports into `outDir`. */
  assemble(spec: Spec, prepared: Prepared, results: ReadonlyMap<string, UnitResult>, execution: ExecutionRecord, outDir: string): Promise<unknown>;
  /** Frees what a prepared job holds (tensors) once it is done. */
  release?(prepared: Prepared): void;
}

/** How the units were executed, recorded in the result. */
export interface ExecutionRecord {
  startedAt: Date;
  prepareSeconds: number;
  evaluateSeconds: number;
  backend: import('./backend').BackendInfo;
  threads: number;
  workers?: { id: string; host: string; backend: string; units: number }[];
}
