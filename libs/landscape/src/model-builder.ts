import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { ActivationName as Activation } from './layers/activations';
import { describeModel, type LoadedModel, type ModelJson } from './model';
import { createRng } from './random';
import { layoutSize, tensorView } from './weights';

/**
 * Built-in architectures for demos and tests, produced as real TensorFlow.js Layers model.json documents (the same
 * layout tfjs-layers writes), so they load, save and evaluate exactly like user models.
 */
const activation = z.enum(['linear', 'relu', 'elu', 'tanh', 'sigmoid', 'softplus', 'swish']);

export const architectureSchema = z.union([
  z
    .object({
      type: z.literal('mlp'),
      input: z.array(z.number().int().min(1)).min(1),
      hidden: z.array(z.object({ units: z.number().int().min(1), activation: activation.default('tanh') }).strict()),
      outputs: z.number().int().min(1),
    })
    .strict(),
  z
    .object({
      type: z.literal('cnn'),
      /** [height, width, channels] */
      input: z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]),
      conv: z.array(
        z
          .object({
            filters: z.number().int().min(1),
            kernel: z.number().int().min(1).default(3),
            activation: activation.default('relu'),
            pool: z.boolean().default(false),
          })
          .strict(),
      ),
      hidden: z.array(z.object({ units: z.number().int().min(1), activation: activation.default('relu') }).strict()).default([]),
      outputs: z.number().int().min(1),
    })
    .strict(),
]);
export type Architecture = z.infer<typeof architectureSchema>;

/** A Keras layer entry with weights, in the config layout tfjs-layers writes (Glorot-uniform kernel, zero bias). */
function weightedLayer(className: 'Dense' | 'Conv2D', name: string, act: Activation, specific: Record<string, unknown>, batchInputShape?: number[]): unknown {
  return {
    class_name: className,
    config: {
      ...specific,
      activation: act,
      use_bias: true,
      kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1, mode: 'fan_avg', distribution: 'uniform', seed: null } },
      bias_initializer: { class_name: 'Zeros', config: {} },
      kernel_regularizer: null,
      bias_regularizer: null,
      activity_regularizer: null,
      kernel_constraint: null,
      bias_constraint: null,
      name,
      trainable: true,
      ...(batchInputShape ? { batch_input_shape: [null, ...batchInputShape], dtype: 'float32' } : {}),
    },
  };
}

const denseLayer = (name: string, units: number, act: Activation, batchInputShape?: number[]): unknown =>
  weightedLayer('Dense', name, act, { units }, batchInputShape);

const convLayer = (name: string, filters: number, kernel: number, act: Activation, batchInputShape?: number[]): unknown =>
  weightedLayer(
    'Conv2D',
    name,
    act,
    { filters, kernel_size: [kernel, kernel], strides: [1, 1], padding: 'valid', data_format: 'channels_last', dilation_rate: [1, 1] },
    batchInputShape,
  );

/** Builds the model.json document and seeded Glorot-uniform weights (biases zero). */
export function buildModel(architecture: Architecture, seed: number): LoadedModel {
  const layers: unknown[] = [];
  const weights: { name: string; shape: number[]; dtype: 'float32' }[] = [];
  const addDense = (index: number, inputs: number, units: number, act: Activation, first: number[] | undefined): void => {
    const name = `dense_Dense${index}`;
    layers.push(denseLayer(name, units, act, first));
    weights.push({ name: `${name}/kernel`, shape: [inputs, units], dtype: 'float32' }, { name: `${name}/bias`, shape: [units], dtype: 'float32' });
  };
  if (architecture.type === 'mlp') {
    let inputs = architecture.input.reduce((a, b) => a * b, 1);
    if (architecture.input.length > 1)
      layers.push({
        class_name: 'Flatten',
        config: { name: 'flatten_Flatten1', trainable: true, batch_input_shape: [null, ...architecture.input], dtype: 'float32' },
      });
    const first = architecture.input.length > 1 ? undefined : architecture.input;
    const sizes = [...architecture.hidden.map((h) => [h.units, h.activation] as const), [architecture.outputs, 'linear'] as const];
    sizes.forEach(([units, act], i) => {
      addDense(i + 1, inputs, units, act, i === 0 ? first : undefined);
      inputs = units;
    });
  } else {
    let [h, w, c] = architecture.input;
    architecture.conv.forEach((conv, i) => {
      const name = `conv2d_Conv2D${i + 1}`;
      layers.push(convLayer(name, conv.filters, conv.kernel, conv.activation, i === 0 ? architecture.input : undefined));
      weights.push(
        { name: `${name}/kernel`, shape: [conv.kernel, conv.kernel, c, conv.filters], dtype: 'float32' },
        { name: `${name}/bias`, shape: [conv.filters], dtype: 'float32' },
      );
      h = h - conv.kernel + 1;
      w = w - conv.kernel + 1;
      c = conv.filters;
      if (conv.pool) {
        layers.push({
          class_name: 'MaxPooling2D',
          config: {
            pool_size: [2, 2],
            padding: 'valid',
            strides: [2, 2],
            data_format: 'channels_last',
            name: `max_pooling2d_MaxPooling2D${i + 1}`,
            trainable: true,
          },
        });
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
      if (h < 1 || w < 1) throw new Error('the convolutions shrink the input to nothing');
    });
    layers.push({ class_name: 'Flatten', config: { name: 'flatten_Flatten1', trainable: true } });
    let inputs = h * w * c;
    const sizes = [...architecture.hidden.map((layer) => [layer.units, layer.activation] as const), [architecture.outputs, 'linear'] as const];
    sizes.forEach(([units, act], i) => {
      addDense(i + 1, inputs, units, act, undefined);
      inputs = units;
    });
  }
  const modelJson: ModelJson = {
    modelTopology: { class_name: 'Sequential', config: { name: 'sequential_1', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
    format: 'layers-model',
    generatedBy: 'landscape model-builder',
    convertedBy: null,
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  };
  const description = describeModel(modelJson, 'built-in model');
  const flat = new Float64Array(layoutSize(description.layout));
  const rng = createRng(seed);
  for (const spec of description.layout) {
    if (spec.shape.length < 2) continue;
    const receptive = spec.shape.slice(0, -2).reduce((a, b) => a * b, 1);
    const fanIn = receptive * spec.shape[spec.shape.length - 2]!;
    const fanOut = receptive * spec.shape[spec.shape.length - 1]!;
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    // Rounded to float32 now so the saved model and the in-memory vector are the same numbers.
    const view = tensorView(flat, spec);
    for (let i = 0; i < view.length; i++) view[i] = Math.fround((2 * rng.uniform() - 1) * limit);
  }
  return { description, weights: flat, modelJson };
}

/** Writes model.json + weights.bin (little-endian float32, manifest order) as tfjs' file-system saver does. */
export function saveModel(dir: string, model: LoadedModel, weights: Float64Array = model.weights): string {
  mkdirSync(dir, { recursive: true });
  const bytes = Buffer.from(Float32Array.from(weights).buffer);
  const manifest = model.modelJson.weightsManifest.flatMap((group) => group.weights);
  const modelJson: ModelJson = { ...model.modelJson, weightsManifest: [{ paths: ['weights.bin'], weights: manifest }] };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(dir, 'weights.bin'), bytes);
  return join(dir, 'model.json');
}
