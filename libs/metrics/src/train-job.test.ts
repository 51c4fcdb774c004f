import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildModel, InputError, layoutSize, loadModel, parseJobSpec, runEmbedded, type Architecture, type TrainSpec } from '@landscape/core';
import { trainHandler, type TrainResult, type TrajectoryFile } from './train-job';
import { readTrajectoryFile } from './trajectory-input';

const REFERENCE = join(__dirname, '../../../test/fixtures/reference');
const out = mkdtempSync(join(tmpdir(), 'train-job-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
const resolve = (ref: string): string => (isAbsolute(ref) ? ref : join(REFERENCE, ref));

const builtIn = {
  kind: 'train',
  model: { type: 'mlp', input: [2], hidden: [{ units: 8 }], outputs: 3 },
  data: { synthetic: 'spirals', n: 120, seed: 1, classes: 3 },
  loss: 'sparse_categorical_crossentropy',
  epochs: 4,
  batchSize: 32,
  learningRate: 0.1,
  checkpointEvery: 2,
  seed: 5,
  backend: 'cpu',
};

async function run(input: object, dir: string): Promise<{ result: TrainResult; trajectory: TrajectoryFile }> {
  const result = (await runEmbedded(trainHandler, parseJobSpec(input) as TrainSpec, resolve, join(out, dir), { threads: 1, backend: 'cpu' })) as TrainResult;
  return { result, trajectory: JSON.parse(readFileSync(join(out, dir, 'trajectory.json'), 'utf8')) as TrajectoryFile };
}

describe('train job', () => {
  it('records seeded, reproducible checkpoints every k steps and writes the trajectory, model and loss curve', async () => {
    const a = await run(builtIn, 'a');
    // 120 samples / batch 32 = 4 steps per epoch, 16 steps, a checkpoint every 2, after the initial weights at step 0
    expect(a.result.steps).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16]);
    expect(a.trajectory.steps).toEqual(a.result.steps);
    expect(a.trajectory.checkpoints).toHaveLength(9);
    // Checkpoint 0 is the seeded architecture's initial weights, built again here.
    expect(a.trajectory.checkpoints[0]).toEqual(Array.from(buildModel(builtIn.model as Architecture, builtIn.seed).weights));
    expect(a.trajectory.losses.at(-1)!).toBeLessThan(a.trajectory.losses[0]!);
    const model = loadModel(join(out, 'a'));
    const parameters = layoutSize(model.description.layout);
    expect(a.trajectory.checkpoints[0]).toHaveLength(parameters);
    expect(a.trajectory.flat_order.map((w) => w.name)).toEqual(model.description.layout.map((w) => w.name));
    // The saved model holds the last checkpoint (float32 both ways: the same numbers).
    expect(Array.from(model.weights)).toEqual(a.trajectory.checkpoints.at(-1));
    // The file is valid trajectory input for this model.
    expect(readTrajectoryFile(join(out, 'a', 'trajectory.json'), model.description.layout).steps).toEqual(a.result.steps);
    expect(readFileSync(join(out, 'a', 'loss.svg'), 'utf8')).toContain('class="loss"');
    expect(existsSync(join(out, 'a', 'result.csv'))).toBe(true);
    expect(a.result.seeds).toEqual({ init: 5, order: 5 });
    expect(a.result.pointsComputed).toBe(9);

    const tensors = tf.memory().numTensors;
    const again = await run(builtIn, 'b');
    expect(tf.memory().numTensors).toBe(tensors);
    expect(again.trajectory.checkpoints).toEqual(a.trajectory.checkpoints);
    expect(again.trajectory.losses).toEqual(a.trajectory.losses);
    const otherSeed = await run({ ...builtIn, seed: 6 }, 'c');
    expect(otherSeed.trajectory.checkpoints[0]).not.toEqual(a.trajectory.checkpoints[0]);
  });

  it('trains a model file with Adam, one checkpoint per epoch', async () => {
    const { result, trajectory } = await run(
      {
        kind: 'train',
        model: 'm1_mlp/model_init',
        data: 'm1_mlp/dataset.json',
        loss: 'sparse_categorical_crossentropy',
        optimizer: 'adam',
        epochs: 3,
        batchSize: 50,
        backend: 'cpu',
      },
      'adam',
    );
    expect(result.epochs).toBe(3);
    expect(trajectory.epochs).toEqual([0, 1, 2, 3]);
    // The trajectory starts at the model file's weights, with their loss on the whole set: PyTorch's float64 value.
    expect(trajectory.checkpoints[0]).toEqual(Array.from(loadModel(join(REFERENCE, 'm1_mlp/model_init')).weights));
    const reference = JSON.parse(readFileSync(join(REFERENCE, 'm1_mlp/ref_loss.json'), 'utf8')) as { weights_init: { loss_f64: number } };
    expect(trajectory.losses[0]).toBeCloseTo(reference.weights_init.loss_f64, 5);
    expect(result.model.name).toBe('model_init');
    expect(result.optimizer).toEqual({ type: 'adam', learningRate: 0.01 });
    expect(result.model.ref).toBe('m1_mlp/model_init');
    expect(result.seeds).toEqual({ order: 0 });
  });

  it('rejects bad specs naming the field', async () => {
    const prepare = (extra: object) => trainHandler.prepare(parseJobSpec({ ...builtIn, ...extra }) as TrainSpec, resolve);
    expect(() => prepare({ checkpointEvery: 100 })).toThrow(InputError);
    expect(() => prepare({ checkpointEvery: 100 })).toThrow(/^checkpointEvery: /);
    expect(() => prepare({ model: { type: 'mlp', input: [3], hidden: [], outputs: 3 } })).toThrow(/^data: /);
    expect(() => prepare({ model: { type: 'mlp', input: [2], hidden: [], outputs: 2 } })).toThrow(/label 2/);
    expect(() => parseJobSpec({ ...builtIn, optimizer: 'rmsprop' })).toThrow(/optimizer/);
    expect(() => parseJobSpec({ ...builtIn, momentum: 1 })).toThrow(/momentum/);
  });
});
