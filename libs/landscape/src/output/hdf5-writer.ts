/**
 * A writer for the small subset of HDF5 (format specification 3.0) that landscape files use: one root group of
 * contiguous datasets (float64 or uint8, any shape) and UTF-8 string attributes on the root. h5wasm (libhdf5
 * itself) was the writer before; loading it took ~0.25 s of a small job's whole process (a 4 MB module with its
 * wasm inlined), longer than the job's arithmetic. The tests read every file back with it.
 *
 * What is written, in file order, all little-endian with 8-byte offsets and lengths:
 *   superblock version 2 · root group object header (version 2: link info, group info, one hard link per
 *   dataset, one attribute per string) · one object header per dataset (dataspace, datatype, fill value,
 *   contiguous layout) · the datasets' raw data · one global heap collection holding the strings (attributes
 *   are variable-length strings, which h5py reads as `str`).
 */

export interface Hdf5Dataset {
  name: string;
  data: Float64Array | Uint8Array;
  /** Row-major dimensions; default one dimension of the data's length. */
  shape?: readonly number[];
}

export interface Hdf5Contents {
  datasets: readonly Hdf5Dataset[];
  /** Root-group string attributes, in order. */
  attributes: readonly (readonly [string, string])[];
}

const SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
const UNDEFINED_ADDRESS = 0xffffffffffffffffn;
const SUPERBLOCK_SIZE = 48;
/** libhdf5 reads a global heap collection's first 4096 bytes before its header says how long it is. */
const GLOBAL_HEAP_MIN_SIZE = 4096;
const HEAP_OBJECT_HEADER = 16;

const enum MessageType {
  Dataspace = 0x01,
  LinkInfo = 0x02,
  Datatype = 0x03,
  FillValue = 0x05,
  Link = 0x06,
  Layout = 0x08,
  GroupInfo = 0x0a,
  Attribute = 0x0c,
}

/** A growable little-endian byte buffer. */
class ByteWriter {
  private buffer = new Uint8Array(256);
  private view = new DataView(this.buffer.buffer);
  length = 0;

  private reserve(bytes: number): number {
    const at = this.length;
    if (at + bytes > this.buffer.length) {
      const grown = new Uint8Array(Math.max(2 * this.buffer.length, at + bytes));
      grown.set(this.buffer.subarray(0, at));
      this.buffer = grown;
      this.view = new DataView(grown.buffer);
    }
    this.length += bytes;
    return at;
  }

  // Each writes at `reserve`'s offset before touching the buffer: reserving may replace it.
  u8(...values: number[]): this {
    for (const value of values) {
      const at = this.reserve(1);
      this.view.setUint8(at, value);
    }
    return this;
  }

  u16(value: number): this {
    const at = this.reserve(2);
    this.view.setUint16(at, value, true);
    return this;
  }

  u32(value: number): this {
    const at = this.reserve(4);
    this.view.setUint32(at, value, true);
    return this;
  }

  u64(value: number | bigint): this {
    const at = this.reserve(8);
    this.view.setBigUint64(at, BigInt(value), true);
    return this;
  }

  bytes(bytes: Uint8Array): this {
    const at = this.reserve(bytes.length);
    this.buffer.set(bytes, at);
    return this;
  }

  zeros(count: number): this {
    const at = this.reserve(count);
    this.buffer.fill(0, at, at + count);
    return this;
  }

  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }
}

/** Bob Jenkins' lookup3 `hashlittle` (initval 0), the checksum of HDF5's version-2 metadata. */
export function lookup3(bytes: Uint8Array): number {
  const rot = (x: number, k: number): number => (x << k) | (x >>> (32 - k));
  let length = bytes.length;
  let a = (0xdeadbeef + length) | 0;
  let b = a;
  let c = a;
  let k = 0;
  const word = (at: number, count: number): number => {
    let value = 0;
    for (let i = 0; i < count; i++) value |= bytes[at + i]! << (8 * i);
    return value;
  };
  while (length > 12) {
    a = (a + word(k, 4)) | 0;
    b = (b + word(k + 4, 4)) | 0;
    c = (c + word(k + 8, 4)) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 4);
    b = (b + a) | 0;
    length -= 12;
    k += 12;
  }
  if (length === 0) return c >>> 0;
  a = (a + word(k, Math.min(length, 4))) | 0;
  if (length > 4) b = (b + word(k + 4, Math.min(length - 4, 4))) | 0;
  if (length > 8) c = (c + word(k + 8, length - 8)) | 0;
  c ^= b;
  c = (c - rot(b, 14)) | 0;
  a ^= c;
  a = (a - rot(c, 11)) | 0;
  b ^= a;
  b = (b - rot(a, 25)) | 0;
  c ^= b;
  c = (c - rot(b, 16)) | 0;
  a ^= c;
  a = (a - rot(c, 4)) | 0;
  b ^= a;
  b = (b - rot(a, 14)) | 0;
  c ^= b;
  c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}

interface Message {
  type: MessageType;
  body: Uint8Array;
}

/** A version-2 object header: its messages in one chunk, then the checksum. */
function objectHeader(messages: readonly Message[]): Uint8Array {
  const w = new ByteWriter().u8(0x4f, 0x48, 0x44, 0x52, 2, 0b10); // "OHDR", version 2, 4-byte chunk size
  w.u32(messages.reduce((sum, m) => sum + 4 + m.body.length, 0));
  for (const m of messages) w.u8(m.type).u16(m.body.length).u8(0).bytes(m.body);
  return w.u32(lookup3(w.finish())).finish();
}

const message = (type: MessageType, build: (w: ByteWriter) => unknown): Message => {
  const w = new ByteWriter();
  build(w);
  return { type, body: w.finish() };
};

/** Dataspace message version 2: simple with these dimensions, or scalar with none. */
function dataspace(shape: readonly number[]): Uint8Array {
  const w = new ByteWriter().u8(2, shape.length, 0, shape.length ? 1 : 0);
  for (const size of shape) w.u64(size);
  return w.finish();
}

/** Datatype messages (version 1): IEEE float64, unsigned 8-bit integer, and variable-length UTF-8 string. */
const FLOAT64 = new ByteWriter().u8(0x11, 0x20, 63, 0).u32(8).u16(0).u16(64).u8(52, 11, 0, 52).u32(1023).finish();
const UINT8 = new ByteWriter().u8(0x10, 0, 0, 0).u32(1).u16(0).u16(8).finish();
// Class 9 (variable length), type string, null-terminated, UTF-8; 16 bytes on disk (length, heap address, index).
const VLEN_UTF8 = new ByteWriter().u8(0x19, 0x01, 0x01, 0).u32(16).bytes(UINT8).finish();

function datasetHeader(dataset: Hdf5Dataset, address: number): Uint8Array {
  return objectHeader([
    { type: MessageType.Dataspace, body: dataspace(dataset.shape ?? [dataset.data.length]) },
    { type: MessageType.Datatype, body: dataset.data instanceof Float64Array ? FLOAT64 : UINT8 },
    // Version 3: allocation late, fill written if set, no fill value stored (libhdf5's defaults).
    message(MessageType.FillValue, (w) => w.u8(3, 0b1010)),
    // An empty dataset has no storage: libhdf5 takes an address with nothing behind it for a corrupt file.
    message(MessageType.Layout, (w) =>
      w
        .u8(3, 1)
        .u64(dataset.data.byteLength ? address : UNDEFINED_ADDRESS)
        .u64(dataset.data.byteLength),
    ),
  ]);
}

function rootHeader(links: readonly [string, number][], attributes: readonly (readonly [string, number, number])[], heapAddress: number): Uint8Array {
  const encoder = new TextEncoder();
  return objectHeader([
    // Compact link storage: no fractal heap, no name index.
    message(MessageType.LinkInfo, (w) => w.u8(0, 0).u64(UNDEFINED_ADDRESS).u64(UNDEFINED_ADDRESS)),
    message(MessageType.GroupInfo, (w) => w.u8(0, 0)),
    ...links.map(([name, address]) => {
      const bytes = encoder.encode(name);
      if (bytes.length > 255) throw new Error(`HDF5 link name too long: ${name}`);
      return message(MessageType.Link, (w) => w.u8(1, 0, bytes.length).bytes(bytes).u64(address)); // a hard link
    }),
    ...attributes.map(([name, byteLength, heapIndex]) => {
      const bytes = encoder.encode(name);
      const space = dataspace([]);
      return message(MessageType.Attribute, (w) =>
        w
          .u8(3, 0)
          .u16(bytes.length + 1)
          .u16(VLEN_UTF8.length)
          .u16(space.length)
          .u8(1) // name in UTF-8
          .bytes(bytes)
          .u8(0)
          .bytes(VLEN_UTF8)
          .bytes(space)
          .u32(byteLength)
          .u64(heapAddress)
          .u32(heapIndex),
      );
    }),
  ]);
}

/** A global heap collection holding `objects` as indices 1, 2, …, then its free space (object 0). */
function globalHeap(objects: readonly Uint8Array[]): Uint8Array {
  const padded = (n: number): number => Math.ceil(n / 8) * 8;
  const used = 16 + objects.reduce((sum, o) => sum + HEAP_OBJECT_HEADER + padded(o.length), 0);
  const size = Math.max(GLOBAL_HEAP_MIN_SIZE, used + HEAP_OBJECT_HEADER);
  const w = new ByteWriter().u8(0x47, 0x43, 0x4f, 0x4c, 1, 0, 0, 0).u64(size); // "GCOL", version 1
  objects.forEach((o, i) =>
    w
      .u16(i + 1)
      .u16(0)
      .u32(0)
      .u64(o.length)
      .bytes(o)
      .zeros(padded(o.length) - o.length),
  );
  return w
    .u16(0)
    .u16(0)
    .u32(0)
    .u64(size - used)
    .zeros(size - used - HEAP_OBJECT_HEADER)
    .finish();
}

/** The whole file as bytes. */
export function encodeHdf5(contents: Hdf5Contents): Uint8Array {
  const encoder = new TextEncoder();
  const strings = contents.attributes.map(([, value]) => encoder.encode(value));
  for (const dataset of contents.datasets) {
    const elements = (dataset.shape ?? [dataset.data.length]).reduce((a, b) => a * b, 1);
    if (elements !== dataset.data.length) throw new Error(`HDF5 dataset ${dataset.name}: shape [${dataset.shape}] does not hold ${dataset.data.length} values`);
  }
  // Header sizes do not depend on the addresses inside them: lay out with placeholders, then write for real.
  const layout = (addresses: { datasets: number[]; data: number[]; heap: number }) => ({
    root: rootHeader(
      contents.datasets.map((d, i) => [d.name, addresses.datasets[i]!]),
      contents.attributes.map(([name], i) => [name, strings[i]!.length, i + 1]),
      addresses.heap,
    ),
    datasets: contents.datasets.map((d, i) => datasetHeader(d, addresses.data[i]!)),
  });
  const sized = layout({ datasets: contents.datasets.map(() => 0), data: contents.datasets.map(() => 0), heap: 0 });
  let end = SUPERBLOCK_SIZE + sized.root.length;
  const datasets = sized.datasets.map((header) => ((end += header.length), end - header.length));
  const data = contents.datasets.map((d) => ((end += d.data.byteLength), end - d.data.byteLength));
  const heap = globalHeap(strings);
  const heapAddress = end;
  end += heap.length;
  const headers = layout({ datasets, data, heap: heapAddress });

  const superblock = new ByteWriter()
    .u8(...SIGNATURE, 2, 8, 8, 0)
    .u64(0)
    .u64(UNDEFINED_ADDRESS)
    .u64(end)
    .u64(SUPERBLOCK_SIZE);
  const file = new Uint8Array(end);
  file.set(superblock.u32(lookup3(superblock.finish())).finish(), 0);
  file.set(headers.root, SUPERBLOCK_SIZE);
  headers.datasets.forEach((header, i) => file.set(header, datasets[i]!));
  contents.datasets.forEach((d, i) => file.set(new Uint8Array(d.data.buffer, d.data.byteOffset, d.data.byteLength), data[i]!));
  file.set(heap, heapAddress);
  return file;
}
