import * as core from '@landscape/core';
import { jobSpecSchema, landscapeHandler, releaseLandscape, type JobHandler, type JobKind, type JobSpec } from '@landscape/core';
import { releaseTrajectory, trainHandler, trajectoryHandler, type PreparedTrajectory } from '@landscape/metrics';

/**
 * The job kinds the distributed system runs: kind → handler, plus an optional hook that frees what a prepared
 * job holds (tensors) once a worker is done with it. Adding a kind = one entry here.
 */
export interface HandlerEntry {
  handler: JobHandler<JobSpec, unknown, unknown>;
  release?: (prepared: unknown) => void;
}

const registry = new Map<string, HandlerEntry>();

export function registerHandler(kind: string, entry: HandlerEntry): void {
  registry.set(kind, entry);
}

const landscape: HandlerEntry = {
  handler: landscapeHandler as unknown as JobHandler<JobSpec, unknown, unknown>,
  release: (prepared) => releaseLandscape(prepared as Parameters<typeof releaseLandscape>[0]),
};
registerHandler('line', landscape);
registerHandler('surface', landscape);
registerHandler('train', { handler: trainHandler as unknown as JobHandler<JobSpec, unknown, unknown> });
registerHandler('trajectory', {
  handler: trajectoryHandler as unknown as JobHandler<JobSpec, unknown, unknown>,
  release: (prepared) => releaseTrajectory(prepared as PreparedTrajectory),
});

function isHandler(value: unknown): value is JobHandler<JobSpec, unknown, unknown> {
  const candidate = value as Partial<JobHandler> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.kind === 'string' &&
    ['prepare', 'units', 'runUnit', 'assemble'].every((method) => typeof (candidate as Record<string, unknown>)[method] === 'function')
  );
}

// Any other handler @landscape/core exports serves the kind it names, so a new kind needs no edit here
// (kinds that share a handler, like line/surface above, are registered explicitly). Its release hook is
// found by the core's naming convention: `fooHandler` → `releaseFoo(prepared)`.
const coreExports = core as unknown as Record<string, unknown>;
for (const [name, value] of Object.entries(coreExports)) {
  if (!isHandler(value) || registry.has(value.kind)) continue;
  const base = name.endsWith('Handler') ? name.slice(0, -'Handler'.length) : '';
  const release = base ? coreExports[`release${base.charAt(0).toUpperCase()}${base.slice(1)}`] : undefined;
  registerHandler(value.kind, { handler: value, ...(typeof release === 'function' ? { release: release as (prepared: unknown) => void } : {}) });
}

export function hasHandler(kind: string): boolean {
  return registry.has(kind);
}

export function handlerEntryFor(kind: string): HandlerEntry {
  const entry = registry.get(kind);
  if (!entry) throw new Error(`no handler for job kind '${kind}' (known: ${[...registry.keys()].join(', ')})`);
  return entry;
}

export function handlerFor(kind: string): JobHandler<JobSpec, unknown, unknown> {
  return handlerEntryFor(kind).handler;
}

/** The kinds the spec schema accepts, read from the schema itself so a new kind cannot be forgotten here. */
export function specKinds(): JobKind[] {
  return jobSpecSchema.options.map((option) => {
    // A refined object schema (ZodEffects) wraps the object schema that has the `kind` literal.
    let schema = option as unknown as { shape?: { kind: { value: JobKind } }; _def: { schema?: unknown } };
    while (!schema.shape && schema._def.schema) schema = schema._def.schema as typeof schema;
    return schema.shape!.kind.value;
  });
}

/** Called at startup by the API and the worker: every kind of the spec schema must have a handler. */
export function checkHandlers(): void {
  const missing = specKinds().filter((kind) => !registry.has(kind));
  if (missing.length) throw new Error(`job kinds without a handler: ${missing.join(', ')}`);
}
