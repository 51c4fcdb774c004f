import * as tf from '@tensorflow/tfjs-core';
import { layerError } from './config';
import type { LayerContext } from './layer';

/**
 * Keras activation functions with tfjs-layers' formulas (tfjs-layers/src/activations.ts), so a model evaluates
 * here exactly as tfjs-layers' predict does. `exponential` and `leaky_relu` are Keras activations tfjs-layers
 * lacks; they use Keras' formulas (leaky_relu with Keras' default slope 0.2). One name means two functions:
 * `hard_sigmoid` is clip(0.2·x + 0.5, 0, 1) in tfjs-layers and Keras 2 but relu6(x + 3)/6 in Keras 3, so
 * parseActivation resolves it by the model's dialect (read once from model.json, graph/topology.ts).
 */
export const ACTIVATIONS = [
  'linear',
  'relu',
  'relu6',
  'elu',
  'selu',
  'tanh',
  'sigmoid',
  'hard_sigmoid',
  'hard_sigmoid_keras3',
  'softplus',
  'softsign',
  'softmax',
  'log_softmax',
  'gelu',
  'gelu_new',
  'mish',
  'swish',
  'exponential',
  'leaky_relu',
] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

/** Other spellings Keras and tfjs write for the same functions. */
const ALIASES: Record<string, ActivationName> = {
  hardsigmoid: 'hard_sigmoid',
  logsoftmax: 'log_softmax',
  gelunew: 'gelu_new',
  silu: 'swish',
  leakyrelu: 'leaky_relu',
};

const KNOWN = new Set<string>(ACTIVATIONS);

/** Whose activation formulas a model file follows: tfjs-layers and Keras 2 share them, Keras 3 differs (hard_sigmoid). */
export type ActivationDialect = 'tfjs' | 'keras3';

/** The function a Keras name means in `dialect`. */
function inDialect(name: ActivationName, dialect: ActivationDialect | undefined): ActivationName {
  return name === 'hard_sigmoid' && dialect === 'keras3' ? 'hard_sigmoid_keras3' : name;
}

/**
 * Reads a layer's `activation` field: a name (snake or camel case), or a serialized {class_name, config} object,
 * as the function it means in the model's dialect (context.dialect).
 */
export function parseActivation(raw: unknown, context: LayerContext): ActivationName {
  return inDialect(activationName(raw, context), context.dialect);
}

function activationName(raw: unknown, context: LayerContext): ActivationName {
  if (raw === undefined || raw === null) return 'linear';
  let name: unknown = raw;
  if (typeof raw === 'object') {
    const serialized = raw as { class_name?: unknown; config?: unknown };
    // Keras 3 serializes a plain function as {class_name: 'function', config: 'relu'}.
    name = typeof serialized.config === 'string' ? serialized.config : serialized.class_name;
  }
  if (typeof name !== 'string') throw layerError(context, `has an activation that is not a name: ${JSON.stringify(raw)}`);
  const snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const flat = snake.replace(/_/g, '');
  if (KNOWN.has(snake)) return snake as ActivationName;
  const alias = ALIASES[flat] ?? ALIASES[snake];
  if (alias) return alias;
  throw layerError(context, `uses activation '${name}', which is not supported (supported: ${ACTIVATIONS.join(', ')})`);
}

/** Whether evaluation on `backend` computes tanh as 2σ(2x) − 1 (applyActivation; graph/sigmoid-form.ts). */
export const tanhThroughSigmoid = (backend: string): boolean => backend === 'wasm';

/**
 * Softmax-style activations normalize over the last axis. `fused` (evaluation only, never under a gradient): on
 * wasm, tanh is computed as 2σ(2x) − 1 and softplus as −log σ(−x), because tfjs' wasm tanh and softplus are scalar
 * code (14 and 16 ns an element) and its sigmoid is vectorized (3 ns); log stays scalar, so softplus gains ~25 %.
 * Both are within float32 rounding of the exact values (tanh: 2e-7 absolutely; softplus: 6.5e-7 at most, at
 * x ≈ 11, where tfjs' own softplus is off by 8.8e-7).
 */
export function applyActivation(name: ActivationName, x: tf.Tensor, fused = false): tf.Tensor {
  if (fused && tanhThroughSigmoid(tf.getBackend())) {
    if (name === 'tanh') return tf.sub(tf.mul(2, tf.sigmoid(tf.mul(2, x))), 1);
    if (name === 'softplus') return tf.neg(tf.log(tf.sigmoid(tf.neg(x))));
  }
  switch (name) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.minimum(6, tf.relu(x));
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'hard_sigmoid':
      return tf.clipByValue(tf.add(0.5, tf.mul(0.2, x)), 0, 1);
    case 'hard_sigmoid_keras3':
      return tf.div(tf.minimum(6, tf.relu(tf.add(x, 3))), 6);
    case 'softplus':
      return tf.softplus(x);
    case 'softsign':
      return tf.div(x, tf.add(tf.abs(x), 1));
    case 'softmax':
      return tf.softmax(x, -1);
    case 'log_softmax':
      return logSoftmax(x);
    case 'gelu':
      return tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
    case 'gelu_new':
      return tf.mul(0.5, tf.mul(x, tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))));
    case 'mish':
      return tf.mul(x, tf.tanh(tf.softplus(x)));
    case 'swish':
      return tf.mul(tf.sigmoid(x), x);
    case 'exponential':
      return tf.exp(x);
    case 'leaky_relu':
      return tf.leakyRelu(x, 0.2);
  }
}

/**
 * log-softmax written out (the same max-shifted formula as tf.logSoftmax): tf.logSoftmax is a customGrad op,
 * whose gradient cannot be differentiated again.
 */
function logSoftmax(x: tf.Tensor): tf.Tensor {
  const shifted = tf.sub(x, tf.max(x, -1, true));
  return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), -1, true)));
}

/** Activations tfjs' fused matMul/conv kernels compute in the same op (evaluation only). */
const FUSED: Partial<Record<ActivationName, tf.fused.Activation>> = { linear: 'linear', relu: 'relu', relu6: 'relu6', elu: 'elu', sigmoid: 'sigmoid' };

export function fusedActivation(name: ActivationName): tf.fused.Activation | undefined {
  return FUSED[name];
}

/** tfjs kernels each activation may dispatch (for the per-layer second-order check). */
export const ACTIVATION_KERNELS = [
  'Relu',
  'Relu6',
  'Minimum',
  'Elu',
  'Selu',
  'Tanh',
  'Sigmoid',
  'ClipByValue',
  'Softplus',
  'Abs',
  'Softmax',
  'Max',
  'Exp',
  'Log',
  'Sum',
  'Erf',
  'Pow',
  'LeakyRelu',
  'Multiply',
  'Add',
  'Sub',
  'RealDiv',
] as const;
