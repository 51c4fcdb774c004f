import { InputError } from '../errors';
import type { LayerContext } from './layer';

/** Readers for layer-config fields: each failure is an InputError naming the model file, the layer and the field. */

export function layerError(context: LayerContext, message: string): InputError {
  return new InputError(`${context.source}: layer '${context.layerName}' ${message}`);
}

export function positiveInteger(config: Record<string, unknown>, field: string, context: LayerContext): number {
  const value = config[field];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1)
    throw layerError(context, `needs a positive integer ${field}, got ${JSON.stringify(value)}`);
  return value;
}

/** A boolean field; absent or null means `fallback` (Keras and tfjs write null for unset options). */
export function booleanField(config: Record<string, unknown>, field: string, fallback: boolean, context: LayerContext): boolean {
  const value = config[field];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw layerError(context, `has a non-boolean ${field}: ${JSON.stringify(value)}`);
  return value;
}
