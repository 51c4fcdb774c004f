import { z } from 'zod';
import { BACKENDS } from './backend';
import { InputError } from './errors';
import { LOSSES } from './losses';
import { BIAS_HANDLINGS, NORMALIZATIONS } from './normalization';

/**
 * The job spec: one schema for the CLI, the REST API and the workers (docs/job-spec.md). References to models,
 * data and weight sets are strings: file paths (relative to the spec file) for `landscape run`, artifact ids
 * (`sha256:<hex>`) over REST.
 */
const ref = z.string().min(1, 'must name a file or artifact');

const axis = z
  .tuple([z.number().finite(), z.number().finite(), z.number().int().min(1, 'steps must be at least 1')])
  .refine(([min, max, steps]) => steps === 1 || min < max, { message: 'must be [min, max, steps] with min < max' });

const seed = z.number().int().min(0).max(2 ** 32 - 1);

const dataRef = z.union([
  ref,
  z
    .object({
      path: ref,
      format: z.enum(['json', 'csv']).optional(),
      /** CSV: the target column's name. */
      target: z.string().optional(),
      subset: z.object({ n: z.number().int().min(1), seed: seed.default(0) }).strict().optional(),
    })
    .strict(),
  z
    .object({
      synthetic: z.enum(['spirals', 'moons', 'blobs']),
      n: z.number().int().min(1).max(1_000_000),
      seed: seed.default(0),
      classes: z.number().int().min(2).max(100).optional(),
      noise: z.number().finite().min(0).optional(),
      subset: z.object({ n: z.number().int().min(1), seed: seed.default(0) }).strict().optional(),
    })
    .strict(),
]);

export const directionSource = z.union([
  z.object({ seed }).strict(),
  z.object({ file: ref }).strict(),
  /** θ_model − θ_origin: with two of these, a plane through three models. */
  z.object({ model: ref }).strict(),
]);

const directionsBase = {
  /** Default: `none` when every direction is a model difference, else `filter`. */
  normalization: z.enum(NORMALIZATIONS).optional(),
  bias: z.enum(BIAS_HANDLINGS).default('ignore'),
};

const common = {
  model: ref,
  data: dataRef,
  loss: z.enum(LOSSES),
  /** What the model outputs; a final softmax/sigmoid layer is detected and skipped for stable losses. */
  output: z.enum(['logits', 'probabilities']).default('logits'),
  evaluation: z.object({ batchSize: z.number().int().min(1).max(1_000_000).default(1024) }).strict().default({}),
  backend: z.enum(BACKENDS).default('auto'),
  /** Worker threads for `landscape run`; `auto` = one per core. */
  threads: z.union([z.number().int().min(1).max(256), z.literal('auto')]).default('auto'),
  limits: z.object({ maxPoints: z.number().int().min(1).default(40_000) }).strict().default({}),
  tiles: z.object({ x: z.number().int().min(1), y: z.number().int().min(1).default(1) }).strict().optional(),
  /** Free text kept in the result. */
  label: z.string().max(200).optional(),
};

export const lineSpec = z
  .object({
    kind: z.literal('line'),
    ...common,
    /** Shorthand for directions.x = {model: to}: the interpolation θ0 + α(θ_to − θ0). */
    to: ref.optional(),
    directions: z.object({ x: directionSource, ...directionsBase }).strict().optional(),
    grid: z.object({ x: axis }).strict(),
  })
  .strict()
  .refine((spec) => (spec.to === undefined) !== (spec.directions === undefined), {
    message: 'give either "to" (interpolation between two models) or "directions" with an x direction',
    path: ['to'],
  });

export const surfaceSpec = z
  .object({
    kind: z.literal('surface'),
    ...common,
    directions: z
      .object({ x: directionSource, y: directionSource, ...directionsBase, orthogonalize: z.boolean().default(false) })
      .strict(),
    grid: z.object({ x: axis, y: axis }).strict(),
  })
  .strict();

export const jobSpecSchema = z.union([lineSpec, surfaceSpec]);

export type LineSpec = z.infer<typeof lineSpec>;
export type SurfaceSpec = z.infer<typeof surfaceSpec>;
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobKind = JobSpec['kind'];
export type DirectionSource = z.infer<typeof directionSource>;
export type DataRef = z.infer<typeof dataRef>;

export interface SpecIssue {
  /** Dotted path of the offending field, e.g. `grid.y`. */
  field: string;
  reason: string;
}

const KINDS: Record<JobKind, z.ZodTypeAny> = { line: lineSpec, surface: surfaceSpec };

/** Validates a job spec; issues name each offending field. Unknown kinds are reported on `kind`. */
export function validateJobSpec(input: unknown): { ok: true; spec: JobSpec } | { ok: false; issues: SpecIssue[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, issues: [{ field: '(body)', reason: 'a job spec must be a JSON object' }] };
  }
  const kind = (input as { kind?: unknown }).kind;
  const schema = typeof kind === 'string' && Object.hasOwn(KINDS, kind) ? KINDS[kind as JobKind] : undefined;
  if (!schema) {
    return { ok: false, issues: [{ field: 'kind', reason: `must be one of ${Object.keys(KINDS).join(', ')} (got ${JSON.stringify(kind)})` }] };
  }
  const parsed = schema.safeParse(input);
  if (parsed.success) return { ok: true, spec: parsed.data as JobSpec };
  return {
    ok: false,
    issues: parsed.error.issues.map((issue) => ({ field: issue.path.length ? issue.path.join('.') : '(spec)', reason: issue.message })),
  };
}

/** Throws an InputError naming every offending field. */
export function parseJobSpec(input: unknown): JobSpec {
  const result = validateJobSpec(input);
  if (result.ok) return result.spec;
  throw new InputError(result.issues.map((issue) => `${issue.field}: ${issue.reason}`).join('; '));
}
