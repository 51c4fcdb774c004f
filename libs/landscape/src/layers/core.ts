import * as tf from '@tensorflow/tfjs-core';
import { columnSums, matMul2d, matMulFormsFast } from '../blas';
import { ACTIVATION_KERNELS, applyActivation, fusedActivation, parseActivation, type ActivationName } from './activations';
import { boolField, intField, known, numberField, single } from './config';
import { defineLayer, inputAffineIntoKernel, scaledKernel, type AnyLayerDefinition } from './layer';

interface DenseConfig {
  units: number;
  activation: ActivationName;
  useBias: boolean;
}

/** y = activation(x · kernel + bias) over the last axis; inputs of rank > 2 are flattened to rows and back, as tfjs does. */
const dense = defineLayer<DenseConfig>({
  classNames: ['Dense'],
  parse: (config, context) => ({
    units: intField(config, 'units', context),
    activation: parseActivation(config.activation, context),
    useBias: boolField(config, 'use_bias', true),
  }),
  outputShape: (config, inputs, context) => [...single(inputs, context).slice(0, -1), config.units],
  weights: (config, inputs, context) => {
    const features = known(single(inputs, context).at(-1), context, 'input feature count');
    return [
      { name: 'kernel', trainable: true, shape: [features, config.units] },
      ...(config.useBias ? [{ name: 'bias', trainable: true, shape: [config.units] }] : []),
    ];
  },
  apply: (config, [x], weights, { fused }) => {
    const rows = x!.rank === 2 ? (x as tf.Tensor2D) : tf.reshape(x!, [-1, x!.shape.at(-1)!]);
    const kernel = weights.kernel as tf.Tensor2D;
    const fusable = fused ? fusedActivation(config.activation) : undefined;
    let y: tf.Tensor;
    if (fused) {
      y = tf.fused.matMul({ a: rows as tf.Tensor2D, b: kernel, bias: weights.bias, activation: fusable ?? 'linear' });
    } else {
      y = tf.matMul(rows, kernel);
      if (weights.bias) y = tf.add(y, weights.bias);
    }
    if (x!.rank !== 2) y = tf.reshape(y, [...x!.shape.slice(0, -1), config.units]);
    return fusable ? y : applyActivation(config.activation, y, fused);
  },
  // One batched matMul [K, rows, in]·[K, in, units]; a shared input broadcasts as [1, rows, in].
  applySets: (config, [x], weights, { sets, shared }) => {
    const features = x!.shape.at(-1)!;
    const batch = shared[0] ? x!.shape[0]! : x!.shape[0]! / sets;
    const rows = tf.reshape(x!, [shared[0] ? 1 : sets, -1, features]) as tf.Tensor3D;
    const bias = weights.bias && (tf.reshape(weights.bias, [sets, 1, config.units]) as tf.Tensor3D);
    // On OpenBLAS (blas.ts) each set's bias and a fusable activation run inside the product; wasm's own fused
    // kernel takes a rank-1 bias only.
    const fusable = matMulFormsFast() ? fusedActivation(config.activation) : undefined;
    let y: tf.Tensor;
    if (matMulFormsFast()) {
      y = tf.fused.matMul({ a: rows, b: weights.kernel as tf.Tensor3D, bias, activation: fusable ?? 'linear' });
    } else {
      y = tf.matMul(rows, weights.kernel!);
      if (bias) y = tf.add(y, bias);
    }
    return tf.reshape(fusable ? y : applyActivation(config.activation, y, true), [sets * batch, ...x!.shape.slice(1, -1), config.units]);
  },
  kernels: ['BatchMatMul', '_FusedMatMul', 'Reshape', ...ACTIVATION_KERNELS],
  secondOrder: 'exact',
  finalActivation: (config) => ({ activation: config.activation, withoutActivation: { ...config, activation: 'linear' } }),
  linearInWeights: true,
  absorbsAffine: { accepts: (config) => config.activation === 'linear', weights: scaledKernel('kernel', (kernel) => [kernel.shape.at(-1)!]) },
  withActivation: (config, activation) => ({ ...config, activation }),
  // Without a bias there is nowhere to put c·1ᵀW.
  absorbsInputAffine: { accepts: (config) => config.useBias, rewrite: inputAffineIntoKernel('kernel', (config) => config.units) },
  weightGradients: (config, [x], dy) => {
    const rows = tf.reshape(x!, [-1, x!.shape.at(-1)!]) as tf.Tensor2D;
    const dyRows = tf.reshape(dy, [-1, config.units]) as tf.Tensor2D;
    // rowsᵀ·dy in the backend's fastest form.
    const gradients: Record<string, tf.Tensor> = { kernel: matMul2d(rows, true, dyRows, false) };
    if (config.useBias) gradients.bias = columnSums(dyRows);
    return gradients;
  },
});

const activation = defineLayer<{ activation: ActivationName }>({
  classNames: ['Activation'],
  parse: (config, context) => ({ activation: parseActivation(config.activation, context) }),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x], _weights, { fused }) => applyActivation(config.activation, x!, fused),
  kernels: ACTIVATION_KERNELS,
  secondOrder: 'exact',
  finalActivation: (config) => ({ activation: config.activation, withoutActivation: { activation: 'linear' } }),
});

/** Layers that only act in training (dropout, noise): the identity at evaluation, which is what landscapes measure. */
const inferenceIdentity = defineLayer<Record<string, never>>({
  classNames: ['Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout'],
  parse: () => ({}),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (_config, [x]) => x!,
  kernels: [],
  secondOrder: 'exact',
  identity: true,
});

/** x · scale + offset (Keras' preprocessing Rescaling). */
const rescaling = defineLayer<{ scale: number; offset: number }>({
  classNames: ['Rescaling'],
  parse: (config, context) => ({ scale: numberField(config, 'scale', context), offset: numberField(config, 'offset', context, 0) }),
  outputShape: (_config, inputs, context) => single(inputs, context),
  weights: () => [],
  apply: (config, [x]) => tf.add(tf.mul(x!, config.scale), config.offset),
  kernels: ['Multiply', 'Add'],
  secondOrder: 'exact',
});

export const coreLayers: AnyLayerDefinition[] = [dense, activation, inferenceIdentity, rescaling];
