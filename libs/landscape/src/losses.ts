import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './data';
import { InputError } from './errors';
import { invariantShift } from './hessian/second-order';

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

/**
 * log-softmax, max-shifted so large logits neither overflow nor cancel; written out so it differentiates twice.
 * The shift is a constant of differentiation (log-softmax does not depend on it).
 */
function logSoftmax(z: tf.Tensor): tf.Tensor {
  const shifted = tf.sub(z, invariantShift(z));
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

/**
 * Loss and accuracy sums of a batch computed on the host in float64 from the model outputs (row-major [n, width]).
 * Evaluation reads the outputs once and reduces here: fewer backend ops per point than the tensor form, and no
 * float32 rounding in the reduction. `lossSum` above is the differentiable twin used for gradients and HVPs.
 */
export function hostBatchSums(
  loss: LossName,
  output: Float32Array,
  target: Float32Array,
  width: number,
  outputKind: OutputKind,
  classes?: Int32Array,
): { loss: number; correct: number } {
  const n = output.length / width;
  if (classes && outputKind === 'logits' && (loss === 'sparse_categorical_crossentropy' || loss === 'categorical_crossentropy')) {
    return oneHotCrossEntropySums(output, classes.subarray(0, n), width);
  }
  let lossTotal = 0;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const o = i * width;
    switch (loss) {
      case 'sparse_categorical_crossentropy':
      case 'categorical_crossentropy': {
        let best = 0;
        let truth = 0;
        for (let c = 1; c < width; c++) {
          if (output[o + c]! > output[o + best]!) best = c;
          if (target[o + c]! > target[o + truth]!) truth = c;
        }
        if (best === truth) correct++;
        if (outputKind === 'logits') {
          const shift = output[o + best]!;
          // The largest logit's own term is exp(0) = 1: one Math.exp fewer per sample (of 3 on a 3-class model).
          let sumExp = 1;
          for (let c = 0; c < width; c++) if (c !== best) sumExp += Math.exp(output[o + c]! - shift);
          const logSum = Math.log(sumExp);
          for (let c = 0; c < width; c++) if (target[o + c] !== 0) lossTotal -= target[o + c]! * (output[o + c]! - shift - logSum);
        } else {
          let total = 0;
          for (let c = 0; c < width; c++) total += output[o + c]!;
          for (let c = 0; c < width; c++) {
            if (target[o + c] === 0) continue;
            const p = Math.min(1 - PROBABILITY_EPSILON, Math.max(PROBABILITY_EPSILON, output[o + c]! / total));
            lossTotal -= target[o + c]! * Math.log(p);
          }
        }
        break;
      }
      case 'binary_crossentropy': {
        let sampleLoss = 0;
        let sampleCorrect = 0;
        for (let c = 0; c < width; c++) {
          const z = output[o + c]!;
          const t = target[o + c]!;
          if (outputKind === 'logits') {
            sampleLoss += Math.max(z, 0) - z * t + Math.log1p(Math.exp(-Math.abs(z)));
            if (z > 0 === t > 0.5) sampleCorrect++;
          } else {
            const p = Math.min(1 - PROBABILITY_EPSILON, Math.max(PROBABILITY_EPSILON, z));
            sampleLoss -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
            if (z > 0.5 === t > 0.5) sampleCorrect++;
          }
        }
        lossTotal += sampleLoss / width;
        correct += sampleCorrect / width;
        break;
      }
      case 'mse': {
        let sampleLoss = 0;
        for (let c = 0; c < width; c++) sampleLoss += (output[o + c]! - target[o + c]!) ** 2;
        lossTotal += sampleLoss / width;
        break;
      }
    }
  }
  return { loss: lossTotal, correct };
}

/**
 * Each row's class when every target row is one-hot (one 1, the rest 0), else undefined: hostBatchSums' fast
 * path for cross-entropy, which then neither scans the targets nor multiplies by them.
 */
export function oneHotClasses(target: Float32Array, width: number): Int32Array | undefined {
  const classes = new Int32Array(target.length / width);
  for (let i = 0; i < classes.length; i++) {
    let ones = 0;
    for (let c = 0; c < width; c++) {
      const t = target[i * width + c]!;
      if (t === 1) {
        ones++;
        classes[i] = c;
      } else if (t !== 0) return undefined;
    }
    if (ones !== 1) return undefined;
  }
  return classes;
}

/**
 * hostBatchSums of cross-entropy from logits with one-hot targets given by their classes: the same sums. The
 * samples' log Σ exp terms are summed as the log of their product (each factor is in [1, width]), taken whenever
 * the product nears float64's range: one Math.log per ~250 samples instead of one per sample (~9 of ~45 ns a
 * sample on a 3-class model), and no less accurate (n products round by ~n·ε relative, n logs by ~n·ε absolute).
 */
function oneHotCrossEntropySums(output: Float32Array, classes: Int32Array, width: number): { loss: number; correct: number } {
  let lossTotal = 0;
  let correct = 0;
  let product = 1;
  for (let i = 0, o = 0; i < classes.length; i++, o += width) {
    let best = 0;
    for (let c = 1; c < width; c++) if (output[o + c]! > output[o + best]!) best = c;
    const shift = output[o + best]!;
    let sumExp = 1; // the largest logit's own term, exp(0)
    for (let c = 0; c < width; c++) if (c !== best) sumExp += Math.exp(output[o + c]! - shift);
    const truth = classes[i]!;
    if (best === truth) correct++;
    lossTotal -= output[o + truth]! - shift;
    product *= sumExp;
    if (product > PRODUCT_BOUND) {
      lossTotal += Math.log(product);
      product = 1;
    }
  }
  return { loss: lossTotal + Math.log(product), correct };
}

/** Far below float64's largest finite value (~1.8e308): a factor is at most the class count. */
const PRODUCT_BOUND = 1e250;
