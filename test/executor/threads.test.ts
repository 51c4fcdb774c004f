import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseJobSpec, runEmbedded, type CurvatureResult, type HessianResult, type JobSpec } from '@landscape/core';
import { jobKinds } from '@landscape/jobs';
import type { TrajectoryResult } from '@landscape/metrics';

/**
 * `landscape run` of the kinds whose units used to run one after another on one thread: with `threads: 2`
 * their units run on two pool threads (the result records the threads that ran units), and give exactly the
 * numbers of the one-thread run, which in turn match the PyTorch / scikit-learn references.
 */
const M1 = join(__dirname, '..', 'fixtures', 'reference', 'm1_mlp');
const reference = (file: string) => JSON.parse(readFileSync(join(M1, file), 'utf8'));
const out = mkdtempSync(join(tmpdir(), 'landscape-threads-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const common = { model: join(M1, 'model_trained'), data: join(M1, 'dataset.json'), loss: 'sparse_categorical_crossentropy', backend: 'wasm' };

async function both<R>(input: Record<string, unknown>): Promise<{ one: R & { threads: number }; two: R & { threads: number } }> {
  const spec = parseJobSpec({ ...common, ...input }) as JobSpec;
  const run = async (threads: number) =>
    (await runEmbedded(jobKinds, spec, (ref) => ref, join(out, `${spec.kind}-${threads}`), { threads, backend: 'wasm' })) as R & { threads: number };
  return { one: await run(1), two: await run(2) };
}

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

describe('embedded runs use the requested threads', () => {
  it('hessian: Lanczos, Hutchinson batches and SLQ runs on two threads, numbers unchanged', async () => {
    const { one, two } = await both<HessianResult>({
      kind: 'hessian',
      top: { k: 3 },
      trace: { method: 'hutchinson', samples: 8, batch: 2 },
      density: { runs: 2, steps: 20 },
      eigenvectors: false,
    });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.eigenvalues).toEqual(one.eigenvalues);
    expect(two.trace).toEqual(one.trace);
    expect(two.density).toEqual(one.density);
    const ref = reference('ref_hessian.json');
    two.eigenvalues.top!.forEach((value, i) => expect(relative(value, ref.top5_eigenvalues_descending[i])).toBeLessThan(1e-3));
  });

  it('curvature: tiles on two threads, λmax at the origin is the top eigenvalue', async () => {
    const { one, two } = await both<CurvatureResult>({
      kind: 'curvature',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
      tiles: { x: 3, y: 1 },
      curvature: { tol: 1e-6, maxSteps: 60 },
    });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.lambdaMax).toEqual(one.lambdaMax);
    expect(two.lambdaMin).toEqual(one.lambdaMin);
    const ref = reference('ref_hessian.json');
    expect(relative(two.lambdaMax[1]![1]!, ref.top5_eigenvalues_descending[0])).toBeLessThan(1e-3);
  });

  it('trajectory: embeddings once, then the grids on two threads; PCA matches scikit-learn', async () => {
    const { one, two } = await both<TrajectoryResult>({
      kind: 'trajectory',
      trajectory: join(M1, 'trajectory.json'),
      methods: ['pca', 'umap'],
      grid: { steps: [4, 3] },
      umap: { nNeighbors: 8, nEpochs: 50 },
    });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.methods).toEqual(one.methods);
    expect(two.checkpointLoss).toEqual(one.checkpointLoss);
    const ref = reference('ref_trajectory_pca.json');
    const pca = two.methods.pca!;
    pca.explainedVarianceRatio!.forEach((r, k) => expect(Math.abs(r - ref.mean_centred.explained_variance_ratio[k])).toBeLessThan(1e-6));
    expect(Math.abs(pca.trustworthiness - ref.mean_centred.trustworthiness_k5)).toBeLessThan(1e-9);
  });

  it('reports progress from the threads and stops every running unit when cancelled', async () => {
    const spec = parseJobSpec({ ...common, kind: 'hessian', density: { runs: 4, steps: 200 }, eigenvectors: false }) as JobSpec;
    const controller = new AbortController();
    const seen: number[] = [];
    const run = runEmbedded(jobKinds, spec, (ref) => ref, join(out, 'cancelled'), {
      threads: 2,
      backend: 'wasm',
      signal: controller.signal,
      onProgress: ({ done, total }) => {
        seen.push(done);
        expect(total).toBe(4 * 200);
        if (done >= 5) controller.abort();
      },
    });
    await expect(run).rejects.toThrow('cancelled');
    expect(seen.length).toBeGreaterThan(0);
    // Stopped at the next product, long before the 800 products of the whole job.
    expect(Math.max(...seen)).toBeLessThan(800);
  });
});
