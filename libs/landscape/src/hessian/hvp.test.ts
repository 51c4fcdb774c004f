import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { randomDirection } from '../directions';
import { savedArtifacts, seededDataset, seedWeights } from '../layers/layer-check.test-util';
import { describeModel, weightsFromBytes, type ModelJson } from '../model';
import { createRng } from '../random';
import { layoutSize } from '../weights';
import { HessianOperator } from './hvp';
import { MODELS, referenceCase, relativeError } from './fixtures.test-util';

const BACKENDS = ['cpu', 'wasm'] as const;

describe.each(BACKENDS)('Hessian-vector products on %s', (backend) => {
  describe.each(MODELS)('%s', (name) => {
    const ref = referenceCase(name, 64); // several batches: exercises the sample-weighted accumulation
    let op: HessianOperator | undefined;
    const operator = async (): Promise<HessianOperator> => {
      await selectBackend(backend);
      expect(tf.getBackend()).toBe(backend);
      op ??= new HessianOperator(ref.setup, ref.theta);
      return op;
    };
    afterAll(() => op?.dispose());

    it('H·d1 matches the float64 reference within 1e-5 (2-norm)', async () => {
      const hv = (await operator()).hvp(ref.d1);
      expect(relativeError(hv, ref.hvpD1)).toBeLessThan(1e-5);
    });

    it('writes a product into a given buffer: the same numbers as a fresh one, the buffer returned', async () => {
      const hessian = await operator();
      const fresh = hessian.hvp(ref.d1);
      const buffer = new Float64Array(fresh.length).fill(7);
      const into = hessian.hvp(ref.d1, buffer);
      expect(into).toBe(buffer);
      expect(Array.from(into)).toEqual(Array.from(fresh));
      expect(hessian.operator.apply(ref.d1, buffer)).toBe(buffer);
      expect(() => hessian.hvp(buffer, buffer)).toThrow(/must not be the vector/);
    });

    it('the gradient matches the reference', async () => {
      const { gradient } = (await operator()).gradient();
      expect(relativeError(gradient, ref.grad)).toBeLessThan(1e-5);
    });

    it('leaks no tensors over many products', async () => {
      const hessian = await operator();
      hessian.hvp(ref.d1);
      const before = tf.memory().numTensors;
      const products = backend === 'cpu' && name === 'm2_cnn' ? 4 : 20; // cpu convolutions are slow (~0.6 s per HVP)
      for (let i = 0; i < products; i++) hessian.hvp(ref.d1);
      hessian.gradient();
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

describe('retained products (one recorded gradient per point, PyTorch retain_graph style)', () => {
  const ref = referenceCase('m2_cnn', 64);
  const moved = ref.theta.map((t, i) => t + 0.05 * ref.d1[i]!);

  it('equal recomputed products, and follow the operator to a new point', async () => {
    await selectBackend('wasm');
    const retained = new HessianOperator(ref.setup, ref.theta);
    const recomputed = new HessianOperator(ref.setup, ref.theta, { products: 'recomputed', firstLayers: 'plain' });
    expect(relativeError(retained.hvp(ref.d1), recomputed.hvp(ref.d1))).toBeLessThan(1e-6);
    expect(retained.retainedProducts).toBe(1);
    retained.setPoint(moved);
    recomputed.setPoint(moved);
    const here = recomputed.hvp(ref.d1);
    expect(relativeError(here, ref.hvpD1)).toBeGreaterThan(1e-3); // the point really moved
    expect(relativeError(retained.hvp(ref.d1), here)).toBeLessThan(1e-6);
    expect(retained.retainedProducts).toBe(2);
    retained.dispose();
    recomputed.dispose();
  });

  it('reuse each max-pool mask of the recorded point (two pools alike, several products), as recomputed products give', async () => {
    await selectBackend('wasm');
    const L = tfl.layers;
    const model = tfl.sequential({
      layers: [
        L.conv2d({ inputShape: [8, 8, 2], filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }),
        L.maxPooling2d({ poolSize: 2 }),
        L.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }),
        L.maxPooling2d({ poolSize: 2 }),
        L.flatten(),
        L.dense({ units: 3 }),
      ],
    });
    seedWeights(model, 4);
    const { modelJson, bytes } = await savedArtifacts(model);
    model.dispose();
    const description = describeModel(modelJson, 'two pools');
    const theta = weightsFromBytes(bytes, description, 'two pools');
    const setup = {
      model: description,
      data: seededDataset([8, 8, 2], 3, 24, 5, 3),
      loss: 'sparse_categorical_crossentropy' as const,
      output: 'logits' as const,
      batchSize: 24,
    };
    const before = tf.memory().numTensors;
    const retained = new HessianOperator(setup, theta);
    const recomputed = new HessianOperator(setup, theta, { products: 'recomputed', firstLayers: 'plain' });
    for (const seed of [1, 2, 3]) {
      const v = randomDirection(description.layout, seed);
      expect(relativeError(retained.hvp(v), recomputed.hvp(v))).toBeLessThan(1e-5);
    }
    expect(retained.retainedProducts).toBe(3);
    retained.dispose();
    recomputed.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('recompute when the tapes exceed their budget, with the same numbers, and leak nothing over moves', async () => {
    await selectBackend('wasm');
    const before = tf.memory().numTensors;
    const overBudget = new HessianOperator(ref.setup, ref.theta, { retainedTapeBytes: 0 });
    const retained = new HessianOperator(ref.setup, ref.theta);
    for (const theta of [ref.theta, moved, ref.theta, moved]) {
      overBudget.setPoint(theta);
      retained.setPoint(theta);
      expect(relativeError(overBudget.hvp(ref.d1), retained.hvp(ref.d1))).toBeLessThan(1e-6);
      retained.hvp(ref.d1);
    }
    expect(overBudget.retainedProducts).toBe(0);
    expect(retained.retainedProducts).toBe(8);
    overBudget.dispose();
    retained.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('batch normalization: moving statistics are constants', () => {
  it('has no rows/columns for them, and matches central differences of the gradient elsewhere', async () => {
    await selectBackend('wasm');
    const weights = (name: string, shape: number[]) => ({ name, shape, dtype: 'float32' });
    const modelJson: ModelJson = {
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'bn',
          layers: [
            { class_name: 'Dense', config: { name: 'd1', units: 5, activation: 'tanh', batch_input_shape: [null, 4] } },
            { class_name: 'BatchNormalization', config: { name: 'bn', axis: -1, epsilon: 1e-3 } },
            { class_name: 'Dense', config: { name: 'd2', units: 3, activation: 'linear' } },
          ],
        },
      },
      weightsManifest: [
        {
          paths: [],
          weights: [
            weights('d1/kernel', [4, 5]),
            weights('d1/bias', [5]),
            weights('bn/gamma', [5]),
            weights('bn/beta', [5]),
            weights('bn/moving_mean', [5]),
            weights('bn/moving_variance', [5]),
            weights('d2/kernel', [5, 3]),
            weights('d2/bias', [3]),
          ],
        },
      ],
    };
    const model = describeModel(modelJson, 'bn-model');
    const rng = createRng(8);
    const theta = Float64Array.from({ length: layoutSize(model.layout) }, () => Math.fround(0.5 * rng.normal()));
    const variance = model.layout[5]!;
    for (let i = 0; i < variance.size; i++) theta[variance.offset + i] = Math.fround(0.5 + Math.abs(theta[variance.offset + i]!));
    const { setup } = referenceCase('m1_mlp');
    const op = new HessianOperator({ ...setup, model }, theta);
    expect(op.parameters).toBe(63);
    expect(op.operator.dimension).toBe(53);
    const v = Float64Array.from({ length: 63 }, () => rng.normal());
    const hv = op.hvp(v);
    for (const stat of [model.layout[4]!, model.layout[5]!])
      expect(Array.from(hv.subarray(stat.offset, stat.offset + stat.size))).toEqual(new Array(stat.size).fill(0));
    // Central differences along v restricted to the trainable coordinates (the model is smooth).
    const moved = op.expand(op.compact(v));
    const h = 1e-3;
    const gradientAt = (sign: number): Float64Array => {
      op.setPoint(theta.map((t, i) => t + sign * h * moved[i]!));
      return op.gradient().gradient;
    };
    const plus = gradientAt(1);
    const minus = gradientAt(-1);
    op.dispose();
    expect(
      relativeError(
        hv,
        plus.map((p, i) => (p - minus[i]!) / (2 * h)),
      ),
    ).toBeLessThan(2e-3);
  });
});
