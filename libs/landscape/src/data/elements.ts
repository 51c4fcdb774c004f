import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { InputError } from '../errors';

/**
 * The element types the array readers understand (NumPy's names), all little-endian. Every value lands in a
 * Float32Array: float64 and int64 are rounded to the nearest float32, as `x.astype(np.float32)` does.
 */
export const ELEMENT_TYPES = {
  float32: { bytes: 4, npy: '<f4', array: Float32Array },
  float64: { bytes: 8, npy: '<f8', array: Float64Array },
  uint8: { bytes: 1, npy: '|u1', array: Uint8Array },
  uint16: { bytes: 2, npy: '<u2', array: Uint16Array },
  int32: { bytes: 4, npy: '<i4', array: Int32Array },
  /** No typed-array conversion to float32 exists for BigInt64Array: read as two 32-bit halves (exact below 2^53). */
  int64: { bytes: 8, npy: '<i8', array: undefined },
} as const;

export type ElementType = keyof typeof ELEMENT_TYPES;

/** Typed arrays whose raw bytes the writers emit as they are (one per element type). */
export type RawArray = Float32Array | Float64Array | Uint8Array | Uint16Array | Int32Array | BigInt64Array;

/** The bytes the writers emit for `data` (its own memory: the machine must be little-endian like the formats). */
export function rawBytes(dtype: ElementType, data: RawArray, count: number, where: string): Uint8Array {
  if (endianness() !== 'LE') throw new Error('the data writers need a little-endian machine');
  if (data.BYTES_PER_ELEMENT !== ELEMENT_TYPES[dtype].bytes || data.length !== count) throw new Error(`${where}: expected ${count} ${dtype} values`);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A consumer of a byte stream, fed chunk by chunk (file reads or inflated zip data). */
export interface ByteSink {
  push(chunk: Uint8Array): void;
  /** Called once after the last chunk; throws if the stream ended early. */
  end(): void;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** Element readers for what typed arrays cannot convert (int64) or big-endian machines. */
const READERS: Record<ElementType, (view: DataView, at: number) => number> = {
  float32: (view, at) => view.getFloat32(at, true),
  float64: (view, at) => view.getFloat64(at, true),
  uint8: (view, at) => view.getUint8(at),
  uint16: (view, at) => view.getUint16(at, true),
  int32: (view, at) => view.getInt32(at, true),
  int64: (view, at) => view.getInt32(at + 4, true) * 2 ** 32 + view.getUint32(at, true),
};

/**
 * Converts a stream of little-endian elements straight into `out`, one chunk at a time (typed-array conversion on
 * little-endian machines). Only an element split across two chunks, or an unaligned chunk, is ever copied, so
 * memory stays at the output array plus one chunk.
 */
export class ElementSink implements ByteSink {
  private written = 0;
  private readonly carry: Uint8Array;
  private carried = 0;
  private readonly type: (typeof ELEMENT_TYPES)[ElementType];

  constructor(
    private readonly dtype: ElementType,
    private readonly out: Float32Array,
    private readonly count: number,
    /** Names the array in errors, e.g. "data.npz: x.npy". */
    private readonly where: string,
  ) {
    this.type = ELEMENT_TYPES[dtype];
    this.carry = new Uint8Array(this.type.bytes);
  }

  push(chunk: Uint8Array): void {
    const size = this.type.bytes;
    let start = 0;
    if (this.carried > 0) {
      const take = Math.min(size - this.carried, chunk.length);
      this.carry.set(chunk.subarray(0, take), this.carried);
      this.carried += take;
      start = take;
      if (this.carried < size) return;
      this.store(this.carry, 1);
      this.carried = 0;
    }
    const whole = Math.floor((chunk.length - start) / size);
    this.store(chunk.subarray(start, start + whole * size), whole);
    const rest = chunk.subarray(start + whole * size);
    this.carry.set(rest);
    this.carried = rest.length;
  }

  end(): void {
    if (this.written < this.count || this.carried > 0) {
      throw new InputError(`${this.where} is truncated: it holds ${this.written} of ${this.count} values`);
    }
  }

  /** Converts `elements` whole elements held in `bytes`. */
  private store(bytes: Uint8Array, elements: number): void {
    if (this.written + elements > this.count) throw new InputError(`${this.where} holds more data than its shape says (${this.count} values)`);
    const { array, bytes: size } = this.type;
    if (array && LITTLE_ENDIAN) {
      // A copy (new Uint8Array(view), not Buffer#slice, which is a view) starts at offset 0.
      const aligned = bytes.byteOffset % size === 0 ? bytes : new Uint8Array(bytes);
      this.out.set(new array(aligned.buffer as ArrayBuffer, aligned.byteOffset, elements), this.written);
    } else {
      const read = READERS[this.dtype];
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      for (let i = 0; i < elements; i++) this.out[this.written + i] = read(view, i * size);
    }
    this.written += elements;
  }
}

const CHUNK_BYTES = 1 << 20;

/** Feeds `length` bytes of a file from `offset` (default: to the end) to `sink`, reusing one read buffer. */
export function streamFile(path: string, sink: ByteSink, offset = 0, length = Number.POSITIVE_INFINITY): void {
  const fd = openSync(path, 'r');
  try {
    let position = offset;
    let left = length;
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, left));
    while (left > 0) {
      const read = readSync(fd, buffer, 0, Math.min(buffer.length, left), position);
      if (read === 0) break;
      sink.push(buffer.subarray(0, read));
      position += read;
      left -= read;
    }
  } finally {
    closeSync(fd);
  }
  sink.end();
}
