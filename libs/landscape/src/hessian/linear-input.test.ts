import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { factoredDifference, hvpError, savedArtifacts, seededDataset, seedWeights } from '../layers/layer-check.test-util';
import { describeModel, toTensors, weightsFromBytes } from '../model';
import { modelObjective } from '../objective';
import { HessianOperator } from './hvp';
import { FactoredLinearLayers } from './linear-input';
import { LAYER_REGISTRY } from '../layers/registry';

const L = tfl.layers;

/** A seeded functional tfjs-layers model, saved with its own save() and read back. */
async function functional(build: (x: tfl.SymbolicTensor) => tfl.SymbolicTensor, name: string) {
  const x = tfl.input({ shape: [3] });
  const model = tfl.model({ inputs: x, outputs: build(x) });
  seedWeights(model, 5);
  const { modelJson, bytes } = await savedArtifacts(model);
  const description = describeModel(modelJson, name);
  const data = seededDataset([3], modelObjective(description, 'mse', 'logits', [3]).outputUnits, 7);
  return { description, weights: weightsFromBytes(bytes, description, name), data };
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('factored first linear layers', () => {
  it('a first layer read twice (a skip connection) is factored; gradient and H·v equal the plain path and central differences', async () => {
    const { description, weights, data } = await functional((x) => {
      const a = L.dense({ name: 'a', units: 5, activation: 'tanh' }).apply(x) as tfl.SymbolicTensor;
      const b = L.dense({ name: 'b', units: 5 }).apply(a) as tfl.SymbolicTensor;
      return L.dense({ name: 'out', units: 2 }).apply(L.add().apply([a, b]) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    }, 'skip');
    const { difference, factored } = factoredDifference(description, weights, data);
    expect(factored).toEqual(['Dense']);
    expect(difference).toBeLessThan(1e-5);
    expect(hvpError(description, weights, data)).toBeLessThan(2e-3);
  });

  it('a frozen first layer is a constant: zero gradient and H·v rows, the rest as the plain path', async () => {
    const { description, weights, data } = await functional(
      (x) =>
        L.dense({ name: 'out', units: 2 }).apply(L.dense({ name: 'trunk', units: 4, activation: 'tanh', trainable: false }).apply(x)) as tfl.SymbolicTensor,
      'frozen',
    );
    const { difference, factored } = factoredDifference(description, weights, data);
    expect(factored).toEqual(['Dense']);
    expect(difference).toBeLessThan(1e-5);
    const op = new HessianOperator({ model: description, data, loss: 'mse', output: 'logits', batchSize: 4 }, weights);
    const trunk = description.layout.filter((spec) => spec.name.startsWith('trunk/'));
    const hv = op.hvp(Float64Array.from(weights, (_, i) => Math.sin(i)));
    const { gradient } = op.gradient();
    op.dispose();
    for (const spec of trunk) {
      expect([...hv.subarray(spec.offset, spec.offset + spec.size)].every((value) => value === 0)).toBe(true);
      expect([...gradient.subarray(spec.offset, spec.offset + spec.size)].every((value) => value === 0)).toBe(true);
    }
  });

  it('a layer whose weights are also used deeper in the network stays in the differentiated part', async () => {
    const { description, weights, data } = await functional((x) => {
      const shared = L.dense({ name: 'shared', units: 3, activation: 'tanh' });
      return L.dense({ name: 'out', units: 2 }).apply(shared.apply(shared.apply(x))) as tfl.SymbolicTensor;
    }, 'shared');
    const { difference, factored } = factoredDifference(description, weights, data);
    expect(factored).toEqual([]);
    expect(difference).toBe(0);
  });

  it('recomputes the pre-activations per product when they exceed the cache budget, with the same values', async () => {
    const { description, weights, data } = await functional(
      (x) => L.dense({ name: 'out', units: 2 }).apply(L.dense({ name: 'a', units: 4, activation: 'relu' }).apply(x)) as tfl.SymbolicTensor,
      'budget',
    );
    const before = tf.memory().numTensors;
    const x = tf.tensor(data.x, [data.n, 3]);
    const params = toTensors(weights, description.layout);
    const cached = new FactoredLinearLayers(description.graph, description.layout, [x]);
    const uncached = new FactoredLinearLayers(description.graph, description.layout, [x], true, 0);
    cached.setPoint(params);
    uncached.setPoint(params);
    for (let round = 0; round < 20; round++) {
      const [a, b] = tf.tidy(() => [cached.preActivations(0, params)[0]!.dataSync(), uncached.preActivations(0, params)[0]!.dataSync()]);
      expect(b).toEqual(a);
    }
    cached.dispose();
    uncached.dispose();
    tf.dispose([x, ...params]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('weight gradients of a factored convolution from its input patches (prepared once)', () => {
  const cases = [
    { className: 'Conv2D', config: { filters: 4, kernel_size: [3, 2], strides: [2, 2], padding: 'same' }, input: [2, 8, 6, 3] },
    { className: 'Conv2D', config: { filters: 3, kernel_size: [3, 3], strides: [2, 1], padding: 'valid' }, input: [2, 8, 7, 2] },
    { className: 'Conv1D', config: { filters: 3, kernel_size: 3, strides: 1, padding: 'causal' }, input: [2, 9, 2] },
    { className: 'Conv1D', config: { filters: 2, kernel_size: 4, strides: 2, padding: 'same' }, input: [2, 9, 3] },
  ];

  it.each(cases)(
    '$className $config.padding, strides $config.strides: equal the kernel path and give the same output as apply, on cpu and wasm',
    async ({ className, config, input }) => {
      for (const backend of ['cpu', 'wasm'] as const) {
        await selectBackend(backend);
        const definition = LAYER_REGISTRY.get(className)!;
        const parsed = definition.parse({ ...config, activation: 'linear', use_bias: true }, { layerName: 'conv', source: 'test' });
        const x = tf.randomNormal(input, 0, 1, 'float32', 1);
        const dy = tf.tidy(() =>
          tf.randomNormal(
            definition.apply(
              parsed,
              [x],
              Object.fromEntries(definition.weights(parsed, [input.slice(1)], { layerName: 'conv', source: 'test' }).map((w) => [w.name, tf.zeros(w.shape)])),
              { fused: false },
            ).shape,
            0,
            1,
            'float32',
            2,
          ),
        );
        const prepared = definition.prepareWeightGradients!(parsed, [x], 2 ** 20)!;
        const [viaPatches, viaKernel] = [prepared, undefined].map((p) => tf.tidy(() => definition.weightGradients!(parsed, [x], dy, p)!.kernel!.dataSync()));
        let error = 0;
        viaKernel!.forEach((v, i) => (error = Math.max(error, Math.abs(v - viaPatches![i]!))));
        expect(error).toBeLessThan(1e-4);
        // The layer's output from the same patches, as its own fused apply gives it.
        const weights = Object.fromEntries(
          definition
            .weights(parsed, [input.slice(1)], { layerName: 'conv', source: 'test' })
            .map((w, i) => [w.name, tf.randomNormal(w.shape, 0, 1, 'float32', 3 + i)]),
        );
        const [fromPatches, applied] = [
          tf.tidy(() => definition.applyPrepared!(parsed, prepared, [x], weights).dataSync()),
          tf.tidy(() => definition.apply(parsed, [x], weights, { fused: true }).dataSync()),
        ];
        expect(fromPatches.length).toBe(applied.length);
        let outputError = 0;
        applied.forEach((v, i) => (outputError = Math.max(outputError, Math.abs(v - fromPatches[i]!))));
        expect(outputError).toBeLessThan(1e-4);
        tf.dispose(Object.values(weights));
        expect(definition.prepareWeightGradients!(parsed, [x], 16)).toBeUndefined(); // over the budget
        tf.dispose([x, dy, prepared]);
      }
    },
  );
});
