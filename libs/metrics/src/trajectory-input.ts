import { existsSync, readFileSync, statSync } from 'node:fs';
import { InputError, layoutSize, loadModelRef, readWeightSetFile, type RefResolver, type WeightLayout } from '@landscape/core';

/**
 * A training trajectory as read from a job's `trajectory` field: checkpoints as flat vectors over the model's
 * layout (weightsManifest order, each tensor row-major — the flat view of weights.ts), in training order.
 */
export interface LoadedTrajectory {
  checkpoints: Float64Array[];
  /** Optimizer steps of each checkpoint, when the file records them (a `train` job's trajectory.json does). */
  steps?: number[];
  /** Training loss recorded with each checkpoint, when the file has it. */
  losses?: number[];
}

/** One entry of a trajectory file's `flat_order`: where each weight sits in a flat vector. */
export interface FlatOrderEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

export function flatOrder(layout: WeightLayout): FlatOrderEntry[] {
  return layout.map(({ name, shape, offset, size }) => ({ name, shape: [...shape], offset, size }));
}

/** The weight holding flat index `index`, for error messages. */
function weightAt(layout: WeightLayout, index: number): string {
  const spec = layout.find((s) => index >= s.offset && index < s.offset + s.size);
  return spec ? `weight '${spec.name}' index ${index - spec.offset}` : `index ${index}`;
}

function checkFlatOrder(value: unknown, layout: WeightLayout, field: string): void {
  if (value === undefined) return;
  if (!Array.isArray(value)) throw new InputError('"flat_order" must be an array of {name, shape, offset, size}', field);
  layout.forEach((spec, i) => {
    const entry = value[i] as Partial<FlatOrderEntry> | undefined;
    if (!entry || entry.name !== spec.name) {
      throw new InputError(
        `"flat_order" entry ${i} is ${entry?.name === undefined ? 'missing' : `'${entry.name}'`} but the model's weight ${i} is '${spec.name}'`,
        field,
      );
    }
    if (!Array.isArray(entry.shape) || entry.shape.join(',') !== spec.shape.join(',') || entry.offset !== spec.offset) {
      throw new InputError(
        `weight '${spec.name}' has shape [${String(entry.shape)}] at offset ${String(entry.offset)} in "flat_order" but the model has [${spec.shape.join(', ')}] at ${spec.offset}`,
        field,
      );
    }
  });
  if (value.length !== layout.length) throw new InputError(`"flat_order" lists ${value.length} weights, the model has ${layout.length}`, field);
}

function numbers(value: unknown, n: number, name: string, field: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length !== n || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InputError(`"${name}" must be ${n} finite numbers (one per checkpoint)`, field);
  }
  return value as number[];
}

/** Reads `{"checkpoints": [[...], ...], "flat_order"?: [...], "steps"?: [...], "losses"?: [...]}`. */
export function readTrajectoryFile(path: string, layout: WeightLayout, field = 'trajectory'): LoadedTrajectory {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InputError(`cannot read ${path}: ${(error as Error).message}`, field);
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray(parsed.checkpoints)) {
    throw new InputError(`${path} needs a "checkpoints" array of flat parameter vectors`, field);
  }
  checkFlatOrder(parsed.flat_order, layout, field);
  const size = layoutSize(layout);
  const checkpoints = (parsed.checkpoints as unknown[]).map((row, i) => {
    if (!Array.isArray(row)) throw new InputError(`checkpoint ${i} must be an array of ${size} numbers`, field);
    if (row.length !== size) {
      throw new InputError(
        `checkpoint ${i} has ${row.length} numbers but the model has ${size} parameters (flat order: weightsManifest order, row-major)`,
        field,
      );
    }
    const flat = new Float64Array(size);
    for (let c = 0; c < size; c++) {
      const value = row[c] as unknown;
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new InputError(`checkpoint ${i} has a non-finite value at ${weightAt(layout, c)} (${String(value)})`, field);
      }
      flat[c] = value;
    }
    return flat;
  });
  const n = checkpoints.length;
  const steps = numbers(parsed.steps, n, 'steps', field) ?? numbers(parsed.sgd_steps_at_checkpoint, n, 'sgd_steps_at_checkpoint', field);
  const losses = numbers(parsed.losses, n, 'losses', field);
  return { checkpoints, ...(steps ? { steps } : {}), ...(losses ? { losses } : {}) };
}

/**
 * Loads a trajectory: one JSON file of flat vectors, or an ordered list of weight-set files (or model
 * directories with the same weights). Errors name the field, the checkpoint and the weight.
 */
export function loadTrajectory(trajectory: string | readonly string[], resolve: RefResolver, layout: WeightLayout, minCheckpoints = 2): LoadedTrajectory {
  const loaded: LoadedTrajectory =
    typeof trajectory === 'string'
      ? readTrajectoryFile(resolve(trajectory, 'trajectory'), layout)
      : { checkpoints: trajectory.map((ref, i) => readCheckpoint(ref, `trajectory.${i}`, resolve, layout)) };
  if (loaded.checkpoints.length < minCheckpoints) {
    throw new InputError(`needs at least ${minCheckpoints} checkpoints, got ${loaded.checkpoints.length}`, 'trajectory');
  }
  return loaded;
}

function readCheckpoint(ref: string, field: string, resolve: RefResolver, layout: WeightLayout): Float64Array {
  const path = resolve(ref, field);
  const isModel = path.endsWith('model.json') || (existsSync(path) && statSync(path).isDirectory());
  if (!isModel) {
    try {
      return readWeightSetFile(path, layout);
    } catch (error) {
      // readWeightSetFile names the file and the weight; the field says which checkpoint it was.
      throw error instanceof InputError ? new InputError(error.message, field) : error;
    }
  }
  const model = loadModelRef(ref, field, resolve);
  const other = model.description.layout;
  const differing = layout.find((spec, i) => other[i]?.name !== spec.name || other[i]?.shape.join() !== spec.shape.join());
  if (differing || other.length !== layout.length) {
    throw new InputError(`model ${ref} does not have the job model's weights (first difference: '${differing?.name ?? '(weight count)'}')`, field);
  }
  return model.weights;
}
