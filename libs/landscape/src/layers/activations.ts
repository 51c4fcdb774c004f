import * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors';
import type { LayerContext } from './layer';

/**
 * Keras activations by their serialized name, each with tfjs-layers' exact formula (activations.js and
 * backend/tfjs_backend.js in @tensorflow/tfjs-layers 4.22), written with differentiable ops only.
 */
const ACTIVATIONS = {
  linear: (x: tf.Tensor) => x,
  relu: (x: tf.Tensor) => tf.relu(x),
  tanh: (x: tf.Tensor) => tf.tanh(x),
  sigmoid: (x: tf.Tensor) => tf.sigmoid(x),
  // tfjs and Keras 2: clip(0.2·x + 0.5, 0, 1).
  hard_sigmoid: (x: tf.Tensor) => tf.clipByValue(tf.add(0.5, tf.mul(0.2, x)), 0, 1),
} satisfies Record<string, (x: tf.Tensor) => tf.Tensor>;

export type ActivationName = keyof typeof ACTIVATIONS;

/** tfjs serializes camelCase class names ('hardSigmoid'), Keras snake_case ('hard_sigmoid'): both are accepted. */
const ALIASES: Record<string, ActivationName> = { hardSigmoid: 'hard_sigmoid' };

/** Reads an activation from a layer config: a name, null (linear), or Keras 3's `{class_name: 'function', config: name}`. */
export function parseActivation(raw: unknown, context: LayerContext): ActivationName {
  if (raw === null || raw === undefined) return 'linear';
  const name = typeof raw === 'object' && typeof (raw as { config?: unknown }).config === 'string' ? (raw as { config: string }).config : raw;
  if (typeof name === 'string') {
    const canonical = ALIASES[name] ?? name;
    if (Object.hasOwn(ACTIVATIONS, canonical)) return canonical as ActivationName;
  }
  throw new InputError(
    `layer '${context.layerName}' in ${context.source}: unsupported activation ${JSON.stringify(raw)} (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
  );
}

export function applyActivation(name: ActivationName, x: tf.Tensor): tf.Tensor {
  return ACTIVATIONS[name](x);
}
