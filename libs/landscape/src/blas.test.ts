import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float32Tensor, hostValues, installBlasKernels, matMul2d, restoreWasmKernels, selectBackend, type BlasInfo } from '@landscape/core';

type Matrix = number[][];

/** float64 op(a)·op(b) of nested arrays (the independent reference), and Σₖ|aᵢₖ||bₖⱼ|·k·2⁻²³, a rigorous bound on a float32 product's rounding error. */
function reference(a: Matrix, b: Matrix, transposeA: boolean, transposeB: boolean): { value: Matrix; bound: Matrix } {
  const at = (m: Matrix, t: boolean, i: number, j: number): number => (t ? m[j]![i]! : m[i]![j]!);
  const rows = transposeA ? (a[0]?.length ?? 0) : a.length;
  const inner = transposeA ? a.length : (a[0]?.length ?? 0);
  const columns = transposeB ? b.length : (b[0]?.length ?? 0);
  const value: Matrix = [];
  const bound: Matrix = [];
  for (let i = 0; i < rows; i++) {
    value.push([]);
    bound.push([]);
    for (let j = 0; j < columns; j++) {
      let sum = 0;
      let magnitude = 0;
      for (let k = 0; k < inner; k++) {
        sum += at(a, transposeA, i, k) * at(b, transposeB, k, j);
        magnitude += Math.abs(at(a, transposeA, i, k) * at(b, transposeB, k, j));
      }
      value[i]!.push(sum);
      bound[i]!.push((inner + 2) * 2 ** -23 * (magnitude + Math.abs(sum)));
    }
  }
  return { value, bound };
}

/** Batches of a tensor as matrices, its leading axes flattened. */
function batchesOf(t: tf.Tensor): Matrix[] {
  const [rows, columns] = t.shape.slice(-2) as [number, number];
  const values = t.dataSync();
  const batches =
    rows * columns === 0
      ? Math.max(
          1,
          t.shape.slice(0, -2).reduce((p, n) => p * n, 1),
        )
      : t.size / (rows * columns);
  return Array.from({ length: batches }, (_, b) =>
    Array.from({ length: rows }, (_, i) => Array.from(values.subarray((b * rows + i) * columns, (b * rows + i + 1) * columns))),
  );
}

/** Entries of `actual` farther from the reference than its rounding bound (plus 1e-7 for the final rounding). */
function outsideBound(actual: tf.Tensor, expected: { value: Matrix; bound: Matrix }[]): string[] {
  const got = batchesOf(actual);
  const outside: string[] = [];
  expected.forEach(({ value, bound }, b) =>
    value.forEach((row, i) =>
      row.forEach((v, j) => {
        if (Math.abs(got[b]![i]![j]! - v) > bound[i]![j]! + 1e-7) outside.push(`[${b}][${i}][${j}]: ${got[b]![i]![j]} vs ${v}`);
      }),
    ),
  );
  return outside;
}

/** The bound after adding a bias: one more rounding of the sum. */
function widen(bound: Matrix, value: Matrix, bias: number[][]): Matrix {
  return bound.map((row, i) => row.map((e, j) => e + 2 ** -23 * (Math.abs(value[i]![j]!) + Math.abs(bias[j]![0]!))));
}

const ACTIVATIONS: Record<string, (x: number) => number> = {
  linear: (x) => x,
  relu: (x) => Math.max(x, 0),
  relu6: (x) => Math.min(Math.max(x, 0), 6),
  elu: (x) => (x > 0 ? x : Math.exp(x) - 1),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  leakyrelu: (x) => (x > 0 ? x : 0.3 * x),
};

describe('OpenBLAS matMul kernels on wasm', () => {
  let info: BlasInfo;
  beforeAll(async () => {
    await selectBackend('wasm');
    info = installBlasKernels('auto');
  });
  afterAll(() => {
    installBlasKernels('auto');
  });

  it('are installed (libopenblas0-pthread is a test dependency, like redis-server) and recorded with the backend', async () => {
    expect(info.matMul, info.detail).toBe('openblas');
    expect(info.detail).toMatch(/OpenBLAS \d+\.\d+.*core \w+, 1 thread/);
    expect((await selectBackend('wasm')).matMul).toBe(info.detail);
  });

  const shapes: [string, number[], number[], boolean, boolean][] = [
    ['plain', [5, 7], [7, 3], false, false],
    ['transposed a', [7, 5], [7, 3], true, false],
    ['transposed b', [5, 7], [3, 7], false, true],
    ['both transposed', [7, 5], [3, 7], true, true],
    ['large, transposed a', [300, 130], [300, 70], true, false],
    ['batched', [4, 5, 7], [4, 7, 3], false, false],
    ['batched, b shared and transposed', [4, 5, 7], [3, 7], false, true],
    ['batched, a shared and transposed', [7, 5], [4, 7, 3], true, false],
    ['rank 4', [2, 3, 5, 7], [2, 3, 7, 3], false, false],
    ['empty inner dimension', [5, 0], [0, 3], false, false],
    ['no rows', [0, 7], [7, 3], false, false],
  ];

  it.each(shapes)('%s: op(a)·op(b) equals the float64 product and wasm’s own kernel', (_name, shapeA, shapeB, transposeA, transposeB) => {
    const a = tf.randomNormal(shapeA, 0, 1, 'float32', 1);
    const b = tf.randomNormal(shapeB, 0, 1, 'float32', 2);
    // A rank-2 operand against a batched one is shared: the reference multiplies it into every batch.
    const matricesA = batchesOf(a);
    const matricesB = batchesOf(b);
    const batches = Math.max(matricesA.length, matricesB.length);
    const expected = Array.from({ length: batches }, (_, i) =>
      reference(matricesA[Math.min(i, matricesA.length - 1)]!, matricesB[Math.min(i, matricesB.length - 1)]!, transposeA, transposeB),
    );
    const ours = tf.matMul(a, b, transposeA, transposeB);
    restoreWasmKernels();
    const wasm = tf.matMul(a, b, transposeA, transposeB);
    installBlasKernels('auto');
    expect(ours.shape).toEqual(wasm.shape);
    expect(outsideBound(ours, expected)).toEqual([]);
    expect(outsideBound(wasm, expected)).toEqual([]);
    tf.dispose([a, b, ours, wasm]);
  });

  it.each(Object.keys(ACTIVATIONS))('fused matMul with a bias and activation %s equals the float64 reference', (activation) => {
    const a = tf.randomNormal([37, 19], 0, 1, 'float32', 3);
    const b = tf.randomNormal([23, 19], 0, 1, 'float32', 4);
    const bias = tf.randomNormal([23], 0, 1, 'float32', 5);
    const y = tf.fused.matMul({ a, b, transposeB: true, bias, activation: activation as tf.fused.Activation, leakyreluAlpha: 0.3 });
    const biasValues = bias.arraySync() as number[];
    const f = ACTIVATIONS[activation]!;
    // The activations are 1-Lipschitz, so the product's bound (widened for the bias addition) still holds.
    const { value, bound } = reference(a.arraySync() as Matrix, b.arraySync() as Matrix, false, true);
    const expected = {
      value: value.map((row) => row.map((v, j) => f(v + biasValues[j]!))),
      bound: widen(
        bound,
        value,
        biasValues.map((v) => [v]),
      ),
    };
    expect(outsideBound(y, [expected])).toEqual([]);
    tf.dispose([a, b, bias, y]);
  });

  it('fused matMul broadcasts a bias of another shape and applies prelu with its weights', () => {
    const a = tf.randomNormal([6, 4], 0, 1, 'float32', 6);
    const b = tf.randomNormal([4, 5], 0, 1, 'float32', 7);
    const bias = tf.randomNormal([6, 1], 0, 1, 'float32', 8);
    const alpha = tf.tensor1d([0.1, 0.2, 0.3, 0.4, 0.5]);
    const y = tf.fused.matMul({ a, b, bias, activation: 'prelu', preluActivationWeights: alpha });
    const biasValues = bias.arraySync() as Matrix;
    const alphas = alpha.arraySync();
    const { value, bound } = reference(a.arraySync() as Matrix, b.arraySync() as Matrix, false, false);
    const activated = value.map((row, i) =>
      row.map((v, j) => {
        const z = v + biasValues[i]![0]!;
        return z > 0 ? z : alphas[j]! * z;
      }),
    );
    expect(outsideBound(y, [{ value: activated, bound }])).toEqual([]);
    tf.dispose([a, b, bias, alpha, y]);
  });

  it.each([
    ['a row per batch, a shared', [7, 5], [4, 5, 3], [4, 1, 3]],
    ['a row per batch, both batched', [4, 7, 5], [4, 5, 3], [4, 1, 3]],
    ['one row for every batch', [4, 7, 5], [4, 5, 3], [3]],
  ])('batched fused matMul with a bias of %s equals the float64 reference', (_name, shapeA, shapeB, shapeBias) => {
    const a = tf.randomNormal(shapeA, 0, 1, 'float32', 12);
    const b = tf.randomNormal(shapeB, 0, 1, 'float32', 13);
    const bias = tf.randomNormal(shapeBias, 0, 1, 'float32', 14);
    const y = tf.fused.matMul({ a: a as tf.Tensor3D, b: b as tf.Tensor3D, bias, activation: 'relu' });
    const [matricesA, matricesB] = [batchesOf(a), batchesOf(b)];
    const rows = batchesOf(tf.reshape(bias, [-1, 1, 3])).map((m) => m[0]!);
    const expected = matricesB.map((mb, k) => {
      const { value, bound } = reference(matricesA[Math.min(k, matricesA.length - 1)]!, mb, false, false);
      const row = rows[Math.min(k, rows.length - 1)]!;
      return {
        value: value.map((r) => r.map((v, j) => Math.max(0, v + row[j]!))),
        bound: widen(
          bound,
          value,
          row.map((v) => [v]),
        ),
      };
    });
    expect(y.shape).toEqual([4, 7, 3]);
    expect(outsideBound(y, expected)).toEqual([]);
    tf.dispose([a, b, bias, y]);
  });

  it('hostValues reads a tensor in wasm memory as dataSync does, whatever was allocated before it', () => {
    const before = tf.randomNormal([1000], 0, 1, 'float32', 15);
    const x = tf.tidy(() => tf.sigmoid(tf.matMul(tf.randomNormal([64, 9], 0, 1, 'float32', 16), tf.randomNormal([9, 5], 0, 1, 'float32', 17))));
    expect(Array.from(hostValues(x))).toEqual(Array.from(x.dataSync()));
    expect(hostValues(x)).toHaveLength(320);
    tf.dispose([before, x]);
  });

  it('float32Tensor writes float64 values into wasm memory as tf.tensor would, without a host copy', () => {
    const values = Float64Array.from({ length: 300_000 }, (_, i) => Math.sin(i) * 1e3 + 1 / 3);
    const expected = tf.tensor(Float32Array.from(values), [600, 500]);
    const before = process.memoryUsage().arrayBuffers;
    const x = float32Tensor(values, [600, 500]);
    // A host Float32Array of the values would be 1.2 MB of new array buffers.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(100_000);
    expect(x.shape).toEqual([600, 500]);
    expect(x.dtype).toBe('float32');
    expect(Array.from(x.dataSync())).toEqual(Array.from(expected.dataSync()));
    const single = float32Tensor(Float32Array.of(1.5, -2), [2]);
    expect(Array.from(single.dataSync())).toEqual([1.5, -2]);
    tf.dispose([expected, x, single]);
  });

  it('leaves no tensor and no wasm buffer behind over many fused products', () => {
    const a = tf.randomNormal([16, 8], 0, 1, 'float32', 9);
    const b = tf.randomNormal([8, 4], 0, 1, 'float32', 10);
    const bias = tf.randomNormal([16, 1], 0, 1, 'float32', 11);
    const before = { tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() };
    for (let i = 0; i < 200; i++) tf.tidy(() => void tf.fused.matMul({ a, b, bias, activation: 'sigmoid' }));
    expect({ tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() }).toEqual(before);
    tf.dispose([a, b, bias]);
  });

  it('matMul2d gives the same products in its direct form (OpenBLAS) and its written-out form (wasm kernels)', () => {
    const x = tf.randomNormal([40, 9], 0, 1, 'float32', 12) as tf.Tensor2D;
    const y = tf.randomNormal([40, 6], 0, 1, 'float32', 13) as tf.Tensor2D;
    const direct = matMul2d(x, true, y, false);
    restoreWasmKernels();
    const written = matMul2d(x, true, y, false);
    installBlasKernels('auto');
    const expected = reference(x.arraySync(), y.arraySync(), true, false);
    expect(outsideBound(direct, [expected])).toEqual([]);
    expect(outsideBound(written, [expected])).toEqual([]);
    tf.dispose([x, y, direct, written]);
  });

  it('LANDSCAPE_BLAS=off keeps wasm’s kernels, and a library path that does not load is an error naming the setting', () => {
    expect(installBlasKernels('off')).toEqual({ matMul: 'wasm', detail: 'LANDSCAPE_BLAS=off' });
    expect(tf.getKernel('BatchMatMul', 'wasm')?.setupFunc).toBeDefined();
    expect(() => installBlasKernels('/nonexistent/libopenblas.so.0')).toThrow(/LANDSCAPE_BLAS=\/nonexistent\/libopenblas\.so\.0: OpenBLAS did not load/);
    expect(installBlasKernels('auto').matMul).toBe('openblas');
    expect(tf.getKernel('BatchMatMul', 'wasm')?.setupFunc).toBeUndefined();
  });
});
