import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Evaluator, evaluateTile, loadDatasetFile, loadModel, makeGrid, planTiles, selectBackend, randomDirection, normalizeDirection } from '@landscape/core';
import { referencePath } from '../../../test/support/fixtures';

describe('Evaluator', () => {
  it('leaks no tensor over a 10,000-point run', async () => {
    await selectBackend('wasm');
    const model = loadModel(referencePath('m1_mlp', 'model_trained'));
    const data = loadDatasetFile(referencePath('m1_mlp', 'dataset.json'));
    const { layout } = model.description;
    const directions = [1, 2].map((seed) => normalizeDirection(randomDirection(layout, seed), model.weights, layout, 'filter', 'ignore'));
    const plan = { origin: model.weights, directions, grid: makeGrid([-1, 1, 100], [-1, 1, 100]) };
    const initial = tf.memory().numTensors;
    const evaluator = new Evaluator({ model: model.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 100 });
    const tiles = planTiles(plan.grid, { x: 100, y: 10 });
    evaluateTile(evaluator, plan, tiles[0]!);
    const before = tf.memory().numTensors;
    let points = 0;
    for (const tile of tiles) points += evaluateTile(evaluator, plan, tile).loss.length;
    expect(points).toBe(10_000);
    expect(tf.memory().numTensors).toBe(before);
    evaluator.dispose();
    // The input batches and what the plan kept (its weights on the backend, for several points per pass).
    expect(tf.memory().numTensors).toBe(initial);
  });

  it('gives the same loss for every batch size (batches are sample-weighted)', async () => {
    await selectBackend('wasm');
    const model = loadModel(referencePath('m2_cnn', 'model_trained'));
    const data = loadDatasetFile(referencePath('m2_cnn', 'dataset.json'));
    const values = [7, 64, 150, 1000].map((batchSize) => {
      const evaluator = new Evaluator({ model: model.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize });
      const value = evaluator.evaluate(model.weights);
      evaluator.dispose();
      return value;
    });
    for (const value of values) {
      expect(value.loss).toBeCloseTo(values[0]!.loss, 6);
      expect(value.accuracy).toBe(values[0]!.accuracy);
    }
  });
});
