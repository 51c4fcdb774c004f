import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './data';
import { InputError } from './errors';

/** Keras loss names; every loss is the mean over samples with natural logarithms. */
export const LOSSES = ['sparse_categorical_crossentropy', 'categorical_crossentropy', 'binary_crossentropy', 'mse'] as const;
export type LossName = (typeof LOSSES)[number];

/** Whether the model's output is logits (default) or probabilities (a final softmax/sigmoid). */
export type OutputKind = 'logits' | 'probabilities';

const PROBABILITY_EPSILON = 1e-7; // Keras' clipping constant for losses computed from probabilities.

/**
 * Targets as one [n, width] float32 matrix, checked against the loss and the model's output width: integer
 * labels become one-hot rows for the categorical losses, so every loss is a product with a dense target.
 */
export function targetMatrix(loss: LossName, data: Dataset, outputUnits: number, source: string): Float32Array {
  const { targets } = data;
  if (targets.kind === 'labels') {
    const labels = targets.labels;
    if (loss === 'sparse_categorical_crossentropy' || loss === 'categorical_crossentropy') {
      const rows = new Float32Array(data.n * outputUnits);
      for (let i = 0; i < data.n; i++) {
        const label = labels[i]!;
        if (label >= outputUnits) throw new InputError(`${source}: label ${label} of sample ${i} is out of range for a model with ${outputUnits} outputs`);
        rows[i * outputUnits + label] = 1;
      }
      return rows;
    }
    if (outputUnits !== 1) throw new InputError(`${source}: ${loss} with integer labels needs a model with 1 output (this one has ${outputUnits})`);
    if (loss === 'binary_crossentropy' && labels.some((v) => v > 1)) throw new InputError(`${source}: binary_crossentropy needs labels 0 or 1`);
    return Float32Array.from(labels);
  }
  if (loss === 'sparse_categorical_crossentropy') {
    throw new InputError(`${source}: sparse_categorical_crossentropy needs integer class labels in "y"; use categorical_crossentropy for one-hot rows`);
  }
  if (targets.width !== outputUnits) {
    throw new InputError(`${source}: targets have ${targets.width} values per sample but the model has ${outputUnits} outputs`);
  }
  return targets.rows;
}

/** log-softmax, max-shifted so large logits neither overflow nor cancel; written out so it differentiates twice. */
function logSoftmax(z: tf.Tensor): tf.Tensor {
  const shifted = tf.sub(z, tf.max(z, -1, true));
  return tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), -1, true)));
}

/** Sum over the batch of the per-sample loss (the caller divides by the sample count). */
export function lossSum(loss: LossName, output: tf.Tensor, target: tf.Tensor, outputKind: OutputKind): tf.Tensor {
  const width = output.shape[output.shape.length - 1]!;
  switch (loss) {
    case 'sparse_categorical_crossentropy':
    case 'categorical_crossentropy': {
      if (outputKind === 'logits') {
        // −Σ_c t_c log softmax(z)_c
        return tf.neg(tf.sum(tf.mul(target, logSoftmax(output))));
      }
      const p = tf.clipByValue(tf.div(output, tf.sum(output, -1, true)), PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
      return tf.neg(tf.sum(tf.mul(target, tf.log(p))));
    }
    case 'binary_crossentropy': {
      const perElement =
        outputKind === 'logits'
          ? // max(z, 0) − z·t + log(1 + e^{−|z|})
            tf.add(tf.sub(tf.relu(output), tf.mul(output, target)), tf.softplus(tf.neg(tf.abs(output))))
          : (() => {
              const p = tf.clipByValue(output, PROBABILITY_EPSILON, 1 - PROBABILITY_EPSILON);
              return tf.neg(tf.add(tf.mul(target, tf.log(p)), tf.mul(tf.sub(1, target), tf.log(tf.sub(1, p)))));
            })();
      return tf.div(tf.sum(perElement), width);
    }
    case 'mse':
      return tf.div(tf.sum(tf.squaredDifference(output, target)), width);
  }
}

/** Sum over the batch of per-sample accuracy, or null for regression. */
export function correctSum(loss: LossName, output: tf.Tensor, target: tf.Tensor, outputKind: OutputKind): tf.Tensor | null {
  switch (loss) {
    case 'sparse_categorical_crossentropy':
    case 'categorical_crossentropy':
      return tf.sum(tf.cast(tf.equal(tf.argMax(output, -1), tf.argMax(target, -1)), 'float32'));
    case 'binary_crossentropy': {
      const width = output.shape[output.shape.length - 1]!;
      const predicted = tf.greater(output, outputKind === 'logits' ? 0 : 0.5);
      const truth = tf.greater(target, 0.5);
      return tf.div(tf.sum(tf.cast(tf.equal(predicted, truth), 'float32')), width);
    }
    case 'mse':
      return null;
  }
}
