import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeError } from '../../../../test/support/fixtures';
import { selectBackend } from '../backend';
import { randomDirection } from '../directions';
import { evaluationRecord, evaluationSubspace, Evaluator, type EvaluationSetup, type LandscapePlan } from '../evaluate';
import { coefficientsAt } from '../grid';
import { predictCrossEntropy, savedArtifacts, seededDataset, seedWeights } from '../layers/layer-check.test-util';
import { describeModel, weightsFromBytes } from '../model';
import { combine } from '../weights';

const L = tfl.layers;

/** 2-16-16-3 tanh: both hidden layers go into sigmoid form. */
function tanhMlp(): tfl.LayersModel {
  return tfl.sequential({
    layers: [
      L.dense({ name: 'd1', inputShape: [2], units: 16, activation: 'tanh' }),
      L.dense({ name: 'd2', units: 16, activation: 'tanh' }),
      L.dense({ name: 'd3', units: 3 }),
    ],
  });
}

/**
 * A tanh convolution read by a Dense over its channels (rewritten); a tanh Dense read by a Flatten (not: a
 * Flatten absorbs nothing); a tanh Dense read by a Dense without bias (not: nowhere to put −1ᵀW); a tanh Dense
 * read by a layer called twice (not: the rewrite would change both calls).
 */
function mixedModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [4, 4, 2] });
  const conv = L.conv2d({ name: 'conv', filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(input) as tfl.SymbolicTensor;
  const mix = L.dense({ name: 'mix', units: 4, activation: 'tanh' }).apply(conv) as tfl.SymbolicTensor;
  const flat = L.flatten().apply(mix) as tfl.SymbolicTensor;
  const head = L.dense({ name: 'head', units: 5, activation: 'tanh' }).apply(flat) as tfl.SymbolicTensor;
  const noBias = L.dense({ name: 'no_bias', units: 5, activation: 'tanh', useBias: false }).apply(head) as tfl.SymbolicTensor;
  const twice = L.dense({ name: 'twice', units: 5, activation: 'tanh' });
  const again = twice.apply(twice.apply(noBias)) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: L.dense({ name: 'out', units: 3 }).apply(again) as tfl.SymbolicTensor });
}

/** Unpadded convolutions absorb the map (Conv2D with strides, DepthwiseConv2D, dilated Conv1D); a padded one does not. */
function convolutions(): tfl.LayersModel {
  const input = tfl.input({ shape: [9, 9, 2] });
  const c1 = L.conv2d({ name: 'c1', filters: 3, kernelSize: 3, activation: 'tanh' }).apply(input) as tfl.SymbolicTensor;
  const c2 = L.conv2d({ name: 'c2', filters: 4, kernelSize: 3, strides: 2, activation: 'tanh' }).apply(c1) as tfl.SymbolicTensor;
  const dw = L.depthwiseConv2d({ name: 'dw', kernelSize: 2, depthMultiplier: 2, activation: 'tanh' }).apply(c2) as tfl.SymbolicTensor;
  const padded = L.conv2d({ name: 'padded', filters: 2, kernelSize: 2, padding: 'same', activation: 'tanh' }).apply(dw) as tfl.SymbolicTensor;
  const rows = L.reshape({ targetShape: [4, 2] }).apply(padded) as tfl.SymbolicTensor;
  const k1 = L.conv1d({ name: 'k1', filters: 3, kernelSize: 2, activation: 'tanh' }).apply(rows) as tfl.SymbolicTensor;
  const k2 = L.conv1d({ name: 'k2', filters: 2, kernelSize: 2, dilationRate: 2, activation: 'tanh' }).apply(k1) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: L.dense({ name: 'out', units: 3 }).apply(L.flatten().apply(k2)) as tfl.SymbolicTensor });
}

const CASES = [
  { name: 'tanh MLP', build: tanhMlp, input: [2], rewritten: ['d1 into d2', 'd2 into d3'] },
  { name: 'mixed graph', build: mixedModel, input: [4, 4, 2], rewritten: ['conv into mix'] },
  { name: 'convolutions', build: convolutions, input: [9, 9, 2], rewritten: ['c1 into c2', 'c2 into dw', 'k1 into k2'] },
];

async function loaded(build: () => tfl.LayersModel, input: number[]) {
  const model = build();
  seedWeights(model, 3, 1.5);
  const { modelJson, bytes } = await savedArtifacts(model);
  const description = describeModel(modelJson, 'tanh');
  const origin = weightsFromBytes(bytes, description, 'tanh');
  const data = seededDataset(input, 3, 40, 5, 3);
  const setup: EvaluationSetup = { model: description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 16 };
  const plan: LandscapePlan = {
    origin,
    directions: [randomDirection(description.layout, 1), randomDirection(description.layout, 2)],
    grid: { x: [-1, -0.3, 0.5, 1], y: [-0.8, 0.2, 1] },
  };
  const points = plan.grid.y!.flatMap((_, iy) => plan.grid.x.map((_, ix) => coefficientsAt(plan.grid, ix, iy)));
  const x = tf.tensor(data.x, [data.n, ...input]);
  const labels = data.targets.kind === 'labels' ? data.targets.labels : new Int32Array();
  const theirs = points.map((c) => predictCrossEntropy(model, combine(origin, c, plan.directions), description.layout, x, labels));
  x.dispose();
  model.dispose();
  return { setup, plan, points, theirs };
}

describe('tanh layers in sigmoid form (evaluation on wasm)', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });
  afterAll(async () => {
    await selectBackend('cpu');
  });

  it.each(CASES)('$name: every path equals tfjs-layers predict (1e-5) with the layers rewritten', async ({ build, input, rewritten }) => {
    const { setup, plan, points, theirs } = await loaded(build, input);
    const before = tf.memory().numTensors;
    for (const pointsPerPass of [1, 4]) {
      const evaluator = new Evaluator({ ...setup, pointsPerPass });
      for (let round = 0; round < 3; round++) {
        expect(
          maxRelativeError(
            evaluator.evaluatePoints(plan, points).map((v) => v.loss),
            theirs,
          ),
        ).toBeLessThan(1e-5);
      }
      expect(
        maxRelativeError(
          points.map((c) => evaluator.evaluate(combine(plan.origin, c, plan.directions)).loss),
          theirs,
        ),
      ).toBeLessThan(1e-5);
      evaluator.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    expect(evaluationRecord(setup, evaluationSubspace(setup, 2), 'wasm').tanhAsSigmoid).toEqual(rewritten);
    expect(evaluationRecord(setup, evaluationSubspace(setup, 2), 'cpu').tanhAsSigmoid).toEqual([]);
  });

  it('runs no element-wise pass around the sigmoids of rewritten layers', async () => {
    const { setup, plan, points } = await loaded(tanhMlp, [2]);
    const evaluator = new Evaluator({ ...setup, pointsPerPass: 4 });
    const profile = await tf.profile(() => void evaluator.evaluatePoints(plan, points));
    evaluator.dispose();
    const kernels = new Set(profile.kernels.map((k) => k.name));
    for (const name of ['Multiply', 'Sub', 'Tanh']) expect(kernels.has(name)).toBe(false);
  });

  it('rewrites a layer computed apart (subspace terms, from the rewritten origin and directions) too', async () => {
    const { setup, plan, points, theirs } = await loaded(tanhMlp, [2]);
    const shared = { ...setup, subspace: 'always' as const };
    expect(evaluationSubspace(shared, 2).layers).toEqual(['d1']);
    expect(evaluationRecord(shared, evaluationSubspace(shared, 2), 'wasm').tanhAsSigmoid).toEqual(['d1 into d2', 'd2 into d3']);
    for (const pointsPerPass of [1, 3]) {
      const evaluator = new Evaluator({ ...shared, pointsPerPass });
      const ours = evaluator.evaluatePoints(plan, points).map((v) => v.loss);
      evaluator.dispose();
      expect(maxRelativeError(ours, theirs)).toBeLessThan(1e-5);
    }
  });
});
