import { InputError } from '../errors';
import type { LayerContext, Shape } from './layer';

/**
 * Reading Keras layer configs (tfjs' topology and Keras 2/3 exports write the same snake_case fields). Every
 * failure is an InputError naming the model file, the layer and the field.
 */
export function layerError(context: LayerContext, message: string): InputError {
  return new InputError(`${context.source}: layer '${context.layerName}' ${message}`);
}

export type Config = Record<string, unknown>;

export function numberField(config: Config, key: string, context: LayerContext, fallback?: number): number {
  const value = config[key] ?? fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw layerError(context, `needs a number in '${key}' (got ${JSON.stringify(config[key])})`);
  return value;
}

export function optionalNumber(config: Config, key: string, context: LayerContext): number | undefined {
  return config[key] === undefined || config[key] === null ? undefined : numberField(config, key, context);
}

export function intField(config: Config, key: string, context: LayerContext, fallback?: number): number {
  const value = numberField(config, key, context, fallback);
  if (!Number.isInteger(value)) throw layerError(context, `needs an integer in '${key}' (got ${value})`);
  return value;
}

export function boolField(config: Config, key: string, fallback: boolean): boolean {
  const value = config[key];
  return typeof value === 'boolean' ? value : fallback;
}

/** An int or a list of `n` ints (Keras' kernel_size / strides / pool_size style). */
export function intTuple(config: Config, key: string, n: number, context: LayerContext, fallback?: number | number[]): number[] {
  const raw = config[key] ?? fallback;
  const values = typeof raw === 'number' ? new Array<number>(n).fill(raw) : raw;
  if (!Array.isArray(values) || values.length !== n || !values.every((v) => Number.isInteger(v) && v >= 0)) {
    throw layerError(context, `needs ${n} non-negative integers in '${key}' (got ${JSON.stringify(config[key])})`);
  }
  return values as number[];
}

export function enumField<T extends string>(config: Config, key: string, allowed: readonly T[], context: LayerContext, fallback: T): T {
  const value = config[key] ?? fallback;
  if (!allowed.includes(value as T)) throw layerError(context, `has ${key} ${JSON.stringify(value)}; supported: ${allowed.join(', ')}`);
  return value as T;
}

/** Only channels_last is supported (tfjs' and Keras' default); channels_first would silently permute everything. */
export function requireChannelsLast(config: Config, context: LayerContext): void {
  const format = config.data_format;
  if (format !== undefined && format !== null && format !== 'channels_last') {
    throw layerError(context, `uses data_format ${JSON.stringify(format)}; only channels_last is supported`);
  }
}

export function expectInputs(inputShapes: Shape[], count: number, context: LayerContext): void {
  if (inputShapes.length !== count) throw layerError(context, `takes ${count} input(s) but is called on ${inputShapes.length}`);
}

export function expectRank(shape: Shape, rank: number, context: LayerContext, what = 'input'): void {
  if (shape.length !== rank) throw layerError(context, `needs a rank-${rank + 1} ${what} (batch included) but gets [batch, ${shape.join(', ')}]`);
}

/** The one input's shape, checking there is exactly one. */
export function single(inputShapes: Shape[], context: LayerContext): Shape {
  expectInputs(inputShapes, 1, context);
  return inputShapes[0]!;
}

/** A known (non-free) dimension, e.g. the channel count a kernel shape needs. */
export function known(dim: number | null | undefined, context: LayerContext, what: string): number {
  if (dim === null || dim === undefined) throw layerError(context, `needs a known ${what} (the model leaves it free)`);
  return dim;
}

/** Output length of a sliding window along one axis (Keras' conv_output_length); free stays free. */
export function windowOutput(size: number | null, window: number, stride: number, padding: 'valid' | 'same' | 'causal', dilation = 1): number | null {
  if (size === null) return null;
  const effective = (window - 1) * dilation + 1;
  const length = padding === 'valid' ? size - effective + 1 : size;
  return Math.floor((length + stride - 1) / stride);
}

export const product = (shape: readonly (number | null)[]): number | null =>
  shape.reduce<number | null>((a, b) => (a === null || b === null ? null : a * b), 1);

/** Normalizes a possibly negative axis of a rank-`rank` tensor (batch axis included). */
export function axisOf(axis: number, rank: number, context: LayerContext): number {
  const resolved = axis < 0 ? rank + axis : axis;
  if (resolved < 1 || resolved >= rank) throw layerError(context, `has axis ${axis}, outside the [batch, …] rank-${rank} input (or the batch axis)`);
  return resolved;
}
