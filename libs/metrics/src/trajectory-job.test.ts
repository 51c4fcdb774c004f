import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, runEmbedded, type RefResolver } from '@landscape/core';
import { releaseTrajectory, trajectoryHandler, trajectorySpec, type PreparedTrajectory, type TrajectoryResult } from './trajectory-job';

const dir = join(__dirname, '../../../test/fixtures/reference/m1_mlp');
const resolve = (ref: string): string => join(dir, ref);
const reference = JSON.parse(readFileSync(join(dir, 'ref_trajectory_pca.json'), 'utf8'));
const trajectory = JSON.parse(readFileSync(join(dir, 'trajectory.json'), 'utf8'));
const out = mkdtempSync(join(tmpdir(), 'trajectory-job-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const base = {
  kind: 'trajectory',
  model: 'model_trained',
  data: 'dataset.json',
  loss: 'sparse_categorical_crossentropy',
  backend: 'cpu',
  checkpoints: { file: 'trajectory.json' },
};

async function run(input: object): Promise<TrajectoryResult> {
  const spec = trajectorySpec.parse(input);
  // Same path as `landscape run`: prepare, every unit, assemble. The prepared object is captured to free it.
  let prepared: PreparedTrajectory | undefined;
  const handler = { ...trajectoryHandler, prepare: async (s: typeof spec, r: RefResolver) => (prepared = await trajectoryHandler.prepare(s, r)) };
  try {
    return (await runEmbedded(handler, spec, resolve, out, { threads: 1, backend: 'cpu' })) as TrajectoryResult;
  } finally {
    if (prepared) releaseTrajectory(prepared);
  }
}

describe('trajectory job on the M1 reference trajectory', () => {
  it('li: reference projection and quality, losses at checkpoints, grid through θ_final', async () => {
    const result = await run({ ...base, method: 'li', grid: { x: [-1, 4, 6], y: [-1, 1, 3] } });
    const lf = reference.li_final_centred;
    result.embedding.forEach((point, i) => {
      expect(Math.abs(point[0]! - lf.projection[i][0])).toBeLessThan(1e-9);
      expect(Math.abs(point[1]! - lf.projection[i][1])).toBeLessThan(1e-9);
    });
    expect(Math.abs(result.quality.trustworthiness - lf.trustworthiness_k5)).toBeLessThan(1e-9);
    // Reconstructions lie on the plotted plane through θ_final; the mean-centred plane is the best 2-D affine fit.
    expect(result.quality.reconstructionMse).toBeGreaterThan(reference.mean_centred.reconstruction_mse);
    expect(result.quality.continuity).toBeGreaterThan(0.9);
    // float32 evaluation of the stored checkpoints against the float64 reference losses
    result.checkpointLoss.forEach((loss, i) => expect(Math.abs(loss / trajectory.loss_f64_at_checkpoint[i] - 1)).toBeLessThan(1e-5));
    // grid point (x = 0, y = 0) is θ_final itself
    expect(result.x[1]).toBe(0);
    expect(result.loss[1]![1]).toBeCloseTo(result.checkpointLoss[39]!, 6);
    expect(result.pointsComputed).toBe(18);
    expect(result.quality.relativeLossError).toBeGreaterThan(0);
    expect(result.details.explainedVarianceRatio).toHaveLength(2);
    expect(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')).kind).toBe('trajectory');
  });

  it('pca: mean-centred embedding and reconstruction MSE as scikit-learn', async () => {
    const result = await run({ ...base, method: 'pca', grid: { steps: [2, 2], margin: 0 } });
    const mc = reference.mean_centred;
    result.embedding.forEach((point, i) => expect(Math.abs(point[0]! - mc.embedding[i][0])).toBeLessThan(1e-9));
    expect(Math.abs(result.quality.reconstructionMse / mc.reconstruction_mse - 1)).toBeLessThan(1e-6);
    expect(result.x[0]).toBe(Math.min(...result.embedding.map((p) => p[0]!)));
  });

  it('umap: automatic grid over the embedding, leave-one-out reconstructions', async () => {
    const result = await run({ ...base, method: 'umap', umap: { nNeighbors: 8, seed: 1, nEpochs: 100 }, grid: { steps: [3, 2] } });
    expect(result.loss.flat().every((value) => typeof value === 'number' && value > 0)).toBe(true);
    expect(result.reconstructedLoss).toHaveLength(40);
    expect(result.quality.reconstructionMse).toBeGreaterThan(0);
    const xs = result.embedding.map((p) => p[0]!);
    expect(result.x[0]!).toBeLessThan(Math.min(...xs));
    expect(result.x[2]!).toBeGreaterThan(Math.max(...xs));
  });

  it('rejects bad specs', async () => {
    expect(trajectorySpec.safeParse({ ...base, method: 'tsne' }).success).toBe(false);
    expect(trajectorySpec.safeParse({ ...base, checkpoints: ['a.json'] }).success).toBe(false);
    await expect(trajectoryHandler.prepare(trajectorySpec.parse({ ...base, quality: { k: 20 } }), resolve)).rejects.toThrow(/quality.k/);
    await expect(trajectoryHandler.prepare(trajectorySpec.parse({ ...base, checkpoints: ['weights_init.json', 'ref_loss.json'] }), resolve)).rejects.toThrow(
      InputError,
    );
  });
});
