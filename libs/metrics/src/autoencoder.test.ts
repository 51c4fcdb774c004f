import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { InputError, selectBackend } from '@landscape/core';
import { trainAutoencoder } from './autoencoder';
import { reconstructionMse } from './quality';

const trajectory = JSON.parse(readFileSync(join(__dirname, '../../../test/fixtures/reference/m1_mlp/trajectory.json'), 'utf8')) as { checkpoints: number[][] };
const rows = trajectory.checkpoints.map((row) => Float64Array.from(row));

describe('autoencoder of the M1 trajectory', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('trains reproducibly per seed, learns, and frees every tensor', () => {
    const before = tf.memory().numTensors;
    const options = { hidden: [16], epochs: 80, learningRate: 0.02, seed: 3 };
    const a = trainAutoencoder(rows, options);
    const b = trainAutoencoder(rows, options);
    const c = trainAutoencoder(rows, { ...options, seed: 4 });
    const codes = a.encode(rows);
    expect(codes).toHaveLength(40);
    expect(codes[0]).toHaveLength(2);
    expect(b.encode(rows)).toEqual(codes);
    expect(b.losses).toEqual(a.losses);
    expect(c.encode(rows)).not.toEqual(codes);
    expect(a.backend).toBe('cpu');

    // It learns: the loss falls well below the variance of the standardized data (1 per column).
    expect(a.losses[a.losses.length - 1]!).toBeLessThan(0.5 * a.losses[0]!);
    expect(a.losses[a.losses.length - 1]!).toBeLessThan(0.2);
    const decoded = a.decode(codes);
    const meanRows = rows.map(() => a.mean);
    expect(reconstructionMse(rows, decoded)).toBeLessThan(0.2 * reconstructionMse(rows, meanRows));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('is reproducible with seeded minibatches', () => {
    const options = { hidden: [8, 4], epochs: 20, batchSize: 16, seed: 1 };
    expect(trainAutoencoder(rows, options).losses).toEqual(trainAutoencoder(rows, options).losses);
  });

  it('rejects bad options and inputs with InputError', () => {
    expect(() => trainAutoencoder(rows, { hidden: [0] })).toThrow(/hidden.0/);
    expect(() => trainAutoencoder(rows, { learningRate: -1 })).toThrow(InputError);
    expect(() => trainAutoencoder([rows[0]!])).toThrow(/at least 2 checkpoints/);
    const model = trainAutoencoder(rows, { hidden: [4], epochs: 2 });
    expect(() => model.decode([[1, 2, 3]])).toThrow(/point 0 has 3 coordinates, expected 2/);
    expect(() => model.encode([new Float64Array(5)])).toThrow(/5 parameters/);
  });
});
