import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { describeModel, weightsFromBytes, type LoadedModel, type ModelJson } from './model';
import { conv2dLayer, denseLayer, initialWeights, layersModelJson, plainLayer, type BuiltWeight } from './model-builder/keras';
import { buildMobilenet, buildResnet, mobilenetSchema, resnetSchema } from './model-builder/resnet';

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
  resnetSchema,
  mobilenetSchema,
]);
export type Architecture = z.infer<typeof architectureSchema>;

type Built = { modelJson: ModelJson; entries: BuiltWeight[] };

/** Sequential MLP/CNN (Glorot-uniform kernels, zero biases), in the layer naming tfjs-layers' Sequential uses. */
function buildSequential(architecture: Extract<Architecture, { type: 'mlp' | 'cnn' }>): Built {
  const layers: unknown[] = [];
  const entries: BuiltWeight[] = [];
  const push = (built: { layer: unknown; weights: BuiltWeight[] }): void => {
    layers.push(built.layer);
    entries.push(...built.weights);
  };
  const addDenseStack = (inputs: number, hidden: { units: number; activation: z.infer<typeof activation> }[], batchInputShape?: number[]): void => {
    const sizes = [...hidden.map((h) => [h.units, h.activation] as const), [architecture.outputs, 'linear'] as const];
    sizes.forEach(([units, activation], i) => {
      push(denseLayer(`dense_Dense${i + 1}`, inputs, units, { activation, batchInputShape: i === 0 ? batchInputShape : undefined }));
      inputs = units;
    });
  };
  if (architecture.type === 'mlp') {
    const flat = architecture.input.length > 1;
    if (flat) push(plainLayer('Flatten', 'flatten_Flatten1', { batch_input_shape: [null, ...architecture.input], dtype: 'float32' }));
    addDenseStack(
      architecture.input.reduce((a, b) => a * b, 1),
      architecture.hidden,
      flat ? undefined : architecture.input,
    );
  } else {
    let [h, w, c] = architecture.input;
    architecture.conv.forEach((conv, i) => {
      push(
        conv2dLayer(`conv2d_Conv2D${i + 1}`, c, conv.filters, conv.kernel, {
          activation: conv.activation,
          batchInputShape: i === 0 ? architecture.input : undefined,
        }),
      );
      h = h - conv.kernel + 1;
      w = w - conv.kernel + 1;
      c = conv.filters;
      if (conv.pool) {
        const pool = { pool_size: [2, 2], padding: 'valid', strides: [2, 2], data_format: 'channels_last' };
        push(plainLayer('MaxPooling2D', `max_pooling2d_MaxPooling2D${i + 1}`, pool));
        h = Math.floor(h / 2);
        w = Math.floor(w / 2);
      }
      if (h < 1 || w < 1) throw new Error('the convolutions shrink the input to nothing');
    });
    push(plainLayer('Flatten', 'flatten_Flatten1'));
    addDenseStack(h * w * c, architecture.hidden);
  }
  const topology = { class_name: 'Sequential', config: { name: 'sequential_1', layers }, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' };
  return { modelJson: layersModelJson(topology, entries), entries };
}

/**
 * The model.json document and seeded initial weights (flat, manifest order) of a built-in architecture, without
 * reading it back: what `saveModel` writes and what tfjs-layers loads.
 */
export function buildModelFiles(architecture: Architecture, seed: number): { modelJson: ModelJson; weights: Float64Array } {
  const built =
    architecture.type === 'resnet'
      ? buildResnet(architecture)
      : architecture.type === 'mobilenet'
        ? buildMobilenet(architecture)
        : buildSequential(architecture);
  return { modelJson: built.modelJson, weights: initialWeights(built.entries, seed) };
}

/** A built-in architecture as a loaded model: its files read back the way `loadModel` reads them from disk. */
export function buildModel(architecture: Architecture, seed: number): LoadedModel {
  const { modelJson, weights } = buildModelFiles(architecture, seed);
  const description = describeModel(modelJson, `built-in ${architecture.type} model`);
  return { description, weights: weightsFromBytes(new Uint8Array(Float32Array.from(weights).buffer), description, 'built-in model'), modelJson };
}

/**
 * Writes model.json + weights.bin (little-endian float32, layout order) as tfjs' file-system saver does. The
 * manifest is rewritten from the layout: the weights are float32 now whatever the source stored (quantized or
 * float16 inputs), and entries the model does not bind (an optimizer's state) are dropped.
 */
export function saveModel(dir: string, model: Pick<LoadedModel, 'modelJson' | 'weights' | 'description'>, weights: Float64Array = model.weights): string {
  mkdirSync(dir, { recursive: true });
  const bytes = Buffer.from(Float32Array.from(weights).buffer);
  const manifest = model.description.layout.map((spec) => ({ name: spec.name, shape: [...spec.shape], dtype: 'float32' as const }));
  const modelJson: ModelJson = { ...model.modelJson, weightsManifest: [{ paths: ['weights.bin'], weights: manifest }] };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(dir, 'weights.bin'), bytes);
  return join(dir, 'model.json');
}
