import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, hostBatchSums, lossSum, oneHotClasses, selectBackend, LOSSES, type LossName, type OutputKind } from '@landscape/core';

const logits = Float32Array.from([2.0, -1.0, 0.5, -0.3, 0.2, 3.1, 15.0, -12.0, 0.0, 0.1, 0.1, 0.1]);
const width = 3;
const oneHot = Float32Array.from([1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1]);
const softmaxRows = (values: Float32Array): Float32Array => {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i += width) {
    const row = Array.from(values.subarray(i, i + width));
    const max = Math.max(...row);
    const exps = row.map((v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    exps.forEach((e, c) => (out[i + c] = e / total));
  }
  return out;
};
const sigmoid = (values: Float32Array): Float32Array => values.map((v) => 1 / (1 + Math.exp(-v)));

function targetsFor(loss: LossName): Float32Array {
  if (loss === 'binary_crossentropy') return Float32Array.from([1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0]);
  if (loss === 'mse') return Float32Array.from([1.5, -1, 0, 0, 0.2, 3, 14, -11, 0.5, 0, 0, 0]);
  return oneHot;
}

function outputsFor(loss: LossName, kind: OutputKind): Float32Array {
  if (kind === 'logits') return logits;
  return loss === 'binary_crossentropy' ? sigmoid(logits) : softmaxRows(logits);
}

describe('losses: the host reduction and the differentiable tensor form agree', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it.each(LOSSES.flatMap((loss) => (['logits', 'probabilities'] as const).map((kind) => [loss, kind] as const)))('%s from %s', (loss, kind) => {
    const output = outputsFor(loss, kind);
    const target = targetsFor(loss);
    const host = hostBatchSums(loss, output, target, width, kind);
    const tensor = tf.tidy(() => lossSum(loss, tf.tensor2d(output, [4, width]), tf.tensor2d(target, [4, width]), kind).dataSync()[0]!);
    expect(Math.abs(host.loss - tensor) / Math.abs(host.loss)).toBeLessThan(1e-5);
  });

  it('matches hand-computed cross-entropy and accuracy', () => {
    // Sample 3 has logits (0.1, 0.1, 0.1) and label 2: loss ln 3; its argmax is the first index (a tie) → wrong.
    const { loss, correct } = hostBatchSums('categorical_crossentropy', logits.subarray(9), oneHot.subarray(9), width, 'logits');
    expect(loss).toBeCloseTo(Math.log(3), 12);
    expect(correct).toBe(0);
    // Huge logits neither overflow nor lose the small loss: sample 2 is right with margin 27.
    const big = hostBatchSums('sparse_categorical_crossentropy', logits.subarray(6, 9), oneHot.subarray(6, 9), width, 'logits');
    expect(big.loss).toBeGreaterThan(27);
    expect(Number.isFinite(big.loss)).toBe(true);
    const mse = hostBatchSums('mse', Float32Array.from([1, 2]), Float32Array.from([0, 0]), 2, 'logits');
    expect(mse.loss).toBeCloseTo(2.5, 12);
  });

  it('one-hot classes give the same cross-entropy sums as the target rows (ties, huge logits, 1 to 12 classes)', () => {
    const rng = createRng(5);
    for (let classes = 1; classes <= 12; classes++) {
      const n = 500;
      const output = Float32Array.from({ length: n * classes }, (_, i) =>
        i % 7 === 0 ? 0.25 : i % 11 === 0 ? 80 * (rng.uniform() - 0.5) : 4 * (rng.uniform() - 0.5),
      );
      const target = new Float32Array(n * classes);
      for (let i = 0; i < n; i++) target[i * classes + Math.floor(rng.uniform() * classes)] = 1;
      const found = oneHotClasses(target, classes)!;
      expect(Array.from(found, (c, i) => target[i * classes + c])).toEqual(new Array(n).fill(1));
      for (const loss of ['sparse_categorical_crossentropy', 'categorical_crossentropy'] as const) {
        const rows = hostBatchSums(loss, output, target, classes, 'logits');
        const fast = hostBatchSums(loss, output, target, classes, 'logits', found);
        expect(fast.correct).toBe(rows.correct);
        expect(Math.abs(fast.loss - rows.loss)).toBeLessThanOrEqual(1e-12 * Math.max(1, rows.loss));
      }
    }
    expect(hostBatchSums('sparse_categorical_crossentropy', logits, oneHot, width, 'logits', oneHotClasses(oneHot, width)).correct).toBe(
      hostBatchSums('sparse_categorical_crossentropy', logits, oneHot, width, 'logits').correct,
    );
  });

  it('cross-entropy over one-hot classes equals the per-sample float64 formula over many wide rows (1e-13)', () => {
    // 1,000 near-equal logits per row: each row's Σ exp is ~1,000, so the running product is renormalized every ~80 rows.
    const [n, classes] = [2000, 1000];
    const rng = createRng(9);
    const output = Float32Array.from({ length: n * classes }, () => 0.01 * rng.uniform());
    const labels = Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * classes));
    const target = new Float32Array(n * classes);
    labels.forEach((c, i) => (target[i * classes + c] = 1));
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const row = output.subarray(i * classes, (i + 1) * classes);
      const top = Math.max(...row);
      expected += top + Math.log(row.reduce((sum, z) => sum + Math.exp(z - top), 0)) - row[labels[i]!]!;
    }
    const { loss } = hostBatchSums('sparse_categorical_crossentropy', output, target, classes, 'logits', oneHotClasses(target, classes));
    expect(Math.abs(loss - expected)).toBeLessThanOrEqual(1e-13 * expected);
  });

  it('finds no classes where a target row is not one-hot', () => {
    expect(oneHotClasses(Float32Array.from([0, 1, 0, 0.5, 0.5, 0]), 3)).toBeUndefined();
    expect(oneHotClasses(Float32Array.from([0, 1, 0, 1, 1, 0]), 3)).toBeUndefined();
    expect(oneHotClasses(Float32Array.from([0, 1, 0, 0, 0, 0]), 3)).toBeUndefined();
    expect(Array.from(oneHotClasses(Float32Array.from([0, 1, 0, 0, 0, 1]), 3)!)).toEqual([1, 2]);
  });
});
