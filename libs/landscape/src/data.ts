import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { BINARY_MAGIC, readBinaryDataset } from './data/binary';
import { NPY_MAGIC, readNpyFile, type NumericArray } from './data/npy';
import { syntheticImages } from './data/images';
import { readNpzArrays } from './data/npz';
import { InputError } from './errors';
import { createRng, permutation } from './random';

export { writeBinaryDataset, type BinaryArrays } from './data/binary';
export { ELEMENT_TYPES, rawBytes, type ElementType, type RawArray } from './data/elements';
export { npyHeader, readNpyFile, writeNpyFile, type NumericArray } from './data/npy';
export { writeNpzFile } from './data/npz';

/**
 * An evaluation set held as flat typed arrays (it travels to worker threads by structured clone).
 * `x` is row-major [n, ...sampleShape]; targets are integer class labels (`labels`), or rows (`rows`: one-hot,
 * probabilities, multi-label 0/1 or regression values) of `targetWidth` numbers each.
 */
export interface Dataset {
  n: number;
  sampleShape: number[];
  x: Float32Array;
  targets: { kind: 'labels'; labels: Int32Array } | { kind: 'rows'; rows: Float32Array; width: number };
  /** Where the data came from and which samples were used, recorded in every result. */
  provenance: DataProvenance;
}

export interface DataProvenance {
  source: string;
  /** Sample count of the source before any subset. */
  total: number;
  subset?: { n: number; seed: number };
  /** The factor every x value was multiplied by after reading, if any. */
  scale?: number;
}

const entry = (where: string, path: readonly number[]): string => `${where}${path.map((i) => `[${i}]`).join('')}`;

/**
 * Writes the numbers of a nested-array value of `shape` (from `depth`) into `out` from `offset`, returning the
 * next offset. `path` holds the indices down to `value`; the message naming a bad entry is built only when one is
 * found (a string per number cost more than parsing the file).
 */
function flattenInto(
  value: unknown,
  shape: readonly number[],
  depth: number,
  out: Float32Array | Float64Array,
  offset: number,
  path: number[],
  where: string,
): number {
  if (depth === shape.length) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new InputError(`${entry(where, path)} is not a finite number (${JSON.stringify(value)})`);
    out[offset] = value;
    return offset + 1;
  }
  if (!Array.isArray(value) || value.length !== shape[depth]) {
    throw new InputError(`${entry(where, path)} should be an array of length ${shape[depth]} like the first sample`);
  }
  for (let i = 0; i < value.length; i++) {
    path.push(i);
    offset = flattenInto(value[i], shape, depth + 1, out, offset, path, where);
    path.pop();
  }
  return offset;
}

/** The samples of `values` (each of `sampleShape`) as one flat array. */
function flattenSamples<T extends Float32Array | Float64Array>(values: unknown[], sampleShape: readonly number[], out: T, where: string): T {
  flattenInto(values, [values.length, ...sampleShape], 0, out, 0, [], where);
  return out;
}

function shapeOf(value: unknown): number[] {
  const shape: number[] = [];
  let node = value;
  while (Array.isArray(node)) {
    shape.push(node.length);
    node = node[0];
  }
  return shape;
}

/**
 * The one rule for targets: one number per sample is a class label when every value is a non-negative integer,
 * else a regression value (a row of width 1); `width` numbers per sample are a row each.
 */
function targetsFrom(values: ArrayLike<number>, width: number | undefined): Dataset['targets'] {
  if (width !== undefined) return { kind: 'rows', rows: Float32Array.from(values), width };
  const labels = Array.prototype.every.call(values, (v: number) => Number.isInteger(v) && v >= 0);
  return labels ? { kind: 'labels', labels: Int32Array.from(values) } : { kind: 'rows', rows: Float32Array.from(values), width: 1 };
}

/** Builds a dataset from in-memory samples and targets, validating shapes and numbers. */
export function datasetFromArrays(xs: unknown, ys: unknown, source: string): Dataset {
  if (!Array.isArray(xs) || xs.length === 0) throw new InputError(`${source}: "x" must be a non-empty array of samples`);
  if (!Array.isArray(ys) || ys.length !== xs.length) {
    throw new InputError(`${source}: "y" must be an array with one target per sample (${xs.length} samples, ${Array.isArray(ys) ? ys.length : 'no'} targets)`);
  }
  const sampleShape = shapeOf(xs[0]);
  const n = xs.length;
  const x = flattenSamples(xs, sampleShape, new Float32Array(n * sampleShape.reduce((a, b) => a * b, 1)), `${source}: x`);
  const width = Array.isArray(ys[0]) ? (ys[0] as unknown[]).length : undefined;
  const values = flattenSamples(ys, width === undefined ? [] : [width], new Float64Array(ys.length * (width ?? 1)), `${source}: y`);
  return { n, sampleShape, x, targets: targetsFrom(values, width), provenance: { source, total: n } };
}

function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) return i;
  return -1;
}

/** Builds a dataset from arrays read from files (x: [n, ...sample], y: [n] or [n, width]), checking shapes and numbers. */
export function datasetFromNumeric(x: NumericArray, y: NumericArray, source: string): Dataset {
  const n = x.shape[0];
  if (n === undefined || n === 0) throw new InputError(`${source}: x must hold at least one sample (shape [${x.shape.join(', ')}])`);
  if (y.shape[0] !== n) throw new InputError(`${source}: x holds ${n} samples but y holds ${y.shape[0] ?? 'no'} targets (y shape [${y.shape.join(', ')}])`);
  if (y.shape.length > 2) throw new InputError(`${source}: y must have shape [n] or [n, width] (got [${y.shape.join(', ')}])`);
  for (const [name, array] of [
    ['x', x],
    ['y', y],
  ] as const) {
    const bad = firstNonFinite(array.values);
    if (bad >= 0) {
      const size = array.values.length / n;
      throw new InputError(`${source}: ${name} of sample ${Math.floor(bad / size)} is not a finite number (${array.values[bad]})`);
    }
  }
  return { n, sampleShape: x.shape.slice(1), x: x.values, targets: targetsFrom(y.values, y.shape[1]), provenance: { source, total: n } };
}

function loadJson(path: string): Dataset {
  let parsed: { x?: unknown; y?: unknown };
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8')) as { x?: unknown; y?: unknown };
  } catch (error) {
    throw new InputError(`cannot parse data file ${path}: ${(error as Error).message}`);
  }
  return datasetFromArrays(parsed.x, parsed.y, path);
}

/**
 * CSV with a header row. The target column is `target` (by name), else a column named y/label/target, else the
 * last column; every other column is a feature.
 */
function loadCsv(path: string, target?: string): Dataset {
  const lines = readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
  if (lines.length < 2) throw new InputError(`${path}: a CSV data file needs a header row and at least one sample`);
  const header = lines[0]!.split(',').map((h) => h.trim());
  let targetIndex = target !== undefined ? header.indexOf(target) : header.findIndex((h) => ['y', 'label', 'target'].includes(h.toLowerCase()));
  if (target !== undefined && targetIndex < 0) throw new InputError(`${path}: no column named '${target}' (columns: ${header.join(', ')})`);
  if (targetIndex < 0) targetIndex = header.length - 1;
  const xs: number[][] = [];
  const ys: number[] = [];
  lines.slice(1).forEach((line, row) => {
    const cells = line.split(',').map((cell) => Number(cell.trim()));
    if (cells.length !== header.length || cells.some((v) => !Number.isFinite(v))) {
      throw new InputError(`${path}: line ${row + 2} must hold ${header.length} finite numbers`);
    }
    ys.push(cells[targetIndex]!);
    xs.push(cells.filter((_, i) => i !== targetIndex));
  });
  return datasetFromArrays(xs, ys, path);
}

export const SYNTHETIC_KINDS = ['spirals', 'moons', 'blobs', 'images'] as const;
export type SyntheticKind = (typeof SYNTHETIC_KINDS)[number];

export interface SyntheticSpec {
  synthetic: SyntheticKind;
  n: number;
  seed: number;
  classes?: number;
  noise?: number;
  /** images: [height, width, channels] (default [16, 16, 3]). */
  shape?: [number, number, number];
}

/** Seeded toy classification sets: 2-D points (spirals, moons, blobs: features [2]) or images; integer labels. */
export function syntheticDataset(spec: SyntheticSpec): Dataset {
  if (spec.synthetic === 'images') {
    return syntheticImages({ n: spec.n, seed: spec.seed, classes: spec.classes ?? 4, noise: spec.noise ?? 0.1, shape: spec.shape ?? [16, 16, 3] });
  }
  const rng = createRng(spec.seed);
  const classes = spec.synthetic === 'moons' ? 2 : (spec.classes ?? 3);
  const noise = spec.noise ?? (spec.synthetic === 'blobs' ? 0.6 : 0.1);
  const x = new Float32Array(spec.n * 2);
  const labels = new Int32Array(spec.n);
  for (let i = 0; i < spec.n; i++) {
    const label = i % classes;
    let px: number;
    let py: number;
    if (spec.synthetic === 'spirals') {
      const t = rng.uniform();
      const radius = 0.1 + 0.9 * t;
      const angle = 0.75 * t * 2 * Math.PI + (2 * Math.PI * label) / classes;
      px = radius * Math.cos(angle);
      py = radius * Math.sin(angle);
    } else if (spec.synthetic === 'moons') {
      const angle = Math.PI * rng.uniform();
      px = label === 0 ? Math.cos(angle) : 1 - Math.cos(angle);
      py = label === 0 ? Math.sin(angle) : 0.5 - Math.sin(angle);
    } else {
      const angle = (2 * Math.PI * label) / classes;
      px = 2 * Math.cos(angle);
      py = 2 * Math.sin(angle);
    }
    x[2 * i] = px + noise * rng.normal();
    x[2 * i + 1] = py + noise * rng.normal();
    labels[i] = label;
  }
  return {
    n: spec.n,
    sampleShape: [2],
    x,
    targets: { kind: 'labels', labels },
    provenance: { source: `synthetic:${spec.synthetic}(n=${spec.n},seed=${spec.seed},classes=${classes},noise=${noise})`, total: spec.n },
  };
}

export const DATA_FORMATS = ['json', 'csv', 'npy', 'npz', 'binary'] as const;
export type DataFormat = (typeof DATA_FORMATS)[number];

export interface DataFileOptions {
  /** Default: from the file's first bytes (.npy, zip = .npz, landscape binary), else `.csv` → csv, else json. */
  format?: DataFormat;
  /** CSV: the target column's name. */
  target?: string;
  /** npy: the file of the targets (the data file holds x). */
  y?: string;
  /** npz: the names of the x and y arrays. */
  keys?: { x: string; y: string };
  /** Every x value is multiplied by this after reading (e.g. 1/255 for uint8 images). */
  scale?: number;
}

const MAGICS: [DataFormat, Buffer][] = [
  ['npy', NPY_MAGIC],
  ['npz', Buffer.from('PK\x03\x04', 'latin1')],
  ['binary', Buffer.from(BINARY_MAGIC, 'ascii')],
];

function detectFormat(path: string): DataFormat {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(8);
  try {
    readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const found = MAGICS.find(([, magic]) => head.subarray(0, magic.length).equals(magic));
  if (found) return found[0];
  return path.toLowerCase().endsWith('.csv') ? 'csv' : 'json';
}

function loadArrays(path: string, format: 'npy' | 'npz' | 'binary', options: DataFileOptions): Dataset {
  if (format === 'binary') {
    const { x, y } = readBinaryDataset(path);
    return datasetFromNumeric(x, y, path);
  }
  if (format === 'npz') {
    const keys = options.keys ?? { x: 'x', y: 'y' };
    const arrays = readNpzArrays(path, [keys.x, keys.y]);
    return datasetFromNumeric(arrays[keys.x]!, arrays[keys.y]!, path);
  }
  if (options.y === undefined) throw new InputError(`${path}: an .npy file holds only x; name the targets' .npy file in "y"`, 'data.y');
  if (!existsSync(options.y)) throw new InputError(`data file not found: ${options.y}`, 'data.y');
  return datasetFromNumeric(readNpyFile(path), readNpyFile(options.y), path);
}

export function loadDatasetFile(path: string, options: DataFileOptions = {}): Dataset {
  if (!existsSync(path)) throw new InputError(`data file not found: ${path}`);
  const format = options.format ?? detectFormat(path);
  const data = format === 'csv' ? loadCsv(path, options.target) : format === 'json' ? loadJson(path) : loadArrays(path, format, options);
  if (options.scale !== undefined) {
    const { x } = data;
    for (let i = 0; i < x.length; i++) x[i] = x[i]! * options.scale;
    data.provenance.scale = options.scale;
  }
  return data;
}

/** A seeded subset of n samples, kept in their original order so batches stay comparable. */
export function subsetDataset(data: Dataset, n: number, seed: number): Dataset {
  if (n >= data.n) return data;
  const chosen = Array.from(permutation(data.n, createRng(seed)).subarray(0, n)).sort((a, b) => a - b);
  const size = data.sampleShape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(n * size);
  chosen.forEach((source, i) => x.set(data.x.subarray(source * size, (source + 1) * size), i * size));
  const targets: Dataset['targets'] =
    data.targets.kind === 'labels'
      ? { kind: 'labels', labels: Int32Array.from(chosen, (i) => (data.targets as { labels: Int32Array }).labels[i]!) }
      : (() => {
          const { rows, width } = data.targets as { rows: Float32Array; width: number };
          const out = new Float32Array(n * width);
          chosen.forEach((source, i) => out.set(rows.subarray(source * width, (source + 1) * width), i * width));
          return { kind: 'rows' as const, rows: out, width };
        })();
  return { n, sampleShape: data.sampleShape, x, targets, provenance: { ...data.provenance, subset: { n, seed } } };
}
