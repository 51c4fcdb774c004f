import { readFileSync, writeFileSync } from 'node:fs';
import { InputError } from './errors';

/**
 * The flat view of a model's parameters: every weight of model.json's weightsManifest, in manifest order
 * (= model.getWeights() order), each flattened row-major, concatenated. Directions, trajectories and Hessian
 * rows all use this order, so a parameter vector is a plain Float64Array plus this layout.
 */
export interface WeightSpec {
  name: string;
  shape: number[];
  size: number;
  offset: number;
  /**
   * False for weights that directions, Hessians and training leave alone: BatchNorm moving statistics, weights of
   * frozen (`trainable: false`) layers unless the spec includes them, and weights the chosen output does not use.
   */
  trainable: boolean;
  /** Axes indexing the weight's filters (filter normalization); [] = bias-like (the bias setting applies). */
  filterAxes: number[];
  /** int32 for weights a layer reads as integers; float32 otherwise. */
  dtype: 'float32' | 'int32';
}

export type WeightLayout = readonly WeightSpec[];

export function layoutSize(layout: WeightLayout): number {
  const last = layout[layout.length - 1];
  return last ? last.offset + last.size : 0;
}

export interface LayoutEntry {
  name: string;
  shape: number[];
  trainable?: boolean;
  filterAxes?: number[];
  dtype?: 'float32' | 'int32';
}

/** Default filter axes: the last axis of a kernel (rank ≥ 2), none for biases and other rank ≤ 1 weights. */
export const defaultFilterAxes = (shape: readonly number[]): number[] => (shape.length >= 2 ? [shape.length - 1] : []);

export function makeLayout(entries: LayoutEntry[]): WeightSpec[] {
  let offset = 0;
  return entries.map((entry) => {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const spec: WeightSpec = {
      name: entry.name,
      shape: [...entry.shape],
      size,
      offset,
      trainable: entry.trainable ?? true,
      filterAxes: entry.filterAxes ?? defaultFilterAxes(entry.shape),
      dtype: entry.dtype ?? 'float32',
    };
    offset += size;
    return spec;
  });
}

/** The slice of a flat vector that holds one weight tensor (a view, not a copy). */
export function tensorView(flat: Float64Array, spec: WeightSpec): Float64Array {
  return flat.subarray(spec.offset, spec.offset + spec.size);
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

/**
 * Parses a weight-set object `{"<name>": {"shape": [...], "data": [...]}}` into a flat vector over `layout`.
 * Every trainable weight must be present with the model's shape; a missing non-trainable weight (BN moving
 * statistics) reads as zero. Non-finite numbers are rejected: a NaN in a direction would poison every point.
 */
export function weightSetToFlat(value: unknown, layout: WeightLayout, source: string): Float64Array {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InputError(`${source}: a weight set must be a JSON object of {"shape": [...], "data": [...]} entries`);
  }
  const entries = value as Record<string, unknown>;
  const known = new Set(layout.map((spec) => spec.name));
  for (const name of Object.keys(entries)) {
    if (!known.has(name)) {
      throw new InputError(`${source}: weight '${name}' is not a weight of the model (expected ${[...known].join(', ')})`);
    }
  }
  const flat = new Float64Array(layoutSize(layout));
  for (const spec of layout) {
    const entry = entries[spec.name] as { shape?: unknown; data?: unknown } | undefined;
    if (entry === undefined) {
      if (spec.trainable) throw new InputError(`${source}: weight '${spec.name}' is missing`);
      continue;
    }
    if (!Array.isArray(entry.shape) || shapeText(entry.shape) !== shapeText(spec.shape)) {
      throw new InputError(
        `${source}: weight '${spec.name}' has shape ${Array.isArray(entry.shape) ? shapeText(entry.shape) : String(entry.shape)} but the model expects ${shapeText(spec.shape)}`,
      );
    }
    if (!Array.isArray(entry.data) || entry.data.length !== spec.size) {
      throw new InputError(`${source}: weight '${spec.name}' needs ${spec.size} numbers in "data"`);
    }
    const data = entry.data as unknown[];
    for (let i = 0; i < spec.size; i++) {
      const number = data[i];
      if (typeof number !== 'number' || !Number.isFinite(number)) {
        throw new InputError(`${source}: weight '${spec.name}' has a non-finite value at index ${i} (${String(number)})`);
      }
      flat[spec.offset + i] = number;
    }
  }
  return flat;
}

export function flatToWeightSet(flat: Float64Array, layout: WeightLayout): Record<string, { shape: number[]; data: number[] }> {
  const set: Record<string, { shape: number[]; data: number[] }> = {};
  for (const spec of layout) set[spec.name] = { shape: spec.shape, data: Array.from(tensorView(flat, spec)) };
  return set;
}

export function readWeightSetFile(path: string, layout: WeightLayout): Float64Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new InputError(`cannot read weight set ${path}: ${(error as Error).message}`);
  }
  return weightSetToFlat(parsed, layout, path);
}

export function writeWeightSetFile(path: string, flat: Float64Array, layout: WeightLayout): void {
  writeFileSync(path, JSON.stringify(flatToWeightSet(flat, layout)));
}

/** Throws naming the first weight that holds NaN or ±Inf. */
export function assertFinite(flat: Float64Array, layout: WeightLayout, source: string): void {
  for (const spec of layout) {
    const view = tensorView(flat, spec);
    for (let i = 0; i < view.length; i++) {
      if (!Number.isFinite(view[i]!)) {
        throw new InputError(`${source}: weight '${spec.name}' has a non-finite value at index ${i} (${view[i]})`);
      }
    }
  }
}

// Vector arithmetic on flat parameter vectors, in float64.
export function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

export function norm(a: Float64Array): number {
  return Math.sqrt(dot(a, a));
}

export function subtract(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

/** out = base + Σ coefficients[k] · vectors[k], written into `out` (allocated when omitted). */
export function combine(
  base: Float64Array,
  coefficients: readonly number[],
  vectors: readonly Float64Array[],
  out: Float64Array = new Float64Array(base.length),
): Float64Array {
  out.set(base);
  for (let k = 0; k < vectors.length; k++) {
    const c = coefficients[k]!;
    if (c === 0) continue;
    const v = vectors[k]!;
    for (let i = 0; i < out.length; i++) out[i] += c * v[i];
  }
  return out;
}
