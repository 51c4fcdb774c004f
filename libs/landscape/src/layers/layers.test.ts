import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { SecondOrderUnsupportedError } from '../hessian/second-order';
import { randomDirection } from '../directions';
import { forward, toTensors } from '../model';
import { PlanWeights, runSets } from '../multipoint';
import { modelObjective } from '../objective';
import { combine } from '../weights';
import { LAYER_REGISTRY } from './registry';
import { allLayerCases, factoredDifference, forwardError, hvpError, loadCase, maxNormError, seededDataset, seededInput } from './layer-check.test-util';

const cases = await allLayerCases();

beforeAll(async () => {
  await selectBackend('cpu');
});

describe.each(cases)('$name', (layerCase) => {
  it('evaluates like tfjs-layers predict (fused and plain kernels, 1e-5 relative)', async () => {
    const loaded = await loadCase(layerCase);
    expect(forwardError(loaded, layerCase.input, true, layerCase.vocabulary)).toBeLessThan(1e-5);
    expect(forwardError(loaded, layerCase.input, false, layerCase.vocabulary)).toBeLessThan(1e-5);
    loaded.reference.dispose();
  });

  it.each(['cpu', 'wasm'] as const)('evaluates 3 weight sets in one pass (multipoint.ts) like one pass per set on %s (1e-5 relative)', async (backend) => {
    await selectBackend(backend);
    const loaded = await loadCase(layerCase);
    loaded.reference.dispose();
    const { layout } = loaded.description;
    const before = tf.memory().numTensors;
    const points = [
      [0, 0],
      [0.1, -0.05],
      [-0.08, 0.02],
    ];
    const directions = [randomDirection(layout, 1), randomDirection(layout, 2)];
    const weights = new PlanWeights(layout, loaded.weights, directions);
    const [ours, theirs] = tf.tidy(() => {
      const x = seededInput([5, ...layerCase.input], 7, layerCase.vocabulary);
      const stacked = weights.stacked(tf.tensor2d(points));
      // One plain pass per set, its weights combined on the host.
      const perSet = points.map((point) => forward(loaded.description, toTensors(combine(loaded.weights, point, directions), layout), x, { fused: true }));
      return [runSets(loaded.description.graph, stacked, points.length, x).dataSync(), tf.concat(perSet, 0).dataSync()];
    });
    weights.dispose();
    await selectBackend('cpu');
    expect(tf.memory().numTensors).toBe(before);
    expect(maxNormError(ours, theirs)).toBeLessThan(1e-5);
  });

  it('has Hessian-vector products that match central differences of the gradient (or the typed error)', async () => {
    const loaded = await loadCase(layerCase);
    loaded.reference.dispose();
    const { outputUnits } = modelObjective(loaded.description, 'mse', 'logits', layerCase.input);
    const data = seededDataset(layerCase.input, outputUnits, undefined, undefined, undefined, layerCase.vocabulary);
    const unsupported = layerCase.covers.filter((name) => LAYER_REGISTRY.get(name)!.secondOrder !== 'exact');
    if (unsupported.length) {
      expect(() => hvpError(loaded.description, loaded.weights, data)).toThrow(SecondOrderUnsupportedError);
      return;
    }
    const before = tf.memory().numTensors;
    expect(hvpError(loaded.description, loaded.weights, data)).toBeLessThan(2e-3);
    const { difference, factored } = factoredDifference(loaded.description, loaded.weights, data);
    factoredClasses.push(...factored);
    if (factored.length) expect(difference).toBeLessThan(1e-5);
    expect(tf.memory().numTensors).toBe(before);
  });
});

const factoredClasses: string[] = [];

describe('first linear layers in Hessian-vector products', () => {
  it('are factored (and checked against the plain path above) for every layer class that declares linearInWeights', () => {
    const linear = [...new Set(LAYER_REGISTRY.values())].filter((definition) => definition.linearInWeights).map((definition) => definition.classNames[0]!);
    expect(linear.length).toBeGreaterThan(3);
    expect([...new Set(factoredClasses)]).toEqual(expect.arrayContaining(linear));
  });
});
