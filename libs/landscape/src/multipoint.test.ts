import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { maxRelativeError, readReference, referencePath, referenceSurfaceSpec, REFERENCE_MODELS } from '../../../test/support/fixtures';
import { selectBackend } from './backend';
import { randomDirection } from './directions';
import { runEmbedded } from './embedded';
import { Evaluator, evaluateTile, type EvaluationSetup, type LandscapePlan, type PointValue } from './evaluate';
import { coefficientsAt } from './grid';
import { landscapeHandler } from './landscape-job';
import { predictCrossEntropy, savedArtifacts, seededDataset, seedWeights } from './layers/layer-check.test-util';
import { describeModel, weightsFromBytes } from './model';
import { defaultPointsPerPass, PassSizer, pointsPerPassCap } from './multipoint';
import { prepareLandscape } from './prepare';
import type { LandscapeResult } from './result';
import type { SurfaceSpec } from './spec';
import { combine } from './weights';

beforeAll(async () => {
  await selectBackend('cpu');
});

const expectWithin1e5 = (actual: number[], expected: number[]): void => expect(maxRelativeError(actual, expected)).toBeLessThan(1e-5);
const losses = (values: PointValue[]): number[] => values.map((v) => v.loss);
const gridPoints = (plan: LandscapePlan): number[][] => (plan.grid.y ?? [0]).flatMap((_, iy) => plan.grid.x.map((_, ix) => coefficientsAt(plan.grid, ix, iy)));

/** The plan's points several per pass (K forced) and one by one through the plain path (weights combined on the host). */
function bothPaths(setup: EvaluationSetup, plan: LandscapePlan, pointsPerPass?: number): { batched: PointValue[]; plain: PointValue[] } {
  const evaluator = new Evaluator({ ...setup, ...(pointsPerPass ? { pointsPerPass } : {}) });
  try {
    const points = gridPoints(plan);
    return { batched: evaluator.evaluatePoints(plan, points), plain: points.map((c) => evaluator.evaluate(combine(plan.origin, c, plan.directions))) };
  } finally {
    evaluator.dispose();
  }
}

describe.each(REFERENCE_MODELS)('several points per pass, reference %s', (name) => {
  const prepared = () => prepareLandscape(referenceSurfaceSpec(), (ref) => referencePath(name, ref));

  it.each([1, 4, 7, 64])('K = %i equals the plain path and the PyTorch float64 surface (1e-5 relative)', (k) => {
    const { setup, plan } = prepared();
    // Batches of 48: several batches per pass, the last one shorter.
    const { batched, plain } = bothPaths({ ...setup, batchSize: 48 }, plan, k);
    const ref = readReference(name, 'ref_surface2d.json');
    expectWithin1e5(losses(batched), (ref.loss_f64 as number[][]).flat());
    expectWithin1e5(losses(batched), losses(plain));
    expect(batched.map((v) => v.accuracy)).toEqual((ref.accuracy as number[][]).flat());
  });

  it('combined with subspace evaluation (shared first layer, K = 5) equals the plain path and PyTorch (1e-5)', () => {
    const { setup, plan } = prepared();
    const { batched, plain } = bothPaths({ ...setup, subspace: 'always', batchSize: 48 }, plan, 5);
    expectWithin1e5(losses(batched), (readReference(name, 'ref_surface2d.json').loss_f64 as number[][]).flat());
    expectWithin1e5(losses(batched), losses(plain));
  });

  it('gives the same values whatever K the measurement picks, and leaks no tensor over a long loop', () => {
    const { setup, plan } = prepared();
    const points = gridPoints(plan);
    const before = tf.memory().numTensors;
    const evaluator = new Evaluator({ ...setup, pointsPerPass: 'auto' });
    const first = evaluator.evaluatePoints(plan, points);
    const cached = tf.memory().numTensors;
    for (let round = 0; round < 5; round++) {
      for (const k of [1, 3, 8]) {
        const again = new Evaluator({ ...setup, pointsPerPass: k });
        expectWithin1e5(losses(again.evaluatePoints(plan, points)), losses(first));
        again.dispose();
      }
      evaluator.evaluatePoints(plan, points);
      expect(tf.memory().numTensors).toBe(cached);
    }
    evaluator.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('several points per pass on wasm (tanh as 2σ(2x) − 1 in evaluation)', () => {
  it.each(REFERENCE_MODELS)('%s: K = 6 equals the PyTorch float64 surface and the plain path (1e-5 relative)', async (name) => {
    await selectBackend('wasm');
    try {
      const { setup, plan } = prepareLandscape(referenceSurfaceSpec(), (ref) => referencePath(name, ref));
      const { batched, plain } = bothPaths(setup, plan, 6);
      expectWithin1e5(losses(batched), (readReference(name, 'ref_surface2d.json').loss_f64 as number[][]).flat());
      expectWithin1e5(losses(batched), losses(plain));
    } finally {
      await selectBackend('cpu');
    }
  });
});

describe('several points per pass on a graph with non-Dense weighted layers', () => {
  /** Conv stem → BatchNorm → (conv branch, pooled branch) → concatenate → LSTM over rows → dense logits. */
  function mixedModel(): tfl.LayersModel {
    const L = tfl.layers;
    const input = tfl.input({ shape: [6, 6, 2] });
    const stem = L.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
    const normalized = L.batchNormalization().apply(stem) as tfl.SymbolicTensor;
    const convBranch = L.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }).apply(normalized) as tfl.SymbolicTensor;
    const joined = L.concatenate().apply([convBranch, L.add().apply([normalized, stem]) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
    const rows = L.reshape({ targetShape: [6, 6 * 7] }).apply(joined) as tfl.SymbolicTensor;
    const sequence = L.lstm({ units: 5, recurrentActivation: 'sigmoid', recurrentInitializer: 'glorotNormal' }).apply(rows) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: L.dense({ units: 3 }).apply(sequence) as tfl.SymbolicTensor });
  }

  it('equals K single passes and tfjs-layers predict (1e-5), through the generic per-set fallback', async () => {
    const model = mixedModel();
    seedWeights(model, 5);
    const { modelJson, bytes } = await savedArtifacts(model);
    const description = describeModel(modelJson, 'mixed');
    const origin = weightsFromBytes(bytes, description, 'mixed');
    const data = seededDataset([6, 6, 2], 3, 30, 4, 3);
    const setup: EvaluationSetup = { model: description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 16 };
    const plan: LandscapePlan = {
      origin,
      directions: [randomDirection(description.layout, 1), randomDirection(description.layout, 2)].map((d) => d.map((v) => 0.2 * v)),
      grid: { x: [-0.8, 0, 0.6], y: [-0.5, 0.4] },
    };
    const { batched, plain } = bothPaths(setup, plan, 4);
    const x = tf.tensor(data.x, [data.n, 6, 6, 2]);
    const labels = data.targets.kind === 'labels' ? data.targets.labels : new Int32Array();
    const theirs = gridPoints(plan).map((c) => predictCrossEntropy(model, combine(origin, c, plan.directions), description.layout, x, labels));
    x.dispose();
    model.dispose();
    expectWithin1e5(losses(batched), theirs);
    expectWithin1e5(losses(batched), losses(plain));
    expect(batched.map((v) => v.accuracy)).toEqual(plain.map((v) => v.accuracy));
  });
});

describe('choosing K', () => {
  it('times K = 1, 2, 4, … (an untimed pass, then the faster of two), stops at a clearly slower K, rechecks K = 1, keeps the fastest', () => {
    const sizer = new PassSizer(64);
    const seconds: Record<number, number> = { 1: 1, 2: 1.2, 4: 1.6, 8: 6.8 };
    const passes: number[] = [];
    let left = 100;
    while (left > 0) {
      const k = sizer.next(left);
      // Of each K's three passes the first is cold (very slow) and the second slow (a busy machine): the third counts.
      const nth = passes.filter((p) => p === k).length % 3;
      passes.push(k);
      sizer.record((seconds[k] ?? k * 0.4) * [50, 3, 1][nth]!);
      left -= k;
    }
    // 1, 2, 4, 8 three times each (8 is 2.1× slower per point than 4, which ends it), 1 again warm: then 4 at a time.
    expect(passes.slice(0, 16)).toEqual([1, 1, 1, 2, 2, 2, 4, 4, 4, 8, 8, 8, 1, 1, 1, 4]);
    expect(passes.slice(15, -1).every((k) => k === 4)).toBe(true);
    expect(sizer.toRecord()).toMatchObject({ pointsPerPass: 4, cap: 64, reason: expect.stringMatching(/clearly slower/) });
    expect(sizer.toRecord().measured).toEqual([1, 2, 4, 8, 1].map((points) => ({ points, secondsPerPoint: seconds[points]! / points })));
  });

  it('measures only K whose passes fit in a unit, resumes in the next unit, and respects the cap and a forced K', () => {
    const run = (sizer: PassSizer, points: number, seconds: (k: number) => number = () => 0.1): number[] => {
      sizer.unit(points);
      const passes: number[] = [];
      for (let left = points; left > 0; left -= passes.at(-1)!) {
        passes.push(sizer.next(left));
        sizer.record(seconds(passes.at(-1)!));
      }
      return passes;
    };
    const units = new PassSizer(64);
    // Units of 7: K = 1 and 2 (three passes of 4 do not fit); K = 2's passes go to the next unit, then 1 again.
    expect(run(units, 7)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(run(units, 7)).toEqual([2, 2, 2, 1]);
    expect(run(units, 7)).toEqual([1, 1, 1, 2, 2]);
    expect(units.toRecord()).toMatchObject({ pointsPerPass: 2, reason: expect.stringMatching(/third of a unit's 7 points/) });
    expect(units.toRecord().measured.map((m) => m.points)).toEqual([1, 2, 1]);
    const capped = new PassSizer(4);
    expect(run(capped, 40)).toEqual([1, 1, 1, 2, 2, 2, 4, 4, 4, 1, 1, 1, ...new Array<number>(4).fill(4)]);
    expect(capped.toRecord()).toMatchObject({ pointsPerPass: 4, reason: expect.stringMatching(/cap of 4/) });
    const forced = new PassSizer(64, 5);
    expect(run(forced, 12)).toEqual([5, 5, 2]);
    expect(forced.toRecord()).toMatchObject({ pointsPerPass: 5, measured: [], reason: expect.stringMatching(/spec/) });
  });

  it('caps K by memory', async () => {
    const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [1000], units: 1000 }), tfl.layers.dense({ units: 2 })] });
    const description = describeModel((await savedArtifacts(model)).modelJson, 'wide');
    // 3 × 1000 floats × 10,000 samples + 2 × ~1M parameters: about 128 MB per set.
    expect(pointsPerPassCap(description.graph, description.layout, [1000], 10_000)).toBe(2);
    expect(pointsPerPassCap(description.graph, description.layout, [1000], 10)).toBe(32);
    model.dispose();
  });
});

describe('the default K', () => {
  it('gathers a small MLP’s points up to ~16 MFLOP a pass on OpenBLAS, and keeps one per pass for convolutions, wide models and wasm’s own kernels', async () => {
    const tiny = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [2], units: 16, activation: 'tanh' }), tfl.layers.dense({ units: 3 })] });
    const cnn = tfl.sequential({
      layers: [tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 2, kernelSize: 3 }), tfl.layers.flatten(), tfl.layers.dense({ units: 2 })],
    });
    const [small, conv] = [describeModel((await savedArtifacts(tiny)).modelJson, 'tiny'), describeModel((await savedArtifacts(cnn)).modelJson, 'cnn')];
    // 300 samples × 2 × (2·16 + 16·3) = 48 kFLOP a point: 32 points (the default's largest K) stay under 16 MFLOP.
    expect(defaultPointsPerPass(small.graph, small.layout, [2], 300, 64, [], true).points).toBe(32);
    // 50,000 samples: 8 MFLOP a point, so 2 points (16 MFLOP) and not 4.
    expect(defaultPointsPerPass(small.graph, small.layout, [2], 50_000, 64, [], true).points).toBe(2);
    expect(defaultPointsPerPass(small.graph, small.layout, [2], 300, 8, [], true).points).toBe(8);
    expect(defaultPointsPerPass(small.graph, small.layout, [2], 300, 64, [], false)).toMatchObject({
      points: 1,
      reason: expect.stringMatching(/batched matMul is slow/),
    });
    expect(defaultPointsPerPass(conv.graph, conv.layout, [8, 8, 1], 300, 64, [], true)).toMatchObject({ points: 1, reason: expect.stringMatching(/Conv2D/) });
    // A shared convolution (subspace evaluation) leaves only the Dense layer to the points.
    const convNode = conv.graph.nodes.findIndex((node) => node.className === 'Conv2D');
    expect(defaultPointsPerPass(conv.graph, conv.layout, [8, 8, 1], 300, 64, [convNode], true).points).toBeGreaterThan(1);
    tiny.dispose();
    cnn.dispose();
  });
});

describe('points per pass in units and result.json', () => {
  it('a tile evaluated K points per pass reports progress per point and equals one point per pass', () => {
    const { setup, plan } = prepareLandscape(referenceSurfaceSpec(), (ref) => referencePath('m1_mlp', ref));
    const tile = { id: 'r0c0', x0: 2, x1: 9, y0: 1, y1: 3 };
    const progress: number[] = [];
    const many = new Evaluator({ ...setup, pointsPerPass: 4 });
    const result = evaluateTile(many, plan, tile, (done) => void progress.push(done));
    many.dispose();
    const one = new Evaluator({ ...setup, pointsPerPass: 1 });
    expectWithin1e5(result.loss, evaluateTile(one, plan, tile).loss);
    one.dispose();
    expect(progress).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
    expect(result.pointsPerPass).toMatchObject({ pointsPerPass: 4 });
    const stopping = new Evaluator({ ...setup, pointsPerPass: 4 });
    expect(() => evaluateTile(stopping, plan, tile, (done) => done < 6)).toThrow(/cancelled/);
    stopping.dispose();
  });

  it('records which K the units used: 1 by default, the measurement with "auto"', async () => {
    const out = mkdtempSync(join(tmpdir(), 'multipoint-'));
    try {
      const run = async (spec: SurfaceSpec) =>
        (await runEmbedded(landscapeHandler, spec, (ref) => referencePath('m1_mlp', ref), out, { threads: 1, backend: 'cpu' })) as LandscapeResult;
      const plain = await run(referenceSurfaceSpec());
      expect(plain.evaluation?.pointsPerPass).toMatchObject({ used: [1], measured: [], reason: expect.stringMatching(/default/) });
      const spec = referenceSurfaceSpec();
      const measured = await run({ ...spec, evaluation: { ...spec.evaluation, pointsPerPass: 'auto' } });
      const record = measured.evaluation?.pointsPerPass;
      expect(record?.measured[0]?.points).toBe(1);
      expect(record?.used.length).toBeGreaterThan(0);
      expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).evaluation).toEqual(measured.evaluation);
      expectWithin1e5((measured.loss as number[][]).flat() as number[], (plain.loss as number[][]).flat() as number[]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
