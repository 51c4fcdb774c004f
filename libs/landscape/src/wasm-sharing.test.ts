import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '@landscape/core';

interface WasmInternals {
  dataIdMap: { get(dataId: object): { memoryOffset: number; refCount: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
}

describe('wasm Identity and same-dtype Cast share their input data', () => {
  beforeAll(async () => {
    await selectBackend('wasm');
  });

  it('clones and casts have the input values, share its memory, and free it only with the last of them', () => {
    const backend = tf.backend() as unknown as WasmInternals;
    const x = tf.tensor2d([1.5, -2, 3, Number.NaN, 0, 7], [2, 3]);
    const clone = tf.clone(x);
    const same = tf.cast(x, 'float32');
    const toInt = tf.cast(x, 'int32');
    expect(Array.from(clone.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(Array.from(same.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(Array.from(toInt.dataSync())).toEqual([1, -2, 3, 0, 0, 7]);
    expect(same.dtype).toBe('float32');
    expect(toInt.dtype).toBe('int32');
    const offset = (t: tf.Tensor): number => backend.dataIdMap.get(t.dataId)!.memoryOffset;
    expect(offset(clone)).toBe(offset(x));
    expect(offset(same)).toBe(offset(x));
    expect(offset(toInt)).not.toBe(offset(x));
    x.dispose();
    clone.dispose();
    // `same` still holds the data: its values are intact after the others are gone.
    expect(Array.from(same.dataSync())).toEqual([1.5, -2, 3, Number.NaN, 0, 7]);
    tf.dispose([same, toInt]);
  });

  it('leaves no tensor and no wasm memory behind over many clones, casts and gradients', () => {
    const before = tf.memory().numTensors;
    const x = tf.randomNormal([64, 32], 0, 1, 'float32', 3);
    const round = (): void =>
      tf.tidy(() => {
        const y = tf.cast(tf.clone(tf.relu(x)), 'float32');
        void tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.relu(v), tf.clone(v))))(y);
      });
    for (let i = 0; i < 20; i++) round();
    const heap = (tf.backend() as unknown as WasmInternals).wasm.HEAPU8.buffer.byteLength;
    for (let i = 0; i < 300; i++) round();
    expect((tf.backend() as unknown as WasmInternals).wasm.HEAPU8.buffer.byteLength).toBe(heap);
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
