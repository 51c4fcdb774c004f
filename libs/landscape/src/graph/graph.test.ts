import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { describeModel, checkSampleShape, forward, toTensors, weightsFromBytes, type ModelJson } from '../model';
import { maxNormError, savedArtifacts, seededInput, seedWeights, type Topology, type TopologyLayer } from '../layers/layer-check.test-util';
import { runGraph } from './run';

const L = tfl.layers;

beforeAll(async () => {
  await selectBackend('cpu');
});

async function saved(model: tfl.LayersModel, seed = 1) {
  seedWeights(model, seed);
  return savedArtifacts(model);
}

/** ‖ours − theirs‖∞ / ‖theirs‖∞ of the loaded model against tfjs-layers' predict (or one output of it). */
function predictError(modelJson: ModelJson, bytes: Uint8Array, reference: tfl.LayersModel, input: number[], options = {}, outputIndex?: number): number {
  const description = describeModel(modelJson, 'test', options);
  const weights = weightsFromBytes(bytes, description, 'test');
  const [ours, theirs] = tf.tidy(() => {
    const x = seededInput([4, ...input], 9);
    const predicted = reference.predict(x);
    const expected = Array.isArray(predicted) ? predicted[outputIndex ?? 0]! : predicted;
    return [forward(description, toTensors(weights, description.layout), x, { fused: true }).dataSync(), expected.dataSync()];
  });
  return maxNormError(ours, theirs);
}

/** Reorders manifest entries (and their bytes: float32 each) as `order` says. */
function reorderWeights(modelJson: ModelJson, bytes: Uint8Array, compare: (a: string, b: string) => number): { modelJson: ModelJson; bytes: Uint8Array } {
  const entries = modelJson.weightsManifest[0]!.weights;
  let offset = 0;
  const chunks = entries.map((entry) => {
    const length = entry.shape.reduce((a, b) => a * b, 1) * 4;
    const chunk = bytes.slice(offset, offset + length);
    offset += length;
    return { entry, chunk };
  });
  chunks.sort((a, b) => compare(a.entry.name, b.entry.name));
  const out = new Uint8Array(bytes.length);
  let at = 0;
  for (const { chunk } of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return { modelJson: { ...modelJson, weightsManifest: [{ paths: ['weights.bin'], weights: chunks.map((c) => c.entry) }] }, bytes: out };
}

/** tfjs' functional topology rewritten the way Keras 3 exports it (module/registered_name, batch_shape, {args, kwargs}). */
function asKeras3(topology: Topology): unknown {
  const tensor = ([layer, node, index]: unknown[]) => ({
    class_name: '__keras_tensor__',
    config: { shape: [null, 0], dtype: 'float32', keras_history: [layer, node, index] },
  });
  const layers = topology.config.layers.map((layer: TopologyLayer) => {
    const config = { ...layer.config };
    if (config.batch_input_shape) {
      config.batch_shape = config.batch_input_shape;
      delete config.batch_input_shape;
    }
    const calls = (layer.inbound_nodes as unknown[][][]).map((call) => ({
      args: call.length === 1 ? [tensor(call[0]!)] : [call.map(tensor)],
      kwargs: { training: false },
    }));
    return { module: 'keras.layers', class_name: layer.class_name, config, registered_name: null, name: layer.name, inbound_nodes: calls };
  });
  const [input] = topology.config.input_layers as unknown[][];
  const [output] = topology.config.output_layers as unknown[][];
  return {
    module: 'keras',
    class_name: 'Functional',
    config: { name: 'functional', trainable: true, layers, input_layers: input, output_layers: output },
    registered_name: 'Functional',
  };
}

function residualBlock(): tfl.LayersModel {
  const x = tfl.input({ name: 'image', shape: [6, 6, 2] });
  const stem = L.conv2d({ name: 'stem', filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
  const branch = L.batchNormalization({ name: 'bn' }).apply(
    L.conv2d({ name: 'conv', filters: 3, kernelSize: 3, padding: 'same' }).apply(stem),
  ) as tfl.SymbolicTensor;
  const sum = L.activation({ name: 'relu', activation: 'relu' }).apply(L.add({ name: 'skip' }).apply([stem, branch])) as tfl.SymbolicTensor;
  const pooled = L.globalAveragePooling2d({ name: 'pool' }).apply(sum);
  return tfl.model({ inputs: x, outputs: L.dense({ name: 'logits', units: 3 }).apply(pooled) as tfl.SymbolicTensor });
}

describe('model graph reader', () => {
  it('binds a Keras-converter manifest (weights sorted by layer name: dense_10 before dense_2) by name', async () => {
    const layers = Array.from({ length: 11 }, (_, i) =>
      L.dense({ name: `dense_${i + 1}`, units: 3, activation: 'tanh', ...(i === 0 ? { inputShape: [3] } : {}) }),
    );
    const reference = tfl.sequential({ layers });
    const artifacts = await saved(reference);
    const sorted = reorderWeights(artifacts.modelJson, artifacts.bytes, (a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted.modelJson.weightsManifest[0]!.weights.slice(0, 4).map((w) => w.name)).toEqual([
      'dense_1/bias',
      'dense_1/kernel',
      'dense_10/bias',
      'dense_10/kernel',
    ]);
    // Keras 2's export wraps the topology in model_config and starts the Sequential with an InputLayer.
    const topology = artifacts.modelJson.modelTopology as Topology;
    const keras2 = {
      ...sorted.modelJson,
      modelTopology: {
        keras_version: '2.13.1',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Sequential',
          config: {
            name: 'sequential',
            layers: [{ class_name: 'InputLayer', config: { batch_input_shape: [null, 3], name: 'input_1' } }, ...topology.config.layers],
          },
        },
      },
    };
    expect(predictError(keras2, sorted.bytes, reference, [3])).toBeLessThan(1e-5);
  });

  it('loads a BatchNormalization model saved by tfjs-layers (moving statistics listed after every trainable weight)', async () => {
    const reference = tfl.sequential({
      layers: [L.dense({ units: 4, inputShape: [3] }), L.batchNormalization({}), L.dense({ units: 2, activation: 'tanh' })],
    });
    const { modelJson, bytes } = await saved(reference);
    const names = modelJson.weightsManifest[0]!.weights.map((w) => w.name);
    expect(names.findIndex((n) => n.endsWith('moving_mean'))).toBeGreaterThan(names.findIndex((n) => n.startsWith(reference.layers[2]!.name)));
    expect(predictError(modelJson, bytes, reference, [3])).toBeLessThan(1e-5);
    const { layout } = describeModel(modelJson, 'bn');
    expect(layout.filter((spec) => !spec.trainable).map((spec) => spec.name.split('/')[1])).toEqual(['moving_mean', 'moving_variance']);
  });

  it('reads a functional ResNet-style block in tfjs and in Keras 3 form', async () => {
    const reference = residualBlock();
    const { modelJson, bytes } = await saved(reference);
    expect(predictError(modelJson, bytes, reference, [6, 6, 2])).toBeLessThan(1e-5);
    const keras3 = { ...modelJson, modelTopology: { model_config: asKeras3(modelJson.modelTopology as Topology) } };
    expect(predictError(keras3, bytes, reference, [6, 6, 2])).toBeLessThan(1e-5);
  });

  it('inlines nested models and evaluates a shared layer called twice with one set of weights', async () => {
    const inner = tfl.sequential({ name: 'inner', layers: [L.dense({ name: 'inner_dense', units: 4, activation: 'tanh', inputShape: [3] })] });
    const x = tfl.input({ name: 'x', shape: [3] });
    const shared = L.dense({ name: 'shared', units: 4, activation: 'sigmoid' });
    const a = shared.apply(inner.apply(x) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const b = shared.apply(L.dense({ name: 'side', units: 4 }).apply(x) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const reference = tfl.model({ inputs: x, outputs: L.dense({ name: 'out', units: 2 }).apply(L.add({}).apply([a, b])) as tfl.SymbolicTensor });
    const { modelJson, bytes } = await saved(reference);
    expect(predictError(modelJson, bytes, reference, [3])).toBeLessThan(1e-5);
    const description = describeModel(modelJson, 'nested');
    expect(description.graph.nodes.map((node) => node.name)).toEqual(expect.arrayContaining(['inner/inner_dense', 'shared', 'shared#1']));
    expect(description.layout.map((spec) => spec.name).filter((name) => name.startsWith('shared/'))).toEqual(['shared/kernel', 'shared/bias']);
  });

  it('evaluates the output a multi-output model names (default the first); other heads are held fixed', async () => {
    const x = tfl.input({ shape: [3] });
    const trunk = L.dense({ name: 'trunk', units: 4, activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
    const heads = ['head_a', 'head_b'].map((name) => L.dense({ name, units: 2 }).apply(trunk) as tfl.SymbolicTensor);
    const reference = tfl.model({ inputs: x, outputs: heads });
    const { modelJson, bytes } = await saved(reference);
    expect(predictError(modelJson, bytes, reference, [3], {}, 0)).toBeLessThan(1e-5);
    expect(predictError(modelJson, bytes, reference, [3], { output: 'head_b' }, 1)).toBeLessThan(1e-5);
    const description = describeModel(modelJson, 'heads', { output: 'head_b' });
    expect(description.outputs).toEqual(['head_a', 'head_b']);
    expect(description.layout.filter((spec) => spec.trainable).map((spec) => spec.name)).toEqual([
      'trunk/kernel',
      'trunk/bias',
      'head_b/kernel',
      'head_b/bias',
    ]);
    expect(() => describeModel(modelJson, 'heads', { output: 'head_c' })).toThrow(/outputLayer: the model has no output 'head_c' \(outputs: head_a, head_b\)/);
  });

  it('sizes free input dimensions from the data (a fully convolutional net)', async () => {
    const reference = tfl.sequential({
      layers: [L.conv2d({ filters: 3, kernelSize: 3, activation: 'tanh', inputShape: [null, null, 2] }), L.globalMaxPooling2d({}), L.dense({ units: 2 })],
    });
    const { modelJson, bytes } = await saved(reference);
    const description = describeModel(modelJson, 'fcn');
    expect(description.inputShape).toEqual([null, null, 2]);
    expect(predictError(modelJson, bytes, reference, [7, 5, 2])).toBeLessThan(1e-5);
    expect(() => checkSampleShape(description, [7, 5, 2])).not.toThrow();
    expect(() => checkSampleShape(description, [7, 5, 3])).toThrow(/samples have shape \[7, 5, 3\] but the model expects \[any, any, 2\]/);
  });

  it('holds frozen (trainable: false) layers fixed unless asked, and never moves BN statistics', async () => {
    const reference = tfl.sequential({
      layers: [
        L.dense({ name: 'base', units: 4, inputShape: [3], trainable: false }),
        L.batchNormalization({ name: 'bn', trainable: false }),
        L.dense({ name: 'top', units: 2 }),
      ],
    });
    const { modelJson } = await saved(reference);
    const moving = (frozen: 'exclude' | 'include') =>
      describeModel(modelJson, 'frozen', { frozen })
        .layout.filter((spec) => spec.trainable)
        .map((spec) => spec.name)
        .sort();
    expect(moving('exclude')).toEqual(['top/bias', 'top/kernel']);
    expect(moving('include')).toEqual(['base/bias', 'base/kernel', 'bn/beta', 'bn/gamma', 'top/bias', 'top/kernel']);
  });

  it('frees every intermediate in evaluation: only the output outlives the pass', async () => {
    const reference = residualBlock();
    const { modelJson, bytes } = await saved(reference);
    const description = describeModel(modelJson, 'block');
    const params = toTensors(weightsFromBytes(bytes, description, 'block'), description.layout);
    const x = seededInput([2, 6, 6, 2], 3);
    const before = tf.memory().numTensors;
    const output = runGraph(description.graph, params, x, { fused: true });
    expect(tf.memory().numTensors).toBe(before + 1);
    tf.dispose([output, x, ...params]);
  });
});

describe('model reader errors name what is wrong', () => {
  const dense = (): Promise<{ modelJson: ModelJson; bytes: Uint8Array }> =>
    saved(tfl.sequential({ layers: [L.dense({ name: 'd1', units: 3, inputShape: [2] }), L.dense({ name: 'd2', units: 1 })] }));
  const withWeights = (modelJson: ModelJson, edit: (weights: ModelJson['weightsManifest'][number]['weights']) => void): ModelJson => {
    const copy = structuredClone(modelJson);
    edit(copy.weightsManifest[0]!.weights);
    return copy;
  };

  it('a missing, extra or mis-shaped weight', async () => {
    const { modelJson } = await dense();
    expect(() =>
      describeModel(
        withWeights(modelJson, (w) => w.splice(1, 1)),
        'm.json',
      ),
    ).toThrow("m.json: layer 'd1' needs weight 'd1/bias' [3], which weightsManifest does not have");
    expect(() =>
      describeModel(
        withWeights(modelJson, (w) => w.push({ name: 'extra/w', shape: [2], dtype: 'float32' })),
        'm.json',
      ),
    ).toThrow("m.json: weightsManifest has weights no layer of the model uses: 'extra/w'");
    expect(() =>
      describeModel(
        withWeights(modelJson, (w) => (w[2]!.shape = [2, 1])),
        'm.json',
      ),
    ).toThrow("m.json: weight 'd2/kernel' has shape [2, 1] but layer 'd2' needs [3, 1]");
  });

  it('an unknown layer class, naming the layer', async () => {
    const { modelJson } = await dense();
    const copy = structuredClone(modelJson);
    (copy.modelTopology as Topology).config.layers[1]!.class_name = 'MyAttention';
    expect(() => describeModel(copy, 'm.json')).toThrow("m.json: layer 'd2' is of class MyAttention, which is not supported");
  });

  it('a graph model, saying what it is and how to export a Layers model', () => {
    expect(() => describeModel({ format: 'graph-model', modelTopology: { node: [] }, weightsManifest: [] }, 'g.json')).toThrow(
      /graph model.*tfjs_layers_model.*model\.save\(\)/,
    );
  });

  it('a multi-input model', async () => {
    const a = tfl.input({ name: 'a', shape: [2] });
    const b = tfl.input({ name: 'b', shape: [2] });
    const { modelJson } = await saved(tfl.model({ inputs: [a, b], outputs: L.add({}).apply([a, b]) as tfl.SymbolicTensor }));
    expect(() => describeModel(modelJson, 'm.json')).toThrow('m.json: the model has 2 inputs (a, b); only single-input models are supported');
  });
});
