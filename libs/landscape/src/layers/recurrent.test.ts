import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  bindLayer,
  definitionOf,
  onBackend,
  context,
  expectKernelsListed,
  hessianVectorProducts,
  relativeError,
  savedLayers,
  squaredError,
  type SavedLayer,
} from './recurrent-check.test-util';
import { seededTensor, seedWeights } from './layer-check.test-util';

onBackend('cpu');

type Cell = 'simpleRNN' | 'gru' | 'lstm';
const CLASS: Record<Cell, string> = { simpleRNN: 'SimpleRNN', gru: 'GRU', lstm: 'LSTM' };

interface Options {
  returnSequences?: boolean;
  goBackwards?: boolean;
  useBias?: boolean;
  activation?: string;
  recurrentActivation?: string;
}

/** A one-layer tfjs-layers model with a free time axis, seeded weights, and the layer as save() writes it. */
async function oneLayerModel(cell: Cell, options: Options, features = 3, units = 4, seed = 11) {
  // The orthogonal default initializer needs tfjs' chained ops; the weights are replaced by seeded values anyway.
  const inner = tfl.layers[cell]({ units, recurrentInitializer: 'glorotNormal', ...options } as never) as tfl.layers.Layer;
  const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [null, features] }), inner] });
  seedWeights(model, seed);
  const [layer] = await savedLayers(model);
  return { model, layer: layer! };
}

async function expectMatchesTfjs(cell: Cell, options: Options, lengths = [1, 4, 9]) {
  const { model, layer } = await oneLayerModel(cell, options);
  const bound = bindLayer(definitionOf(CLASS[cell]), layer, [null, 3]);
  expect(bound.outputShape).toEqual(options.returnSequences ? [null, 4] : [4]);
  for (const time of lengths) {
    tf.tidy(() => {
      const x = seededTensor([5, time, 3], 100 + time);
      const error = relativeError(bound.apply(x), model.predict(x) as tf.Tensor);
      expect(error, `${cell} ${JSON.stringify(options)} T=${time}`).toBeLessThan(1e-5);
    });
  }
  model.dispose();
}

describe('SimpleRNN, GRU and LSTM match tfjs-layers predict', () => {
  const flags: Options[] = [{}, { returnSequences: true }, { goBackwards: true }, { returnSequences: true, goBackwards: true }, { useBias: false }];
  describe.each(['simpleRNN', 'gru', 'lstm'] as const)('%s', (cell) => {
    it.each(flags)('%j', (options) => expectMatchesTfjs(cell, options));
  });
  it.each([
    ['simpleRNN', { activation: 'relu', returnSequences: true }],
    ['simpleRNN', { activation: 'sigmoid' }],
    ['gru', { recurrentActivation: 'sigmoid', returnSequences: true }],
    ['gru', { activation: 'relu', recurrentActivation: 'hardSigmoid' }],
    ['lstm', { recurrentActivation: 'sigmoid', goBackwards: true }],
    ['lstm', { activation: 'linear', recurrentActivation: 'sigmoid', returnSequences: true }],
  ] as [Cell, Options][])('%s with %j', (cell, options) => expectMatchesTfjs(cell, options));

  it('tfjs-layers serializes hard_sigmoid as the GRU/LSTM default, and we read it', async () => {
    const { model, layer } = await oneLayerModel('lstm', {});
    expect(layer.config.recurrent_activation).toBe('hard_sigmoid');
    model.dispose();
  });
});

describe('GRU with reset_after (not in tfjs-layers) matches PyTorch nn.GRU', () => {
  const fixture = JSON.parse(readFileSync(join(__dirname, '../../../../test/fixtures/recurrent/gru_reset_after.json'), 'utf8'));
  const cases: [string, any][] = fixture.cases.map((c: any) => [JSON.stringify(c.config), c]);
  it.each(cases)('%s', (_name, testCase) => {
    const layer: SavedLayer = {
      className: 'GRU',
      name: 'gru',
      config: testCase.config,
      weights: Object.fromEntries(Object.entries(testCase.weights).map(([name, value]) => [name, tf.tensor(value as number[])])),
    };
    const x = tf.tensor(testCase.x);
    const bound = bindLayer(definitionOf('GRU'), layer, [x.shape[1]!, x.shape[2]!]);
    const expected = tf.tensor(testCase.expected);
    expect(
      relativeError(
        tf.tidy(() => bound.apply(x)),
        expected,
      ),
    ).toBeLessThan(1e-5);
    tf.dispose([x, expected, ...Object.values(layer.weights)]);
  });
});

describe('Bidirectional matches tfjs-layers predict', () => {
  it.each([
    ['concat', false],
    ['concat', true],
    ['sum', true],
    ['ave', false],
    ['mul', true],
  ] as const)('merge_mode %s, return_sequences %s', async (mergeMode, returnSequences) => {
    const inner = tfl.layers.gru({ units: 3, returnSequences, recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotNormal' }) as unknown as tfl.RNN;
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [6, 2] }), tfl.layers.bidirectional({ layer: inner, mergeMode })] });
    seedWeights(model, 7);
    const [layer] = await savedLayers(model);
    expect(Object.keys(layer!.weights)).toContain(`forward_${String((layer!.config.layer as any).config.name)}/recurrent_kernel`);
    const bound = bindLayer(definitionOf('Bidirectional'), layer!, [6, 2]);
    expect(bound.outputShape).toEqual([...(returnSequences ? [6] : []), mergeMode === 'concat' ? 6 : 3]);
    tf.tidy(() => {
      const x = seededTensor([4, 6, 2], 3);
      expect(relativeError(bound.apply(x), model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    });
    model.dispose();
  });
});

describe('Bidirectional as Keras 3 writes it (copies named, backward_layer explicit)', () => {
  async function keras3Form(units: number) {
    const inner = tfl.layers.lstm({ units, returnSequences: true, recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotNormal' }) as unknown as tfl.RNN;
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [5, 2] }), tfl.layers.bidirectional({ layer: inner })] });
    seedWeights(model, 17);
    const [layer] = await savedLayers(model);
    const wrappedLayer = layer!.config.layer as { class_name: string; config: Record<string, unknown> };
    const name = String(wrappedLayer.config.name);
    const rewritten: SavedLayer = {
      ...layer!,
      config: {
        ...layer!.config,
        layer: { ...wrappedLayer, config: { ...wrappedLayer.config, name: `forward_${name}` } },
        backward_layer: { ...wrappedLayer, config: { ...wrappedLayer.config, name: `backward_${name}`, go_backwards: true } },
      },
    };
    return { model, rewritten };
  }

  it('binds the same weights and computes what tfjs-layers predicts', async () => {
    const { model, rewritten } = await keras3Form(3);
    const bound = bindLayer(definitionOf('Bidirectional'), rewritten, [5, 2]);
    tf.tidy(() => {
      const x = seededTensor([3, 5, 2], 8);
      expect(relativeError(bound.apply(x), model.predict(x) as tf.Tensor)).toBeLessThan(1e-5);
    });
    model.dispose();
  });

  it('refuses a backward layer running the same way, or of another width under merge_mode sum', async () => {
    const { model, rewritten } = await keras3Form(3);
    const backward = rewritten.config.backward_layer as { class_name: string; config: Record<string, unknown> };
    const parse = (config: Record<string, unknown>) => () => definitionOf('Bidirectional').parse(config, context(rewritten));
    expect(parse({ ...rewritten.config, backward_layer: { ...backward, config: { ...backward.config, go_backwards: false } } })).toThrow(
      /backward_.*other direction/,
    );
    expect(parse({ ...rewritten.config, merge_mode: 'sum', backward_layer: { ...backward, config: { ...backward.config, units: 2 } } })).toThrow(
      /backward_.*2 units.*3/,
    );
    model.dispose();
  });
});

describe('on the wasm backend', () => {
  onBackend('wasm');
  it.each([
    ['gru', { returnSequences: true, goBackwards: true }],
    ['lstm', { recurrentActivation: 'sigmoid' }],
    ['simpleRNN', { returnSequences: true }],
  ] as [Cell, Options][])('%s %j matches tfjs-layers predict', (cell, options) => expectMatchesTfjs(cell, options, [1, 6]));
});

describe.each(['cpu', 'wasm'] as const)('second derivatives through the unrolled cells are exact on %s', (backend) => {
  onBackend(backend);
  // Sigmoid gates and tanh are smooth. hard_sigmoid is piecewise linear: a finite difference across one of its
  // kinks (±2.5) measures the jump, not the curvature, so those cases use small inputs that keep the gates inside.
  const cases: [string, Cell, Options, number][] = [
    ['SimpleRNN tanh', 'simpleRNN', { returnSequences: true }, 1],
    ['GRU sigmoid', 'gru', { recurrentActivation: 'sigmoid', goBackwards: true }, 1],
    ['GRU hard_sigmoid, no bias', 'gru', { useBias: false }, 0.4],
    ['LSTM sigmoid', 'lstm', { recurrentActivation: 'sigmoid', returnSequences: true }, 1],
    ['LSTM hard_sigmoid', 'lstm', {}, 0.4],
  ];
  it.each(cases)('%s: H·v by double backprop equals finite differences of the gradient', async (_name, cell, options, inputScale) => {
    const { model, layer } = await oneLayerModel(cell, options, 3, 4, 5);
    const bound = bindLayer(definitionOf(CLASS[cell]), layer, [null, 3]);
    expectHessianExact(layer, (x, w) => bound.apply(x, w), [6, 5, 3], options.returnSequences ? [6, 5, 4] : [6, 4], inputScale);
    model.dispose();
  });

  it('GRU reset_after', () => {
    const weights = { kernel: seededTensor([3, 12], 1, 0.5), recurrent_kernel: seededTensor([4, 12], 2, 0.5), bias: seededTensor([2, 12], 3, 0.5) };
    const layer: SavedLayer = { className: 'GRU', name: 'gru', weights, config: { units: 4, recurrent_activation: 'sigmoid', reset_after: true } };
    const bound = bindLayer(definitionOf('GRU'), layer, [5, 3]);
    expectHessianExact(layer, (x, w) => bound.apply(x, w), [6, 5, 3], [6, 4]);
    tf.dispose(Object.values(weights));
  });

  it('Bidirectional LSTM', async () => {
    const inner = tfl.layers.lstm({
      units: 2,
      returnSequences: true,
      recurrentActivation: 'sigmoid',
      recurrentInitializer: 'glorotNormal',
    }) as unknown as tfl.RNN;
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [4, 3] }), tfl.layers.bidirectional({ layer: inner })] });
    seedWeights(model, 9);
    const [layer] = await savedLayers(model);
    const bound = bindLayer(definitionOf('Bidirectional'), layer!, [4, 3]);
    expectHessianExact(layer!, (x, w) => bound.apply(x, w), [5, 4, 3], [5, 4, 4]);
    model.dispose();
  });
});

function expectHessianExact(
  layer: SavedLayer,
  apply: (x: tf.Tensor, weights: Record<string, tf.Tensor>) => tf.Tensor,
  inputShape: number[],
  outputShape: number[],
  inputScale = 1,
): void {
  const names = Object.keys(layer.weights);
  const [x, target] = [seededTensor(inputShape, 21, inputScale), seededTensor(outputShape, 22)];
  const direction = names.map((name, i) => seededTensor(layer.weights[name]!.shape, 30 + i));
  const loss = (w: tf.Tensor[]) => squaredError(apply(x, Object.fromEntries(names.map((name, i) => [name, w[i]!]))), target);
  const { exact, differences } = hessianVectorProducts(
    loss,
    names.map((name) => layer.weights[name]!),
    direction,
  );
  const error = relativeError(exact, differences);
  expect(error).toBeLessThan(1e-3);
  expect(tf.max(tf.abs(exact)).dataSync()[0]).toBeGreaterThan(1e-2);
  tf.dispose([x, target, exact, differences, ...direction]);
}

describe('kernels and memory', () => {
  it.each([
    ['SimpleRNN', 'simpleRNN', { activation: 'relu', returnSequences: true }],
    ['GRU', 'gru', { goBackwards: true }],
    ['LSTM', 'lstm', { recurrentActivation: 'sigmoid' }],
  ] as [string, Cell, Options][])('%s dispatches only the kernels it lists and leaks no tensors', async (className, cell, options) => {
    const { model, layer } = await oneLayerModel(cell, options);
    const bound = bindLayer(definitionOf(className), layer, [null, 3]);
    const x = seededTensor([2, 5, 3], 1);
    await expectKernelsListed(definitionOf(className).kernels, () => bound.apply(x));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) tf.tidy(() => void bound.apply(x));
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    model.dispose();
  });

  it('GRU reset_after and Bidirectional list their kernels', async () => {
    const weights = { kernel: seededTensor([3, 6], 1), recurrent_kernel: seededTensor([2, 6], 2), bias: seededTensor([2, 6], 3) };
    const gru = bindLayer(
      definitionOf('GRU'),
      { className: 'GRU', name: 'g', weights, config: { units: 2, recurrent_activation: 'sigmoid', reset_after: true } },
      [4, 3],
    );
    const x = seededTensor([2, 4, 3], 4);
    await expectKernelsListed(definitionOf('GRU').kernels, () => gru.apply(x));
    const inner = tfl.layers.simpleRNN({ units: 2, returnSequences: true, recurrentInitializer: 'glorotNormal' }) as unknown as tfl.RNN;
    const model = tfl.sequential({ layers: [tfl.layers.inputLayer({ inputShape: [4, 3] }), tfl.layers.bidirectional({ layer: inner })] });
    const [layer] = await savedLayers(model);
    const bidirectional = bindLayer(definitionOf('Bidirectional'), layer!, [4, 3]);
    await expectKernelsListed(definitionOf('Bidirectional').kernels, () => bidirectional.apply(x));
    tf.dispose([x, ...Object.values(weights)]);
    model.dispose();
  });
});

describe('refused configurations name the layer and the reason', () => {
  const base = { name: 'rnn_1', units: 2, activation: 'tanh', recurrent_activation: 'sigmoid' };
  const parse = (className: string, config: Record<string, unknown>) => () => definitionOf(className).parse(config, context({ name: 'rnn_1' } as SavedLayer));
  it.each([
    ['LSTM', { ...base, stateful: true }, /rnn_1.*stateful/],
    ['GRU', { ...base, time_major: true }, /rnn_1.*time_major/],
    ['LSTM', { ...base, recurrent_activation: undefined }, /rnn_1.*recurrent_activation.*hard_sigmoid.*sigmoid/],
    ['SimpleRNN', { ...base, activation: 'no_such_activation' }, /rnn_1.*activation 'no_such_activation'/],
    ['GRU', { ...base, units: 0 }, /rnn_1.*units/],
    ['Bidirectional', { name: 'rnn_1', layer: { class_name: 'LSTM', config: base }, merge_mode: null }, /rnn_1.*merge_mode null/],
    ['Bidirectional', { name: 'rnn_1', layer: { class_name: 'Dense', config: { name: 'd', units: 2 } } }, /rnn_1.*"Dense"/],
  ] as const)('%s %j', (className, config, message) => {
    expect(parse(className, config)).toThrow(expect.objectContaining({ name: 'InputError', message: expect.stringMatching(message) }));
  });

  it('return_state is accepted: the layer output is output 0, which is all the graph lets a model read', () => {
    const config = definitionOf('GRU').parse({ ...base, return_state: true }, context({ name: 'rnn_1' } as SavedLayer));
    expect(definitionOf('GRU').outputShape(config, [[5, 3]], context({ name: 'rnn_1' } as SavedLayer))).toEqual([2]);
  });

  it('an input that is not [batch, time, features]', () => {
    const config = definitionOf('LSTM').parse(base, context({ name: 'rnn_1' } as SavedLayer));
    expect(() => definitionOf('LSTM').outputShape(config, [[4]], context({ name: 'rnn_1' } as SavedLayer))).toThrow(/rnn_1.*\[batch, time, features\]/);
    expect(() => definitionOf('LSTM').weights(config, [[4, null]], context({ name: 'rnn_1' } as SavedLayer))).toThrow(/rnn_1.*feature size/);
  });
});
