import * as tf from '@tensorflow/tfjs-core';
import { columnSums, float32Tensor, hostValues, matMul2d } from '../blas';
import { ACTIVATION_KERNELS, applyActivation, fusedActivation, parseActivation, type ActivationName } from './activations';
import {
  boolField,
  enumField,
  expectRank,
  intField,
  intTuple,
  known,
  layerError,
  product,
  requireChannelsLast,
  single,
  windowOutput,
  type Config,
} from './config';
import { applyEachSet, defineLayer, inputAffineIntoKernel, scaledKernel, type AnyLayerDefinition, type LayerContext, type Shape } from './layer';

/**
 * Convolutions, channels_last. Evaluation uses tfjs' fused kernels (bias and activation in the op); gradients
 * use plain conv2d, whose gradients are second-order safe (hessian/second-order.ts). Depthwise convolutions are
 * written as a conv2d with a block-diagonal kernel when differentiated: tfjs' depthwise backprop kernels have no
 * gradients of their own.
 */
interface ConvConfig {
  rank: 1 | 2;
  filters: number;
  kernelSize: number[];
  strides: number[];
  padding: 'valid' | 'same' | 'causal';
  dilation: number[];
  activation: ActivationName;
  useBias: boolean;
  depthMultiplier: number;
}

function parseConv(config: Config, context: LayerContext, rank: 1 | 2, withFilters: boolean): ConvConfig {
  requireChannelsLast(config, context);
  const padding = enumField(config, 'padding', rank === 1 ? (['valid', 'same', 'causal'] as const) : (['valid', 'same'] as const), context, 'valid');
  if (config.groups !== undefined && config.groups !== 1) throw layerError(context, `uses groups=${String(config.groups)}; only groups=1 is supported`);
  return {
    rank,
    filters: withFilters ? intField(config, 'filters', context) : 0,
    kernelSize: intTuple(config, 'kernel_size', rank, context),
    strides: intTuple(config, 'strides', rank, context, 1),
    padding,
    dilation: intTuple(config, 'dilation_rate', rank, context, 1),
    activation: parseActivation(config.activation, context),
    useBias: boolField(config, 'use_bias', true),
    depthMultiplier: intField(config, 'depth_multiplier', context, 1),
  };
}

function spatialOutput(config: ConvConfig, input: Shape, channels: number, context: LayerContext): Shape {
  expectRank(input, config.rank + 1, context);
  return [...input.slice(0, -1).map((size, i) => windowOutput(size, config.kernelSize[i]!, config.strides[i]!, config.padding, config.dilation[i]!)), channels];
}

const pair = (values: number[]): [number, number] => (values.length === 1 ? [1, values[0]!] : [values[0]!, values[1]!]);

/** Conv1D runs as a conv2d over [n, 1, width, channels] (what tf.conv1d does); causal padding pads the start. */
function asImage(x: tf.Tensor, config: ConvConfig): tf.Tensor4D {
  if (config.rank === 2) return x as tf.Tensor4D;
  const [n, w, c] = x.shape as [number, number, number];
  let image = tf.reshape(x, [n, 1, w, c]) as tf.Tensor4D;
  if (config.padding === 'causal') {
    image = tf.pad(image, [
      [0, 0],
      [0, 0],
      [(config.kernelSize[0]! - 1) * config.dilation[0]!, 0],
      [0, 0],
    ]);
  }
  return image;
}

function fromImage(y: tf.Tensor4D, config: ConvConfig): tf.Tensor {
  return config.rank === 2 ? y : tf.reshape(y, [y.shape[0], y.shape[2], y.shape[3]]);
}

const padOf = (config: ConvConfig): 'valid' | 'same' => (config.padding === 'same' ? 'same' : 'valid');

/** conv2d + bias + activation; fused into one tfjs kernel in evaluation. */
function convolve(x: tf.Tensor4D, kernel: tf.Tensor4D, bias: tf.Tensor | undefined, config: ConvConfig, fused: boolean): tf.Tensor4D {
  const strides = pair(config.strides);
  const dilations = pair(config.dilation);
  const fusable = fused ? fusedActivation(config.activation) : undefined;
  if (fused) {
    const y = tf.fused.conv2d({ x, filter: kernel, strides, pad: padOf(config), dataFormat: 'NHWC', dilations, bias, activation: fusable ?? 'linear' });
    return fusable ? y : (applyActivation(config.activation, y, true) as tf.Tensor4D);
  }
  let y: tf.Tensor = tf.conv2d(x, kernel, strides, padOf(config), 'NHWC', dilations);
  if (bias) y = tf.add(y, bias);
  return applyActivation(config.activation, y) as tf.Tensor4D;
}

/** kernel [kh, kw, c, m] as the equivalent conv2d kernel [kh, kw, c, c·m] (zero off the diagonal), differentiably. */
function blockDiagonal(kernel: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, c, m] = kernel.shape;
  const eye = tf.reshape(tf.eye(c), [1, 1, c, c, 1]);
  return tf.reshape(tf.mul(tf.reshape(kernel, [kh, kw, 1, c, m]), eye), [kh, kw, c, c * m]);
}

/** Depthwise convolution without bias/activation: tfjs' kernel in evaluation, the block-diagonal conv2d for gradients. */
function depthwise(x: tf.Tensor4D, kernel: tf.Tensor4D, config: ConvConfig, fused: boolean): tf.Tensor4D {
  const strides = pair(config.strides);
  const dilations = pair(config.dilation);
  if (fused) return tf.depthwiseConv2d(x, kernel, strides, padOf(config), 'NHWC', dilations);
  return tf.conv2d(x, blockDiagonal(kernel), strides, padOf(config), 'NHWC', dilations);
}

const finalActivation = (config: ConvConfig) => ({ activation: config.activation, withoutActivation: { ...config, activation: 'linear' as const } });
const withActivation = (config: ConvConfig, activation: ActivationName): ConvConfig => ({ ...config, activation });
/** An affine map of the input folds into the kernel and bias only without zero padding (graph/sigmoid-form.ts). */
const unpadded = (config: ConvConfig): boolean => config.useBias && config.padding === 'valid';
/** Output rows and columns of an undilated convolution over `image` (asImage's [n, h, w, c]; causal padding already applied). */
function imageOutput(config: ConvConfig, [, h, w]: number[]): [number, number] {
  const [kh, kw] = pair(config.kernelSize);
  const [sh, sw] = pair(config.strides);
  const size = (length: number, k: number, stride: number) => (config.padding === 'same' ? Math.ceil(length / stride) : Math.floor((length - k) / stride) + 1);
  return [size(h!, kh, sh), size(w!, kw, sw)];
}

/**
 * The patches of an image [n, h, w, c] under a stride-`strides` window kh×kw ('same': zero padding split as tfjs
 * does, more after): [n·outH·outW, kh·kw·c], rows in output order, columns in kernel order (i, j, channel).
 * Written on the host once per input (prepareWeightGradients), so a kernel gradient is one matMul.
 */
function patches(image: tf.Tensor4D, kh: number, kw: number, [sh, sw]: [number, number], [outH, outW]: [number, number], same: boolean): tf.Tensor2D {
  const [n, h, w, c] = image.shape;
  const top = same ? Math.floor(Math.max((outH - 1) * sh + kh - h, 0) / 2) : 0;
  const left = same ? Math.floor(Math.max((outW - 1) * sw + kw - w, 0) / 2) : 0;
  const x = hostValues(image);
  const out = new Float32Array(n * outH * outW * kh * kw * c);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let oi = 0; oi < outH; oi++) {
      for (let oj = 0; oj < outW; oj++) {
        for (let i = 0; i < kh; i++) {
          const r = oi * sh + i - top;
          for (let j = 0; j < kw; j++, o += c) {
            const q = oj * sw + j - left;
            if (r < 0 || r >= h || q < 0 || q >= w) continue; // zero padding: the array starts zeroed
            const from = ((b * h + r) * w + q) * c;
            for (let k = 0; k < c; k++) out[o + k] = x[from + k]!;
          }
        }
      }
    }
  }
  return float32Tensor(out, [n * outH * outW, kh * kw * c]) as tf.Tensor2D;
}

/** A following batch normalization folds into the layer when no activation comes between (graph/fold.ts). */
const linearOutput = (config: ConvConfig): boolean => config.activation === 'linear';
const lastAxis = (kernel: tf.Tensor): number[] => [kernel.shape.at(-1)!];
const biasWeight = (config: ConvConfig, units: number) => (config.useBias ? [{ name: 'bias', trainable: true, shape: [units] }] : []);
const CONV_KERNELS = ['Conv2D', 'FusedConv2D', 'Reshape', 'PadV2', 'Add', ...ACTIVATION_KERNELS];

/**
 * Conv2D over an input all K weight sets share (the model input): one convolution with the K kernels side by side
 * ([kh, kw, c, K·filters]), its output channels then moved to the folded batch axis.
 */
function convolveSharedInput(x: tf.Tensor4D, kernels: tf.Tensor, biases: tf.Tensor | undefined, config: ConvConfig, fused: boolean): tf.Tensor {
  const [sets, kh, kw, c, filters] = kernels.shape as [number, number, number, number, number];
  const kernel = tf.reshape(tf.transpose(kernels, [1, 2, 3, 0, 4]), [kh, kw, c, sets * filters]) as tf.Tensor4D;
  // The bias is added apart: wasm's fused kernel reads a bias's rank from its storage, which a reshape keeps.
  let y: tf.Tensor4D = convolve(x, kernel, undefined, { ...config, activation: 'linear' }, fused);
  if (biases) y = tf.add(y, tf.reshape(biases, [sets * filters]));
  y = applyActivation(config.activation, y, fused) as tf.Tensor4D;
  const [n, h, w] = y.shape;
  // [n·h·w, K, filters] → [K, n·h·w, filters]: a rank-3 transpose (wasm's rank-5 one is ~70× slower).
  return tf.reshape(tf.transpose(tf.reshape(y, [n * h * w, sets, filters]), [1, 0, 2]), [sets * n, h, w, filters]);
}

const convolution = (rank: 1 | 2) => {
  const apply = (config: ConvConfig, [x]: tf.Tensor[], weights: Readonly<Record<string, tf.Tensor>>, { fused }: { fused: boolean }): tf.Tensor => {
    const kernel = rank === 2 ? weights.kernel! : tf.expandDims(weights.kernel!, 0);
    return fromImage(convolve(asImage(x!, config), kernel as tf.Tensor4D, weights.bias, config, fused), config);
  };
  return defineLayer<ConvConfig>({
    classNames: [rank === 1 ? 'Conv1D' : 'Conv2D'],
    parse: (config, context) => parseConv(config, context, rank, true),
    outputShape: (config, inputs, context) => spatialOutput(config, single(inputs, context), config.filters, context),
    weights: (config, inputs, context) => {
      const channels = known(single(inputs, context).at(-1), context, 'input channel count');
      return [{ name: 'kernel', trainable: true, shape: [...config.kernelSize, channels, config.filters] }, ...biasWeight(config, config.filters)];
    },
    apply,
    applySets: (config, inputs, weights, context) =>
      rank === 2 && context.shared[0]
        ? convolveSharedInput(inputs[0] as tf.Tensor4D, weights.kernel!, weights.bias, config, context.fused)
        : applyEachSet({ apply }, config, inputs, weights, context),
    kernels: CONV_KERNELS,
    secondOrder: 'exact',
    finalActivation,
    withActivation,
    linearInWeights: true,
    absorbsAffine: { accepts: linearOutput, weights: scaledKernel('kernel', lastAxis) },
    absorbsInputAffine: { accepts: unpadded, rewrite: inputAffineIntoKernel('kernel', (config) => config.filters) },
    prepareWeightGradients: (config, [x], bytes) => {
      if (config.dilation.some((d) => d !== 1)) return undefined;
      const image = asImage(x!, config);
      const [kh, kw] = pair(config.kernelSize);
      const [n, , , c] = image.shape;
      const [outH, outW] = imageOutput(config, image.shape);
      return 4 * n * outH * outW * kh * kw * c <= bytes ? patches(image, kh, kw, pair(config.strides), [outH, outW], config.padding === 'same') : undefined;
    },
    applyPrepared: (config, prepared, [x], weights) => {
      // patches·kernel (+ bias): the convolution as one product, reshaped to its output.
      const image = asImage(x!, config);
      const [outH, outW] = imageOutput(config, image.shape);
      const kernel = tf.reshape(weights.kernel!, [prepared.shape[1]!, config.filters]) as tf.Tensor2D;
      const y = tf.fused.matMul({ a: prepared as tf.Tensor2D, b: kernel, bias: weights.bias });
      return fromImage(tf.reshape(y, [image.shape[0], outH, outW, config.filters]) as tf.Tensor4D, config);
    },
    weightGradients: (config, [x], dy, prepared) => {
      if (config.dilation.some((d) => d !== 1)) return undefined;
      const image = asImage(x!, config);
      const dyImage = config.rank === 2 ? dy : tf.reshape(dy, [dy.shape[0]!, 1, dy.shape[1]!, dy.shape[2]!]);
      const filterShape = [...(config.rank === 2 ? config.kernelSize : [1, config.kernelSize[0]!]), image.shape[3], config.filters];
      if (prepared) {
        // Patches [outputs, kh·kw·c] of the input: the kernel gradient is patchesᵀ·dy, one product.
        const kernel = tf.reshape(matMul2d(prepared as tf.Tensor2D, true, tf.reshape(dy, [-1, config.filters]) as tf.Tensor2D, false), filterShape);
        const gradients: Record<string, tf.Tensor> = { kernel: config.rank === 2 ? kernel : tf.squeeze(kernel, [0]) };
        if (config.useBias) gradients.bias = columnSums(dy);
        return gradients;
      }
      // The kernel tfjs' conv2d gradient uses (registered for backends without one by hessian/second-order.ts).
      const kernel = tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x: image, dy: dyImage },
          { strides: pair(config.strides), pad: padOf(config), dataFormat: 'NHWC', filterShape },
        ) as tf.Tensor;
      const gradients: Record<string, tf.Tensor> = { kernel: config.rank === 2 ? kernel : tf.squeeze(kernel, [0]) };
      if (config.useBias) gradients.bias = columnSums(dy);
      return gradients;
    },
  });
};

const depthwiseConv2d = defineLayer<ConvConfig>({
  classNames: ['DepthwiseConv2D'],
  parse: (config, context) => parseConv(config, context, 2, false),
  outputShape: (config, inputs, context) => {
    const input = single(inputs, context);
    return spatialOutput(config, input, known(input.at(-1), context, 'input channel count') * config.depthMultiplier, context);
  },
  weights: (config, inputs, context) => {
    const channels = known(single(inputs, context).at(-1), context, 'input channel count');
    return [
      // Output channel c·m + j is filter (c, j): the last two axes index the filters together.
      { name: 'depthwise_kernel', trainable: true, shape: [...config.kernelSize, channels, config.depthMultiplier], filterAxes: [2, 3] },
      ...biasWeight(config, channels * config.depthMultiplier),
    ];
  },
  apply: (config, [x], weights, { fused }) => {
    if (fused) {
      const fusable = fusedActivation(config.activation);
      const y = tf.fused.depthwiseConv2d({
        x: x as tf.Tensor4D,
        filter: weights.depthwise_kernel as tf.Tensor4D,
        strides: pair(config.strides),
        pad: padOf(config),
        dataFormat: 'NHWC',
        dilations: pair(config.dilation),
        bias: weights.bias,
        activation: fusable ?? 'linear',
      });
      return fusable ? y : applyActivation(config.activation, y, true);
    }
    let y: tf.Tensor = depthwise(x as tf.Tensor4D, weights.depthwise_kernel as tf.Tensor4D, config, false);
    if (weights.bias) y = tf.add(y, weights.bias);
    return applyActivation(config.activation, y);
  },
  kernels: ['FusedDepthwiseConv2D', 'Conv2D', 'Eye', 'Multiply', 'Reshape', 'Add', ...ACTIVATION_KERNELS],
  secondOrder: 'exact',
  finalActivation,
  withActivation,
  linearInWeights: true,
  // Output channel c·m + j is filter (c, j) of the [kh, kw, c, m] kernel.
  absorbsAffine: { accepts: linearOutput, weights: scaledKernel('depthwise_kernel', (kernel) => kernel.shape.slice(2)) },
  absorbsInputAffine: {
    accepts: unpadded,
    rewrite: inputAffineIntoKernel('depthwise_kernel', (config, kernel) => kernel.length / product(config.kernelSize)!),
  },
});

/** Depthwise convolution, then a 1×1 pointwise convolution with bias and activation. */
const separableConv2d = defineLayer<ConvConfig>({
  classNames: ['SeparableConv2D'],
  parse: (config, context) => parseConv(config, context, 2, true),
  outputShape: (config, inputs, context) => spatialOutput(config, single(inputs, context), config.filters, context),
  weights: (config, inputs, context) => {
    const channels = known(single(inputs, context).at(-1), context, 'input channel count');
    return [
      { name: 'depthwise_kernel', trainable: true, shape: [...config.kernelSize, channels, config.depthMultiplier], filterAxes: [2, 3] },
      { name: 'pointwise_kernel', trainable: true, shape: [1, 1, channels * config.depthMultiplier, config.filters] },
      ...biasWeight(config, config.filters),
    ];
  },
  apply: (config, [x], weights, { fused }) => {
    const spread = depthwise(x as tf.Tensor4D, weights.depthwise_kernel as tf.Tensor4D, config, fused);
    const pointwise = { ...config, strides: [1, 1], dilation: [1, 1], padding: 'valid' as const };
    return convolve(spread, weights.pointwise_kernel as tf.Tensor4D, weights.bias, pointwise, fused);
  },
  kernels: ['DepthwiseConv2dNative', ...CONV_KERNELS, 'Eye', 'Multiply'],
  secondOrder: 'exact',
  finalActivation,
  absorbsAffine: { accepts: linearOutput, weights: scaledKernel('pointwise_kernel', lastAxis) },
});

/** Keras' deconv_output_length without output_padding. */
function transposedLength(size: number, axis: number, config: ConvConfig): number {
  const stride = config.strides[axis]!;
  return config.padding === 'same' ? size * stride : size * stride + Math.max(config.kernelSize[axis]! - stride, 0);
}

/** The transpose of a conv2d (kernel [kh, kw, filters, channels]). */
const conv2dTranspose = defineLayer<ConvConfig>({
  classNames: ['Conv2DTranspose'],
  parse: (config, context) => {
    const parsed = parseConv(config, context, 2, true);
    if (config.output_padding !== undefined && config.output_padding !== null) throw layerError(context, 'sets output_padding, which is not supported');
    if (parsed.dilation.some((d) => d !== 1)) throw layerError(context, 'is dilated; only dilation_rate 1 is supported');
    return parsed;
  },
  outputShape: (config, inputs, context) => {
    const input = single(inputs, context);
    expectRank(input, 3, context);
    const size = (dim: number | null, i: number): number | null => (dim === null ? null : transposedLength(dim, i, config));
    return [size(input[0]!, 0), size(input[1]!, 1), config.filters];
  },
  weights: (config, inputs, context) => {
    const channels = known(single(inputs, context).at(-1), context, 'input channel count');
    return [
      { name: 'kernel', trainable: true, shape: [...config.kernelSize, config.filters, channels], filterAxes: [2] },
      ...biasWeight(config, config.filters),
    ];
  },
  apply: (config, [x], weights) => {
    const [n, h, w] = x!.shape as [number, number, number, number];
    let y: tf.Tensor = tf.conv2dTranspose(
      x as tf.Tensor4D,
      weights.kernel as tf.Tensor4D,
      [n, transposedLength(h, 0, config), transposedLength(w, 1, config), config.filters],
      pair(config.strides),
      padOf(config),
    );
    if (weights.bias) y = tf.add(y, weights.bias);
    return applyActivation(config.activation, y);
  },
  kernels: ['Conv2DBackpropInput', 'Add', ...ACTIVATION_KERNELS],
  secondOrder: 'exact',
  finalActivation,
  withActivation,
  linearInWeights: true,
});

export const convLayers: AnyLayerDefinition[] = [convolution(1), convolution(2), depthwiseConv2d, separableConv2d, conv2dTranspose];
