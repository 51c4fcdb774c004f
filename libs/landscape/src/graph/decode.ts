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

/** IEEE 754 binary16 → number, exactly (tfjs' table decoder gives the same values). */
function halfToFloat(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The stored values of one entry as float64, dequantized with tfjs' formulas (tfjs-core io_utils decodeWeight). */
function decodeEntry(entry: ManifestEntry, bytes: Uint8Array, source: string): ArrayLike<number> {
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const quantization = entry.quantization;
  if (!quantization) return entry.dtype === 'int32' ? new Int32Array(buffer) : new Float32Array(buffer);
  if (quantization.dtype === 'float16') return Float32Array.from(new Uint16Array(buffer), halfToFloat);
  const stored = quantization.dtype === 'uint8' ? new Uint8Array(buffer) : new Uint16Array(buffer);
  const { scale, min } = quantization;
  if (scale === undefined || min === undefined) throw new InputError(`${source}: weight '${entry.name}' is quantized but has no min/scale`);
  // tfjs computes v·scale + min in float64 and stores it in the weight's dtype.
  const values = entry.dtype === 'int32' ? new Int32Array(stored.length) : new Float32Array(stored.length);
  for (let i = 0; i < stored.length; i++) {
    const value = stored[i]! * scale + min;
    values[i] = entry.dtype === 'int32' ? Math.round(value) : value;
  }
  return values;
}

/**
 * Decodes the weight files' bytes (the manifest's entries concatenated in order) into the flat float64 vector of
 * `layout`, dequantizing exactly as tfjs' own decoder (tf.io.decodeWeights) does, on the host: loading a model
 * needs no tfjs backend (the API plans jobs without one). Entries outside the layout (an optimizer's state) are
 * skipped. Non-finite values are rejected, naming the weight.
 */
export function decodeWeightBytes(bytes: Uint8Array, manifest: readonly ManifestEntry[], layout: WeightLayout, source: string): Float64Array {
  const expected = manifest.reduce((sum, entry) => sum + storedBytes(entry, source), 0);
  if (bytes.byteLength !== expected) throw new InputError(`${source}: weight files hold ${bytes.byteLength} bytes but the manifest needs ${expected}`);
  const specs = new Map(layout.map((spec) => [spec.name, spec]));
  const last = layout.at(-1);
  const flat = new Float64Array(last ? last.offset + last.size : 0);
  let offset = 0;
  for (const entry of manifest) {
    const size = storedBytes(entry, source);
    const spec = specs.get(entry.name);
    if (spec) {
      const values = decodeEntry(entry, bytes.subarray(offset, offset + size), source);
      for (let i = 0; i < values.length; i++) {
        const value = values[i]!;
        if (!Number.isFinite(value)) throw new InputError(`${source}: weight '${spec.name}' has a non-finite value at index ${i} (${value})`);
        flat[spec.offset + i] = value;
      }
    }
    offset += size;
  }
  return flat;
}
