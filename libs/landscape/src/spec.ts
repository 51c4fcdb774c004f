import { z } from 'zod';
import { BACKENDS } from './backend';
import { DATA_FORMATS, SYNTHETIC_KINDS } from './data';
import { InputError } from './errors';
import { LOSSES } from './losses';
import { architectureSchema } from './model-builder';
import { MAX_POINTS_PER_PASS } from './multipoint';
import { BIAS_HANDLINGS, NORMALIZATIONS } from './normalization';

/**
 * The job spec: one schema for the CLI, the REST API and the workers (docs/job-spec.md). References to models,
 * data and weight sets are strings: file paths (relative to the spec file) for `landscape run`, artifact ids
 * (`sha256:<hex>`) over REST.
 */
const ref = z.string().min(1, 'must name a file or artifact');

const axis = z
  .tuple([z.number().finite(), z.number().finite(), z.number().int().min(1, 'steps must be at least 1')])
  .refine(([min, max, steps]) => steps === 1 || min < max, { message: 'must be [min, max, steps] with min < max' })
  // [-1e308, 1e308] passes as finite numbers but its width overflows to Infinity, and so would every point.
  .refine(([min, max]) => Number.isFinite(max - min), { message: 'the range max − min must be a finite number' });

const seed = z
  .number()
  .int()
  .min(0)
  .max(2 ** 32 - 1);

const dataRef = z.union([
  ref,
  z
    .object({
      path: ref,
      /** Default: detected from the file (docs/data-formats.md). */
      format: z.enum(DATA_FORMATS).optional(),
      /** CSV: the target column's name. */
      target: z.string().optional(),
      /** npy: the targets' .npy file (`path` holds x). */
      y: ref.optional(),
      /** npz: the names of the x and y arrays. */
      keys: z
        .object({ x: z.string().min(1), y: z.string().min(1) })
        .strict()
        .optional(),
      /** Multiplies every x value after reading, e.g. 1/255 for uint8 images. */
      scale: z.number().finite().positive().optional(),
      subset: z
        .object({ n: z.number().int().min(1), seed: seed.default(0) })
        .strict()
        .optional(),
    })
    .strict(),
  z
    .object({
      synthetic: z.enum(SYNTHETIC_KINDS),
      n: z.number().int().min(1).max(1_000_000),
      seed: seed.default(0),
      classes: z.number().int().min(2).max(100).optional(),
      noise: z.number().min(0).max(100).optional(),
      /** images: [height, width, channels]. */
      shape: z.tuple([z.number().int().min(1).max(1024), z.number().int().min(1).max(1024), z.number().int().min(1).max(64)]).optional(),
      subset: z
        .object({ n: z.number().int().min(1), seed: seed.default(0) })
        .strict()
        .optional(),
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

/** How the model file is read (docs/models.md): which output of a multi-output model, and frozen layers. */
const modelOptions = {
  /** Multi-output models: the output layer the loss reads (default: the first). */
  outputLayer: z.string().min(1).optional(),
  /** Weights of `trainable: false` layers: held fixed (default) or moved by directions, Hessians and training. */
  frozen: z.enum(['exclude', 'include']).default('exclude'),
};

const common = {
  model: ref,
  ...modelOptions,
  data: dataRef,
  loss: z.enum(LOSSES),
  /** What the model outputs; a final softmax/sigmoid layer is detected and skipped for stable losses. */
  output: z.enum(['logits', 'probabilities']).default('logits'),
  evaluation: z
    .object({
      batchSize: z.number().int().min(1).max(1_000_000).default(1024),
      /** Lines and surfaces: points per pass (default: a rule of the model and kernels, multipoint.ts), or 'auto' to measure it on the first passes. */
      pointsPerPass: z.union([z.number().int().min(1).max(MAX_POINTS_PER_PASS), z.literal('auto')]).optional(),
    })
    .strict()
    .default({}),
  backend: z.enum(BACKENDS).default('auto'),
  /** Worker threads for `landscape run`; `auto` = one per core. */
  threads: z.union([z.number().int().min(1).max(256), z.literal('auto')]).default('auto'),
  tiles: z
    .object({ x: z.number().int().min(1), y: z.number().int().min(1).default(1) })
    .strict()
    .optional(),
  /** Free text kept in the result. */
  label: z.string().max(200).optional(),
};

export const lineSpec = z
  .object({
    kind: z.literal('line'),
    ...common,
    /** Shorthand for directions.x = {model: to}: the interpolation θ0 + α(θ_to − θ0). */
    to: ref.optional(),
    directions: z
      .object({ x: directionSource, ...directionsBase })
      .strict()
      .optional(),
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
    directions: z.object({ x: directionSource, y: directionSource, ...directionsBase, orthogonalize: z.boolean().default(false) }).strict(),
    grid: z.object({ x: axis, y: axis }).strict(),
  })
  .strict();

/** Lanczos stopping rule: residual ≤ tol · max|Ritz value| for every wanted pair, or maxSteps products. */
const lanczosControls = {
  tol: z.number().positive().max(0.5).optional(),
  maxSteps: z.number().int().min(2).max(100_000).optional(),
};

/** The common fields without the grid-only ones (tiles). */
const { tiles: _tiles, ...pointCommon } = common;

/** Curvature at the model's weights: extreme eigenvalues, trace, spectral density (docs/method.md, "Hessian"). */
export const hessianSpec = z
  .object({
    kind: z.literal('hessian'),
    ...pointCommon,
    /** Seed of every random vector (Lanczos/power starts, trace probes, SLQ runs). */
    seed: seed.default(0),
    /** The k largest eigenvalues (largest first). */
    top: z
      .object({ k: z.number().int().min(1).max(1000), method: z.enum(['lanczos', 'power', 'exact']).default('lanczos'), ...lanczosControls })
      .strict()
      .optional(),
    /** The k smallest eigenvalues (smallest first). */
    bottom: z
      .object({ k: z.number().int().min(1).max(1000), method: z.enum(['lanczos', 'exact']).default('lanczos'), ...lanczosControls })
      .strict()
      .optional(),
    trace: z
      .object({
        method: z.enum(['exact', 'hutchinson', 'hutchpp']).default('hutchinson'),
        /** Probe vectors (hutchinson) or the product budget (hutchpp); ignored by exact. */
        samples: z.number().int().min(3).max(1_000_000).default(100),
        /** Hutchinson probes per unit of work (one queue job each in distributed runs). */
        batch: z.number().int().min(1).max(1_000_000).default(20),
      })
      .strict()
      .optional(),
    /** Spectral density by stochastic Lanczos quadrature. */
    density: z
      .object({
        runs: z.number().int().min(1).max(10_000).default(10),
        steps: z.number().int().min(2).max(10_000).default(80),
        points: z.number().int().min(16).max(100_000).default(512),
        /** Gaussian smoothing width; default 1/100 of the spectrum's range. */
        sigma: z.number().positive().finite().optional(),
      })
      .strict()
      .optional(),
    /** Save the computed eigenvectors as weight-set files (usable as surface directions). */
    eigenvectors: z.boolean().default(true),
    /** Distributed runs: each product by one worker (`whole`) or summed over data shards (docs/distributed-hessian.md). */
    hvp: z
      .object({ mode: z.enum(['auto', 'whole', 'sharded']).default('auto'), shards: z.number().int().min(1).max(1024).optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((spec) => spec.top || spec.bottom || spec.trace || spec.density, {
    message: 'ask for at least one of "top", "bottom", "trace", "density"',
    path: ['top'],
  });

/** λmax and λmin at every point of a surface grid (same directions and grid as `surface`). */
export const curvatureSpec = z
  .object({
    kind: z.literal('curvature'),
    ...common,
    directions: surfaceSpec.shape.directions,
    grid: surfaceSpec.shape.grid,
    seed: seed.default(0),
    curvature: z
      .object({ tol: z.number().positive().max(0.5).default(1e-3), maxSteps: z.number().int().min(2).max(10_000).default(40) })
      .strict()
      .default({}),
  })
  .strict();

/** Trains a model and records its trajectory of checkpoints (docs/job-spec.md, "train"). */
export const trainSpec = z
  .object({
    kind: z.literal('train'),
    /** A model to start from (its weights are the first point) or a built-in architecture (seeded Glorot init). */
    model: z.union([ref, architectureSchema]),
    ...modelOptions,
    data: dataRef,
    loss: z.enum(LOSSES),
    optimizer: z.enum(['sgd', 'adam']).default('sgd'),
    learningRate: z.number().positive().max(100).default(0.01),
    /** SGD only (0 = plain SGD). */
    momentum: z.number().min(0).lt(1).default(0.9),
    epochs: z.number().int().min(1).max(100_000).default(10),
    batchSize: z.number().int().min(1).max(1_000_000).default(32),
    /** Seeds the initial weights of a built-in architecture and every epoch's sample order. */
    seed: seed.default(0),
    /** A checkpoint after every epoch, or after every k optimizer steps. */
    checkpointEvery: z.union([z.literal('epoch'), z.number().int().min(1)]).default('epoch'),
    backend: z.enum(BACKENDS).default('auto'),
    label: z.string().max(200).optional(),
  })
  .strict()
  .superRefine((spec, context) => {
    // Knowable from the spec when the sample count is (synthetic data, a subset): an interval past the last step
    // would record no checkpoint but the first.
    if (spec.checkpointEvery === 'epoch' || typeof spec.data === 'string' || (!('synthetic' in spec.data) && !spec.data.subset)) return;
    const samples = spec.data.subset?.n ?? ('n' in spec.data ? spec.data.n : 0);
    const steps = spec.epochs * Math.ceil(samples / spec.batchSize);
    if (spec.checkpointEvery > steps)
      context.addIssue({
        code: 'custom',
        path: ['checkpointEvery'],
        message: `must be at most the ${steps} optimizer steps of the run (got ${spec.checkpointEvery})`,
      });
  });

export const TRAJECTORY_METHODS = ['pca', 'pca-directions', 'umap', 'autoencoder'] as const;

/** Embedding landscapes of a training trajectory, one per method (docs/job-spec.md, "trajectory"). */
export const trajectorySpec = z
  .object({
    kind: z.literal('trajectory'),
    ...common,
    /** A JSON file {"checkpoints": [[...flat...], ...]} (e.g. a train job's trajectory.json) or weight-set files in order. */
    trajectory: z.union([ref, z.array(ref).min(2, 'needs at least 2 checkpoints')]),
    methods: z
      .array(z.enum(TRAJECTORY_METHODS))
      .min(1)
      .refine((methods) => new Set(methods).size === methods.length, { message: 'lists a method twice' })
      .default([...TRAJECTORY_METHODS]),
    /** k of trustworthiness and continuity (must be below half the checkpoints). */
    neighbors: z.number().int().min(1).default(5),
    /** Per method: `steps` points over the embedding's bounding box, widened by `margin` × its extent on each side. */
    grid: z
      .object({
        steps: z.tuple([z.number().int().min(2), z.number().int().min(2)]).default([21, 21]),
        margin: z.number().finite().min(0).max(10).default(0.2),
      })
      .strict()
      .default({}),
    umap: z
      .object({
        /** Default min(15, checkpoints − 1). */
        nNeighbors: z.number().int().min(2).optional(),
        minDist: z.number().finite().min(0).default(0.1),
        nEpochs: z.number().int().min(1).max(100_000).optional(),
        seed: seed.default(0),
        /** Inverse map: inverse-distance weighting among the k nearest embedded checkpoints. */
        inverseK: z.number().int().min(1).default(3),
      })
      .strict()
      .default({}),
    autoencoder: z
      .object({
        hidden: z.array(z.number().int().min(1)).max(4).default([32]),
        epochs: z.number().int().min(1).max(100_000).default(300),
        learningRate: z.number().positive().max(100).default(0.01),
        seed: seed.default(0),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((spec, context) => {
    // With the checkpoints listed, their number is known before anything loads.
    if (!Array.isArray(spec.trajectory)) return;
    const n = spec.trajectory.length;
    if (spec.neighbors >= n / 2)
      context.addIssue({ code: 'custom', path: ['neighbors'], message: `must be below half the number of checkpoints (${n}), got ${spec.neighbors}` });
    if (spec.umap.nNeighbors !== undefined && spec.umap.nNeighbors >= n)
      context.addIssue({
        code: 'custom',
        path: ['umap', 'nNeighbors'],
        message: `must be below the number of checkpoints (${n}), got ${spec.umap.nNeighbors}`,
      });
  });

export const jobSpecSchema = z.union([lineSpec, surfaceSpec, hessianSpec, curvatureSpec, trainSpec, trajectorySpec]);

export type LineSpec = z.infer<typeof lineSpec>;
export type SurfaceSpec = z.infer<typeof surfaceSpec>;
export type HessianSpec = z.infer<typeof hessianSpec>;
export type CurvatureSpec = z.infer<typeof curvatureSpec>;
export type TrainSpec = z.infer<typeof trainSpec>;
export type TrajectorySpec = z.infer<typeof trajectorySpec>;
export type TrajectoryMethod = (typeof TRAJECTORY_METHODS)[number];
export type JobSpec = z.infer<typeof jobSpecSchema>;
export type JobKind = JobSpec['kind'];
export type DirectionSource = z.infer<typeof directionSource>;
export type DataRef = z.infer<typeof dataRef>;

export interface SpecIssue {
  /** Dotted path of the offending field, e.g. `grid.y`. */
  field: string;
  reason: string;
}

const KINDS: Record<JobKind, z.ZodTypeAny> = {
  line: lineSpec,
  surface: surfaceSpec,
  hessian: hessianSpec,
  curvature: curvatureSpec,
  train: trainSpec,
  trajectory: trajectorySpec,
};

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
    issues: parsed.error.issues.map((issue) => {
      // An unknown key is the offending field itself (e.g. a client sending `limits`), not the object holding it.
      const path = issue.code === 'unrecognized_keys' && issue.keys.length === 1 ? [...issue.path, issue.keys[0]!] : issue.path;
      return { field: path.length ? path.join('.') : '(spec)', reason: issue.message };
    }),
  };
}

/** Throws an InputError naming every offending field. */
export function parseJobSpec(input: unknown): JobSpec {
  const result = validateJobSpec(input);
  if (result.ok) return result.spec;
  throw new InputError(result.issues.map((issue) => `${issue.field}: ${issue.reason}`).join('; '));
}
