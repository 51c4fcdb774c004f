import { availableParallelism } from 'node:os';
import { randomUUID } from 'node:crypto';
import { selectBackend, type BackendChoice } from './backend';
import { UnitExecutor, type RunningUnit } from './executor/pool';
import { recordingResolver } from './executor/task';
import type { ExecutionRecord, JobHandler, UnitRef } from './handler';
import { JobKindRegistry, registryOf } from './job-kinds';
import type { RefResolver } from './prepare';
import type { JobSpec } from './spec';

export interface Progress {
  done: number;
  total: number;
  unit: string;
}

export interface EmbeddedOptions {
  /** Computing threads; `auto` = one per core (native TensorFlow threads itself: one). */
  threads: number | 'auto';
  backend: BackendChoice;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

/** Units that can run at the same time: the widest stage of the `needs` graph bounds useful threads. */
function widestStage(units: readonly UnitRef[]): number {
  const stage = new Map<string, number>();
  const depth = (unit: UnitRef): number => {
    let known = stage.get(unit.id);
    if (known === undefined) {
      known = 1 + Math.max(-1, ...(unit.needs ?? []).map((id) => depth(units.find((u) => u.id === id)!)));
      stage.set(unit.id, known);
    }
    return known;
  };
  const counts = new Map<number, number>();
  for (const unit of units) counts.set(depth(unit), (counts.get(depth(unit)) ?? 0) + 1);
  return Math.max(1, ...counts.values());
}

/** `auto`: one thread per core, except native TensorFlow (it threads itself); never more than can run at once. */
async function embeddedThreads(requested: number | 'auto', backend: BackendChoice, units: readonly UnitRef[]): Promise<number> {
  const native = async (): Promise<boolean> => (backend === 'auto' ? (await selectBackend(backend)).name : backend).startsWith('tensorflow');
  const wanted = requested !== 'auto' ? requested : (await native()) ? 1 : availableParallelism();
  return Math.max(1, Math.min(wanted, widestStage(units)));
}

/**
 * Runs units on the executor, each once its `needs` are done, at most `threads` at a time. Resolves with every
 * unit's result; a cancelled run (signal) stops the running units and rejects.
 */
async function runUnits(
  executor: UnitExecutor,
  jobId: string,
  spec: JobSpec,
  paths: Record<string, string>,
  units: readonly UnitRef[],
  options: EmbeddedOptions,
  workUnit: string,
): Promise<Map<string, unknown>> {
  const results = new Map<string, unknown>();
  const total = units.reduce((sum, unit) => sum + unit.work, 0);
  const doneByUnit = new Map<string, number>();
  let done = 0;
  const report = (unitId: string, value: number): void => {
    done += value - (doneByUnit.get(unitId) ?? 0);
    doneByUnit.set(unitId, value);
    options.onProgress?.({ done, total, unit: workUnit });
  };
  const waiting = [...units];
  const running = new Set<RunningUnit>();
  const stopAll = (): void => running.forEach((unit) => unit.stop('cancelled'));
  options.signal?.addEventListener('abort', stopAll);
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const next = (): void => {
        if (failed) return;
        if (options.signal?.aborted) return reject(new Error('cancelled'));
        if (!waiting.length && !running.size) return resolve();
        while (running.size < executor.size) {
          const index = waiting.findIndex((unit) => (unit.needs ?? []).every((id) => results.has(id)));
          if (index < 0) break;
          const [unit] = waiting.splice(index, 1) as [UnitRef];
          const inputs = new Map((unit.needs ?? []).map((id) => [id, results.get(id)]));
          const started = executor.run({ jobId, spec, paths, unitId: unit.id, inputs }, { onWork: (value) => report(unit.id, value) });
          running.add(started);
          started.result.then(
            (result) => {
              running.delete(started);
              results.set(unit.id, result);
              report(unit.id, unit.work);
              next();
            },
            (error: Error) => {
              running.delete(started);
              failed = true;
              stopAll();
              reject(options.signal?.aborted ? new Error('cancelled') : error);
            },
          );
        }
        if (!running.size && waiting.length) reject(new Error(`units ${waiting.map((unit) => unit.id).join(', ')} need units this job does not have`));
      };
      next();
    });
  } finally {
    options.signal?.removeEventListener('abort', stopAll);
  }
  return results;
}

/**
 * `landscape run`: plans the job, runs every unit on this machine's threads through the same executor as the
 * workers, and assembles into `outDir`. Returns the result object written as result.json. A bare handler
 * runs through the registry that holds it (threads load the handler from there).
 */
export async function runEmbedded<Spec extends JobSpec, Prepared, UnitResult>(
  kinds: JobKindRegistry | JobHandler<Spec, Prepared, UnitResult>,
  spec: Spec,
  resolve: RefResolver,
  outDir: string,
  options: EmbeddedOptions,
): Promise<unknown> {
  const startedAt = new Date();
  const handler = kinds instanceof JobKindRegistry ? kinds.get(spec.kind) : (kinds as unknown as JobHandler<JobSpec, unknown, unknown>);
  const registry =
    kinds instanceof JobKindRegistry
      ? kinds
      : (registryOf(handler, spec.kind) ?? new JobKindRegistry({ module: '', name: '' }, [{ kind: spec.kind, handler }]));
  const recorded = recordingResolver(resolve);
  const units = await handler.plan(spec, recorded.resolve);
  const threads = await embeddedThreads(options.threads, options.backend, units);
  if (threads > 1 && !registry.location.module) throw new Error(`job kind ${spec.kind}: a handler outside a job-kind registry cannot run on threads`);
  const executor = await UnitExecutor.start({ registry, threads, backend: options.backend, inline: threads === 1 });
  const jobId = randomUUID();
  try {
    // The assembler's own copy (on one thread, the units share it).
    const prepared = await executor.prepare(jobId, spec, recorded.paths);
    const prepareSeconds = (Date.now() - startedAt.getTime()) / 1000;
    const evaluateStart = performance.now();
    const results = await runUnits(executor, jobId, spec, recorded.paths, units, options, handler.workUnit ?? 'work');
    const execution: ExecutionRecord = {
      startedAt,
      prepareSeconds,
      evaluateSeconds: (performance.now() - evaluateStart) / 1000,
      backend: executor.backend,
      threads: executor.threadsUsed,
    };
    return await handler.assemble(spec, prepared, results, execution, outDir);
  } finally {
    executor.release(jobId);
    await executor.close();
  }
}
