import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildModel, parseJobSpec, saveModel, selectBackend, syntheticDataset, type BackendChoice } from '@landscape/core';
import type { Logger } from 'pino';
import { runJob } from './run-job';

/**
 * `landscape demo`: trains a small classifier on a seeded spiral set (a `train` job, recording its trajectory),
 * then maps its loss landscape — the interpolation from initial to trained weights, a filter-normalized surface
 * around the trained weights, and the embedding landscapes of the training trajectory (a `trajectory` job with
 * every method). Everything it writes (data, the initial model, the job specs) can be re-run with `landscape run`.
 */
export async function runDemo(options: { out: string; backend?: BackendChoice; threads?: number; logger: Logger; logFile?: string }): Promise<void> {
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const { logger } = options;
  await selectBackend(options.backend ?? 'auto');

  const data = syntheticDataset({ synthetic: 'spirals', n: 450, seed: 1, classes: 3, noise: 0.08 });
  const xs: number[][] = [];
  for (let i = 0; i < data.n; i++) xs.push([data.x[2 * i]!, data.x[2 * i + 1]!]);
  const labels = data.targets.kind === 'labels' ? Array.from(data.targets.labels) : [];
  writeFileSync(join(out, 'data.json'), JSON.stringify({ x: xs, y: labels }));

  const model = buildModel(
    {
      type: 'mlp',
      input: [2],
      hidden: [
        { units: 32, activation: 'tanh' },
        { units: 32, activation: 'tanh' },
      ],
      outputs: 3,
    },
    0,
  );
  saveModel(join(out, 'model_init'), model);
  // The label titles every figure (the model files are named model_init and train).
  const common = {
    label: 'spiral MLP',
    data: 'data.json',
    loss: 'sparse_categorical_crossentropy' as const,
    ...(options.backend ? { backend: options.backend } : {}),
  };
  // 450 samples / batch 64 = 8 steps per epoch: the initial weights, then a checkpoint every 5 epochs, 41 in all; the last is the trained model.
  const training = {
    kind: 'train' as const,
    model: 'model_init',
    ...common,
    optimizer: 'adam' as const,
    learningRate: 0.01,
    epochs: 200,
    batchSize: 64,
    seed: 3,
    checkpointEvery: 40,
  };
  const line = { kind: 'line' as const, model: 'model_init', to: 'train', ...common, grid: { x: [-0.5, 1.5, 41] as [number, number, number] } };
  const surface = {
    kind: 'surface' as const,
    model: 'train',
    ...common,
    directions: { x: { seed: 1 }, y: { seed: 2 }, normalization: 'filter' as const, bias: 'ignore' as const },
    grid: { x: [-1, 1, 51] as [number, number, number], y: [-1, 1, 51] as [number, number, number] },
  };
  // Small grids and modest UMAP/autoencoder settings keep the whole demo around a minute on two cores.
  const trajectory = {
    kind: 'trajectory' as const,
    model: 'train',
    ...common,
    trajectory: 'train/trajectory.json',
    methods: ['pca', 'pca-directions', 'umap', 'autoencoder'] as ('pca' | 'pca-directions' | 'umap' | 'autoencoder')[],
    neighbors: 5,
    grid: { steps: [21, 21] as [number, number], margin: 0.2 },
    umap: { nNeighbors: 10, nEpochs: 200, seed: 0 },
    autoencoder: { hidden: [32], epochs: 200, seed: 0 },
  };
  const jobs = { train: training, line, surface, trajectory };
  for (const [name, job] of Object.entries(jobs)) writeFileSync(join(out, `${name}.job.json`), JSON.stringify(job, null, 2));
  for (const [name, job] of Object.entries(jobs)) {
    const started = Date.now();
    await runJob(parseJobSpec(job), out, { out: join(out, name), logger, logFile: options.logFile, threads: options.threads });
    logger.info({ job: name, seconds: (Date.now() - started) / 1000 }, 'demo step done');
  }
  logger.info({ out }, 'demo finished');
  process.stdout.write(
    `demo written to ${out}\n${Object.keys(jobs)
      .map((name) => `  ${`${name}:`.padEnd(12)}${join(out, name)}\n`)
      .join('')}  report:     ${join(out, 'trajectory', 'report.html')}\n`,
  );
}
