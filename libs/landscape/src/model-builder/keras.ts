import type { ModelJson } from '../model';
import { createRng } from '../random';

/**
 * Pieces of Keras/tfjs Layers model.json documents, written the way tfjs-layers' own `save()` writes them, and the
 * seeded initial weights that go with them.
 */

/** How a weight starts: He (fan_in, ×2) or Glorot (fan_avg) uniform, or constant. */
export type WeightInit = 'he' | 'glorot' | 'zeros' | 'ones';

export interface BuiltWeight {
  name: string;
  shape: number[];
  init: WeightInit;
  /** BatchNorm moving statistics are not trainable. */
  trainable: boolean;
}

const INITIALIZER_CONFIG: Record<WeightInit, unknown> = {
  he: { class_name: 'VarianceScaling', config: { scale: 2, mode: 'fan_in', distribution: 'uniform', seed: null } },
  glorot: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } },
  zeros: { class_name: 'Zeros', config: {} },
  ones: { class_name: 'Ones', config: {} },
};

export type KerasLayer = { class_name: string; config: Record<string, unknown> };

const regularizers = (...names: string[]): Record<string, null> => Object.fromEntries(names.map((name) => [name, null]));

export interface KernelLayerOptions {
  /** A Keras activation name (default linear). */
  activation?: string;
  useBias?: boolean;
  init?: 'he' | 'glorot';
  /** Sequential models: the first layer carries the input shape. */
  batchInputShape?: number[];
}

/** Dense or Conv2D config (the kernel initializer as given, bias zeros), plus its manifest entries. */
export function kernelLayer(
  className: 'Dense' | 'Conv2D',
  name: string,
  specific: Record<string, unknown>,
  kernelShape: number[],
  options: KernelLayerOptions = {},
): { layer: KerasLayer; weights: BuiltWeight[] } {
  const { activation = 'linear', useBias = true, init = 'glorot', batchInputShape } = options;
  const layer = {
    class_name: className,
    config: {
      ...specific,
      activation,
      use_bias: useBias,
      kernel_initializer: INITIALIZER_CONFIG[init],
      bias_initializer: INITIALIZER_CONFIG.zeros,
      ...regularizers('kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint'),
      name,
      trainable: true,
      ...(batchInputShape ? { batch_input_shape: [null, ...batchInputShape], dtype: 'float32' } : {}),
    },
  };
  const weights: BuiltWeight[] = [{ name: `${name}/kernel`, shape: kernelShape, init, trainable: true }];
  if (useBias) weights.push({ name: `${name}/bias`, shape: [kernelShape[kernelShape.length - 1]!], init: 'zeros', trainable: true });
  return { layer, weights };
}

export interface ConvOptions extends KernelLayerOptions {
  strides?: number;
  padding?: 'valid' | 'same';
}

export const conv2dLayer = (name: string, inChannels: number, filters: number, kernel: number, options: ConvOptions = {}) =>
  kernelLayer(
    'Conv2D',
    name,
    {
      filters,
      kernel_size: [kernel, kernel],
      strides: [options.strides ?? 1, options.strides ?? 1],
      padding: options.padding ?? 'valid',
      data_format: 'channels_last',
      dilation_rate: [1, 1],
    },
    [kernel, kernel, inChannels, filters],
    options,
  );

export const denseLayer = (name: string, inputs: number, units: number, options: KernelLayerOptions = {}) =>
  kernelLayer('Dense', name, { units }, [inputs, units], options);

/** DepthwiseConv2D (depth multiplier 1, no bias: a BatchNormalization follows). */
export function depthwiseLayer(name: string, channels: number, kernel: number, strides: number): { layer: KerasLayer; weights: BuiltWeight[] } {
  return {
    layer: {
      class_name: 'DepthwiseConv2D',
      config: {
        kernel_size: [kernel, kernel],
        strides: [strides, strides],
        padding: 'same',
        data_format: 'channels_last',
        dilation_rate: [1, 1],
        activation: 'linear',
        use_bias: false,
        depth_multiplier: 1,
        depthwise_initializer: INITIALIZER_CONFIG.he,
        bias_initializer: INITIALIZER_CONFIG.zeros,
        ...regularizers('bias_regularizer', 'activity_regularizer', 'bias_constraint', 'depthwise_regularizer', 'depthwise_constraint'),
        name,
        trainable: true,
      },
    },
    weights: [{ name: `${name}/depthwise_kernel`, shape: [kernel, kernel, channels, 1], init: 'he', trainable: true }],
  };
}

/** BatchNormalization over the last axis (γ = 1, β = 0, moving mean 0, moving variance 1). */
export function batchNormLayer(name: string, channels: number): { layer: KerasLayer; weights: BuiltWeight[] } {
  const shape = [channels];
  return {
    layer: {
      class_name: 'BatchNormalization',
      config: {
        axis: -1,
        momentum: 0.99,
        epsilon: 0.001,
        center: true,
        scale: true,
        beta_initializer: INITIALIZER_CONFIG.zeros,
        gamma_initializer: INITIALIZER_CONFIG.ones,
        moving_mean_initializer: INITIALIZER_CONFIG.zeros,
        moving_variance_initializer: INITIALIZER_CONFIG.ones,
        ...regularizers('beta_regularizer', 'gamma_regularizer', 'beta_constraint', 'gamma_constraint'),
        name,
        trainable: true,
      },
    },
    weights: [
      { name: `${name}/gamma`, shape, init: 'ones', trainable: true },
      { name: `${name}/beta`, shape, init: 'zeros', trainable: true },
      { name: `${name}/moving_mean`, shape, init: 'zeros', trainable: false },
      { name: `${name}/moving_variance`, shape, init: 'ones', trainable: false },
    ],
  };
}

/** A weightless layer: Activation, ReLU, Add, Flatten, pooling, … */
export const plainLayer = (className: string, name: string, config: Record<string, unknown> = {}): { layer: KerasLayer; weights: BuiltWeight[] } => ({
  layer: { class_name: className, config: { ...config, name, trainable: true } },
  weights: [],
});

/**
 * Seeded initial weights over the manifest order: uniform in ±sqrt(6·scale / fan) with fan_in = receptive field ×
 * input channels (He, scale 2) or (fan_in + fan_out)/2 (Glorot, scale 1), Keras' fan rule; constants otherwise.
 * Rounded to float32 so the saved model and the in-memory vector are the same numbers.
 */
export function initialWeights(entries: readonly BuiltWeight[], seed: number): Float64Array {
  const flat = new Float64Array(entries.reduce((total, entry) => total + entry.shape.reduce((a, b) => a * b, 1), 0));
  const rng = createRng(seed);
  let offset = 0;
  for (const { shape, init } of entries) {
    const size = shape.reduce((a, b) => a * b, 1);
    const view = flat.subarray(offset, offset + size);
    offset += size;
    if (init === 'ones') view.fill(1);
    if (init !== 'he' && init !== 'glorot') continue;
    const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const fanIn = receptive * shape[shape.length - 2]!;
    const fanOut = receptive * shape[shape.length - 1]!;
    const limit = init === 'he' ? Math.sqrt(6 / fanIn) : Math.sqrt(6 / (fanIn + fanOut));
    for (let i = 0; i < size; i++) view[i] = Math.fround((2 * rng.uniform() - 1) * limit);
  }
  return flat;
}

/** A model.json document in tfjs-layers' layout; `entries` must already be in manifest order. */
export function layersModelJson(modelTopology: unknown, entries: readonly BuiltWeight[]): ModelJson {
  return {
    modelTopology,
    format: 'layers-model',
    generatedBy: 'landscape model-builder',
    convertedBy: null,
    weightsManifest: [{ paths: ['weights.bin'], weights: entries.map(({ name, shape }) => ({ name, shape, dtype: 'float32' as const })) }],
  };
}

/**
 * Builds a functional `Model` topology node by node, in the shape tfjs-layers serializes it (`inbound_nodes` as
 * [[[name, 0, 0, {}], …]]), and orders the weight manifest as tfjs' save() does: trainable weights in layer order,
 * then the non-trainable ones.
 */
export class FunctionalGraph {
  private readonly layers: unknown[] = [];
  private readonly entries: BuiltWeight[] = [];

  constructor(
    private readonly name: string,
    inputShape: number[],
    readonly inputName = 'input',
  ) {
    this.layers.push({
      name: inputName,
      class_name: 'InputLayer',
      config: { batch_input_shape: [null, ...inputShape], dtype: 'float32', sparse: false, name: inputName },
      inbound_nodes: [],
    });
  }

  /** Adds a layer fed by `inputs` (layer names) and returns its name, the handle for later layers. */
  add(built: { layer: KerasLayer; weights: BuiltWeight[] }, inputs: string[]): string {
    const name = String(built.layer.config.name);
    this.layers.push({ name, ...built.layer, inbound_nodes: [inputs.map((input) => [input, 0, 0, {}])] });
    this.entries.push(...built.weights);
    return name;
  }

  toModelJson(output: string): { modelJson: ModelJson; entries: BuiltWeight[] } {
    const entries = [...this.entries.filter((entry) => entry.trainable), ...this.entries.filter((entry) => !entry.trainable)];
    const topology = {
      class_name: 'Model',
      config: { name: this.name, layers: this.layers, input_layers: [[this.inputName, 0, 0]], output_layers: [[output, 0, 0]] },
      keras_version: 'tfjs-layers 4.22.0',
      backend: 'tensor_flow.js',
    };
    return { modelJson: layersModelJson(topology, entries), entries };
  }
}
