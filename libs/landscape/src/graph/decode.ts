import * as tf from '@tensorflow/tfjs-core';
// tf.io.decodeWeights makes tensors: loading must work before any backend is chosen (the API checks uploads).
import '@tensorflow/tfjs-backend-cpu';
import { InputError } from '../errors';
import type { WeightLayout } from '../weights';
import type { ManifestEntry } from './bind';

/** Bytes per stored value: the quantized dtype when quantized, else the weight's dtype (tfjs' DTYPE_VALUE_SIZE_MAP). */
const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function storedBytes(entry: ManifestEntry, source: string): number {
  const dtype = entry.quantization?.dtype ?? entry.dtype ?? 'float32';
  const bytes = BYTES[dtype];
  if (bytes === undefined || dtype === 'bool')
    throw new InputError(`${source}: weight '${entry.name}' is stored as ${dtype}; supported: float32, int32, and uint8/uint16/float16 quantization`);
  return entry.shape.reduce((a, b) => a * b, 1) * bytes;
}

/**
 * Decodes the weight files' bytes (the manifest's entries concatenated in order) into the flat float64 vector of
 * `layout`, dequantizing exactly as tfjs does (it is tfjs' own decoder, tf.io.decodeWeights). Entries outside the
 * layout (an optimizer's state) are skipped. Non-finite values are rejected, naming the weight.
 */
export function decodeWeightBytes(bytes: Uint8Array, manifest: readonly ManifestEntry[], layout: WeightLayout, source: string): Float64Array {
  const expected = manifest.reduce((sum, entry) => sum + storedBytes(entry, source), 0);
  if (bytes.byteLength !== expected) throw new InputError(`${source}: weight files hold ${bytes.byteLength} bytes but the manifest needs ${expected}`);
  // As selectBackend does: production mode, so a cpu backend made here prints no console banner.
  tf.env().set('PROD', true);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const tensors = tf.io.decodeWeights(
    buffer,
    [...manifest].map((entry) => ({ ...entry, dtype: entry.dtype ?? 'float32' })),
  );
  try {
    const last = layout.at(-1);
    const flat = new Float64Array(last ? last.offset + last.size : 0);
    for (const spec of layout) {
      const values = tensors[spec.name]!.dataSync();
      for (let i = 0; i < values.length; i++) {
        const value = values[i]!;
        if (!Number.isFinite(value)) throw new InputError(`${source}: weight '${spec.name}' has a non-finite value at index ${i} (${value})`);
        flat[spec.offset + i] = value;
      }
    }
    return flat;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
