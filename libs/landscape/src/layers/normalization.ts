import * as tf from '@tensorflow/tfjs-core';
import { axisOf, boolField, known, layerError, numberField, single, type Config } from './config';
import { defineLayer, type AnyLayerDefinition, type LayerContext, type Shape, type WeightDeclaration } from './layer';

/**
 * Batch and layer normalization at inference. BatchNorm uses its moving statistics (never trainable: directions,
 * Hessians and training leave them alone); LayerNorm normalizes each sample over its axes.
 */
interface NormConfig {
  /** Axes as written (negative = from the end); resolved per input rank. */
  axes: number[];
  epsilon: number;
  center: boolean;
  scale: boolean;
}

function parseNorm(config: Config, context: LayerContext, defaultEpsilon: number): NormConfig {
  const raw = config.axis ?? -1;
  const axes = Array.isArray(raw) ? raw : [raw];
  if (!axes.length || !axes.every((a) => Number.isInteger(a))) throw layerError(context, `has axis ${JSON.stringify(raw)}; needs integers`);
  return {
    axes: axes as number[],
    epsilon: numberField(config, 'epsilon', context, defaultEpsilon),
    center: boolField(config, 'center', true),
    scale: boolField(config, 'scale', true),
  };
}

/** Resolved axes (batch axis included) and the parameter shape over them. */
function paramAxes(config: NormConfig, input: Shape, context: LayerContext): { axes: number[]; shape: number[] } {
  const axes = config.axes.map((a) => axisOf(a, input.length + 1, context)).sort((a, b) => a - b);
  return { axes, shape: axes.map((a) => known(input[a - 1], context, `size on axis ${a}`)) };
}

/** A parameter of shape `shape` over `axes`, reshaped to broadcast against a rank-`rank` input. */
function broadcast(param: tf.Tensor, axes: number[], rank: number): tf.Tensor {
  if (axes.length === 1 && axes[0] === rank - 1) return param;
  const shape = new Array<number>(rank).fill(1);
  axes.forEach((axis, i) => (shape[axis] = param.shape[i]!));
  return tf.reshape(param, shape);
}

/** (x − mean) / √(variance + ε) · γ + β, with ops that differentiate twice. */
function normalize(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, epsilon: number, gamma?: tf.Tensor, beta?: tf.Tensor): tf.Tensor {
  const inverse = tf.rsqrt(tf.add(variance, epsilon));
  let y = tf.mul(tf.sub(x, mean), gamma ? tf.mul(inverse, gamma) : inverse);
  if (beta) y = tf.add(y, beta);
  return y;
}

const affineWeights = (config: NormConfig, shape: number[]): WeightDeclaration[] => [
  ...(config.scale ? [{ name: 'gamma', trainable: true, shape, filterAxes: [] }] : []),
  ...(config.center ? [{ name: 'beta', trainable: true, shape, filterAxes: [] }] : []),
];

const batchNormalization = defineLayer<NormConfig>({
  classNames: ['BatchNormalization'],
  parse: (config, context) => parseNorm(config, context, 1e-3),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: (config, inputs, context) => {
    const { axes, shape } = paramAxes(config, single(inputs, context), context);
    if (axes.length !== 1) throw layerError(context, `normalizes over ${axes.length} axes; BatchNormalization needs one`);
    return [
      ...affineWeights(config, shape),
      { name: 'moving_mean', trainable: false, shape, filterAxes: [] },
      { name: 'moving_variance', trainable: false, shape, filterAxes: [] },
    ];
  },
  apply: (config, [x], weights, { fused }) => {
    const axis = config.axes[0]! < 0 ? x!.rank + config.axes[0]! : config.axes[0]!;
    const b = (t: tf.Tensor | undefined) => (t ? broadcast(t, [axis], x!.rank) : undefined);
    if (fused && axis === x!.rank - 1) {
      return tf.batchNorm(x!, weights.moving_mean!, weights.moving_variance!, weights.beta, weights.gamma, config.epsilon);
    }
    return normalize(x!, b(weights.moving_mean)!, b(weights.moving_variance)!, config.epsilon, b(weights.gamma), b(weights.beta));
  },
  kernels: ['FusedBatchNorm', 'Rsqrt', 'Add', 'Sub', 'Multiply', 'Reshape'],
  secondOrder: 'exact',
  // BN(y) = y·s + t per channel with s = γ/√(σ² + ε), t = β − μ·s.
  outputAffine: {
    folds: (config, inputShape) => config.axes.length === 1 && (config.axes[0] === -1 || config.axes[0] === inputShape.length),
    affine: (config, weights) => {
      const inverse = tf.rsqrt(tf.add(weights.moving_variance!, config.epsilon));
      const scale = weights.gamma ? tf.mul(inverse, weights.gamma) : inverse;
      const centred = tf.mul(weights.moving_mean!, scale);
      return { scale, shift: weights.beta ? tf.sub(weights.beta, centred) : tf.neg(centred) };
    },
  },
});

const layerNormalization = defineLayer<NormConfig>({
  classNames: ['LayerNormalization'],
  parse: (config, context) => parseNorm(config, context, 1e-3),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: (config, inputs, context) => affineWeights(config, paramAxes(config, single(inputs, context), context).shape),
  apply: (config, [x], weights) => {
    const axes = config.axes.map((a) => (a < 0 ? x!.rank + a : a)).sort((a, b) => a - b);
    const mean = tf.mean(x!, axes, true);
    // Not tf.squaredDifference: its gradient does not sum over broadcast axes.
    const variance = tf.mean(tf.square(tf.sub(x!, mean)), axes, true);
    const b = (t: tf.Tensor | undefined) => (t ? broadcast(t, axes, x!.rank) : undefined);
    return normalize(x!, mean, variance, config.epsilon, b(weights.gamma), b(weights.beta));
  },
  kernels: ['Mean', 'Square', 'Rsqrt', 'Add', 'Sub', 'Multiply', 'Reshape'],
  secondOrder: 'exact',
});

export const normalizationLayers: AnyLayerDefinition[] = [batchNormalization, layerNormalization];
