import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { createRng } from '../random';
import type { Shape } from './layer';
import { seededTensor, seedWeights } from './layer-check.test-util';
import * as check from './recurrent-check.test-util';

check.onBackend('cpu');

const VOCABULARY = 12;

/** Token ids as the data arrives: float32, seeded, every id of the vocabulary possible (0 included). */
function ids(shape: number[], seed: number): tf.Tensor {
  const rng = createRng(seed);
  return tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.floor(rng.uniform() * VOCABULARY)),
    shape,
  );
}

/** The saved layers bound in order, each input shape inferred from the previous layer's output shape. */
function bindChain(layers: check.SavedLayer[], inputShape: Shape) {
  let shape = inputShape;
  const bound = layers.map((layer) => {
    const step = check.bindLayer(check.definitionOf(layer.className), layer, shape);
    shape = step.outputShape;
    return step;
  });
  const names = layers.flatMap((layer) => Object.keys(layer.weights).map((name) => [layer.name, name] as const));
  return {
    /** Weights in declaration order, flat (for gradients). */
    weights: names.map(([layer, name]) => layers.find((l) => l.name === layer)!.weights[name]!),
    apply(x: tf.Tensor, flat?: tf.Tensor[]): tf.Tensor {
      let i = 0;
      return bound.reduce((input, step, k) => {
        const own = Object.keys(layers[k]!.weights);
        const weights = flat ? Object.fromEntries(own.map((name) => [name, flat[i++]!])) : layers[k]!.weights;
        return step.apply(input, weights);
      }, x);
    },
  };
}

async function textClassifier(recurrent: tfl.layers.Layer, sequence: number, seed: number) {
  const model = tfl.sequential({ layers: [tfl.layers.embedding({ inputDim: VOCABULARY, outputDim: 4, inputLength: sequence }), recurrent] });
  seedWeights(model, seed);
  return { model, layers: await check.savedLayers(model) };
}

// Classifier heads with three outputs; the orthogonal default initializer needs tfjs' chained ops (weights are seeded anyway).
const RECURRENT = {
  LSTM: () => tfl.layers.lstm({ units: 3, recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotNormal' }),
  GRU: () => tfl.layers.gru({ units: 3, recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotNormal' }),
};

describe('Embedding matches tfjs-layers predict', () => {
  it.each([[[7]], [[2, 3]], [[1]]])('ids of shape [batch, %j]', async (shape) => {
    const model = tfl.sequential({ layers: [tfl.layers.embedding({ inputDim: VOCABULARY, outputDim: 5, inputShape: shape })] });
    seedWeights(model, 3);
    const [layer] = await check.savedLayers(model);
    const bound = check.bindLayer(check.definitionOf('Embedding'), layer!, shape);
    expect(bound.outputShape).toEqual([...shape, 5]);
    tf.tidy(() => {
      const x = ids([4, ...shape], 8);
      expect(check.relativeError(bound.apply(x), model.predict(x) as tf.Tensor)).toBe(0);
    });
    model.dispose();
  });

  it('Embedding → GlobalAveragePooling1D (mean over the sequence)', async () => {
    const model = tfl.sequential({
      layers: [tfl.layers.embedding({ inputDim: VOCABULARY, outputDim: 6, inputLength: 9 }), tfl.layers.globalAveragePooling1d()],
    });
    seedWeights(model, 4);
    const [layer] = await check.savedLayers(model);
    const bound = check.bindLayer(check.definitionOf('Embedding'), layer!, [9]);
    tf.tidy(() => {
      const x = ids([5, 9], 2);
      expect(check.relativeError(tf.mean(bound.apply(x), 1), model.predict(x) as tf.Tensor)).toBeLessThan(1e-6);
    });
    model.dispose();
  });

  it.each([
    ['LSTM', 6],
    ['GRU', 6],
    ['LSTM', 1],
  ] as const)('Embedding → %s text classifier, %s tokens', async (kind, sequence) => {
    const { model, layers } = await textClassifier(RECURRENT[kind](), sequence, 12);
    const chain = bindChain(layers, [sequence]);
    tf.tidy(() => {
      const x = ids([8, sequence], 5);
      expect(check.relativeError(chain.apply(x), model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    });
    model.dispose();
  });
});

describe.each(['cpu', 'wasm'] as const)('second derivatives of an Embedding text classifier are exact on %s', (backend) => {
  check.onBackend(backend);
  it('the lookup used where gradients are taken matches tfjs-layers predict', async () => {
    const { model, layers } = await textClassifier(RECURRENT.GRU(), 7, 2);
    const chain = bindChain(layers, [7]);
    const x = ids([5, 7], 6);
    tf.tidy(() => {
      expect(check.relativeError(chain.apply(x), model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    });
    const lookup = check.bindLayer(check.definitionOf('Embedding'), layers[0]!, [7]);
    await check.expectKernelsListed(check.definitionOf('Embedding').kernels, () => lookup.apply(x));
    x.dispose();
    model.dispose();
  });
  it.each(['LSTM', 'GRU'] as const)('Embedding → %s: H·v over all weights (embeddings included) equals finite differences', async (kind) => {
    const { model, layers } = await textClassifier(RECURRENT[kind](), 5, 21);
    const chain = bindChain(layers, [5]);
    const x = ids([6, 5], 9);
    const target = seededTensor([6, 3], 10);
    const direction = chain.weights.map((w, i) => seededTensor(w.shape, 40 + i));
    const { exact, differences } = check.hessianVectorProducts((w) => check.squaredError(chain.apply(x, w), target), chain.weights, direction);
    expect(check.relativeError(exact, differences)).toBeLessThan(1e-3);
    // The embeddings' block is not trivially zero: the curvature reaches the looked-up rows.
    const embeddingSize = chain.weights[0]!.size;
    expect(tf.max(tf.abs(tf.slice(exact, 0, embeddingSize))).dataSync()[0]).toBeGreaterThan(1e-3);
    tf.dispose([x, target, exact, differences, ...direction]);
    model.dispose();
  });
});

describe('Embedding kernels, memory and refusals', () => {
  const layer: check.SavedLayer = { className: 'Embedding', name: 'tokens', config: { name: 'tokens', input_dim: 5, output_dim: 2 }, weights: {} };

  it('dispatches only the kernels it lists and leaks no tensors', async () => {
    const table = seededTensor([5, 2], 1);
    const bound = check.bindLayer(check.definitionOf('Embedding'), { ...layer, weights: { embeddings: table } }, [3]);
    const x = tf.tensor([
      [0, 4, 2],
      [1, 1, 3],
    ]);
    await check.expectKernelsListed(check.definitionOf('Embedding').kernels, () => bound.apply(x));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) tf.tidy(() => void bound.apply(x));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([table, x]);
  });

  it.each([
    [[[0, 5]], /tokens.*id 5.*\[0, 4\]/],
    [[[-1, 0]], /tokens.*id -1/],
    [[[2.5, 0]], /tokens.*id 2\.5/],
  ])('refuses ids %j', (values, message) => {
    const table = seededTensor([5, 2], 1);
    const bound = check.bindLayer(check.definitionOf('Embedding'), { ...layer, weights: { embeddings: table } }, [2]);
    const x = tf.tensor(values);
    expect(() => tf.tidy(() => void bound.apply(x))).toThrow(expect.objectContaining({ name: 'InputError', message: expect.stringMatching(message) }));
    tf.dispose([table, x]);
  });

  it('refuses mask_zero, naming the layer', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.embedding({ inputDim: 5, outputDim: 2, inputLength: 3, maskZero: true }), RECURRENT.LSTM()] });
    const [saved] = await check.savedLayers(model);
    expect(() => check.definitionOf('Embedding').parse(saved!.config, check.context(saved!))).toThrow(
      expect.objectContaining({ name: 'InputError', message: expect.stringMatching(/embedding.*mask_zero/) }),
    );
    model.dispose();
  });

  it('refuses an input that contradicts input_length', () => {
    const config = check.definitionOf('Embedding').parse({ ...layer.config, input_length: 4 }, check.context(layer));
    expect(check.definitionOf('Embedding').outputShape(config, [[null]], check.context(layer))).toEqual([null, 2]);
    expect(() => check.definitionOf('Embedding').outputShape(config, [[3]], check.context(layer))).toThrow(/tokens.*input_length \[4\].*\[3\]/);
  });
});
