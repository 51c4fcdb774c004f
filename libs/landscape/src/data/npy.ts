import { closeSync, openSync, writeSync } from 'node:fs';
import { InputError } from '../errors';
import { ELEMENT_TYPES, ElementSink, streamFile, type ByteSink, type ElementType, rawBytes, type RawArray } from './elements';

/** A numeric array read from a file, converted to float32 (see ELEMENT_TYPES). */
export interface NumericArray {
  shape: number[];
  /** The element type stored in the file. */
  dtype: ElementType;
  values: Float32Array;
}

export const NPY_MAGIC = Buffer.from([0x93, ...Buffer.from('NUMPY')]);
const BY_DESCR = new Map<string, ElementType>(
  Object.entries(ELEMENT_TYPES).flatMap(([name, type]) => {
    const forms: string[] = [type.npy];
    // One-byte types have no byte order; NumPy writes '|u1' but '<u1' is equally valid.
    if (type.bytes === 1) forms.push(type.npy.replace('|', '<'));
    return forms.map((descr) => [descr, name as ElementType] as const);
  }),
);

export function allocateValues(count: number, where: string): Float32Array {
  try {
    return new Float32Array(count);
  } catch {
    throw new InputError(`${where}: ${count} values do not fit in memory as one float32 array`);
  }
}

/** Parses the Python-literal header dict of a .npy file: {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }. */
function parseHeader(text: string, where: string): { dtype: ElementType; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new InputError(`${where}: not a plain numeric .npy array (header ${JSON.stringify(text.trim())}; structured and object arrays are not supported)`);
  }
  if (fortran === 'True') throw new InputError(`${where}: the array is in Fortran order; save it in C order (np.save(path, np.ascontiguousarray(a)))`);
  const dtype = BY_DESCR.get(descr);
  if (!dtype) {
    const hint = descr.startsWith('>') ? ' (big-endian: save a.astype(a.dtype.newbyteorder("<")))' : '';
    throw new InputError(`${where}: dtype '${descr}' is not supported${hint}; use one of ${Object.keys(ELEMENT_TYPES).join(', ')} (little-endian)`);
  }
  const shape = shapeText
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
    .map(Number);
  if (shape.some((size) => !Number.isSafeInteger(size) || size < 0)) throw new InputError(`${where}: bad shape (${shapeText})`);
  return { dtype, shape };
}

/**
 * Decodes one .npy stream (NumPy format versions 1–3) as it arrives: the header first, then the elements straight
 * into a float32 array. `result` is set once the header has been read.
 */
export class NpyDecoder implements ByteSink {
  result?: NumericArray;
  private header = new Uint8Array(0);
  private body?: ElementSink;

  constructor(private readonly where: string) {}

  push(chunk: Uint8Array): void {
    if (this.body) return this.body.push(chunk);
    const joined = new Uint8Array(this.header.length + chunk.length);
    joined.set(this.header);
    joined.set(chunk, this.header.length);
    this.header = joined;
    if (joined.length < 10) return;
    if (NPY_MAGIC.some((byte, i) => joined[i] !== byte)) throw new InputError(`${this.where}: not a .npy file (no \\x93NUMPY magic)`);
    const major = joined[6]!;
    if (major < 1 || major > 3) throw new InputError(`${this.where}: .npy format version ${major} is not supported`);
    const view = new DataView(joined.buffer);
    const lengthBytes = major === 1 ? 2 : 4;
    if (joined.length < 8 + lengthBytes) return;
    const headerLength = lengthBytes === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
    const dataStart = 8 + lengthBytes + headerLength;
    if (joined.length < dataStart) return;
    const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(joined.subarray(8 + lengthBytes, dataStart));
    const { dtype, shape } = parseHeader(text, this.where);
    const count = shape.reduce((a, b) => a * b, 1);
    this.result = { shape, dtype, values: allocateValues(count, this.where) };
    this.body = new ElementSink(dtype, this.result.values, count, this.where);
    this.header = new Uint8Array(0);
    this.body.push(joined.subarray(dataStart));
  }

  end(): void {
    if (!this.body) throw new InputError(`${this.where}: truncated .npy file (the header is incomplete)`);
    this.body.end();
  }
}

export function readNpyFile(path: string): NumericArray {
  const decoder = new NpyDecoder(path);
  streamFile(path, decoder);
  return decoder.result!;
}

/** The header of a C-order little-endian .npy file (format 1.0), padded like NumPy's so the data is 64-byte aligned. */
export function npyHeader(dtype: ElementType, shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${ELEMENT_TYPES[dtype].npy}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  dict += ' '.repeat(63 - ((10 + dict.length) % 64)) + '\n';
  const header = Buffer.alloc(10 + dict.length);
  NPY_MAGIC.copy(header);
  header[6] = 1;
  header.writeUInt16LE(dict.length, 8);
  header.write(dict, 10, 'latin1');
  return header;
}

/** Writes a .npy file from raw values whose type matches `dtype`. */
export function writeNpyFile(path: string, array: { dtype: ElementType; shape: number[]; data: RawArray }): void {
  const bytes = rawBytes(
    array.dtype,
    array.data,
    array.shape.reduce((a, b) => a * b, 1),
    path,
  );
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, npyHeader(array.dtype, array.shape));
    writeSync(fd, bytes);
  } finally {
    closeSync(fd);
  }
}
