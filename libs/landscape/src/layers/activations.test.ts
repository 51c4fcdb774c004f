import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { SecondOrderUnsupportedError } from '../hessian/second-order';
import { modelObjective } from '../objective';
import { ACTIVATIONS, applyActivation, parseActivation, type ActivationName } from './activations';
import { LAYER_REGISTRY } from './registry';
import { dialectOf } from '../graph/topology';
import { describeModel, forward } from '../model';
import { hvpError, loadCase, savedArtifacts, seededDataset } from './layer-check.test-util';

beforeAll(async () => {
  await selectBackend('cpu');
});

const context = { layerName: 'layer', source: 'model.json' };
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => Math.log1p(Math.exp(x));

/** Keras' / tfjs-layers' formulas, written independently in float64 (softmax-style ones checked elsewhere). */
const FORMULAS: Partial<Record<ActivationName, (x: number) => number>> = {
  linear: (x) => x,
  relu: (x) => Math.max(x, 0),
  relu6: (x) => Math.min(Math.max(x, 0), 6),
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
  selu: (x) => 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * (Math.exp(x) - 1)),
  tanh: Math.tanh,
  sigmoid,
  hard_sigmoid: (x) => Math.min(Math.max(0.2 * x + 0.5, 0), 1),
  hard_sigmoid_keras3: (x) => Math.min(Math.max(x + 3, 0), 6) / 6,
  softplus,
  softsign: (x) => x / (Math.abs(x) + 1),
  gelu_new: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  mish: (x) => x * Math.tanh(softplus(x)),
  swish: (x) => x * sigmoid(x),
  exponential: Math.exp,
  leaky_relu: (x) => (x > 0 ? x : 0.2 * x),
};

describe('activations', () => {
  const xs = [-7, -2.5, -1, -0.3, 0, 0.4, 1.5, 3, 6.5];
  it.each(Object.entries(FORMULAS))('%s follows its formula', (name, formula) => {
    const actual = tf.tidy(() => applyActivation(name as ActivationName, tf.tensor1d(xs)).dataSync());
    // float32 relative rounding: |Δ| ≤ 1e-6·max(1, |f(x)|).
    xs.forEach((x, i) => expect(Math.abs(actual[i]! - formula(x))).toBeLessThan(1e-6 * Math.max(1, Math.abs(formula(x)))));
  });

  it.each(['tanh', 'softplus'] as const)("evaluation's %s on wasm (through sigmoid) stays within float32 rounding of the formula", async (name) => {
    await selectBackend('wasm');
    try {
      const grid = Float32Array.from({ length: 80_001 }, (_, i) => -40 + i / 1000);
      const actual = tf.tidy(() => applyActivation(name, tf.tensor1d(grid), true).dataSync());
      const formula = FORMULAS[name]!;
      // Two float32 roundings of the result's size: 2.4e-7·max(1, |f(x)|).
      grid.forEach((x, i) => expect(Math.abs(actual[i]! - formula(x))).toBeLessThanOrEqual(2 * 2 ** -23 * Math.max(1, Math.abs(formula(x)))));
    } finally {
      await selectBackend('cpu');
    }
  });

  it('gelu is x·Φ(x) (erf form)', () => {
    const actual = tf.tidy(() => applyActivation('gelu', tf.tensor1d([-2, -0.5, 0.5, 2])).dataSync());
    // Φ(-2), Φ(-0.5), Φ(0.5), Φ(2) from the normal table.
    [-2 * 0.0227501319, -0.5 * 0.3085375387, 0.5 * 0.6914624613, 2 * 0.9772498681].forEach((v, i) => expect(actual[i]).toBeCloseTo(v, 5));
  });

  it('reads snake case, camel case, aliases and Keras 3 serialized functions', () => {
    expect(parseActivation('hardSigmoid', context)).toBe('hard_sigmoid');
    expect(parseActivation('hard_sigmoid', context)).toBe('hard_sigmoid');
    expect(parseActivation('silu', context)).toBe('swish');
    expect(parseActivation('logSoftmax', context)).toBe('log_softmax');
    expect(parseActivation({ module: 'keras.activations', class_name: 'function', config: 'relu', registered_name: 'function' }, context)).toBe('relu');
    expect(parseActivation(null, context)).toBe('linear');
    for (const name of ACTIVATIONS) expect(parseActivation(name, context)).toBe(name);
    expect(() => parseActivation('sparsemax', context)).toThrow(/layer 'layer' uses activation 'sparsemax', which is not supported/);
  });

  it("hard_sigmoid means Keras 3's relu6(x + 3)/6 in a Keras 3 file and tfjs' clip(0.2x + 0.5, 0, 1) elsewhere", async () => {
    expect(parseActivation('hard_sigmoid', { ...context, dialect: 'keras3' })).toBe('hard_sigmoid_keras3');
    expect(parseActivation('hardSigmoid', { ...context, dialect: 'tfjs' })).toBe('hard_sigmoid');
    expect(dialectOf({ keras_version: '3.4.1', model_config: {} })).toBe('keras3');
    expect(dialectOf({ keras_version: '2.15.0', model_config: { layers: [{ module: 'keras.layers', registered_name: null }] } })).toBe('tfjs');
    expect(dialectOf({ keras_version: 'tfjs-layers 4.22.0' })).toBe('tfjs');
    expect(dialectOf({ class_name: 'Sequential', config: { layers: [{ module: 'keras.layers', class_name: 'Dense', registered_name: null }] } })).toBe(
      'keras3',
    );
    // The same file read whole: only keras_version differs, and the forward pass follows the matching closed form.
    const model = tfl.sequential({ layers: [tfl.layers.activation({ activation: 'hardSigmoid', inputShape: [xs.length] })] });
    const { modelJson } = await savedArtifacts(model);
    const outputs = (kerasVersion: string): Float32Array => {
      const file = { ...modelJson, modelTopology: { ...(modelJson.modelTopology as object), keras_version: kerasVersion } };
      const description = describeModel(file, 'model.json');
      return tf.tidy(() => forward(description, [], tf.tensor2d([xs])).dataSync() as Float32Array);
    };
    const keras3 = outputs('3.4.1');
    const tfjs = outputs('tfjs-layers 4.22.0');
    xs.forEach((x, i) => {
      expect(keras3[i]).toBeCloseTo(FORMULAS.hard_sigmoid_keras3!(x), 6);
      expect(tfjs[i]).toBeCloseTo(FORMULAS.hard_sigmoid!(x), 6);
    });
    model.dispose();
  });

  it("Keras' ReLU with threshold and negative_slope follows Keras' formula", () => {
    const relu = LAYER_REGISTRY.get('ReLU')!;
    const config = relu.parse({ max_value: 2, threshold: 0.5, negative_slope: 0.1 }, context);
    const actual = tf.tidy(() => relu.apply(config, [tf.tensor1d(xs)], {}, { fused: false }).dataSync());
    xs.forEach((x, i) => expect(actual[i]).toBeCloseTo(x >= 2 ? 2 : x >= 0.5 ? x : 0.1 * (x - 0.5), 6));
  });
});

describe('second-order limits', () => {
  it('a dilated convolution raises the typed second-order error in Hessian products', async () => {
    const dilated = {
      name: 'dilated',
      covers: ['Conv2D'],
      input: [6, 6, 1],
      build: () =>
        tfl.sequential({
          layers: [
            tfl.layers.conv2d({ filters: 2, kernelSize: 2, dilationRate: 2, inputShape: [6, 6, 1] }),
            tfl.layers.flatten(),
            tfl.layers.dense({ units: 1 }),
          ],
        }),
    };
    const loaded = await loadCase(dilated);
    loaded.reference.dispose();
    const data = seededDataset([6, 6, 1], modelObjective(loaded.description, 'mse', 'logits', [6, 6, 1]).outputUnits);
    expect(() => hvpError(loaded.description, loaded.weights, data)).toThrow(SecondOrderUnsupportedError);
  });
});
