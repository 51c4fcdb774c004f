import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { requireEsm } from './esm';
import { encodeHdf5, lookup3, type Hdf5Contents } from './hdf5-writer';

type H5 = typeof import('h5wasm');

const dir = mkdtempSync(join(tmpdir(), 'landscape-hdf5-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LONG = `{"note":"${'λ≈0.5, 🙂 '.repeat(900)}"}`; // ~11 kB of UTF-8: a global heap collection over its 4096-byte minimum
const CONTENTS: Hdf5Contents = {
  datasets: [
    { name: 'xcoordinates', data: Float64Array.from([-1, -0.5, 0, 0.5, 1]) },
    { name: 'cube', data: Float64Array.from({ length: 24 }, (_, i) => (i === 5 ? NaN : i === 6 ? -Infinity : i === 7 ? -0 : i / 7)), shape: [2, 3, 4] },
    { name: 'computed', data: Uint8Array.from([1, 0, 1, 1, 255, 0]), shape: [3, 2] },
    { name: 'empty', data: new Float64Array(0), shape: [0, 3] },
  ],
  attributes: [
    ['accuracy_unit', 'percent'],
    ['blank', ''],
    ['long', LONG],
    ['größe', 'UTF-8 name'],
  ],
};

function written(name: string, contents: Hdf5Contents): string {
  const path = join(dir, name);
  writeFileSync(path, encodeHdf5(contents));
  return path;
}

describe('HDF5 writer', () => {
  it('computes lookup3 as Jenkins publishes it (hashlittle, initval 0)', () => {
    expect(lookup3(new Uint8Array(0))).toBe(0xdeadbeef);
    expect(lookup3(new TextEncoder().encode('Four score and seven years ago'))).toBe(0x17770551);
    // Every tail length of the final block goes through its own branch.
    const lengths = new Set(Array.from({ length: 26 }, (_, n) => lookup3(new Uint8Array(n).fill(7))));
    expect(lengths.size).toBe(26);
  });

  it('writes files that libhdf5 (h5wasm) reads back exactly: shapes, types, special values, UTF-8 strings', async () => {
    const h5 = requireEsm<H5>('h5wasm', 'dist/node/hdf5_hl.js');
    await h5.ready;
    const file = new h5.File(written('all.h5', CONTENTS), 'r');
    try {
      expect(file.keys()).toEqual(['computed', 'cube', 'empty', 'xcoordinates']); // libhdf5 lists links by name
      const get = (name: string) => file.get(name) as InstanceType<H5['Dataset']>;
      for (const dataset of CONTENTS.datasets) {
        const read = get(dataset.name);
        expect(read.shape).toEqual(dataset.shape ?? [dataset.data.length]);
        expect(read.dtype).toBe(dataset.data instanceof Float64Array ? '<d' : '<B');
        if (dataset.data.length) expect(Array.from(read.value as Float64Array)).toEqual(Array.from(dataset.data));
      }
      expect(Object.is((get('cube').value as Float64Array)[7], -0)).toBe(true);
      for (const [name, value] of CONTENTS.attributes) expect(file.attrs[name]!.value).toBe(value);
    } finally {
      file.close();
    }
  });

  // Debian's python3-h5py (a second libhdf5 build; .ci/run installs it): Li et al.'s scripts read the files with h5py.
  const h5py = spawnSync('/usr/bin/python3', ['-c', 'import h5py'], { encoding: 'utf8' }).status === 0;
  it.skipIf(!h5py)('writes files that h5py reads back, attributes as str', () => {
    const path = written('h5py.h5', CONTENTS);
    const script = `
import h5py, json, math, sys
with h5py.File(sys.argv[1], 'r') as f:
    print(json.dumps({
        'keys': list(f.keys()),
        'shapes': {k: list(f[k].shape) for k in f},
        'dtypes': {k: f[k].dtype.str for k in f},
        'cube': [v if math.isfinite(v) else str(v) for v in f['cube'][()].ravel().tolist()],
        'computed': f['computed'][()].ravel().tolist(),
        'attrs': {k: [type(v).__name__, v] for k, v in f.attrs.items()},
    }, allow_nan=False))`;
    const run = spawnSync('/usr/bin/python3', ['-c', script, path], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    const read = JSON.parse(run.stdout) as Record<string, unknown> & { attrs: Record<string, [string, string]>; cube: (number | string)[] };
    expect(read.keys).toEqual(['computed', 'cube', 'empty', 'xcoordinates']);
    expect(read.shapes).toEqual({ computed: [3, 2], cube: [2, 3, 4], empty: [0, 3], xcoordinates: [5] });
    expect(read.dtypes).toEqual({ computed: '|u1', cube: '<f8', empty: '<f8', xcoordinates: '<f8' });
    expect(read.cube).toEqual(Array.from(CONTENTS.datasets[1]!.data, (v) => (Number.isNaN(v) ? 'nan' : v === -Infinity ? '-inf' : v)));
    expect(read.computed).toEqual([1, 0, 1, 1, 255, 0]);
    expect(read.attrs).toEqual(Object.fromEntries(CONTENTS.attributes.map(([name, value]) => [name, ['str', value]])));
  });

  it('refuses a shape that does not hold the data', () => {
    expect(() => encodeHdf5({ datasets: [{ name: 'a', data: new Float64Array(5), shape: [2, 2] }], attributes: [] })).toThrow(
      /shape \[2,2\] does not hold 5 values/,
    );
  });
});
