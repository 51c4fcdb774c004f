import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { factoredDifference, hvpError, savedArtifacts, seededDataset, seedWeights } from '../layers/layer-check.test-util';
import { describeModel, toTensors, weightsFromBytes } from '../model';
import { modelObjective } from '../objective';
import { HessianOperator } from './hvp';
import { FactoredLinearLayers } from './linear-input';

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
