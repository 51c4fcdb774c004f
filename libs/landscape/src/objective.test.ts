import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backend';
import type { Dataset } from './data';
import { Evaluator } from './evaluate';
import { HessianOperator } from './hessian/hvp';
import { relativeError } from './hessian/fixtures.test-util';
import { hvpError, savedArtifacts, seededDataset, seedWeights } from './layers/layer-check.test-util';
import type { LossName, OutputKind } from './losses';
import { describeModel, weightsFromBytes, type ModelDescription } from './model';
import { modelObjective } from './objective';
import { parseJobSpec, type HessianSpec } from './spec';
import { train } from './train';

const L = tfl.layers;

beforeAll(async () => {
  await selectBackend('cpu');
});

interface Loaded {
  reference: tfl.LayersModel;
  description: ModelDescription;
  weights: Float64Array;
}

async function load(reference: tfl.LayersModel, seed = 1): Promise<Loaded> {
  seedWeights(reference, seed);
  const { modelJson, bytes } = await savedArtifacts(reference);
  const description = describeModel(modelJson, reference.name);
  return { reference, description, weights: weightsFromBytes(bytes, description, reference.name) };
}

/** tfjs-layers' own loss (model.evaluate, inference mode) on the data set. */
function tfjsLoss(model: tfl.LayersModel, data: Dataset, loss: 'sparseCategoricalCrossentropy' | 'meanSquaredError'): number {
  model.compile({ optimizer: 'sgd', loss });
  return tf.tidy(() => {
    const x = tf.tensor(data.x, [data.n, ...data.sampleShape]);
    const y =
      data.targets.kind === 'labels'
        ? tf.tensor2d(Float32Array.from(data.targets.labels), [data.n, 1])
        : tf.tensor2d(data.targets.rows, [data.n, data.targets.width]);
    return (model.evaluate(x, y, { batchSize: 5 }) as tf.Scalar).dataSync()[0]!;
  });
}

function centreLoss(loaded: Loaded, data: Dataset, loss: LossName, output: OutputKind = 'logits'): number {
  const evaluator = new Evaluator({ model: loaded.description, data, loss, output, batchSize: 5 });
  const value = evaluator.evaluate(loaded.weights).loss;
  evaluator.dispose();
  return value;
}

const UNSET = (parseJobSpec({ kind: 'hessian', model: 'm', data: 'd', loss: 'mse', top: { k: 1 } }) as HessianSpec).output;

describe('one model objective: a softmax-final classifier', () => {
  // The dropout after the softmax is the identity at evaluation: the objective looks through it.
  const classifier = () =>
    tfl.sequential({
      layers: [L.dense({ units: 5, activation: 'tanh', inputShape: [4] }), L.dense({ units: 3, activation: 'softmax' }), L.dropout({ rate: 0.5 })],
    });
  const logitsTwin = () => tfl.sequential({ layers: [L.dense({ units: 5, activation: 'tanh', inputShape: [4] }), L.dense({ units: 3 })] });
  const data = seededDataset([4], 3, 12, 5, 3);
  const loss = 'sparse_categorical_crossentropy';

  it('has the same loss with output logits, probabilities or unset, equal to tfjs-layers evaluate', async () => {
    const loaded = await load(classifier());
    expect(UNSET).toBe('logits');
    const losses = (['logits', 'probabilities', UNSET] as const).map((output) => centreLoss(loaded, data, loss, output));
    const reference = tfjsLoss(loaded.reference, data, 'sparseCategoricalCrossentropy');
    for (const value of losses) expect(Math.abs(value - reference) / reference).toBeLessThan(1e-5);
    expect(modelObjective(loaded.description, loss, 'logits', [4])).toMatchObject({ outputKind: 'logits', skipped: 'softmax', outputUnits: 3 });
  });

  it('has the same Hessian with every output setting: that of its logits twin, matching finite differences', async () => {
    const loaded = await load(classifier());
    const twin = await load(logitsTwin());
    const v = Float64Array.from({ length: loaded.weights.length }, (_, i) => Math.sin(i + 1));
    const hvpWith = (model: Loaded, output: OutputKind) => {
      const op = new HessianOperator({ model: model.description, data, loss, output, batchSize: 5 }, loaded.weights);
      const product = op.hvp(v);
      op.dispose();
      return product;
    };
    const expected = hvpWith(twin, 'logits');
    for (const output of ['logits', 'probabilities', UNSET] as const) expect(relativeError(hvpWith(loaded, output), expected)).toBeLessThan(1e-6);
    expect(hvpError(loaded.description, loaded.weights, data, loss)).toBeLessThan(2e-3);
  });

  it('trains the same function as its logits twin (identical checkpoints)', async () => {
    const loaded = await load(classifier());
    const twin = await load(logitsTwin());
    const options = { optimizer: 'sgd', learningRate: 0.2, momentum: 0.5, epochs: 3, batchSize: 4, seed: 2 } as const;
    const ours = train(loaded.description, loaded.weights, data, loss, options);
    const theirs = train(twin.description, loaded.weights, data, loss, options);
    expect(ours.at(-1)!.weights).toEqual(theirs.at(-1)!.weights);
    expect(ours.at(-1)!.weights).not.toEqual(loaded.weights);
  });
});

describe('one model objective: other final activations are kept', () => {
  it('a tanh regression head is trained on the function evaluated (tanh kept)', async () => {
    const loaded = await load(
      tfl.sequential({ layers: [L.dense({ units: 4, activation: 'tanh', inputShape: [3] }), L.dense({ units: 2, activation: 'tanh' })] }),
    );
    const data = seededDataset([3], 2, 8, 4);
    const evaluated = centreLoss(loaded, data, 'mse');
    expect(Math.abs(evaluated - tfjsLoss(loaded.reference, data, 'meanSquaredError')) / evaluated).toBeLessThan(1e-5);
    // One full-batch step: its recorded loss is the loss at the starting weights.
    const [checkpoint] = train(loaded.description, loaded.weights, data, 'mse', { optimizer: 'sgd', learningRate: 1e-9, epochs: 1, batchSize: 8, seed: 0 });
    expect(Math.abs(checkpoint!.loss - evaluated) / evaluated).toBeLessThan(1e-6);
  });

  it('a final sigmoid with mse is read as the model computes it (not its logits)', async () => {
    const loaded = await load(tfl.sequential({ layers: [L.dense({ units: 2, activation: 'sigmoid', inputShape: [3] })] }));
    const data = seededDataset([3], 2, 8, 4);
    expect(modelObjective(loaded.description, 'mse', 'logits', [3]).skipped).toBeUndefined();
    const evaluated = centreLoss(loaded, data, 'mse');
    expect(Math.abs(evaluated - tfjsLoss(loaded.reference, data, 'meanSquaredError')) / evaluated).toBeLessThan(1e-5);
  });
});

function resnetBlock(): tfl.LayersModel {
  const x = tfl.input({ shape: [8, 8, 2] });
  const stem = L.activation({ activation: 'relu' }).apply(
    L.batchNormalization({}).apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(x)),
  ) as tfl.SymbolicTensor;
  const inner = L.activation({ activation: 'relu' }).apply(
    L.batchNormalization({}).apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(stem)),
  );
  const branch = L.batchNormalization({}).apply(L.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }).apply(inner)) as tfl.SymbolicTensor;
  const out = L.activation({ activation: 'relu' }).apply(L.add({}).apply([stem, branch]));
  return tfl.model({ inputs: x, outputs: L.dense({ units: 3, activation: 'softmax' }).apply(L.globalAveragePooling2d({}).apply(out)) as tfl.SymbolicTensor });
}

function depthwiseNet(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', inputShape: [8, 8, 3] }),
      L.reLU({ maxValue: 6 }),
      L.depthwiseConv2d({ kernelSize: 3, padding: 'same' }),
      L.batchNormalization({}),
      L.reLU({ maxValue: 6 }),
      L.separableConv2d({ filters: 6, kernelSize: 3, strides: 2, padding: 'same' }),
      L.reLU({ maxValue: 6 }),
      L.globalAveragePooling2d({}),
      L.dense({ units: 3, activation: 'softmax' }),
    ],
  });
}

function conv1dNet(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      L.conv1d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [12, 2] }),
      L.maxPooling1d({ poolSize: 2 }),
      L.conv1d({ filters: 4, kernelSize: 3, activation: 'tanh' }),
      L.globalAveragePooling1d({}),
      L.dense({ units: 3, activation: 'softmax' }),
    ],
  });
}

function attentionBlock(): tfl.LayersModel {
  const x = tfl.input({ shape: [4, 6] });
  const [q, k, v] = [0, 1, 2].map(() => L.dense({ units: 6 }).apply(x) as tfl.SymbolicTensor);
  const weights = L.softmax({ axis: -1 }).apply(L.dot({ axes: [2, 2] }).apply([q!, k!])) as tfl.SymbolicTensor;
  const attended = L.dot({ axes: [2, 1] }).apply([weights, v!]) as tfl.SymbolicTensor;
  const normed = L.layerNormalization({}).apply(L.add({}).apply([x, attended])) as tfl.SymbolicTensor;
  return tfl.model({
    inputs: x,
    outputs: L.dense({ units: 3, activation: 'softmax' }).apply(L.globalAveragePooling1d({}).apply(normed)) as tfl.SymbolicTensor,
  });
}

describe.each([
  ['functional ResNet-style block (BatchNorm, Add skip)', resnetBlock, [8, 8, 2]],
  ['depthwise/separable net with ReLU6', depthwiseNet, [8, 8, 3]],
  ['Conv1D net', conv1dNet, [12, 2]],
  ['attention block (Dense, Dot, Softmax, LayerNormalization)', attentionBlock, [4, 6]],
] as const)('%s', (_name, build, input) => {
  const data = seededDataset([...input], 3, 10, 7, 3);

  it("centre loss equals tfjs-layers' model.evaluate (1e-5 relative) and HVPs match finite differences", async () => {
    const loaded = await load(build());
    const ours = centreLoss(loaded, data, 'sparse_categorical_crossentropy');
    const reference = tfjsLoss(loaded.reference, data, 'sparseCategoricalCrossentropy');
    expect(Math.abs(ours - reference) / reference).toBeLessThan(1e-5);
    expect(hvpError(loaded.description, loaded.weights, data, 'sparse_categorical_crossentropy')).toBeLessThan(2e-3);
    loaded.reference.dispose();
  });
});
