import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ELEMENT_TYPES,
  Evaluator,
  InputError,
  loadDatasetFile,
  loadModel,
  parseJobSpec,
  selectBackend,
  writeBinaryDataset,
  writeNpyFile,
  writeNpzFile,
  type ElementType,
} from '@landscape/core';
import { DATA_FIXTURES_DIR, readReference, referencePath, REFERENCE_MODELS } from '../../../../test/support/fixtures';
import { NpyDecoder } from './npy';

const fixture = (name: string): string => join(DATA_FIXTURES_DIR, name);
/** NumPy's own x.astype(np.float32) of every fixture array: the independent reference. */
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as {
  x: Record<ElementType, { shape: number[]; values: number[] }>;
  y_labels: number[];
  y_rows: number[];
};
const DTYPES = Object.keys(ELEMENT_TYPES) as ElementType[];

function expectX(data: ReturnType<typeof loadDatasetFile>, dtype: ElementType): void {
  const { shape, values } = expected.x[dtype];
  expect(data.n).toBe(shape[0]);
  expect(data.sampleShape).toEqual(shape.slice(1));
  expect(Array.from(data.x)).toEqual(values);
}

describe('NumPy data files, checked against NumPy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'landscape-npy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(DTYPES)('.npy x (%s) with int64 labels or float32 rows from a second file', (dtype) => {
    const data = loadDatasetFile(fixture(`x_${dtype}.npy`), { y: fixture('y_labels.npy') });
    expectX(data, dtype);
    expect(data.targets).toEqual({ kind: 'labels', labels: Int32Array.from(expected.y_labels) });
    const rows = loadDatasetFile(fixture(`x_${dtype}.npy`), { y: fixture('y_rows.npy') });
    expect(rows.targets).toEqual({ kind: 'rows', rows: Float32Array.from(expected.y_rows), width: 2 });
  });

  it.each(DTYPES)('.npz from np.savez and np.savez_compressed (%s)', (dtype) => {
    for (const kind of ['stored', 'compressed']) {
      const data = loadDatasetFile(fixture(`${kind}_${dtype}.npz`));
      expectX(data, dtype);
      expect(data.targets).toEqual({ kind: 'labels', labels: Int32Array.from(expected.y_labels) });
    }
  });

  it('.npz with other array names, format 2.0 headers, and the uint8 scale option', () => {
    const data = loadDatasetFile(fixture('keys.npz'), { keys: { x: 'images', y: 'labels' }, scale: 1 / 255 });
    expect(Array.from(data.x)).toEqual(expected.x.uint8.values.map((v) => Math.fround(v * (1 / 255))));
    expect(data.provenance.scale).toBe(1 / 255);
    expect(() => loadDatasetFile(fixture('keys.npz'))).toThrow(/keys\.npz: no array named 'x' \(arrays: images, labels\)/);
    expectX(loadDatasetFile(fixture('x_float32_v2.npy'), { y: fixture('y_labels.npy') }), 'float32');
  });

  it('decodes the same values whatever the chunk boundaries', () => {
    const bytes = readFileSync(fixture('x_int64.npy'));
    for (const size of [1, 3, 7, 64]) {
      const decoder = new NpyDecoder('x_int64.npy');
      for (let at = 0; at < bytes.length; at += size) decoder.push(bytes.subarray(at, at + size));
      decoder.end();
      expect(Array.from(decoder.result!.values)).toEqual(expected.x.int64.values);
    }
  });

  it.each(REFERENCE_MODELS)('reproduces the PyTorch reference loss of %s with its data read from NumPy', async (name) => {
    const data = loadDatasetFile(fixture(`${name}.npz`));
    expect(data.x).toEqual(loadDatasetFile(referencePath(name, 'dataset.json')).x);
    await selectBackend('cpu');
    const ref = readReference(name, 'ref_loss.json').weights_trained;
    const model = loadModel(referencePath(name, 'model_trained'));
    const evaluator = new Evaluator({ model: model.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 64 });
    const value = evaluator.evaluate(model.weights);
    evaluator.dispose();
    expect(Math.abs(value.loss - ref.loss_f64) / ref.loss_f64).toBeLessThan(1e-5);
    expect(value.accuracy).toBeCloseTo(ref.accuracy, 12);
  });

  it('refuses bad files with an InputError naming the file and the reason', () => {
    const bad = (name: string, options: Parameters<typeof loadDatasetFile>[1], pattern: RegExp): void => {
      let error: unknown;
      try {
        loadDatasetFile(name, options);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(pattern);
    };
    const y = { y: fixture('y_labels.npy') };
    bad(fixture('fortran.npy'), y, /fortran\.npy: the array is in Fortran order/);
    bad(fixture('bigendian.npy'), y, /bigendian\.npy: dtype '>f4' is not supported \(big-endian/);
    bad(fixture('structured.npy'), y, /structured\.npy: not a plain numeric \.npy array/);
    bad(fixture('nan.npy'), y, /nan\.npy: x of sample 0 is not a finite number \(NaN\)/);
    bad(fixture('x_float32.npy'), { y: fixture('y_short.npy') }, /x_float32\.npy: x holds 4 samples but y holds 3 targets/);
    bad(fixture('x_float32.npy'), {}, /x_float32\.npy: an \.npy file holds only x; name the targets' \.npy file in "y"/);
    const whole = readFileSync(fixture('x_float64.npy'));
    writeFileSync(join(dir, 'cut.npy'), whole.subarray(0, whole.length - 5));
    bad(join(dir, 'cut.npy'), y, /cut\.npy is truncated: it holds 23 of 24 values/);
    writeFileSync(join(dir, 'cut-header.npy'), whole.subarray(0, 40));
    bad(join(dir, 'cut-header.npy'), y, /cut-header\.npy: truncated \.npy file \(the header is incomplete\)/);
    writeFileSync(join(dir, 'long.npy'), Buffer.concat([whole, Buffer.alloc(8)]));
    bad(join(dir, 'long.npy'), y, /long\.npy holds more data than its shape says/);
    const zip = readFileSync(fixture('compressed_float64.npz'));
    writeFileSync(join(dir, 'cut.npz'), zip.subarray(0, 120));
    bad(join(dir, 'cut.npz'), {}, /cut\.npz: not a readable \.npz archive \(truncated/);
    writeFileSync(join(dir, 'garbage.npz'), 'not a zip at all');
    bad(join(dir, 'garbage.npz'), { format: 'npz' }, /garbage\.npz: not an \.npz archive/);
  });
});

describe('the binary layout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'landscape-bin-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips float32 and uint8 x with int32 labels or float32 rows, detected from its magic', () => {
    const x = Float32Array.from(expected.x.float32.values);
    writeBinaryDataset(join(dir, 'f.bin'), {
      n: 4,
      x: { dtype: 'float32', shape: [2, 3], data: x },
      y: { dtype: 'int32', shape: [], data: Int32Array.from(expected.y_labels) },
    });
    const data = loadDatasetFile(join(dir, 'f.bin'));
    expectX(data, 'float32');
    expect(data.targets).toEqual({ kind: 'labels', labels: Int32Array.from(expected.y_labels) });
    const pixels = Uint8Array.from(expected.x.uint8.values);
    writeBinaryDataset(join(dir, 'u.data'), {
      n: 4,
      x: { dtype: 'uint8', shape: [2, 3], data: pixels },
      y: { dtype: 'float32', shape: [2], data: Float32Array.from(expected.y_rows) },
    });
    const images = loadDatasetFile(join(dir, 'u.data'), { scale: 1 / 255 });
    expect(Array.from(images.x)).toEqual(Array.from(pixels, (v) => Math.fround(v / 255)));
    expect(images.targets).toEqual({ kind: 'rows', rows: Float32Array.from(expected.y_rows), width: 2 });
    expect(readFileSync(join(dir, 'u.data')).indexOf(Buffer.from([0, 11, 22]))).toBe(128);
  });

  it('refuses a bad magic, a bad header and a truncated or padded body', () => {
    writeBinaryDataset(join(dir, 'ok.bin'), {
      n: 4,
      x: { dtype: 'uint8', shape: [6], data: new Uint8Array(24) },
      y: { dtype: 'int32', shape: [], data: new Int32Array(4) },
    });
    const bytes = readFileSync(join(dir, 'ok.bin'));
    writeFileSync(join(dir, 'cut.bin'), bytes.subarray(0, bytes.length - 3));
    expect(() => loadDatasetFile(join(dir, 'cut.bin'))).toThrow(/cut\.bin: y is truncated: it holds 3 of 4 values/);
    writeFileSync(join(dir, 'pad.bin'), Buffer.concat([bytes, Buffer.alloc(4)]));
    expect(() => loadDatasetFile(join(dir, 'pad.bin'))).toThrow(/pad\.bin: 4 bytes after the y data/);
    writeFileSync(join(dir, 'magic.bin'), Buffer.concat([Buffer.from('LSDATA99'), bytes.subarray(8)]));
    expect(() => loadDatasetFile(join(dir, 'magic.bin'), { format: 'binary' })).toThrow(/magic\.bin: not a landscape binary data file/);
    const header = Buffer.from(bytes);
    header.write('"uint9"', header.indexOf('"uint8"'), 'latin1');
    writeFileSync(join(dir, 'dtype.bin'), header);
    expect(() => loadDatasetFile(join(dir, 'dtype.bin'))).toThrow(/dtype\.bin: bad header field x\.dtype/);
  });

  it('writes .npz archives, stored and deflated, that read back exactly', () => {
    const arrays = {
      x: { dtype: 'float64' as const, shape: [3, 1], data: Float64Array.from([0.1, -2, 1e-40]) },
      y: { dtype: 'int32' as const, shape: [3], data: Int32Array.from([0, 1, 0]) },
    };
    for (const compress of [false, true]) {
      writeNpzFile(join(dir, `w${compress}.npz`), arrays, { compress });
      const data = loadDatasetFile(join(dir, `w${compress}.npz`));
      expect(Array.from(data.x)).toEqual([Math.fround(0.1), -2, Math.fround(1e-40)]);
      expect(data.targets).toEqual({ kind: 'labels', labels: Int32Array.from([0, 1, 0]) });
    }
  });

  it('reads files of many read chunks exactly, aligned or not (a stored .npz entry starts at any offset)', () => {
    const n = 700; // 700 × 1000 float32 = 2.8 MB: three 1 MiB reads
    const x = Float32Array.from({ length: n * 1000 }, (_, i) => (i % 9973) * 0.5 - 1000);
    const y = Int32Array.from({ length: n }, (_, i) => i % 7);
    const expectSame = (path: string): void => {
      const data = loadDatasetFile(path, { y: join(dir, 'big-y.npy') });
      expect(data.x.length).toBe(x.length);
      expect(data.x.every((v, i) => v === x[i])).toBe(true);
      expect(data.targets).toEqual({ kind: 'labels', labels: y });
    };
    writeNpyFile(join(dir, 'big-y.npy'), { dtype: 'int32', shape: [n], data: y });
    writeNpyFile(join(dir, 'big.npy'), { dtype: 'float32', shape: [n, 1000], data: x });
    expectSame(join(dir, 'big.npy'));
    for (const compress of [false, true]) {
      writeNpzFile(
        join(dir, `big-${compress}.npz`),
        { x: { dtype: 'float32', shape: [n, 1000], data: x }, y: { dtype: 'int32', shape: [n], data: y } },
        { compress },
      );
      expectSame(join(dir, `big-${compress}.npz`));
    }
  });

  it('writes .npy files NumPy-style (header padded to 64 bytes) that read back exactly', () => {
    const values = BigInt64Array.from([-3n, 0n, 2n ** 40n]);
    writeNpyFile(join(dir, 'w.npy'), { dtype: 'int64', shape: [3], data: values });
    writeNpyFile(join(dir, 'wy.npy'), { dtype: 'uint8', shape: [3], data: Uint8Array.from([0, 1, 2]) });
    expect(readFileSync(join(dir, 'w.npy')).subarray(0, 128).toString('latin1')).toMatch(
      /^\x93NUMPY\x01\x00v\x00\{'descr': '<i8', 'fortran_order': False, 'shape': \(3,\), \} +\n$/,
    );
    expect(Array.from(loadDatasetFile(join(dir, 'w.npy'), { y: join(dir, 'wy.npy') }).x)).toEqual([-3, 0, 2 ** 40]);
  });
});

describe('data spec fields', () => {
  it('accepts the new formats and options and refuses bad ones, naming the field', () => {
    const base = { kind: 'hessian', model: 'm', loss: 'mse', top: { k: 1 } };
    expect(() => parseJobSpec({ ...base, data: { path: 'x.npy', y: 'y.npy', scale: 1 / 255 } })).not.toThrow();
    expect(() => parseJobSpec({ ...base, data: { path: 'd.npz', format: 'npz', keys: { x: 'a', y: 'b' } } })).not.toThrow();
    expect(() => parseJobSpec({ ...base, data: { path: 'd.bin', format: 'hdf5' } })).toThrow(/data/);
    expect(() => parseJobSpec({ ...base, data: { path: 'd.bin', scale: -1 } })).toThrow(/data/);
  });
});
