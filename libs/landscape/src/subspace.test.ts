import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeError, readReference, referencePath, referenceSurfaceSpec, REFERENCE_MODELS } from '../../../test/support/fixtures';
import { selectBackend } from './backend';
import { randomDirection } from './directions';
import { Evaluator, evaluationSubspace, type LandscapePlan, type PointValue } from './evaluate';
import { coefficientsAt } from './grid';
import { runEmbedded } from './embedded';
import { landscapeHandler } from './landscape-job';
import { predictCrossEntropy, savedArtifacts, seededDataset, seedWeights } from './layers/layer-check.test-util';
import { describeModel, weightsFromBytes } from './model';
import { prepareLandscape } from './prepare';
import type { LandscapeResult } from './result';
import { subspaceDecision } from './subspace';
import { combine } from './weights';

beforeAll(async () => {
  await selectBackend('cpu');
});

const expectWithin1e5 = (actual: number[], expected: number[]): void => expect(maxRelativeError(actual, expected)).toBeLessThan(1e-5);
const losses = (values: PointValue[]): number[] => values.map((v) => v.loss);

/** Every grid point through the shared path and the plain one (the weights combined, every layer run). */
function bothPaths(evaluator: Evaluator, plan: LandscapePlan): { shared: PointValue[]; plain: PointValue[]; points: number[][] } {
  const points = (plan.grid.y ?? [0]).flatMap((_, iy) => plan.grid.x.map((_, ix) => coefficientsAt(plan.grid, ix, iy)));
  const shared = points.map((c) => evaluator.evaluateAt(plan, c));
  const plain = points.map((c) => evaluator.evaluate(combine(plan.origin, c, plan.directions)));
  return { shared, plain, points };
}

describe.each(REFERENCE_MODELS)('subspace evaluation, reference %s', (name) => {
  it('shares the first layer and equals the plain path and the PyTorch surface (1e-5 relative), without leaks', () => {
    const prepared = prepareLandscape(referenceSurfaceSpec(), (ref) => referencePath(name, ref));
    // The reference models' first layers are too narrow to pay ('auto' skips them): the shared path is forced here.
    const setup = { ...prepared.setup, subspace: 'always' as const, batchSize: 48 };
    const decision = evaluationSubspace(setup, 2);
    expect(decision.used).toBe(true);
    expect(decision.layers).toEqual([prepared.model.description.graph.nodes[0]!.name]);
    expect(evaluationSubspace(setup, 1).used).toBe(true);
    expect(evaluationSubspace(prepared.setup, 2).used).toBe(false);

    const before = tf.memory().numTensors;
    const evaluator = new Evaluator(setup);
    evaluator.evaluateAt(prepared.plan, [0, 0]);
    const cached = tf.memory().numTensors;
    const { shared, plain } = bothPaths(evaluator, prepared.plan);
    expect(tf.memory().numTensors).toBe(cached);
    evaluator.dispose();
    expect(tf.memory().numTensors).toBe(before);

    const ref = readReference(name, 'ref_surface2d.json');
    expectWithin1e5(losses(shared), (ref.loss_f64 as number[][]).flat());
    expectWithin1e5(losses(shared), losses(plain));
    expect(shared.map((v) => v.accuracy)).toEqual((ref.accuracy as number[][]).flat());
  });
});

describe('subspace evaluation in result.json', () => {
  it('records the shared layers and whether they were used, for a surface job', async () => {
    const out = mkdtempSync(join(tmpdir(), 'subspace-'));
    try {
      const result = (await runEmbedded(landscapeHandler, referenceSurfaceSpec(), (ref) => referencePath('m2_cnn', ref), out, {
        threads: 1,
        backend: 'cpu',
      })) as LandscapeResult;
      expect(result.evaluation?.subspace).toMatchObject({ layers: ['conv2d_Conv2D1'], used: false, reason: expect.stringMatching(/pay/) });
      expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).evaluation).toEqual(result.evaluation);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('subspace evaluation on a graph', () => {
  /** Rescaling (weight-free) → conv 'stem' → two branches (conv, pooling) → concatenate → dense logits. */
  function branchingModel(): tfl.LayersModel {
    const L = tfl.layers;
    const input = tfl.input({ shape: [6, 6, 2] });
    const scaled = L.rescaling({ scale: 0.5, offset: 0.1 }).apply(input) as tfl.SymbolicTensor;
    const stem = L.conv2d({ name: 'stem', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(scaled) as tfl.SymbolicTensor;
    const convBranch = L.flatten().apply(L.conv2d({ filters: 3, kernelSize: 3, activation: 'tanh' }).apply(stem)) as tfl.SymbolicTensor;
    const poolBranch = L.flatten().apply(L.maxPooling2d({ poolSize: 2 }).apply(stem)) as tfl.SymbolicTensor;
    const joined = L.concatenate().apply([convBranch, poolBranch]) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: L.dense({ units: 3 }).apply(joined) as tfl.SymbolicTensor });
  }

  it('shares the layer that feeds two branches and equals tfjs-layers predict and the plain path (1e-5)', async () => {
    const model = branchingModel();
    seedWeights(model, 5);
    const { modelJson, bytes } = await savedArtifacts(model);
    const description = describeModel(modelJson, 'branches');
    const origin = weightsFromBytes(bytes, description, 'branches');
    const data = seededDataset([6, 6, 2], 3, 40, 4, 3);
    // The stem's fan-in (19) is below what pays, so sharing is forced: this test is about the branches reading it.
    const setup = {
      model: description,
      data,
      loss: 'sparse_categorical_crossentropy' as const,
      output: 'logits' as const,
      batchSize: 16,
      subspace: 'always' as const,
    };
    const plan: LandscapePlan = {
      origin,
      directions: [randomDirection(description.layout, 1), randomDirection(description.layout, 2)],
      grid: { x: [-0.8, 0, 0.6], y: [-0.5, 0.4] },
    };
    expect(evaluationSubspace(setup, 2)).toMatchObject({ used: true, layers: ['stem'] });

    const evaluator = new Evaluator(setup);
    const { shared, plain, points } = bothPaths(evaluator, plan);
    evaluator.dispose();
    const x = tf.tensor(data.x, [data.n, 6, 6, 2]);
    const labels = data.targets.kind === 'labels' ? data.targets.labels : new Int32Array();
    const theirs = points.map((c) => predictCrossEntropy(model, combine(origin, c, plan.directions), description.layout, x, labels));
    x.dispose();
    expectWithin1e5(losses(shared), theirs);
    expectWithin1e5(losses(shared), losses(plain));
    expect(shared.map((v) => v.accuracy)).toEqual(plain.map((v) => v.accuracy));
  });

  it('says why it is not used: a weighted layer first, too little fan-in, or terms over the budget', async () => {
    const L = tfl.layers;
    const modelOf = async (layers: tfl.layers.Layer[]) => {
      const model = tfl.sequential({ layers });
      return describeModel((await savedArtifacts(model)).modelJson, 'm');
    };
    const normalized = await modelOf([L.batchNormalization({ inputShape: [8] }), L.dense({ units: 4 })]);
    expect(subspaceDecision(normalized.graph, normalized.layout, [8], 10, 2)).toMatchObject({ used: false, layers: [] });
    const narrow = await modelOf([L.dense({ inputShape: [4], units: 4 }), L.dense({ units: 2 })]);
    expect(subspaceDecision(narrow.graph, narrow.layout, [4], 10, 2)).toMatchObject({
      used: false,
      layers: [narrow.graph.nodes[0]!.name],
      reason: expect.stringMatching(/pay/),
    });
    expect(subspaceDecision(narrow.graph, narrow.layout, [4], 10, 2, { mode: 'always' }).used).toBe(true);
    const wide = await modelOf([L.dense({ inputShape: [64], units: 32 }), L.dense({ units: 2 })]);
    expect(subspaceDecision(wide.graph, wide.layout, [64], 1000, 2).used).toBe(true);
    const overBudget = subspaceDecision(wide.graph, wide.layout, [64], 1000, 2, { budgetBytes: 1000 * 32 * 3 * 4 - 1 });
    expect(overBudget.used).toBe(false);
    expect(overBudget.reason).toMatch(/budget/);
  });
});
