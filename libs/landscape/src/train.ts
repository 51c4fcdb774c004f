import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './data';
import { lossSum, targetMatrix, type LossName } from './losses';
import type { ModelDescription } from './model';
import { modelObjective, objectiveOutput } from './objective';
import { createRng, permutation } from './random';
import { tensorView } from './weights';

export interface TrainOptions {
  optimizer: 'sgd' | 'adam';
  learningRate: number;
  /** SGD momentum (0 = plain SGD). */
  momentum?: number;
  epochs: number;
  batchSize: number;
  seed: number;
  /** Record a checkpoint every this many steps; 0 = once per epoch. */
  checkpointEvery?: number;
  onEpoch?: (epoch: number, loss: number) => void;
}

export interface Checkpoint {
  step: number;
  epoch: number;
  /** Mean training loss of the minibatches since the previous checkpoint. */
  loss: number;
  weights: Float64Array;
}

/**
 * Minibatch training of a model described by `description`, starting at `initial` (flat vector). Each epoch visits
 * the samples in a seeded permutation. Returns the checkpoints (the final weights are the last one).
 */
export function train(description: ModelDescription, initial: Float64Array, data: Dataset, loss: LossName, options: TrainOptions): Checkpoint[] {
  const { layout } = description;
  // The function evaluated is the function trained: the same objective as Evaluator and HessianOperator.
  const objective = modelObjective(description, loss, 'logits', data.sampleShape);
  const { outputUnits } = objective;
  const targets = targetMatrix(loss, data, outputUnits, data.provenance.source);
  const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
  const variables = layout.map((spec) => {
    // A variable shares its initial tensor's data but not the tensor object: that one is freed here.
    const value = tf.tensor(Float32Array.from(tensorView(initial, spec)), spec.shape);
    const variable = tf.variable(value, spec.trainable);
    value.dispose();
    return variable;
  });
  const trainable = variables.filter((_, i) => layout[i]!.trainable);
  const optimizer = options.optimizer === 'adam' ? tf.train.adam(options.learningRate) : tf.train.momentum(options.learningRate, options.momentum ?? 0);
  const rng = createRng(options.seed);
  const checkpoints: Checkpoint[] = [];
  const snapshot = (): Float64Array => {
    const flat = new Float64Array(initial.length);
    layout.forEach((spec, i) => flat.set(variables[i]!.dataSync(), spec.offset));
    return flat;
  };
  let step = 0;
  let lossSinceCheckpoint = 0;
  let batchesSinceCheckpoint = 0;
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const order = permutation(data.n, rng);
      let epochLoss = 0;
      let epochBatches = 0;
      for (let start = 0; start < data.n; start += options.batchSize) {
        const indices = order.subarray(start, Math.min(data.n, start + options.batchSize));
        const xBatch = new Float32Array(indices.length * sampleSize);
        const tBatch = new Float32Array(indices.length * outputUnits);
        indices.forEach((sample, row) => {
          xBatch.set(data.x.subarray(sample * sampleSize, (sample + 1) * sampleSize), row * sampleSize);
          tBatch.set(targets.subarray(sample * outputUnits, (sample + 1) * outputUnits), row * outputUnits);
        });
        const batchLoss = tf.tidy(() => {
          const x = tf.tensor(xBatch, [indices.length, ...data.sampleShape]);
          const t = tf.tensor2d(tBatch, [indices.length, outputUnits]);
          const cost = optimizer.minimize(
            () => tf.div(lossSum(loss, objectiveOutput(objective, variables, x), t, objective.outputKind), indices.length) as tf.Scalar,
            true,
            trainable,
          );
          return cost!.dataSync()[0]!;
        });
        step++;
        epochLoss += batchLoss;
        epochBatches++;
        lossSinceCheckpoint += batchLoss;
        batchesSinceCheckpoint++;
        if (options.checkpointEvery && step % options.checkpointEvery === 0) {
          checkpoints.push({ step, epoch, loss: lossSinceCheckpoint / batchesSinceCheckpoint, weights: snapshot() });
          lossSinceCheckpoint = 0;
          batchesSinceCheckpoint = 0;
        }
      }
      if (!options.checkpointEvery) {
        checkpoints.push({ step, epoch, loss: lossSinceCheckpoint / batchesSinceCheckpoint, weights: snapshot() });
        lossSinceCheckpoint = 0;
        batchesSinceCheckpoint = 0;
      }
      options.onEpoch?.(epoch, epochLoss / epochBatches);
    }
  } finally {
    optimizer.dispose();
    // tfjs 4.22's MomentumOptimizer.dispose() does not dispose its parent's learning-rate scalar `c`.
    if (optimizer instanceof tf.MomentumOptimizer) (optimizer as unknown as { c?: tf.Tensor }).c?.dispose();
    variables.forEach((v) => v.dispose());
  }
  return checkpoints;
}
