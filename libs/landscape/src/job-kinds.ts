import type { JobHandler } from './handler';
import { jobSpecSchema, type JobKind, type JobSpec } from './spec';

/**
 * The job-kind registry: one entry per kind (kind → handler), listed explicitly. A list missing a kind of the
 * spec schema does not type-check (`defineJobKinds`), and the startup check (`checkComplete`) says the same at
 * run time; a kind listed twice is refused when the registry is built.
 */
export type SpecOf<K extends JobKind> = Extract<JobSpec, { kind: K }>;

export interface JobKindEntry<K extends JobKind = JobKind> {
  kind: K;
  handler: JobHandler<JobSpec, unknown, unknown>;
}

/** One registry line: the handler is checked against the spec type of its kind. */
export function jobKind<K extends JobKind, Prepared, UnitResult>(kind: K, handler: JobHandler<NoInfer<SpecOf<K>>, Prepared, UnitResult>): JobKindEntry<K> {
  return { kind, handler: handler as unknown as JobHandler<JobSpec, unknown, unknown> };
}

/** Where a computing thread finds this registry: `require(module)[name]`. */
export interface RegistryLocation {
  module: string;
  name: string;
}

/** The kinds the spec schema accepts, read from the schema itself so a new kind cannot be forgotten. */
export function specKinds(): JobKind[] {
  return jobSpecSchema.options.map((option) => {
    // A refined object schema (ZodEffects) wraps the object schema that has the `kind` literal.
    let schema = option as unknown as { shape?: { kind: { value: JobKind } }; _def: { schema?: unknown } };
    while (!schema.shape && schema._def.schema) schema = schema._def.schema as typeof schema;
    return schema.shape!.kind.value;
  });
}

const registries: JobKindRegistry[] = [];

export class JobKindRegistry {
  private readonly handlers = new Map<string, JobHandler<JobSpec, unknown, unknown>>();

  constructor(
    readonly location: RegistryLocation,
    entries: readonly JobKindEntry[],
  ) {
    for (const { kind, handler } of entries) {
      if (this.handlers.has(kind)) throw new Error(`job kind '${kind}' is registered twice`);
      this.handlers.set(kind, handler);
    }
    // Only a registry that threads can load is worth finding again (registryOf).
    if (location.module) registries.push(this);
  }

  kinds(): string[] {
    return [...this.handlers.keys()];
  }

  has(kind: string): boolean {
    return this.handlers.has(kind);
  }

  get(kind: string): JobHandler<JobSpec, unknown, unknown> {
    const handler = this.handlers.get(kind);
    if (!handler) throw new Error(`no handler for job kind '${kind}' (known: ${this.kinds().join(', ')})`);
    return handler;
  }

  /** Called at startup by the API, the worker and the CLI: every kind of the spec schema has a handler. */
  checkComplete(): void {
    const missing = specKinds().filter((kind) => !this.handlers.has(kind));
    if (missing.length) throw new Error(`job kinds without a handler: ${missing.join(', ')}`);
  }
}

/** A registry that must cover every kind: a missing one is a type error naming it. */
export function defineJobKinds<const Entries extends readonly JobKindEntry[]>(
  location: RegistryLocation,
  entries: Entries & (Exclude<JobKind, Entries[number]['kind']> extends never ? unknown : { missingKinds: Exclude<JobKind, Entries[number]['kind']> }),
): JobKindRegistry {
  const registry = new JobKindRegistry(location, entries);
  registry.checkComplete();
  return registry;
}

/** The registry built in this process that holds `handler` (so a bare handler can still run on threads). */
export function registryOf(handler: JobHandler<JobSpec, unknown, unknown>, kind: string): JobKindRegistry | undefined {
  return registries.find((registry) => registry.has(kind) && registry.get(kind) === handler);
}

/** Reads a registry in a computing thread. */
export function loadRegistry(location: RegistryLocation): JobKindRegistry {
  const registry = (require(location.module) as Record<string, unknown>)[location.name];
  if (!(registry instanceof JobKindRegistry)) throw new Error(`${location.module} exports no job-kind registry '${location.name}'`);
  return registry;
}
