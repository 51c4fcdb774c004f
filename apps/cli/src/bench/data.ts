import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { syntheticDataset, writeBinaryDataset, writeNpyFile, writeNpzFile, type DataFileOptions } from '@landscape/core';
import { machine } from './core';
import { report } from './measure';

/** Writes a data set as JSON one sample at a time (the whole text would not fit in one string). */
function writeJson(path: string, x: Float32Array, labels: Int32Array, sampleSize: number, shape: number[]): void {
  const fd = openSync(path, 'w');
  const nest = (values: Float32Array, dims: number[]): string => {
    if (dims.length === 1) return `[${Array.from(values).join(',')}]`;
    const step = values.length / dims[0]!;
    return `[${Array.from({ length: dims[0]! }, (_, i) => nest(values.subarray(i * step, (i + 1) * step), dims.slice(1))).join(',')}]`;
  };
  writeSync(fd, '{"x":[');
  for (let i = 0; i < labels.length; i++) writeSync(fd, (i ? ',' : '') + nest(x.subarray(i * sampleSize, (i + 1) * sampleSize), shape));
  writeSync(fd, `],"y":[${Array.from(labels).join(',')}]}`);
  closeSync(fd);
}

/**
 * Loads one file in a fresh Node process and reports its time and peak resident memory over the resident size
 * before the load. The peak is Linux' VmHWM (the high-water mark of this process' own memory): getrusage's maxRSS
 * is no use here, as a child inherits it from the forking parent. `allocFillSeconds` is the cost of merely touching
 * a fresh float32 array of the same size (page faults), the floor under every format.
 */
function measureLoad(path: string, options: DataFileOptions): Record<string, unknown> {
  const script = `
    const { readFileSync } = require('node:fs');
    const { loadDatasetFile } = require(${JSON.stringify(require.resolve('@landscape/core'))});
    const status = (field) => Number(readFileSync('/proc/self/status', 'utf8').split('\\n').find((line) => line.startsWith(field + ':')).replace(/[^0-9]/g, '')) * 1024;
    const rssBefore = status('VmRSS');
    const start = performance.now();
    try {
      const data = loadDatasetFile(${JSON.stringify(path)}, ${JSON.stringify(options)});
      const seconds = (performance.now() - start) / 1000;
      const peakBytes = status('VmHWM') - rssBefore;
      const fillStart = performance.now();
      new Float32Array(data.x.length).fill(1);
      const allocFillSeconds = (performance.now() - fillStart) / 1000;
      console.log(JSON.stringify({ seconds, samples: data.n, xBytes: data.x.byteLength, peakBytes, peakOverX: peakBytes / data.x.byteLength, allocFillSeconds }));
    } catch (error) {
      console.log(JSON.stringify({ error: String(error.message).slice(0, 200) }));
    }`;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = child.stdout.trim().split('\n').pop();
  return line ? (JSON.parse(line) as Record<string, unknown>) : { error: `exit ${child.status}: ${child.stderr.slice(-200)}` };
}

/**
 * Load time and peak memory of `n` CIFAR-shaped samples (32×32×3, seeded synthetic images quantized to uint8) in
 * each data format. Every load runs in its own process (maxRSS is per process).
 */
export function benchDataFormats(n: number): void {
  const shape = [32, 32, 3];
  const sampleSize = 32 * 32 * 3;
  const source = syntheticDataset({ synthetic: 'images', n, seed: 0, classes: 10, noise: 0.05, shape: [32, 32, 3] });
  const pixels = Uint8Array.from(source.x, (v) => Math.round(255 * Math.min(1, Math.max(0, v))));
  const floats = Float32Array.from(pixels, (v) => v / 255);
  const labels = (source.targets as { labels: Int32Array }).labels;
  const y = { dtype: 'int32' as const, shape: [n], data: labels };
  const dir = mkdtempSync(join(tmpdir(), 'landscape-bench-data-'));
  const scale = 1 / 255;
  // JSON of all n samples (600 MB of text for 10,000) exceeds V8's string limit: it is measured on a tenth.
  const jsonSamples = Math.ceil(n / 10);
  const cases: { format: string; samples: number; file: string; write: (path: string) => void; options: DataFileOptions }[] = [
    {
      format: 'json',
      samples: jsonSamples,
      file: 'data.json',
      write: (path) => writeJson(path, floats.subarray(0, jsonSamples * sampleSize), labels.subarray(0, jsonSamples), sampleSize, shape),
      options: {},
    },
    {
      format: 'npy-float32',
      samples: n,
      file: 'x.npy',
      write: (path) => writeNpyFile(path, { dtype: 'float32', shape: [n, ...shape], data: floats }),
      options: { y: join(dir, 'y.npy') },
    },
    {
      format: 'npy-uint8',
      samples: n,
      file: 'x8.npy',
      write: (path) => writeNpyFile(path, { dtype: 'uint8', shape: [n, ...shape], data: pixels }),
      options: { y: join(dir, 'y.npy'), scale },
    },
    {
      format: 'npz-float32',
      samples: n,
      file: 'd.npz',
      write: (path) => writeNpzFile(path, { x: { dtype: 'float32', shape: [n, ...shape], data: floats }, y }, { compress: false }),
      options: {},
    },
    {
      format: 'npz-compressed-uint8',
      samples: n,
      file: 'd8z.npz',
      write: (path) => writeNpzFile(path, { x: { dtype: 'uint8', shape: [n, ...shape], data: pixels }, y }, { compress: true }),
      options: { scale },
    },
    {
      format: 'binary-float32',
      samples: n,
      file: 'd.bin',
      write: (path) => writeBinaryDataset(path, { n, x: { dtype: 'float32', shape, data: floats }, y: { ...y, shape: [] } }),
      options: {},
    },
    {
      format: 'binary-uint8',
      samples: n,
      file: 'd8.bin',
      write: (path) => writeBinaryDataset(path, { n, x: { dtype: 'uint8', shape, data: pixels }, y: { ...y, shape: [] } }),
      options: { scale },
    },
  ];
  try {
    writeNpyFile(join(dir, 'y.npy'), y);
    for (const { format, samples, file, write, options } of cases) {
      const path = join(dir, file);
      write(path);
      report({ case: 'data-load', format, samples, sampleShape: shape, fileBytes: statSync(path).size, ...measureLoad(path, options), ...machine() });
      rmSync(path);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
