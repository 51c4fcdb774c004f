import { selectBackend, type BackendChoice, type BackendInfo } from '../backend';
import { UnitCancelled } from '../evaluate';
import { InputError } from '../errors';
import type { HvpShardRef } from '../handler';
import type { HvpBackend, ShardStep, ShardProduct } from '../hessian/sharded';
import type { JobKindRegistry } from '../job-kinds';
import type { RefResolver } from '../prepare';
import type { JobSpec } from '../spec';

/**
 * What one unit (or one shard product) needs to run anywhere: everything is plain data, so the same task runs
 * on the calling thread or on a pool thread. `paths` maps every reference of the spec to a local path.
 */
export interface UnitTask {
  jobId: string;
  spec: JobSpec;
  paths: Record<string, string>;
  unitId: string;
  /** Results of the units it `needs`. */
  inputs?: ReadonlyMap<string, unknown>;
}

export interface ShardProductTask {
  jobId: string;
  spec: JobSpec;
  paths: Record<string, string>;
  shard: HvpShardRef;
  vector: Float64Array;
}

/** What a driver unit may do with sharded products: the facts for `planHvp`. */
export interface HvpOffer {
  workers: number;
  threads: number;
  minWork: number;
}

/** A driver's exchange call, made synchronously by the computing unit and answered asynchronously. */
export type HvpCall =
  | { op: 'begin'; index: number; vector: Float64Array; shards: number }
  | { op: 'next'; index: number }
  | { op: 'submit'; index: number; shard: number; product: ShardProduct };

/** Resolves the references resolved beforehand (at planning, or by downloading artifacts) and nothing else. */
export function pathsResolver(paths: Readonly<Record<string, string>>): RefResolver {
  return (ref, field) => {
    const path = paths[ref];
    if (path === undefined) throw new InputError(`'${ref}' was not resolved before the units ran`, field);
    return path;
  };
}

/** A resolver that also records what it resolved, so the units can be given the same paths. */
export function recordingResolver(resolve: RefResolver): { resolve: RefResolver; paths: Record<string, string> } {
  const paths: Record<string, string> = {};
  return {
    paths,
    resolve: (ref, field) => {
      const path = resolve(ref, field);
      paths[ref] = path;
      return path;
    },
  };
}

/** How a running unit reports and is stopped; `hvp` is set when it may shard its Hessian-vector products. */
export interface UnitChannel {
  onWork(done: number): void;
  stopped(): boolean;
  hvp?: { offer: HvpOffer; call(call: HvpCall): ShardStep | null };
}

/**
 * Prepared jobs of this thread, most recently used last; older ones are released (their tensors freed). A
 * job is prepared once per thread and reused by every unit of it that thread runs.
 */
export class PreparedJobs {
  private readonly jobs = new Map<string, { kind: string; value: Promise<unknown> }>();

  constructor(
    private readonly registry: JobKindRegistry,
    private readonly keep = 2,
  ) {}

  get(jobId: string, spec: JobSpec, paths: Readonly<Record<string, string>>): Promise<unknown> {
    let entry = this.jobs.get(jobId);
    if (entry) {
      this.jobs.delete(jobId);
    } else {
      const value = Promise.resolve().then(() => this.registry.get(spec.kind).prepare(spec, pathsResolver(paths)));
      entry = { kind: spec.kind, value };
      value.catch(() => this.jobs.delete(jobId)); // a failed prepare is not kept
    }
    this.jobs.set(jobId, entry);
    while (this.jobs.size > this.keep) this.release(this.jobs.keys().next().value!);
    return entry.value;
  }

  release(jobId: string): void {
    const entry = this.jobs.get(jobId);
    if (!entry) return;
    this.jobs.delete(jobId);
    const { release } = this.registry.get(entry.kind);
    entry.value.then((value) => release?.(value)).catch(() => undefined);
  }
}

function hvpBackend(unitId: string, hvp: NonNullable<UnitChannel['hvp']>): HvpBackend {
  return {
    ...hvp.offer,
    exchange: () => ({
      begin: (index, vector, shards) => void hvp.call({ op: 'begin', index, vector, shards }),
      next: (index) => {
        const step = hvp.call({ op: 'next', index });
        if (!step) throw new Error(`unit ${unitId}: no answer to a shard exchange`);
        return step;
      },
      submit: (index, shard, product) => void hvp.call({ op: 'submit', index, shard, product }),
    }),
  };
}

/** The one way a unit runs, on whichever thread: prepare (cached), then the kind's runUnit. */
export async function runUnitTask(
  registry: JobKindRegistry,
  jobs: PreparedJobs,
  backend: BackendChoice,
  task: UnitTask,
  channel: UnitChannel,
): Promise<unknown> {
  if (channel.stopped()) throw new UnitCancelled(task.unitId);
  await selectBackend(backend);
  const prepared = await jobs.get(task.jobId, task.spec, task.paths);
  const onWork = (done: number): boolean => {
    channel.onWork(done);
    return !channel.stopped();
  };
  return registry.get(task.spec.kind).runUnit(task.spec, prepared, task.unitId, {
    backend,
    onWork,
    inputs: task.inputs ?? new Map(),
    ...(channel.hvp ? { hvp: hvpBackend(task.unitId, channel.hvp) } : {}),
  });
}

export async function runShardTask(registry: JobKindRegistry, jobs: PreparedJobs, backend: BackendChoice, task: ShardProductTask): Promise<Float64Array> {
  await selectBackend(backend);
  const prepared = await jobs.get(task.jobId, task.spec, task.paths);
  const handler = registry.get(task.spec.kind);
  if (!handler.hvpShard) throw new Error(`job kind ${task.spec.kind} has no sharded products`);
  return handler.hvpShard(task.spec, prepared, task.shard, task.vector, { backend });
}

export type { BackendInfo };
