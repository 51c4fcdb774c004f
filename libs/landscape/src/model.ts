import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { InputError } from './errors';
import { makeLayout, type WeightLayout } from './weights';

/**
 * A TensorFlow.js Layers model read from disk, kept as a description plus a flat weight vector. Evaluation runs
 * the network as a pure function of (weights, inputs) — see `forward` — so any parameter vector can be evaluated
 * (and differentiated twice) without mutating a Layers model.
 */
export type Activation = 'linear' | 'relu' | 'relu6' | 'elu' | 'selu' | 'tanh' | 'sigmoid' | 'softplus' | 'softsign' | 'swish' | 'softmax';

export type Layer =
  | { kind: 'dense'; name: string; units: number; activation: Activation; kernel: number; bias?: number }
  | {
      kind: 'conv2d';
      name: string;
      filters: number;
      strides: [number, number];
      padding: 'valid' | 'same';
      dilation: [number, number];
      activation: Activation;
      kernel: number;
      bias?: number;
    }
  | { kind: 'pool2d'; name: string; mode: 'max' | 'avg'; poolSize: [number, number]; strides: [number, number]; padding: 'valid' | 'same' }
  | { kind: 'globalAvgPool2d'; name: string }
  | { kind: 'flatten'; name: string }
  | { kind: 'reshape'; name: string; targetShape: number[] }
  | { kind: 'activation'; name: string; activation: Activation }
  | { kind: 'identity'; name: string }
  | { kind: 'batchNorm'; name: string; epsilon: number; gamma?: number; beta?: number; movingMean: number; movingVariance: number };

export interface ModelDescription {
  name: string;
  /** Input shape of one sample (no batch axis). */
  inputShape: number[];
  layers: Layer[];
  layout: WeightLayout;
  /** The activation of the last layer that has one; softmax/sigmoid there means the output is probabilities. */
  finalActivation: Activation;
}

export interface LoadedModel {
  description: ModelDescription;
  weights: Float64Array;
  /** The model.json document as read, for re-saving and provenance. */
  modelJson: ModelJson;
}

export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype?: string }[] }[];
  [key: string]: unknown;
}

const ACTIVATIONS = new Set<string>(['linear', 'relu', 'relu6', 'elu', 'selu', 'tanh', 'sigmoid', 'softplus', 'softsign', 'swish', 'softmax']);

type KerasLayer = { class_name: string; config: Record<string, unknown> };

function pair(value: unknown, fallback: number): [number, number] {
  if (Array.isArray(value)) return [Number(value[0]), Number(value[1] ?? value[0])];
  if (typeof value === 'number') return [value, value];
  return [fallback, fallback];
}

function activationOf(layer: KerasLayer, source: string): Activation {
  const raw = layer.config.activation ?? 'linear';
  const name = typeof raw === 'string' ? raw.toLowerCase() : String((raw as { class_name?: string }).class_name ?? raw);
  if (!ACTIVATIONS.has(name)) throw new InputError(`${source}: layer '${String(layer.config.name)}' uses activation '${name}', which is not supported`);
  return name as Activation;
}

/** Reads the Sequential layer list out of the topology (tfjs' own and Keras' exported shapes). */
function sequentialLayers(topology: unknown, source: string): KerasLayer[] {
  let node = topology as Record<string, unknown> | undefined;
  if (node && 'model_config' in node) node = node.model_config as Record<string, unknown>;
  if (!node || typeof node !== 'object') throw new InputError(`${source}: model.json has no modelTopology`);
  if (node.class_name !== 'Sequential') {
    throw new InputError(`${source}: only Sequential models are supported (this one is '${String(node.class_name)}')`);
  }
  const config = node.config as unknown;
  const layers = Array.isArray(config) ? config : (config as { layers?: unknown })?.layers;
  if (!Array.isArray(layers)) throw new InputError(`${source}: the Sequential model lists no layers`);
  return layers as KerasLayer[];
}

/** Builds the model description from a model.json document; weights are matched to layers in manifest order. */
export function describeModel(modelJson: ModelJson, source: string): ModelDescription {
  const manifest = (modelJson.weightsManifest ?? []).flatMap((group) => group.weights);
  for (const weight of manifest) {
    if (weight.dtype !== undefined && weight.dtype !== 'float32') {
      throw new InputError(`${source}: weight '${weight.name}' has dtype ${weight.dtype}; only float32 weights are supported`);
    }
  }
  let next = 0;
  const trainable: boolean[] = [];
  const take = (layerName: string, suffix: string, isTrainable = true): number => {
    const weight = manifest[next];
    if (!weight || !weight.name.endsWith(`/${suffix}`)) {
      throw new InputError(`${source}: expected weight '${layerName}/${suffix}' at position ${next} of weightsManifest, found '${weight?.name ?? 'nothing'}'`);
    }
    trainable[next] = isTrainable;
    return next++;
  };

  const kerasLayers = sequentialLayers(modelJson.modelTopology, source);
  let inputShape: number[] | undefined;
  const layers: Layer[] = [];
  let finalActivation: Activation = 'linear';
  for (const layer of kerasLayers) {
    const c = layer.config;
    const name = String(c.name ?? layer.class_name);
    const batchInput = (c.batch_input_shape ?? c.batch_shape) as (number | null)[] | undefined;
    if (!inputShape && Array.isArray(batchInput)) inputShape = batchInput.slice(1).map(Number);
    switch (layer.class_name) {
      case 'InputLayer':
        break;
      case 'Dense': {
        const activation = activationOf(layer, source);
        const kernel = take(name, 'kernel');
        const bias = c.use_bias === false ? undefined : take(name, 'bias');
        layers.push({ kind: 'dense', name, units: Number(c.units), activation, kernel, bias });
        finalActivation = activation;
        break;
      }
      case 'Conv2D': {
        if (c.data_format !== undefined && c.data_format !== 'channels_last') {
          throw new InputError(`${source}: layer '${name}' uses data_format ${String(c.data_format)}; only channels_last is supported`);
        }
        const activation = activationOf(layer, source);
        const kernel = take(name, 'kernel');
        const bias = c.use_bias === false ? undefined : take(name, 'bias');
        layers.push({
          kind: 'conv2d',
          name,
          filters: Number(c.filters),
          strides: pair(c.strides, 1),
          padding: c.padding === 'same' ? 'same' : 'valid',
          dilation: pair(c.dilation_rate, 1),
          activation,
          kernel,
          bias,
        });
        finalActivation = activation;
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        const poolSize = pair(c.pool_size, 2);
        layers.push({
          kind: 'pool2d',
          name,
          mode: layer.class_name === 'MaxPooling2D' ? 'max' : 'avg',
          poolSize,
          strides: c.strides == null ? poolSize : pair(c.strides, 1),
          padding: c.padding === 'same' ? 'same' : 'valid',
        });
        break;
      }
      case 'GlobalAveragePooling2D':
        layers.push({ kind: 'globalAvgPool2d', name });
        break;
      case 'Flatten':
        layers.push({ kind: 'flatten', name });
        break;
      case 'Reshape':
        layers.push({ kind: 'reshape', name, targetShape: (c.target_shape as number[]).map(Number) });
        break;
      case 'Activation': {
        const activation = activationOf(layer, source);
        layers.push({ kind: 'activation', name, activation });
        finalActivation = activation;
        break;
      }
      case 'Dropout':
      case 'SpatialDropout2D':
      case 'GaussianNoise':
      case 'GaussianDropout':
        // Inference mode: these layers are the identity.
        layers.push({ kind: 'identity', name });
        break;
      case 'BatchNormalization': {
        const axis = c.axis;
        if (axis !== undefined && axis !== -1 && !(Array.isArray(axis) && axis.length === 1 && axis[0] === -1)) {
          const rank = (inputShape?.length ?? 0) + 1;
          const last = Array.isArray(axis) ? axis[0] : axis;
          if (last !== rank - 1 && last !== -1)
            throw new InputError(`${source}: layer '${name}' normalizes axis ${String(axis)}; only the last axis is supported`);
        }
        const gamma = c.scale === false ? undefined : take(name, 'gamma');
        const beta = c.center === false ? undefined : take(name, 'beta');
        const movingMean = take(name, 'moving_mean', false);
        const movingVariance = take(name, 'moving_variance', false);
        layers.push({ kind: 'batchNorm', name, epsilon: Number(c.epsilon ?? 1e-3), gamma, beta, movingMean, movingVariance });
        break;
      }
      default:
        throw new InputError(`${source}: layer '${name}' of class ${layer.class_name} is not supported`);
    }
  }
  if (!inputShape) throw new InputError(`${source}: the first layer has no batch_input_shape, so the input shape is unknown`);
  if (next !== manifest.length) {
    throw new InputError(`${source}: weightsManifest has ${manifest.length} weights but the layers use ${next} (first unused: '${manifest[next]!.name}')`);
  }
  const layout = makeLayout(manifest.map((w, i) => ({ name: w.name, shape: w.shape, trainable: trainable[i] })));
  const topology = modelJson.modelTopology as { config?: { name?: string }; model_config?: { config?: { name?: string } } };
  const name = topology.config?.name ?? topology.model_config?.config?.name ?? 'model';
  return { name, inputShape, layers, layout, finalActivation };
}

/** Accepts the model directory or the path of its model.json. */
export function resolveModelJsonPath(path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) return join(path, 'model.json');
  return path;
}

export function loadModel(path: string): LoadedModel {
  const jsonPath = resolveModelJsonPath(path);
  if (!existsSync(jsonPath)) throw new InputError(`model file not found: ${jsonPath}`);
  let modelJson: ModelJson;
  try {
    modelJson = JSON.parse(readFileSync(jsonPath, 'utf8')) as ModelJson;
  } catch (error) {
    throw new InputError(`cannot parse model ${jsonPath}: ${(error as Error).message}`);
  }
  const description = describeModel(modelJson, jsonPath);
  const buffers = modelJson.weightsManifest.flatMap((group) =>
    group.paths.map((file) => {
      const weightPath = join(dirname(jsonPath), file);
      if (!existsSync(weightPath)) throw new InputError(`${jsonPath}: weight file not found: ${weightPath}`);
      return readFileSync(weightPath);
    }),
  );
  const bytes = Buffer.concat(buffers);
  const weights = weightsFromBytes(bytes, description.layout, jsonPath);
  return { description, weights, modelJson };
}

/** Decodes little-endian float32 weight bytes (manifest order) into the flat float64 vector. */
export function weightsFromBytes(bytes: Uint8Array, layout: WeightLayout, source: string): Float64Array {
  const size = layout.length ? layout[layout.length - 1]!.offset + layout[layout.length - 1]!.size : 0;
  if (bytes.byteLength !== size * 4) {
    throw new InputError(`${source}: weight files hold ${bytes.byteLength} bytes but the manifest needs ${size * 4}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const flat = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const value = view.getFloat32(i * 4, true);
    if (!Number.isFinite(value)) {
      const spec = layout.find((s) => i >= s.offset && i < s.offset + s.size)!;
      throw new InputError(`${source}: weight '${spec.name}' has a non-finite value at index ${i - spec.offset} (${value})`);
    }
    flat[i] = value;
  }
  return flat;
}

function activate(x: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'relu6':
      return tf.relu6(x);
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'tanh':
      return tf.tanh(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'softplus':
      return tf.softplus(x);
    case 'softsign':
      return tf.div(x, tf.add(tf.abs(x), 1));
    case 'swish':
      return tf.mul(x, tf.sigmoid(x));
    case 'softmax':
      return tf.softmax(x);
  }
}

export interface ForwardOptions {
  /** Skip the final softmax/sigmoid so losses can be computed stably from logits. */
  stopBeforeFinalActivation?: boolean;
  /**
   * Use tfjs' fused matMul/conv2d kernels (bias and a fusable activation in the same op). Fewer ops per point, so
   * faster evaluation; not for gradients (the fused kernels' gradients are not second-order safe).
   */
  fused?: boolean;
}

const FUSABLE = new Set<Activation>(['linear', 'relu', 'relu6', 'elu', 'sigmoid']);

/** A dense or conv layer's affine map with its bias and activation, fused into one kernel where tfjs can. */
function fusedLayer(layer: Extract<Layer, { kind: 'dense' | 'conv2d' }>, x: tf.Tensor, params: readonly tf.Tensor[], activation: Activation): tf.Tensor {
  const fusable = FUSABLE.has(activation);
  const fusedActivation = (fusable ? activation : 'linear') as tf.fused.Activation;
  const bias = layer.bias === undefined ? undefined : params[layer.bias];
  const y =
    layer.kind === 'dense'
      ? tf.fused.matMul({ a: x as tf.Tensor2D, b: params[layer.kernel] as tf.Tensor2D, bias, activation: fusedActivation })
      : tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: params[layer.kernel] as tf.Tensor4D,
          strides: layer.strides,
          pad: layer.padding,
          dataFormat: 'NHWC',
          dilations: layer.dilation,
          bias,
          activation: fusedActivation,
        });
  return fusable ? y : activate(y, activation);
}

/**
 * The network as a pure function: params[i] is the tensor of layout entry i. Call inside tf.tidy (or a gradient
 * function); intermediate tensors are not disposed here.
 */
export function forward(description: ModelDescription, params: readonly tf.Tensor[], input: tf.Tensor, options: ForwardOptions = {}): tf.Tensor {
  let x = input;
  const lastActivated = options.stopBeforeFinalActivation ? lastActivationLayer(description) : -1;
  description.layers.forEach((layer, index) => {
    const skipActivation = index === lastActivated;
    if (options.fused && (layer.kind === 'conv2d' || (layer.kind === 'dense' && x.rank === 2))) {
      x = fusedLayer(layer, x, params, skipActivation ? 'linear' : layer.activation);
      return;
    }
    switch (layer.kind) {
      case 'dense': {
        let y = x.rank === 2 ? tf.matMul(x as tf.Tensor2D, params[layer.kernel] as tf.Tensor2D) : tf.dot(x, params[layer.kernel]!);
        if (layer.bias !== undefined) y = tf.add(y, params[layer.bias]!);
        x = skipActivation ? y : activate(y, layer.activation);
        break;
      }
      case 'conv2d': {
        let y: tf.Tensor = tf.conv2d(x as tf.Tensor4D, params[layer.kernel] as tf.Tensor4D, layer.strides, layer.padding, 'NHWC', layer.dilation);
        if (layer.bias !== undefined) y = tf.add(y, params[layer.bias]!);
        x = skipActivation ? y : activate(y, layer.activation);
        break;
      }
      case 'pool2d':
        x =
          layer.mode === 'max'
            ? tf.maxPool(x as tf.Tensor4D, layer.poolSize, layer.strides, layer.padding)
            : tf.avgPool(x as tf.Tensor4D, layer.poolSize, layer.strides, layer.padding);
        break;
      case 'globalAvgPool2d':
        x = tf.mean(x, [1, 2]);
        break;
      case 'flatten':
        x = tf.reshape(x, [x.shape[0]!, -1]);
        break;
      case 'reshape':
        x = tf.reshape(x, [x.shape[0]!, ...layer.targetShape]);
        break;
      case 'activation':
        x = skipActivation ? x : activate(x, layer.activation);
        break;
      case 'identity':
        break;
      case 'batchNorm': {
        const scale = layer.gamma === undefined ? undefined : params[layer.gamma];
        const offset = layer.beta === undefined ? undefined : params[layer.beta];
        const inv = tf.rsqrt(tf.add(params[layer.movingVariance]!, layer.epsilon));
        let y = tf.mul(tf.sub(x, params[layer.movingMean]!), scale ? tf.mul(inv, scale) : inv);
        if (offset) y = tf.add(y, offset);
        x = y;
        break;
      }
    }
  });
  return x;
}

function lastActivationLayer(description: ModelDescription): number {
  for (let i = description.layers.length - 1; i >= 0; i--) {
    const layer = description.layers[i]!;
    if (layer.kind === 'dense' || layer.kind === 'conv2d' || layer.kind === 'activation') return i;
  }
  return -1;
}

/** Uploads a flat float64 vector as one float32 tensor per weight (the caller disposes them). */
export function toTensors(flat: Float64Array, layout: WeightLayout): tf.Tensor[] {
  return layout.map((spec) => tf.tensor(Float32Array.from(flat.subarray(spec.offset, spec.offset + spec.size)), spec.shape, 'float32'));
}
