import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng, InputError } from '@landscape/core';
import { centredGram, fitPca, liTrajectoryPca, pcaInverseTransform, pcaTransform } from './pca';
import { distancesFromGram } from './neighbours';
import { reconstructionMse, trustworthiness } from './quality';

const root = join(__dirname, '../../../test/fixtures/reference');

interface Trajectory {
  checkpoints: number[][];
  loss_f64_at_checkpoint: number[];
}
interface Reference {
  mean_centred: {
    explained_variance_ratio: number[];
    explained_variance: number[];
    singular_values: number[];
    explained_variance_ratio_all_components: number[];
    mean: number[];
    components: number[][];
    embedding: number[][];
    trustworthiness_k5: number;
    reconstruction_mse: number;
  };
  li_final_centred: { explained_variance_ratio: number[]; components: number[][]; projection: number[][]; trustworthiness_k5: number };
}

function load(model: string): { rows: Float64Array[]; ref: Reference } {
  const trajectory = JSON.parse(readFileSync(join(root, model, 'trajectory.json'), 'utf8')) as Trajectory;
  const ref = JSON.parse(readFileSync(join(root, model, 'ref_trajectory_pca.json'), 'utf8')) as Reference;
  return { rows: trajectory.checkpoints.map((row) => Float64Array.from(row)), ref };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};
const column = (rows: number[][], k: number): number[] => rows.map((row) => row[k]!);

describe.each(['m1_mlp', 'm2_cnn'])('PCA of the %s trajectory against scikit-learn', (model) => {
  const { rows, ref } = load(model);
  const pca = fitPca(rows, { components: 2 });
  const mc = ref.mean_centred;

  it('matches explained variance (ratios of all components) and singular values', () => {
    expect(maxAbsDiff(pca.explainedVarianceRatio, mc.explained_variance_ratio)).toBeLessThan(1e-9);
    expect(maxAbsDiff(pca.explainedVarianceRatioAll, mc.explained_variance_ratio_all_components)).toBeLessThan(1e-9);
    for (let k = 0; k < 2; k++) {
      expect(Math.abs(pca.explainedVariance[k]! / mc.explained_variance[k]! - 1)).toBeLessThan(1e-9);
      expect(Math.abs(pca.singularValues[k]! / mc.singular_values[k]! - 1)).toBeLessThan(1e-9);
    }
    expect(maxAbsDiff(pca.mean, mc.mean)).toBeLessThan(1e-12);
  });

  it('matches components and embedding with the same sign rule (so also up to sign)', () => {
    for (let k = 0; k < 2; k++) {
      expect(maxAbsDiff(pca.components[k]!, mc.components[k]!)).toBeLessThan(1e-9);
      expect(maxAbsDiff(column(pca.embedding, k), column(mc.embedding, k))).toBeLessThan(1e-9);
    }
    // transform of the fitted rows equals the stored embedding
    const transformed = pcaTransform(pca, rows);
    for (let k = 0; k < 2; k++) expect(maxAbsDiff(column(transformed, k), column(mc.embedding, k))).toBeLessThan(1e-9);
  });

  it('matches the reconstruction MSE, from eigenvalues and from inverse_transform(transform(X))', () => {
    expect(Math.abs(pca.reconstructionMse / mc.reconstruction_mse - 1)).toBeLessThan(1e-6);
    const explicit = reconstructionMse(rows, pcaInverseTransform(pca, pcaTransform(pca, rows)));
    expect(Math.abs(explicit / mc.reconstruction_mse - 1)).toBeLessThan(1e-9);
  });

  it('matches trustworthiness exactly, from the rows and from the Gram matrix', () => {
    expect(Math.abs(trustworthiness(rows, pca.embedding, 5) - mc.trustworthiness_k5)).toBeLessThan(1e-9);
    expect(Math.abs(trustworthiness(distancesFromGram(pca.centredGram, rows.length), pca.embedding, 5) - mc.trustworthiness_k5)).toBeLessThan(1e-9);
  });

  it('matches the Li et al. variant: same axes, final checkpoint at (0, 0)', () => {
    const li = liTrajectoryPca(rows);
    const lf = ref.li_final_centred;
    expect(maxAbsDiff(li.pca.explainedVarianceRatio, lf.explained_variance_ratio)).toBeLessThan(1e-9);
    for (let k = 0; k < 2; k++) {
      expect(maxAbsDiff(li.pca.components[k]!, lf.components[k]!)).toBeLessThan(1e-9);
      expect(maxAbsDiff(column(li.projection, k), column(lf.projection, k))).toBeLessThan(1e-9);
    }
    expect(li.projection[39]).toEqual([0, 0]);
    // projecting relative to θ_final directly gives the same numbers
    const direct = pcaTransform(li.pca, rows, rows[39]);
    for (let k = 0; k < 2; k++) expect(maxAbsDiff(column(direct, k), column(lf.projection, k))).toBeLessThan(1e-9);
    expect(Math.abs(trustworthiness(rows, li.projection, 5) - lf.trustworthiness_k5)).toBeLessThan(1e-9);
    // the plane through θ_final: inverse with origin θ_final maps (0, 0) back to θ_final
    expect(maxAbsDiff(pcaInverseTransform(li.pca, [[0, 0]], rows[39])[0]!, rows[39]!)).toBe(0);
  });
});

describe('PCA input checks', () => {
  const rows = [Float64Array.of(1, 2, 3), Float64Array.of(2, 2, 5), Float64Array.of(0, 1, 1)];
  it('rejects bad input with InputError naming the field', () => {
    expect(() => fitPca([rows[0]!])).toThrow(InputError);
    expect(() => fitPca([rows[0]!, Float64Array.of(1, 2)])).toThrow(/checkpoint 1 has 2 parameters/);
    expect(() => fitPca([rows[0]!, Float64Array.of(1, NaN, 2)])).toThrow(/checkpoint 1 has a non-finite value at parameter 1/);
    expect(() => fitPca(rows, { components: 4 })).toThrow(/components/);
    expect(() => fitPca([rows[0]!, rows[0]!])).toThrow(/identical/);
    // two checkpoints span one direction: a second axis is undefined
    expect(() => fitPca([rows[0]!, rows[1]!], { components: 2 })).toThrow(/span only 1/);
    expect(() => liTrajectoryPca(rows, { finalIndex: 3 })).toThrow(/finalIndex/);
  });
  it('is exact on data that lies in a plane', () => {
    const pca = fitPca(rows, { components: 2 });
    expect(pca.explainedVarianceRatio[0]! + pca.explainedVarianceRatio[1]!).toBeCloseTo(1, 12);
    expect(reconstructionMse(rows, pcaInverseTransform(pca, pca.embedding))).toBeLessThan(1e-28);
  });
});

describe('blocked Gram kernel', () => {
  it.each([1, 2, 5, 7, 9])('equals the naive centred Gram matrix for %i rows over several column blocks', (n) => {
    const rng = createRng(n);
    const p = 700; // two full 256-column blocks and a partial one
    const rows = Array.from({ length: n }, () => new Float64Array(p).map(() => rng.normal()));
    const mean = new Float64Array(p);
    for (const row of rows) row.forEach((value, c) => (mean[c] += value / n));
    const gram = centredGram(rows, mean);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let naive = 0;
        for (let c = 0; c < p; c++) naive += (rows[i]![c]! - mean[c]!) * (rows[j]![c]! - mean[c]!);
        expect(Math.abs(gram[i * n + j]! - naive)).toBeLessThan(1e-10 * p);
      }
    }
  });
});

describe('benchPca', () => {
  it('fits a small synthetic trajectory and reports every stage', async () => {
    const { benchPca } = await import('./bench');
    const result = benchPca({ checkpoints: 12, parameters: 3000 });
    expect(result).toMatchObject({ checkpoints: 12, parameters: 3000, nComponents: 2 });
    for (const key of ['mean', 'gram', 'eigen', 'components', 'total', 'cpuSeconds', 'gramMultiplyAddsPerSecond'] as const) {
      expect(result[key]).toBeGreaterThan(0);
    }
    expect(result.total).toBeGreaterThanOrEqual(result.gram);
  });
});
