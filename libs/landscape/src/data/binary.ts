import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { z } from 'zod';
import { InputError } from '../errors';
import { ELEMENT_TYPES, ElementSink, streamFile, type ElementType, rawBytes, type RawArray } from './elements';
import { allocateValues, type NumericArray } from './npy';

/**
 * landscape's binary data layout (docs/data-formats.md), one file for big sets:
 *   bytes 0–7   ASCII "LSDATA01"
 *   bytes 8–11  uint32 LE: header length H
 *   12 … 12+H   UTF-8 JSON header {"n", "x": {"dtype", "shape"}, "y": {"dtype", "shape"}}, space-padded so the data
 *               starts at a multiple of 64
 *   then x      n·∏x.shape elements, then y: n·∏y.shape elements (little-endian, C order)
 */
export const BINARY_MAGIC = 'LSDATA01';
const PREFIX = 12;
const ALIGN = 64;

const elementType = z.enum(Object.keys(ELEMENT_TYPES) as [ElementType, ...ElementType[]]);
const arrayHeader = z.object({ dtype: elementType, shape: z.array(z.number().int().min(1)) }).strict();
const headerSchema = z.object({ n: z.number().int().min(1), x: arrayHeader, y: arrayHeader }).strict();
export type BinaryHeader = z.infer<typeof headerSchema>;

export interface BinaryArrays {
  n: number;
  /** Per-sample shape and element type of x and y; `data` holds n samples of each, C order. */
  x: { dtype: ElementType; shape: number[]; data: RawArray };
  y: { dtype: ElementType; shape: number[]; data: RawArray };
}

const sampleSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Writes the binary layout; `data` arrays are written as their raw bytes, so their type must match `dtype`. */
export function writeBinaryDataset(path: string, arrays: BinaryArrays): void {
  const [x, y] = (['x', 'y'] as const).map((part) => {
    const { dtype, shape, data } = arrays[part];
    return rawBytes(dtype, data, arrays.n * sampleSize(shape), `${path}: ${part}`);
  });
  const header: BinaryHeader = { n: arrays.n, x: { dtype: arrays.x.dtype, shape: arrays.x.shape }, y: { dtype: arrays.y.dtype, shape: arrays.y.shape } };
  let text = JSON.stringify(header);
  text += ' '.repeat((ALIGN - ((PREFIX + Buffer.byteLength(text)) % ALIGN)) % ALIGN);
  const prefix = Buffer.alloc(PREFIX);
  prefix.write(BINARY_MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(Buffer.byteLength(text), 8);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, prefix);
    writeSync(fd, Buffer.from(text, 'utf8'));
    writeSync(fd, x!);
    writeSync(fd, y!);
  } finally {
    closeSync(fd);
  }
}

function readHeader(path: string): { header: BinaryHeader; dataStart: number } {
  const fd = openSync(path, 'r');
  try {
    const prefix = Buffer.alloc(PREFIX);
    if (readSync(fd, prefix, 0, PREFIX, 0) < PREFIX || prefix.toString('ascii', 0, 8) !== BINARY_MAGIC) {
      throw new InputError(`${path}: not a landscape binary data file (it must start with "${BINARY_MAGIC}")`);
    }
    const length = prefix.readUInt32LE(8);
    const text = Buffer.alloc(length);
    if (length > 1 << 20 || readSync(fd, text, 0, length, PREFIX) < length) throw new InputError(`${path}: truncated or oversized header`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text.toString('utf8'));
    } catch (error) {
      throw new InputError(`${path}: the header is not JSON: ${(error as Error).message}`);
    }
    const header = headerSchema.safeParse(parsed);
    if (!header.success) {
      const issue = header.error.issues[0]!;
      throw new InputError(`${path}: bad header field ${issue.path.join('.') || '(header)'}: ${issue.message}`);
    }
    return { header: header.data, dataStart: PREFIX + length };
  } finally {
    closeSync(fd);
  }
}

/** Reads x and y of a binary data file, each streamed from its offset straight into a float32 array. */
export function readBinaryDataset(path: string): { x: NumericArray; y: NumericArray } {
  const { header, dataStart } = readHeader(path);
  let offset = dataStart;
  const read = (part: 'x' | 'y'): NumericArray => {
    const { dtype, shape } = header[part];
    const count = header.n * sampleSize(shape);
    const where = `${path}: ${part}`;
    const values = allocateValues(count, where);
    const bytes = count * ELEMENT_TYPES[dtype].bytes;
    streamFile(path, new ElementSink(dtype, values, count, where), offset, bytes);
    offset += bytes;
    return { shape: [header.n, ...shape], dtype, values };
  };
  const arrays = { x: read('x'), y: read('y') };
  const extra = statSync(path).size - offset;
  if (extra > 0) throw new InputError(`${path}: ${extra} bytes after the y data (the header's n or shapes are wrong)`);
  return arrays;
}
