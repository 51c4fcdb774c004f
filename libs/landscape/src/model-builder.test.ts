import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildModel, forward, loadModel, saveModel, selectBackend, toTensors, type Architecture } from '@landscape/core';

const ARCHITECTURES: Architecture[] = [
  {
    type: 'mlp',
    input: [3],
    hidden: [
      { units: 5, activation: 'tanh' },
      { units: 4, activation: 'relu' },
    ],
    outputs: 2,
  },
  {
    type: 'cnn',
    input: [9, 9, 2],
    conv: [
      { filters: 3, kernel: 3, activation: 'relu', pool: true },
      { filters: 4, kernel: 2, activation: 'elu', pool: false },
    ],
    hidden: [{ units: 6, activation: 'sigmoid' }],
    outputs: 3,
  },
];

describe('built-in architectures are real tfjs Layers models', () => {
  it.each(ARCHITECTURES)('$type: saved, reloaded and evaluated by tfjs-layers like by forward()', async (architecture) => {
    await selectBackend('cpu');
    const model = buildModel(architecture, 3);
    expect(buildModel(architecture, 3).weights).toEqual(model.weights);
    const dir = mkdtempSync(join(tmpdir(), 'landscape-builder-'));
    saveModel(dir, model);
    const reloaded = loadModel(dir);
    expect(reloaded.weights).toEqual(model.weights);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const weightData = new Uint8Array(readFileSync(join(dir, 'weights.bin'))).buffer;
    const layersModel = await tfl.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }),
    );
    const [ours, theirs] = tf.tidy(() => {
      const x = tf.randomNormal([7, ...architecture.input], 0, 1, 'float32', 5);
      const params = toTensors(reloaded.weights, reloaded.description.layout);
      return [forward(reloaded.description, params, x), layersModel.predict(x) as tf.Tensor];
    });
    const a = ours.dataSync();
    const b = theirs.dataSync();
    tf.dispose([ours, theirs]);
    layersModel.dispose();
    rmSync(dir, { recursive: true, force: true });
    expect(a.length).toBe(7 * architecture.outputs);
    a.forEach((value, i) => expect(value).toBeCloseTo(b[i]!, 5));
  });
});
