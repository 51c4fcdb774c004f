import { loadDatasetFile, subsetDataset, syntheticDataset, type Dataset } from './data';
import { randomDirection } from './directions';
import { InputError } from './errors';
import type { EvaluationSetup, LandscapePlan } from './evaluate';
import { makeGrid } from './grid';
import { checkSampleShape, loadModel, type LoadedModel, type ModelOptions } from './model';
import { normalizeDirection, orthogonalize, type BiasHandling, type Normalization } from './normalization';
import { modelDisplayName, refName } from './names';
import type { DataRef, DirectionSource, JobSpec, LineSpec, SurfaceSpec } from './spec';
import { assertFinite, norm, readWeightSetFile, subtract, tensorView } from './weights';

/**
 * Turns a reference from a spec (a path relative to the spec file, or an artifact id) into a local path.
 * `field` is the spec path of the reference, for error messages.
 */
export type RefResolver = (ref: string, field: string) => string;

/**
 * What a handler's `plan` prepared (it needs the grid), handed to the first `prepare` of the same spec object in
 * this process when every reference resolves to the same path again: an embedded run plans and prepares on the
 * calling thread, and reading a 784-input data set and its directions twice cost ~0.5 s. Taken once (later
 * prepares, e.g. on other threads, read the files themselves); held weakly by the spec.
 */
export class PlannedPreparation<Spec extends object, Prepared> {
  private readonly planned = new WeakMap<Spec, { resolved: [ref: string, field: string, path: string][]; value: Prepared }>();

  constructor(private readonly prepareWith: (spec: Spec, resolve: RefResolver) => Prepared) {}

  /** Prepares for `plan`, keeping the result for one `prepare`. */
  plan(spec: Spec, resolve: RefResolver): Prepared {
    const resolved: [string, string, string][] = [];
    const value = this.prepareWith(spec, (ref, field) => {
      const path = resolve(ref, field);
      resolved.push([ref, field, path]);
      return path;
    });
    this.planned.set(spec, { resolved, value });
    return value;
  }

  prepare(spec: Spec, resolve: RefResolver): Prepared {
    const entry = this.planned.get(spec);
    this.planned.delete(spec);
    if (entry && entry.resolved.every(([ref, field, path]) => resolve(ref, field) === path)) return entry.value;
    return this.prepareWith(spec, resolve);
  }
}

export function loadData(data: DataRef, resolve: RefResolver): Dataset {
  if (typeof data === 'string') return loadDatasetFile(resolve(data, 'data'));
  const full =
    'synthetic' in data
      ? syntheticDataset(data)
      : loadDatasetFile(resolve(data.path, 'data.path'), { ...data, y: data.y === undefined ? undefined : resolve(data.y, 'data.y') });
  return data.subset ? subsetDataset(full, data.subset.n, data.subset.seed) : full;
}

/** The spec's model-reading options (outputLayer, frozen) as loadModel takes them. */
export function modelOptionsOf(spec: { outputLayer?: string; frozen?: 'exclude' | 'include' }): ModelOptions {
  return { output: spec.outputLayer, frozen: spec.frozen };
}

/** Loads a model; its description's name becomes its display name (names.ts), the same embedded and distributed. */
export function loadModelRef(ref: string, field: string, resolve: RefResolver, options: ModelOptions = {}): LoadedModel {
  const path = resolve(ref, field);
  const model = loadModel(path, options);
  assertFinite(model.weights, model.description.layout, ref);
  model.description.name = modelDisplayName(model.description.name, path);
  return model;
}

/** What every result records about its directions. */
export interface DirectionRecord {
  source: DirectionSource;
  /** Display name of a file or model source (names.ts): what the figures call it. */
  name?: string;
  normalization: Normalization;
  bias: BiasHandling;
  orthogonalized?: boolean;
  norm: number;
}

export interface PreparedLandscape {
  kind: 'line' | 'surface';
  setup: EvaluationSetup;
  plan: LandscapePlan;
  directions: DirectionRecord[];
  model: LoadedModel;
}

function direction(
  source: DirectionSource,
  field: string,
  origin: LoadedModel,
  resolve: RefResolver,
  options: ModelOptions,
): { vector: Float64Array; name?: string } {
  const { layout } = origin.description;
  if ('seed' in source) return { vector: randomDirection(layout, source.seed) };
  if ('file' in source) {
    const path = resolve(source.file, `${field}.file`);
    return { vector: readWeightSetFile(path, layout), name: refName(path) };
  }
  const other = loadModelRef(source.model, `${field}.model`, resolve, options);
  // Matched by weight name: the two files may list their weights in different orders (tfjs save vs a Keras export).
  const theirs = new Map(other.description.layout.map((spec) => [spec.name, spec]));
  const mismatch = layout.find((spec) => theirs.get(spec.name)?.shape.join() !== spec.shape.join());
  if (mismatch || theirs.size !== layout.length) {
    const name = mismatch?.name ?? '(weight count)';
    throw new InputError(`model ${source.model} does not have the same weights as the origin model (first difference: '${name}')`, `${field}.model`);
  }
  const aligned = new Float64Array(origin.weights.length);
  for (const spec of layout) aligned.set(tensorView(other.weights, theirs.get(spec.name)!), spec.offset);
  // Named by its file, like every direction source: two models may carry the same chosen name.
  return { vector: subtract(aligned, origin.weights), name: refName(resolve(source.model, `${field}.model`)) };
}

function directionSpecs(spec: LineSpec | SurfaceSpec): {
  sources: DirectionSource[];
  normalization?: Normalization;
  bias: BiasHandling;
  orthogonalize: boolean;
} {
  if (spec.kind === 'surface') return { sources: [spec.directions.x, spec.directions.y], ...spec.directions };
  if (spec.to !== undefined) return { sources: [{ model: spec.to }], normalization: 'none', bias: 'ignore', orthogonalize: false };
  return { sources: [spec.directions!.x], normalization: spec.directions!.normalization, bias: spec.directions!.bias, orthogonalize: false };
}

/** Loads model and data, builds and normalizes the directions, and lays the grid: everything evaluation needs. */
export function prepareLandscape(spec: LineSpec | SurfaceSpec, resolve: RefResolver): PreparedLandscape {
  const grid = spec.kind === 'surface' ? makeGrid(spec.grid.x, spec.grid.y) : makeGrid(spec.grid.x);
  const options = modelOptionsOf(spec);
  const model = loadModelRef(spec.model, 'model', resolve, options);
  const data = loadData(spec.data, resolve);
  checkSampleShape(model.description, data.sampleShape);
  const { sources, bias, orthogonalize: orth } = directionSpecs(spec);
  const normalization = directionSpecs(spec).normalization ?? (sources.every((s) => 'model' in s) ? 'none' : 'filter');
  const axes = ['x', 'y'];
  const raw = sources.map((source, k) =>
    direction(source, spec.kind === 'line' && spec.to !== undefined ? 'to' : `directions.${axes[k]}`, model, resolve, options),
  );
  const vectors = raw.map(({ vector }) => normalizeDirection(vector, model.weights, model.description.layout, normalization, bias));
  if (orth && vectors.length === 2) vectors[1] = orthogonalize(vectors[1]!, vectors[0]!);
  vectors.forEach((vector, k) => assertFinite(vector, model.description.layout, `direction ${axes[k]}`));
  const { batchSize, pointsPerPass } = spec.evaluation;
  const setup: EvaluationSetup = {
    model: model.description,
    data,
    loss: spec.loss,
    output: spec.output,
    batchSize,
    ...(pointsPerPass !== undefined ? { pointsPerPass } : {}),
  };
  return {
    kind: spec.kind,
    setup,
    plan: { origin: model.weights, directions: vectors, grid },
    model,
    directions: sources.map((source, k) => ({
      source,
      ...(raw[k]!.name ? { name: raw[k]!.name } : {}),
      normalization,
      bias,
      ...(k === 1 && orth ? { orthogonalized: true } : {}),
      norm: norm(vectors[k]!),
    })),
  };
}

export function isLandscapeSpec(spec: JobSpec): spec is LineSpec | SurfaceSpec {
  return spec.kind === 'line' || spec.kind === 'surface';
}
