import * as tf from '@tensorflow/tfjs-core';
import { createRng, InputError, permutation, type Rng } from '@landscape/core';
import { checkCheckpoints, checkPoints } from './checkpoints';

/**
 * A small dense autoencoder of checkpoints: columns standardized (mean 0, std 1; constant columns keep scale 1,
 * like scikit-learn's StandardScaler), layers P → hidden… → latent → …hidden → P with tanh on hidden layers and
 * linear latent/output, mean-squared error, Adam. Reproducible on one backend: weights start from createRng
 * (Glorot uniform, zero biases) and minibatches, if any, follow a seeded permutation. After training the
 * weights are copied out and every tensor is freed; encode/decode run in tf.tidy on the active backend.
 */
export interface AutoencoderOptions {
  /** Hidden layer widths of the encoder (the decoder mirrors them). Default [32]. */
  hidden?: number[];
  /** Latent dimension, default 2 (an embedding landscape). */
  latent?: number;
  /** Default 300. */
  epochs?: number;
  /** Adam learning rate, default 0.01. */
  learningRate?: number;
  /** Rows per step; default (and at most) all rows: full-batch gradient descent. */
  batchSize?: number;
  seed?: number;
}

/** Upper bound on weights (×3 with Adam's moments, float32) so that a million-parameter model fails fast. */
export const AUTOENCODER_MAX_WEIGHTS = 50_000_000;

export interface DenseLayer {
  inputs: number;
  outputs: number;
  kernel: Float32Array;
  bias: Float32Array;
  tanh: boolean;
}

export interface Autoencoder {
  hidden: number[];
  latent: number;
  epochs: number;
  learningRate: number;
  batchSize: number;
  seed: number;
  /** tfjs backend the weights were trained on (reproducibility holds per backend). */
  backend: string;
  /** Per epoch: mean squared error on the standardized checkpoints. */
  losses: number[];
  mean: Float64Array;
  scale: Float64Array;
  /** Encoder then decoder layers, as trained. */
  layers: DenseLayer[];
  /** Parameter vectors → latent points. */
  encode(rows: readonly Float64Array[]): number[][];
  /** Latent points → parameter vectors (in the checkpoints' units). */
  decode(points: readonly ArrayLike<number>[]): Float64Array[];
}

function positiveInteger(value: number, field: string): number {
  if (!Number.isInteger(value) || value < 1) throw new InputError(`must be a positive integer, got ${value}`, field);
  return value;
}

function glorot(inputs: number, outputs: number, rng: Rng): Float32Array {
  const limit = Math.sqrt(6 / (inputs + outputs));
  const kernel = new Float32Array(inputs * outputs);
  for (let i = 0; i < kernel.length; i++) kernel[i] = (2 * rng.uniform() - 1) * limit;
  return kernel;
}

function standardize(rows: readonly Float64Array[], mean: Float64Array, scale: Float64Array): Float32Array {
  const p = mean.length;
  const out = new Float32Array(rows.length * p);
  rows.forEach((row, i) => {
    for (let c = 0; c < p; c++) out[i * p + c] = (row[c]! - mean[c]!) / scale[c]!;
  });
  return out;
}

function forward(input: tf.Tensor2D, layers: readonly { kernel: tf.Tensor2D; bias: tf.Tensor1D; tanh: boolean }[]): tf.Tensor2D {
  return layers.reduce((x, layer) => {
    const z = tf.add(tf.matMul(x, layer.kernel), layer.bias) as tf.Tensor2D;
    return layer.tanh ? tf.tanh(z) : z;
  }, input);
}

/** The layer widths and settings a fit of `n` × `p` checkpoints uses, checked before anything is allocated. */
export function autoencoderSettings(n: number, p: number, options: AutoencoderOptions) {
  const hidden = (options.hidden ?? [32]).map((width, i) => positiveInteger(width, `hidden.${i}`));
  const latent = positiveInteger(options.latent ?? 2, 'latent');
  const epochs = positiveInteger(options.epochs ?? 300, 'epochs');
  const batchSize = Math.min(positiveInteger(options.batchSize ?? n, 'batchSize'), n);
  const learningRate = options.learningRate ?? 0.01;
  if (!(learningRate > 0) || !Number.isFinite(learningRate)) throw new InputError(`must be a positive number, got ${learningRate}`, 'learningRate');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new InputError(`must be a non-negative integer, got ${seed}`, 'seed');

  const widths = [p, ...hidden, latent, ...[...hidden].reverse(), p];
  const weightCount = widths.slice(1).reduce((sum, width, i) => sum + (widths[i]! + 1) * width, 0);
  if (weightCount > AUTOENCODER_MAX_WEIGHTS) {
    throw new InputError(
      `an autoencoder ${widths.join('-')} has ${weightCount} weights (limit ${AUTOENCODER_MAX_WEIGHTS}); use fewer hidden units or reduce the checkpoints with PCA first`,
      'hidden',
    );
  }
  return { hidden, latent, epochs, batchSize, learningRate, seed, widths };
}

export function trainAutoencoder(rows: readonly Float64Array[], options: AutoencoderOptions = {}): Autoencoder {
  const { n, p } = checkCheckpoints(rows);
  const { hidden, latent, epochs, batchSize, learningRate, seed, widths } = autoencoderSettings(n, p, options);

  const mean = new Float64Array(p);
  const scale = new Float64Array(p);
  for (const row of rows) for (let c = 0; c < p; c++) mean[c] += row[c]! / n;
  for (const row of rows) for (let c = 0; c < p; c++) scale[c] += (row[c]! - mean[c]!) ** 2 / n;
  for (let c = 0; c < p; c++) scale[c] = scale[c]! > 0 ? Math.sqrt(scale[c]!) : 1;

  const rng = createRng(seed);
  const initial: DenseLayer[] = widths.slice(1).map((outputs, i) => ({
    inputs: widths[i]!,
    outputs,
    kernel: glorot(widths[i]!, outputs, rng),
    bias: new Float32Array(outputs),
    // hidden layers are tanh; the latent layer (index hidden.length) and the output layer are linear
    tanh: i !== hidden.length && i !== widths.length - 2,
  }));

  const data = tf.tensor2d(standardize(rows, mean, scale), [n, p]);
  // tidy frees the initial-value tensors; the variables themselves survive it and are disposed below.
  const variables = tf.tidy(() =>
    initial.map((layer) => ({
      kernel: tf.variable(tf.tensor2d(layer.kernel, [layer.inputs, layer.outputs])),
      bias: tf.variable(tf.tensor1d(layer.bias)),
      tanh: layer.tanh,
    })),
  );
  const optimizer = tf.train.adam(learningRate);
  const losses: number[] = [];
  let trained: DenseLayer[];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = batchSize < n ? permutation(n, rng) : undefined;
      let epochLoss = 0;
      for (let start = 0; start < n; start += batchSize) {
        const count = Math.min(batchSize, n - start);
        const batch = order ? tf.tidy(() => tf.gather(data, tf.tensor1d(order.subarray(start, start + count), 'int32'))) : data;
        const cost = optimizer.minimize(() => tf.losses.meanSquaredError(batch, forward(batch, variables)) as tf.Scalar, true);
        epochLoss += cost!.dataSync()[0]! * count;
        cost!.dispose();
        if (batch !== data) batch.dispose();
      }
      if (!Number.isFinite(epochLoss)) throw new InputError(`training diverged at epoch ${epoch} (loss ${epochLoss}); lower the learning rate`, 'learningRate');
      losses.push(epochLoss / n);
    }
    trained = initial.map((layer, i) => ({
      ...layer,
      kernel: variables[i]!.kernel.dataSync() as Float32Array,
      bias: variables[i]!.bias.dataSync() as Float32Array,
    }));
  } finally {
    data.dispose();
    optimizer.dispose();
    for (const layer of variables) {
      layer.kernel.dispose();
      layer.bias.dispose();
    }
  }

  return restoreAutoencoder({
    hidden,
    latent,
    epochs,
    learningRate,
    batchSize,
    seed,
    backend: tf.getBackend(),
    losses,
    mean: Array.from(mean),
    scale: Array.from(scale),
    layers: plainLayers(trained),
  });
}

const plainLayers = (layers: readonly DenseLayer[]): AutoencoderState['layers'] =>
  layers.map((layer) => ({ ...layer, kernel: Array.from(layer.kernel), bias: Array.from(layer.bias) }));

/** A trained autoencoder as plain JSON (float32 weights as numbers: exact), so it can travel as a unit result. */
export type AutoencoderState = Omit<Autoencoder, 'encode' | 'decode' | 'mean' | 'scale' | 'layers'> & {
  mean: number[];
  scale: number[];
  layers: (Omit<DenseLayer, 'kernel' | 'bias'> & { kernel: number[]; bias: number[] })[];
};

export function autoencoderState(autoencoder: Autoencoder): AutoencoderState {
  const { encode: _encode, decode: _decode, mean, scale, ...rest } = autoencoder;
  return { ...rest, mean: Array.from(mean), scale: Array.from(scale), layers: plainLayers(autoencoder.layers) };
}

/** The encoder and decoder of a trained state: the same float32 weights give the same codes and vectors. */
export function restoreAutoencoder(state: AutoencoderState): Autoencoder {
  const { hidden, latent } = state;
  const p = state.mean.length;
  const mean = Float64Array.from(state.mean);
  const scale = Float64Array.from(state.scale);
  const trained: DenseLayer[] = state.layers.map((layer) => ({ ...layer, kernel: Float32Array.from(layer.kernel), bias: Float32Array.from(layer.bias) }));
  const encoderLayers = trained.slice(0, hidden.length + 1);
  const decoderLayers = trained.slice(hidden.length + 1);
  const run = (layers: DenseLayer[], input: Float32Array, count: number, width: number): Float32Array => {
    const output = tf.tidy(() => {
      const tensors = layers.map((layer) => ({
        kernel: tf.tensor2d(layer.kernel, [layer.inputs, layer.outputs]),
        bias: tf.tensor1d(layer.bias),
        tanh: layer.tanh,
      }));
      return forward(tf.tensor2d(input, [count, width]), tensors);
    });
    // Read outside tidy: tidy walks whatever it returns, element by element for a typed array.
    const values = output.dataSync() as Float32Array;
    output.dispose();
    return values;
  };

  return {
    ...state,
    mean,
    scale,
    layers: trained,
    encode(input) {
      if (input.length === 0) return [];
      checkCheckpoints(input, 'rows', 1);
      if (input[0]!.length !== p) throw new InputError(`rows have ${input[0]!.length} parameters, the autoencoder was trained on ${p}`, 'rows');
      const codes = run(encoderLayers, standardize(input, mean, scale), input.length, p);
      return input.map((_, i) => Array.from(codes.subarray(i * latent, (i + 1) * latent)));
    },
    decode(points) {
      if (points.length === 0) return [];
      checkPoints(points, latent);
      const flat = new Float32Array(points.length * latent);
      points.forEach((point, i) => {
        for (let c = 0; c < latent; c++) flat[i * latent + c] = point[c]!;
      });
      const output = run(decoderLayers, flat, points.length, latent);
      return points.map((_, i) => {
        const row = new Float64Array(p);
        for (let c = 0; c < p; c++) row[c] = output[i * p + c]! * scale[c]! + mean[c]!;
        return row;
      });
    },
  };
}
