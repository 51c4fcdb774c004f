import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { Evaluator } from '../evaluate';
import { maxNormError, savedArtifacts, seededDataset, seededInput, seedWeights } from '../layers/layer-check.test-util';
import { describeModel, forward, toTensors, weightsFromBytes, type ModelJson } from '../model';
import type { ManifestEntry } from './bind';

const L = tfl.layers;

beforeAll(async () => {
  await selectBackend('cpu');
});

/** IEEE half-precision bits of a number (round half up; what the bytes hold is what both decoders read). */
function float16Bits(value: number): number {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 112;
  const mantissa = bits & 0x7fffff;
  if (exponent <= 0) return exponent < -10 ? sign : sign | ((((mantissa | 0x800000) >>> (1 - exponent)) + 0x1000) >>> 13);
  const rounded = (exponent << 23) + mantissa + 0x1000;
  return rounded >= 31 << 23 ? sign | 0x7c00 : sign | (rounded >>> 13);
}

/**
 * The weights stored as tfjs-converter writes quantized models: uint8/uint16 affine (min nudged so 0 is exact,
 * scale = range / (2^bits − 1)) or float16, each entry with its `quantization` record.
 */
function quantize(modelJson: ModelJson, bytes: Uint8Array, dtype: 'uint8' | 'uint16' | 'float16'): { modelJson: ModelJson; bytes: Uint8Array } {
  const values = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const weights = modelJson.weightsManifest[0]!.weights.map((entry): ManifestEntry => {
    const size = entry.shape.reduce((a, b) => a * b, 1);
    const w = values.subarray(offset, offset + size);
    offset += size;
    if (dtype === 'float16') {
      chunks.push(new Uint8Array(Uint16Array.from(w, float16Bits).buffer));
      return { ...entry, quantization: { dtype, original_dtype: 'float32' } };
    }
    const levels = dtype === 'uint8' ? 255 : 65535;
    const low = Math.min(0, ...w);
    const high = Math.max(0, ...w);
    const scale = high > low ? (high - low) / levels : 1;
    const min = -Math.round(-low / scale) * scale;
    const q = Array.from(w, (v) => Math.min(levels, Math.max(0, Math.round((v - min) / scale))));
    chunks.push(new Uint8Array((dtype === 'uint8' ? Uint8Array.from(q) : Uint16Array.from(q)).buffer));
    return { ...entry, quantization: { dtype, min, scale, original_dtype: 'float32' } };
  });
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  chunks.reduce((at, chunk) => (out.set(chunk, at), at + chunk.length), 0);
  return { modelJson: { ...modelJson, weightsManifest: [{ paths: ['weights.bin'], weights }] }, bytes: out };
}

describe('weights: float32, float16, uint16 and uint8 (tfjs quantization)', () => {
  const cnn = () =>
    tfl.sequential({
      layers: [
        L.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 2] }),
        L.maxPooling2d({ poolSize: 2 }),
        L.conv2d({ filters: 4, kernelSize: 2, activation: 'tanh' }),
        L.flatten(),
        L.dense({ units: 3, activation: 'softmax' }),
      ],
    });

  it.each(['float32', 'float16', 'uint16', 'uint8'] as const)(
    '%s: loads, predicts and has the centre loss of tfjs-layers on the dequantized weights',
    async (dtype) => {
      const original = cnn();
      seedWeights(original, 4);
      const saved = await savedArtifacts(original);
      const { modelJson, bytes } = dtype === 'float32' ? saved : quantize(saved.modelJson, saved.bytes, dtype);
      // tfjs-layers reads the same files itself (tf.io.decodeWeights inside loadLayersModel).
      const reference = await tfl.loadLayersModel(
        tf.io.fromMemory({
          modelTopology: modelJson.modelTopology as object,
          weightSpecs: modelJson.weightsManifest[0]!.weights,
          weightData: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
        }),
      );
      const description = describeModel(modelJson, dtype);
      const weights = weightsFromBytes(bytes, description, dtype);
      const float32 = weightsFromBytes(saved.bytes, describeModel(saved.modelJson, 'f32'), 'f32');
      const worst = weights.reduce((max, w, i) => Math.max(max, Math.abs(w - float32[i]!)), 0);
      if (dtype === 'float32') expect(worst).toBe(0);
      else {
        // Really quantized, and decoded to within the format's resolution (weights are about ±2).
        expect(worst).toBeGreaterThan(0);
        expect(worst).toBeLessThan({ float16: 2e-3, uint16: 1e-4, uint8: 1e-2 }[dtype]);
      }

      const [ours, theirs] = tf.tidy(() => {
        const x = seededInput([6, 8, 8, 2], 8);
        return [forward(description, toTensors(weights, description.layout), x, { fused: true }).dataSync(), (reference.predict(x) as tf.Tensor).dataSync()];
      });
      expect(maxNormError(ours, theirs)).toBeLessThan(1e-5);

      const data = seededDataset([8, 8, 2], 3, 10, 2, 3);
      const evaluator = new Evaluator({ model: description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 4 });
      const centre = evaluator.evaluate(weights).loss;
      evaluator.dispose();
      reference.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
      const tfjsLoss = tf.tidy(
        () =>
          (
            reference.evaluate(
              tf.tensor(data.x, [data.n, 8, 8, 2]),
              tf.tensor2d(Float32Array.from((data.targets as { labels: Int32Array }).labels), [data.n, 1]),
            ) as tf.Scalar
          ).dataSync()[0]!,
      );
      expect(Math.abs(centre - tfjsLoss) / tfjsLoss).toBeLessThan(1e-5);
      reference.dispose();
      original.dispose();
    },
  );

  it('rejects weight files whose size does not fit the manifest', async () => {
    const { modelJson, bytes } = await savedArtifacts(cnn());
    const description = describeModel(modelJson, 'm.json');
    expect(() => weightsFromBytes(bytes.subarray(4), description, 'm.json')).toThrow(
      `m.json: weight files hold ${bytes.length - 4} bytes but the manifest needs ${bytes.length}`,
    );
  });
});
