import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { datasetFromArrays, InputError, loadDatasetFile, subsetDataset, syntheticDataset } from '@landscape/core';

describe('data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'landscape-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads CSV with a named or default target column', () => {
    writeFileSync(join(dir, 'iris.csv'), 'a,b,species\n1,2,0\n3,4,1\n5,6,2\n');
    const data = loadDatasetFile(join(dir, 'iris.csv'));
    expect(data.n).toBe(3);
    expect(Array.from(data.x)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(data.targets).toEqual({ kind: 'labels', labels: Int32Array.from([0, 1, 2]) });
    const byName = loadDatasetFile(join(dir, 'iris.csv'), { target: 'a' });
    expect(Array.from(byName.x)).toEqual([2, 0, 4, 1, 6, 2]);
    expect(() => loadDatasetFile(join(dir, 'iris.csv'), { target: 'petal' })).toThrow(/no column named 'petal'/);
    writeFileSync(join(dir, 'bad.csv'), 'a,b\n1,x\n');
    expect(() => loadDatasetFile(join(dir, 'bad.csv'))).toThrow(/line 2 must hold 2 finite numbers/);
  });

  it('tells labels, one-hot rows and regression targets apart and checks shapes', () => {
    expect(datasetFromArrays([[1], [2]], [0, 1], 's').targets.kind).toBe('labels');
    expect(
      datasetFromArrays(
        [[1], [2]],
        [
          [1, 0],
          [0, 1],
        ],
        's',
      ).targets,
    ).toMatchObject({ kind: 'rows', width: 2 });
    expect(datasetFromArrays([[1], [2]], [0.5, -1.5], 's').targets).toMatchObject({ kind: 'rows', width: 1 });
    expect(() => datasetFromArrays([[1, 2], [3]], [0, 1], 's')).toThrow(InputError);
    expect(() => datasetFromArrays([[1], [2]], [0], 's')).toThrow(/one target per sample/);
    expect(() => datasetFromArrays([[1], [Number.NaN]], [0, 1], 's')).toThrow(/x\[1\]\[0\] is not a finite number/);
  });

  it('draws seeded synthetic sets and seeded subsets reproducibly', () => {
    const a = syntheticDataset({ synthetic: 'spirals', n: 90, seed: 4 });
    const b = syntheticDataset({ synthetic: 'spirals', n: 90, seed: 4 });
    const c = syntheticDataset({ synthetic: 'spirals', n: 90, seed: 5 });
    expect(a.x).toEqual(b.x);
    expect(a.x).not.toEqual(c.x);
    for (const kind of ['moons', 'blobs'] as const) expect(syntheticDataset({ synthetic: kind, n: 10, seed: 1 }).n).toBe(10);
    const subset = subsetDataset(a, 30, 7);
    expect(subset.n).toBe(30);
    expect(subset.provenance.subset).toEqual({ n: 30, seed: 7 });
    expect(subsetDataset(a, 30, 7).x).toEqual(subset.x);
    expect(subsetDataset(a, 30, 8).x).not.toEqual(subset.x);
  });
});
