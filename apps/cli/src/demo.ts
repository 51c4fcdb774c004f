import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { buildModel, saveModel, selectBackend, syntheticDataset, train, type BackendChoice } from '@landscape/core';
import type { Logger } from 'pino';
import { runJob } from './run-job';

/**
 * `landscape demo`: trains a small classifier on a seeded spiral set, then maps its loss landscape — the
 * interpolation from initial to trained weights, and a filter-normalized surface around the trained weights.
 * Everything it writes (data, both models, the two job specs) can be re-run with `landscape run`.
 */
export async function runDemo(options: { out: string; backend?: BackendChoice; threads?: number; logger: Logger }): Promise<void> {
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  const { logger } = options;
  await selectBackend(options.backend ?? 'auto');

  const data = syntheticDataset({ synthetic: 'spirals', n: 450, seed: 1, classes: 3, noise: 0.08 });
  const xs: number[][] = [];
  for (let i = 0; i < data.n; i++) xs.push([data.x[2 * i]!, data.x[2 * i + 1]!]);
  const labels = data.targets.kind === 'labels' ? Array.from(data.targets.labels) : [];
  writeFileSync(join(out, 'data.json'), JSON.stringify({ x: xs, y: labels }));

  const model = buildModel({ type: 'mlp', input: [2], hidden: [{ units: 32, activation: 'tanh' }, { units: 32, activation: 'tanh' }], outputs: 3 }, 0);
  saveModel(join(out, 'model_init'), model);
  const started = Date.now();
  const checkpoints = train(model.description, model.weights, data, 'sparse_categorical_crossentropy', {
    optimizer: 'adam',
    learningRate: 0.01,
    epochs: 200,
    batchSize: 64,
    seed: 3,
    onEpoch: (epoch, loss) => {
      if (epoch % 50 === 0) logger.info({ epoch, loss: Number(loss.toFixed(5)) }, 'demo training');
    },
  });
  const trained = checkpoints[checkpoints.length - 1]!.weights;
  saveModel(join(out, 'model_trained'), model, trained);
  logger.info({ seconds: (Date.now() - started) / 1000, finalLoss: checkpoints.at(-1)!.loss }, 'demo model trained');

  const common = { data: 'data.json', loss: 'sparse_categorical_crossentropy' as const, ...(options.backend ? { backend: options.backend } : {}) };
  const line = { kind: 'line' as const, model: 'model_init', to: 'model_trained', ...common, grid: { x: [-0.5, 1.5, 41] as [number, number, number] } };
  const surface = {
    kind: 'surface' as const,
    model: 'model_trained',
    ...common,
    directions: { x: { seed: 1 }, y: { seed: 2 }, normalization: 'filter' as const, bias: 'ignore' as const },
    grid: { x: [-1, 1, 51] as [number, number, number], y: [-1, 1, 51] as [number, number, number] },
  };
  writeFileSync(join(out, 'line.job.json'), JSON.stringify(line, null, 2));
  writeFileSync(join(out, 'surface.job.json'), JSON.stringify(surface, null, 2));
  const { parseJobSpec } = await import('@landscape/core');
  await runJob(parseJobSpec(line), out, { out: join(out, 'line'), logger, threads: options.threads });
  await runJob(parseJobSpec(surface), out, { out: join(out, 'surface'), logger, threads: options.threads });
  logger.info({ out }, 'demo finished');
  process.stdout.write(`demo written to ${out}\n  line:    ${join(out, 'line')}\n  surface: ${join(out, 'surface')}\n`);
}
