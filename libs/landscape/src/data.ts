import { existsSync, readFileSync } from 'node:fs';
import { InputError } from './errors';
import { createRng, permutation } from './random';

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
}

function flattenSample(value: unknown, shape: number[], out: number[], where: string): void {
  if (shape.length === 0) {
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new InputError(`${where} is not a finite number (${JSON.stringify(value)})`);
    out.push(value);
    return;
  }
  if (!Array.isArray(value) || value.length !== shape[0]) {
    throw new InputError(`${where} should be an array of length ${shape[0]} like the first sample`);
  }
  const rest = shape.slice(1);
  value.forEach((item, i) => flattenSample(item, rest, out, `${where}[${i}]`));
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

/** Builds a dataset from in-memory samples and targets, validating shapes and numbers. */
export function datasetFromArrays(xs: unknown, ys: unknown, source: string): Dataset {
  if (!Array.isArray(xs) || xs.length === 0) throw new InputError(`${source}: "x" must be a non-empty array of samples`);
  if (!Array.isArray(ys) || ys.length !== xs.length) {
    throw new InputError(`${source}: "y" must be an array with one target per sample (${xs.length} samples, ${Array.isArray(ys) ? ys.length : 'no'} targets)`);
  }
  const sampleShape = shapeOf(xs[0]);
  const flat: number[] = [];
  xs.forEach((sample, i) => flattenSample(sample, sampleShape, flat, `${source}: x[${i}]`));
  const n = xs.length;
  let targets: Dataset['targets'];
  if (Array.isArray(ys[0])) {
    const width = (ys[0] as unknown[]).length;
    const rows: number[] = [];
    ys.forEach((row, i) => flattenSample(row, [width], rows, `${source}: y[${i}]`));
    targets = { kind: 'rows', rows: Float32Array.from(rows), width };
  } else {
    const values: number[] = [];
    ys.forEach((value, i) => flattenSample(value, [], values, `${source}: y[${i}]`));
    targets = values.every((v) => Number.isInteger(v) && v >= 0)
      ? { kind: 'labels', labels: Int32Array.from(values) }
      : { kind: 'rows', rows: Float32Array.from(values), width: 1 };
  }
  return { n, sampleShape, x: Float32Array.from(flat), targets, provenance: { source, total: n } };
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

export type SyntheticKind = 'spirals' | 'moons' | 'blobs';

export interface SyntheticSpec {
  synthetic: SyntheticKind;
  n: number;
  seed: number;
  classes?: number;
  noise?: number;
}

/** Seeded 2-D toy classification sets (features [2], integer labels). */
export function syntheticDataset(spec: SyntheticSpec): Dataset {
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

export function loadDatasetFile(path: string, options: { format?: 'json' | 'csv'; target?: string } = {}): Dataset {
  if (!existsSync(path)) throw new InputError(`data file not found: ${path}`);
  const format = options.format ?? (path.toLowerCase().endsWith('.csv') ? 'csv' : 'json');
  return format === 'csv' ? loadCsv(path, options.target) : loadJson(path);
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
