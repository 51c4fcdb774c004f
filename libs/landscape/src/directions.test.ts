import { describe, expect, it } from 'vitest';
import {
  dot,
  makeLayout,
  norm,
  normalizeDirection,
  orthogonalize,
  parseJobSpec,
  prepareLandscape,
  randomDirection,
  subtract,
  tensorView,
  type SurfaceSpec,
} from '@landscape/core';
import { referencePath } from '../../../test/support/fixtures';

// A dense kernel [2, 3], its bias [3], and batch-norm gamma [3] plus a non-trainable moving mean [3].
const layout = makeLayout([
  { name: 'd/kernel', shape: [2, 3] },
  { name: 'd/bias', shape: [3] },
  { name: 'bn/gamma', shape: [3] },
  { name: 'bn/moving_mean', shape: [3], trainable: false },
]);
const theta = Float64Array.from([1, 2, 3, 4, 5, 6, 0.1, 0.2, 0.3, 1, 1, 1, 9, 9, 9]);

describe('directions and normalization', () => {
  it('random directions are seeded N(0, 1) and never move non-trainable weights', () => {
    const d = randomDirection(layout, 3);
    expect(d).toEqual(randomDirection(layout, 3));
    expect(d).not.toEqual(randomDirection(layout, 4));
    expect(Array.from(tensorView(d, layout[3]!))).toEqual([0, 0, 0]);
    const big = randomDirection(makeLayout([{ name: 'w', shape: [100000] }]), 1);
    const mean = big.reduce((a, b) => a + b, 0) / big.length;
    expect(Math.abs(mean)).toBeLessThan(0.02);
    expect(Math.abs(dot(big, big) / big.length - 1)).toBeLessThan(0.02);
  });

  it('filter normalization gives every filter the norm of the same filter of θ; biases zero or θ', () => {
    const d = randomDirection(layout, 1);
    const ignored = normalizeDirection(d, theta, layout, 'filter', 'ignore');
    const kernel = tensorView(ignored, layout[0]!);
    for (let j = 0; j < 3; j++) {
      const filterNorm = Math.hypot(kernel[j]!, kernel[3 + j]!);
      expect(filterNorm).toBeCloseTo(Math.hypot(theta[j]!, theta[3 + j]!), 7); // up to the 1e-10 guard in the denominator
    }
    expect(Array.from(tensorView(ignored, layout[1]!))).toEqual([0, 0, 0]);
    expect(Array.from(tensorView(ignored, layout[2]!))).toEqual([0, 0, 0]);
    const included = normalizeDirection(d, theta, layout, 'filter', 'include');
    expect(Array.from(tensorView(included, layout[1]!))).toEqual([0.1, 0.2, 0.3]);
    expect(Array.from(tensorView(included, layout[3]!))).toEqual([0, 0, 0]);
  });

  it('layer, model and none normalizations', () => {
    const d = randomDirection(layout, 2);
    const layer = normalizeDirection(d, theta, layout, 'layer', 'ignore');
    expect(norm(tensorView(layer, layout[0]!))).toBeCloseTo(norm(tensorView(theta, layout[0]!)), 9);
    const model = normalizeDirection(d, theta, layout, 'model', 'include');
    const trainableTheta = Float64Array.from([...theta.subarray(0, 12)]);
    expect(norm(model)).toBeCloseTo(norm(trainableTheta), 9);
    const none = normalizeDirection(d, theta, layout, 'none', 'ignore');
    expect(Array.from(none.subarray(0, 12))).toEqual(Array.from(d.subarray(0, 12)));
  });

  it('orthogonalizes the second direction against the first', () => {
    const u = randomDirection(layout, 5);
    const v = orthogonalize(randomDirection(layout, 6), u);
    expect(Math.abs(dot(u, v))).toBeLessThan(1e-12);
  });

  it('builds the plane through three models from model differences, unnormalized by default', () => {
    const spec = parseJobSpec({
      kind: 'surface',
      model: 'model_init',
      data: 'dataset.json',
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { model: 'model_trained' }, y: { file: 'weights_trained.json' } },
      grid: { x: [0, 1, 2], y: [0, 1, 2] },
    }) as SurfaceSpec;
    const planeOnly = parseJobSpec({ ...spec, directions: { x: { model: 'model_trained' }, y: { model: 'model_trained' } } }) as SurfaceSpec;
    const prepared = prepareLandscape(planeOnly, (ref) => referencePath('m1_mlp', ref));
    expect(prepared.directions[0]!.normalization).toBe('none');
    const trained = prepareLandscape({ ...planeOnly, model: 'model_trained' }, (ref) => referencePath('m1_mlp', ref)).model.weights;
    const difference = subtract(trained, prepared.model.weights);
    expect(Array.from(prepared.plan.directions[0]!)).toEqual(Array.from(difference));
    // A mixed spec (a file direction) defaults to filter normalization.
    expect(prepareLandscape(spec, (ref) => referencePath('m1_mlp', ref)).directions[0]!.normalization).toBe('filter');
  });
});
