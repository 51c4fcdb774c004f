import * as tf from '@tensorflow/tfjs-core';
import { layerError, numberField, optionalNumber, single } from './config';
import { defineLayer, type AnyLayerDefinition } from './layer';

/** Activation layers with parameters (Keras' "advanced activations"). */
interface ReluConfig {
  maxValue?: number;
  negativeSlope: number;
  threshold: number;
}

/** Keras' ReLU: max_value above it, x from threshold up, negative_slope·(x − threshold) below. */
const relu = defineLayer<ReluConfig>({
  classNames: ['ReLU'],
  parse: (config, context) => ({
    maxValue: optionalNumber(config, 'max_value', context),
    negativeSlope: numberField(config, 'negative_slope', context, 0),
    threshold: numberField(config, 'threshold', context, 0),
  }),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x]) => {
    const plain = config.negativeSlope === 0 && config.threshold === 0;
    // The plain case as tfjs-layers computes it: relu, then clipped at max_value.
    const y = plain ? tf.relu(x!) : tf.where(tf.greaterEqual(x!, config.threshold), x!, tf.mul(config.negativeSlope, tf.sub(x!, config.threshold)));
    return config.maxValue === undefined ? y : tf.minimum(y, config.maxValue);
  },
  kernels: ['Relu', 'GreaterEqual', 'Select', 'Multiply', 'Sub', 'Minimum'],
  secondOrder: 'exact',
});

const leakyRelu = defineLayer<{ alpha: number }>({
  classNames: ['LeakyReLU'],
  // Keras 3 names the slope negative_slope; Keras 2 and tfjs name it alpha.
  parse: (config, context) => ({ alpha: numberField(config, config.negative_slope !== undefined ? 'negative_slope' : 'alpha', context, 0.3) }),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x]) => tf.leakyRelu(x!, config.alpha),
  kernels: ['LeakyRelu'],
  secondOrder: 'exact',
});

/** Learned slopes below zero; `shared_axes` (1-based, batch excluded) share one slope along those axes. */
const prelu = defineLayer<{ sharedAxes: number[] }>({
  classNames: ['PReLU'],
  parse: (config, context) => {
    const raw = config.shared_axes ?? [];
    const axes = typeof raw === 'number' ? [raw] : raw;
    if (!Array.isArray(axes) || !axes.every((a) => Number.isInteger(a) && a >= 1)) throw layerError(context, `has shared_axes ${JSON.stringify(raw)}`);
    return { sharedAxes: axes as number[] };
  },
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: (config, inputs, context) => {
    const input = single(inputs, context);
    const shape = input.map((size, i) => {
      if (config.sharedAxes.includes(i + 1)) return 1;
      if (size === null) throw layerError(context, `needs a known size on axis ${i + 1} (or share it with shared_axes)`);
      return size;
    });
    // Slopes act like biases (one per unit, not filters): the bias setting decides how directions treat them.
    return [{ name: 'alpha', trainable: true, shape, filterAxes: [] }];
  },
  apply: (_config, [x], weights) => tf.prelu(x!, weights.alpha!),
  kernels: ['Prelu'],
  secondOrder: 'exact',
});

const elu = defineLayer<{ alpha: number }>({
  classNames: ['ELU'],
  parse: (config, context) => ({ alpha: numberField(config, 'alpha', context, 1) }),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x]) => (config.alpha === 1 ? tf.elu(x!) : tf.where(tf.greater(x!, 0), x!, tf.mul(config.alpha, tf.sub(tf.exp(x!), 1)))),
  kernels: ['Elu', 'Greater', 'Select', 'Exp', 'Sub', 'Multiply'],
  secondOrder: 'exact',
});

/** `active: false` is the layer with its softmax skipped (the objective reads the logits). */
const softmax = defineLayer<{ axis: number; active: boolean }>({
  classNames: ['Softmax'],
  parse: (config, context) => {
    const raw = config.axis ?? -1;
    const axis = Array.isArray(raw) && raw.length === 1 ? raw[0] : raw;
    if (!Number.isInteger(axis)) throw layerError(context, `has axis ${JSON.stringify(raw)}; only one axis is supported`);
    return { axis: axis as number, active: true };
  },
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x]) => (config.active ? tf.softmax(x!, config.axis) : x!),
  kernels: ['Softmax'],
  secondOrder: 'exact',
  // Axis 1 (tfjs' default) is the class axis of the [batch, classes] outputs categorical losses read.
  finalActivation: (config) =>
    config.axis === -1 || config.axis === 1 ? { activation: 'softmax', withoutActivation: { ...config, active: false } } : undefined,
});

const thresholdedRelu = defineLayer<{ theta: number }>({
  classNames: ['ThresholdedReLU'],
  parse: (config, context) => ({ theta: numberField(config, 'theta', context, 1) }),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x]) => tf.mul(x!, tf.cast(tf.greater(x!, config.theta), 'float32')),
  kernels: ['Greater', 'Cast', 'Multiply'],
  secondOrder: 'exact',
});

export const activationLayers: AnyLayerDefinition[] = [relu, leakyRelu, prelu, elu, softmax, thresholdedRelu];
