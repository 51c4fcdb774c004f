import { selectBackend } from './backend';
import type { EmbeddedOptions, ExecutionRecord, JobHandler } from './handler';
import type { RefResolver } from './prepare';
import type { JobSpec } from './spec';

/**
 * Runs a whole job in this process with its handler: prepare, every unit (through the handler's embedded fast
 * path when it has one), assemble into `outDir`. Returns the result object written as result.json. `release`
 * frees what the prepared job holds (tensors) once it is done, whether it succeeded or not.
 */
export async function runEmbedded<Spec extends JobSpec, Prepared, UnitResult>(
  handler: JobHandler<Spec, Prepared, UnitResult>,
  spec: Spec,
  resolve: RefResolver,
  outDir: string,
  options: EmbeddedOptions,
  release?: (prepared: Prepared) => void,
): Promise<unknown> {
  const startedAt = new Date();
  const prepared = await handler.prepare(spec, resolve);
  try {
    return await runPrepared(handler, spec, prepared, outDir, options, startedAt);
  } finally {
    release?.(prepared);
  }
}

async function runPrepared<Spec extends JobSpec, Prepared, UnitResult>(
  handler: JobHandler<Spec, Prepared, UnitResult>,
  spec: Spec,
  prepared: Prepared,
  outDir: string,
  options: EmbeddedOptions,
  startedAt: Date,
): Promise<unknown> {
  const prepareSeconds = (Date.now() - startedAt.getTime()) / 1000;
  let results: Map<string, UnitResult>;
  let execution: ExecutionRecord;
  if (handler.runAllEmbedded) {
    const run = await handler.runAllEmbedded(spec, prepared, options);
    results = run.results;
    execution = { ...run.execution, startedAt, prepareSeconds };
  } else {
    const evaluateStart = performance.now();
    const backend = await selectBackend(options.backend);
    const units = handler.units(spec, prepared);
    const total = units.reduce((sum, unit) => sum + unit.work, 0);
    let finished = 0;
    results = new Map();
    for (const unit of units) {
      const onWork = (done: number): boolean => {
        options.onProgress?.({ done: finished + done, total, unit: 'work' });
        return !options.signal?.aborted;
      };
      results.set(unit.id, await handler.runUnit(spec, prepared, unit.id, { backend: options.backend, onWork }));
      finished += unit.work;
      options.onProgress?.({ done: finished, total, unit: 'work' });
      if (options.signal?.aborted) throw new Error('cancelled');
    }
    execution = { startedAt, prepareSeconds, evaluateSeconds: (performance.now() - evaluateStart) / 1000, backend, threads: 1 };
  }
  return handler.assemble(spec, prepared, results, execution, outDir);
}
