import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { InputError } from '../errors';

/**
 * The element types the array readers understand (NumPy's names), all little-endian. Every value lands in a
 * Float32Array: float64 and int64 are rounded to the nearest float32, as `x.astype(np.float32)` does.
 */
export const ELEMENT_TYPES = {
  float32: { bytes: 4, npy: '<f4', read: (view: DataView, at: number) => view.getFloat32(at, true) },
  float64: { bytes: 8, npy: '<f8', read: (view: DataView, at: number) => view.getFloat64(at, true) },
  uint8: { bytes: 1, npy: '|u1', read: (view: DataView, at: number) => view.getUint8(at) },
  uint16: { bytes: 2, npy: '<u2', read: (view: DataView, at: number) => view.getUint16(at, true) },
  int32: { bytes: 4, npy: '<i4', read: (view: DataView, at: number) => view.getInt32(at, true) },
  int64: { bytes: 8, npy: '<i8', read: (view: DataView, at: number) => Number(view.getBigInt64(at, true)) },
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

/**
 * Converts a stream of little-endian elements straight into `out[offset…]`, one chunk at a time: only an element
 * split across two chunks is ever copied, so memory stays at the output array plus one chunk.
 */
export class ElementSink implements ByteSink {
  private written = 0;
  private readonly carry: Uint8Array;
  private carried = 0;
  private readonly type: (typeof ELEMENT_TYPES)[ElementType];

  constructor(
    type: ElementType,
    private readonly out: Float32Array,
    private readonly count: number,
    /** Names the array in errors, e.g. "data.npz: x.npy". */
    private readonly where: string,
  ) {
    this.type = ELEMENT_TYPES[type];
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
      this.store(new DataView(this.carry.buffer), 0, 1);
      this.carried = 0;
    }
    const whole = Math.floor((chunk.length - start) / size);
    this.store(new DataView(chunk.buffer, chunk.byteOffset + start, whole * size), 0, whole);
    const rest = chunk.subarray(start + whole * size);
    this.carry.set(rest);
    this.carried = rest.length;
  }

  end(): void {
    if (this.written < this.count || this.carried > 0) {
      throw new InputError(`${this.where} is truncated: it holds ${this.written} of ${this.count} values`);
    }
  }

  private store(view: DataView, at: number, elements: number): void {
    if (this.written + elements > this.count) throw new InputError(`${this.where} holds more data than its shape says (${this.count} values)`);
    const { read, bytes } = this.type;
    const out = this.out;
    for (let i = 0, o = this.written; i < elements; i++, o++) out[o] = read(view, at + i * bytes);
    this.written += elements;
  }
}

const CHUNK_BYTES = 4 << 20;

/**
 * Feeds `length` bytes of a file from `offset` (default: to the end) to `sink` in fixed-size reads. Each read gets
 * a fresh buffer because a sink may keep a view of it (the zip reader does).
 */
export function streamFile(path: string, sink: ByteSink, offset = 0, length = Number.POSITIVE_INFINITY): void {
  const fd = openSync(path, 'r');
  try {
    let position = offset;
    let left = length;
    while (left > 0) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, left));
      const read = readSync(fd, buffer, 0, buffer.length, position);
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
