import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseJobSpec, runEmbedded, type JobSpec } from '@landscape/core';
import { encodeModelBundle, jobKinds, readModelDirectory } from '@landscape/jobs';
import { killAllWorkers, type WorkerProcess } from '../harness/processes';
import { startCluster, waitForJob, type Cluster } from './helpers';

/** The other job kinds run through the same queue path and give the numbers of their embedded run. */
const M1 = join(__dirname, '..', 'fixtures', 'reference', 'm1_mlp');

describe('other job kinds, distributed', () => {
  let cluster: Cluster;
  let ids: { model: string; data: string; trajectory: string };
  let workers: WorkerProcess[];

  beforeAll(async () => {
    cluster = await startCluster();
    ids = {
      // Uploaded under its directory's name, as `landscape submit` does: results name it as the embedded run does.
      model: (
        await cluster.system.artifacts.put(encodeModelBundle(readModelDirectory(join(M1, 'model_trained'))), { kind: 'model', filename: 'model_trained' })
      ).id,
      data: (await cluster.system.artifacts.put(readFileSync(join(M1, 'dataset.json')), { kind: 'data', filename: 'dataset.json' })).id,
      trajectory: (await cluster.system.artifacts.put(readFileSync(join(M1, 'trajectory.json')), { kind: 'trajectory', filename: 'trajectory.json' })).id,
    };
    workers = await Promise.all([cluster.startWorker(), cluster.startWorker()]);
  });
  afterAll(async () => {
    await killAllWorkers();
    await cluster?.close();
  });

  async function both(
    input: Record<string, unknown>,
    local: Record<string, unknown> = {},
    remote: Record<string, unknown> = {},
  ): Promise<{ jobId: string; distributed: Record<string, unknown>; embedded: Record<string, unknown> }> {
    const job = await cluster.system.service.submit({ ...input, model: ids.model, data: ids.data, ...remote });
    const done = await waitForJob(cluster.system, job.id, ['completed', 'failed'], 120_000);
    expect(done.error).toBeUndefined();
    const distributed = (await cluster.system.service.result(job.id)) as Record<string, unknown>;
    const out = mkdtempSync(join(tmpdir(), 'landscape-kind-'));
    try {
      const spec = parseJobSpec({ ...input, model: join(M1, 'model_trained'), data: join(M1, 'dataset.json'), ...local }) as JobSpec;
      const embedded = JSON.parse(JSON.stringify(await runEmbedded(jobKinds, spec, (ref) => ref, out, { threads: 1, backend: 'wasm' })));
      return { jobId: job.id, distributed, embedded };
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }

  it('hessian: eigenvalues and trace estimate equal the embedded run', async () => {
    const { distributed, embedded } = await both({
      kind: 'hessian',
      loss: 'sparse_categorical_crossentropy',
      backend: 'wasm',
      top: { k: 2 },
      trace: { method: 'hutchinson', samples: 6, batch: 2 },
    });
    expect(distributed.eigenvalues).toEqual(embedded.eigenvalues);
    expect(distributed.trace).toEqual(embedded.trace);
  });

  it('curvature: the λmax/λmin grid equals the embedded run', async () => {
    const input = {
      kind: 'curvature',
      loss: 'sparse_categorical_crossentropy',
      backend: 'wasm',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 3], y: [-1, 1, 2] },
    };
    const { distributed, embedded } = await both(input);
    const { timings: _a, workers: _w, threads: _t, backendDetail: _b, ...rest } = distributed as Record<string, unknown>;
    const { timings: _c, threads: _u, backendDetail: _d, ...expected } = embedded;
    expect(rest).toEqual({ ...expected, model: { ...(expected.model as object), ref: ids.model }, data: rest.data });
  });

  it("trajectory: every method's embedding, quality metrics and landscape equal the embedded run", async () => {
    const input = {
      kind: 'trajectory',
      loss: 'sparse_categorical_crossentropy',
      backend: 'wasm',
      methods: ['pca', 'pca-directions', 'umap', 'autoencoder'],
      neighbors: 5,
      grid: { steps: [6, 5], margin: 0.2 },
      umap: { nNeighbors: 8, nEpochs: 100, seed: 0 },
      autoencoder: { hidden: [16], epochs: 60, seed: 0 },
    };
    const { jobId, distributed, embedded } = await both(input, { trajectory: join(M1, 'trajectory.json') }, { trajectory: ids.trajectory });
    // Each embedding (UMAP fit, autoencoder training) ran once, as its own unit, on one of the workers.
    const embeddingRuns = workers
      .flatMap((worker) => worker.logs)
      .filter((line) => line.jobId === jobId && line.msg === 'unit started' && String(line.unitId).startsWith('embed:'))
      .map((line) => String(line.unitId));
    expect(embeddingRuns.sort()).toEqual(['embed:autoencoder', 'embed:pca', 'embed:pca-directions', 'embed:umap']);
    const methods = distributed.methods as Record<string, Record<string, unknown>>;
    expect(Object.keys(methods).sort()).toEqual(['autoencoder', 'pca', 'pca-directions', 'umap']);
    expect(distributed.methods).toEqual(embedded.methods);
    for (const method of Object.values(methods)) expect(method.trustworthiness).toBeGreaterThan(0.8);
  });
});
