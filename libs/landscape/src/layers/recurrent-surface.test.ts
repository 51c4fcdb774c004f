import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { runEmbedded } from '../embedded';
import { landscapeHandler } from '../landscape-job';
import { createRng } from '../random';
import type { LandscapeResult } from '../result';
import { parseJobSpec, type SurfaceSpec } from '../spec';
import { savedArtifacts, seedWeights } from './layer-check.test-util';

/**
 * Issue 8's "Done when" for the text classifiers: Embedding → LSTM and Embedding → GRU models made and saved by
 * tfjs-layers, mapped as a whole surface job through the embedded runner; the surface's centre is the saved
 * model, so its loss must be tfjs-layers' own model.evaluate on the same data.
 */
const L = tfl.layers;
const VOCABULARY = 20;
const LENGTH = 7;
const CLASSES = 3;
const SAMPLES = 24;
const init = { recurrentInitializer: 'glorotNormal' } as const;

const classifiers: [string, () => tfl.layers.Layer][] = [
  ['LSTM', () => L.lstm({ units: 6, recurrentActivation: 'sigmoid', ...init })],
  ['GRU', () => L.gru({ units: 5, recurrentActivation: 'hardSigmoid', ...init })],
];

let dir: string;
beforeAll(async () => {
  await selectBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'landscape-recurrent-surface-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each(classifiers)('Embedding → %s text classifier (tfjs-layers save())', (name, recurrent) => {
  it('has a surface whose centre loss is tfjs-layers model.evaluate (1e-5 relative)', async () => {
    const model = tfl.sequential({
      layers: [L.embedding({ inputDim: VOCABULARY, outputDim: 4, inputLength: LENGTH }), recurrent(), L.dense({ units: CLASSES, activation: 'softmax' })],
    });
    seedWeights(model, 4, 0.8);
    const rng = createRng(21);
    const x = Array.from({ length: SAMPLES }, () => Array.from({ length: LENGTH }, () => Math.floor(rng.uniform() * VOCABULARY)));
    const y = Array.from({ length: SAMPLES }, () => Math.floor(rng.uniform() * CLASSES));
    const folder = join(dir, name);
    mkdirSync(folder);
    const { modelJson, bytes } = await savedArtifacts(model);
    writeFileSync(join(folder, 'model.json'), JSON.stringify(modelJson));
    writeFileSync(join(folder, 'weights.bin'), bytes);
    writeFileSync(join(folder, 'data.json'), JSON.stringify({ x, y }));

    model.compile({ loss: 'sparseCategoricalCrossentropy', optimizer: 'sgd' });
    const [xs, ys] = [tf.tensor2d(x), tf.tensor2d(y, [SAMPLES, 1])];
    const evaluated = model.evaluate(xs, ys, { batchSize: SAMPLES }) as tf.Scalar;
    const expected = evaluated.dataSync()[0]!;
    tf.dispose([xs, ys, evaluated]);

    const spec = parseJobSpec({
      kind: 'surface',
      model: 'model.json',
      data: 'data.json',
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-0.5, 0.5, 3], y: [-0.5, 0.5, 3] },
      threads: 1,
      backend: 'cpu',
    }) as SurfaceSpec;
    const result = (await runEmbedded(landscapeHandler, spec, (ref) => join(folder, ref), join(folder, 'out'), {
      threads: 1,
      backend: 'cpu',
    })) as LandscapeResult;
    const loss = result.loss as number[][];
    const centre = loss[1]![1]!;
    expect(Math.abs(centre - expected) / expected).toBeLessThan(1e-5);
    // The surface is not flat: the directions move the recurrent and embedding weights.
    expect(Math.abs(loss[0]![0]! - centre)).toBeGreaterThan(1e-4);
    model.dispose();
  });
});
