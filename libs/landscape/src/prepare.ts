import { loadDatasetFile, subsetDataset, syntheticDataset, type Dataset } from './data';
import { randomDirection } from './directions';
import { InputError } from './errors';
import type { EvaluationSetup, LandscapePlan } from './evaluate';
import { makeGrid } from './grid';
import { loadModel, type LoadedModel } from './model';
import { normalizeDirection, orthogonalize, type BiasHandling, type Normalization } from './normalization';
import type { DataRef, DirectionSource, JobSpec, LineSpec, SurfaceSpec } from './spec';
import { assertFinite, norm, readWeightSetFile, subtract } from './weights';

/**
 * Turns a reference from a spec (a path relative to the spec file, or an artifact id) into a local path.
 * `field` is the spec path of the reference, for error messages.
 */
export type RefResolver = (ref: string, field: string) => string;

export function loadData(data: DataRef, resolve: RefResolver): Dataset {
  if (typeof data === 'string') return loadDatasetFile(resolve(data, 'data'));
  const full = 'synthetic' in data ? syntheticDataset(data) : loadDatasetFile(resolve(data.path, 'data.path'), data);
  return data.subset ? subsetDataset(full, data.subset.n, data.subset.seed) : full;
}

export function loadModelRef(ref: string, field: string, resolve: RefResolver): LoadedModel {
  const model = loadModel(resolve(ref, field));
  assertFinite(model.weights, model.description.layout, ref);
  return model;
}

/** What every result records about its directions. */
export interface DirectionRecord {
  source: DirectionSource;
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

function direction(source: DirectionSource, field: string, origin: LoadedModel, resolve: RefResolver): Float64Array {
  const { layout } = origin.description;
  if ('seed' in source) return randomDirection(layout, source.seed);
  if ('file' in source) return readWeightSetFile(resolve(source.file, `${field}.file`), layout);
  const other = loadModelRef(source.model, `${field}.model`, resolve);
  const mismatch = layout.find((spec, i) => {
    const theirs = other.description.layout[i];
    return !theirs || theirs.name !== spec.name || theirs.shape.join() !== spec.shape.join();
  });
  if (mismatch || other.description.layout.length !== layout.length) {
    const name = mismatch?.name ?? '(weight count)';
    throw new InputError(`model ${source.model} does not have the same weights as the origin model (first difference: '${name}')`, `${field}.model`);
  }
  return subtract(other.weights, origin.weights);
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
  const model = loadModelRef(spec.model, 'model', resolve);
  const data = loadData(spec.data, resolve);
  const expected = model.description.inputShape.join(',');
  if (data.sampleShape.join(',') !== expected) {
    throw new InputError(`samples have shape [${data.sampleShape.join(', ')}] but the model expects [${model.description.inputShape.join(', ')}]`, 'data');
  }
  const { sources, bias, orthogonalize: orth } = directionSpecs(spec);
  const normalization = directionSpecs(spec).normalization ?? (sources.every((s) => 'model' in s) ? 'none' : 'filter');
  const axes = ['x', 'y'];
  const vectors = sources.map((source, k) => {
    const field = spec.kind === 'line' && spec.to !== undefined ? 'to' : `directions.${axes[k]}`;
    return normalizeDirection(direction(source, field, model, resolve), model.weights, model.description.layout, normalization, bias);
  });
  if (orth && vectors.length === 2) vectors[1] = orthogonalize(vectors[1]!, vectors[0]!);
  vectors.forEach((vector, k) => assertFinite(vector, model.description.layout, `direction ${axes[k]}`));
  const setup: EvaluationSetup = { model: model.description, data, loss: spec.loss, output: spec.output, batchSize: spec.evaluation.batchSize };
  return {
    kind: spec.kind,
    setup,
    plan: { origin: model.weights, directions: vectors, grid },
    model,
    directions: sources.map((source, k) => ({
      source,
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
