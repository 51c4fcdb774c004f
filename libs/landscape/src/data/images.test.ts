import { describe, expect, it } from 'vitest';
import { parseJobSpec, syntheticDataset } from '@landscape/core';

describe('synthetic images', () => {
  it('are seeded NHWC gratings whose orientation is the class', () => {
    const spec = { synthetic: 'images' as const, n: 8, seed: 3, classes: 2, noise: 0, shape: [6, 5, 2] as [number, number, number] };
    const data = syntheticDataset(spec);
    expect(data.sampleShape).toEqual([6, 5, 2]);
    expect(data.x).toHaveLength(8 * 60);
    expect(data.targets).toEqual({ kind: 'labels', labels: Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]) });
    expect(syntheticDataset(spec).x).toEqual(data.x);
    expect(syntheticDataset({ ...spec, seed: 4 }).x).not.toEqual(data.x);
    const pixel = (i: number, row: number, col: number, c: number): number => data.x[i * 60 + (row * 5 + col) * 2 + c]!;
    for (let row = 1; row < 6; row++) {
      for (let col = 1; col < 5; col++) {
        // Class 0 (angle 0) varies along columns only; class 1 (angle π/2) along rows only.
        expect(pixel(0, row, col, 1)).toBeCloseTo(pixel(0, 0, col, 1), 6);
        expect(pixel(1, row, col, 0)).toBeCloseTo(pixel(1, row, 0, 0), 6);
      }
    }
    expect(pixel(0, 0, 0, 0)).not.toBeCloseTo(pixel(0, 0, 2, 0), 3);
    expect(data.provenance.source).toBe('synthetic:images(n=8,seed=3,classes=2,noise=0,shape=6x5x2)');
  });

  it('are a data source of the job spec', () => {
    const spec = parseJobSpec({ kind: 'hessian', model: 'm', loss: 'mse', top: { k: 1 }, data: { synthetic: 'images', n: 10, shape: [16, 16, 3] } });
    expect(spec.data).toMatchObject({ synthetic: 'images', shape: [16, 16, 3] });
    expect(() => parseJobSpec({ kind: 'hessian', model: 'm', loss: 'mse', top: { k: 1 }, data: { synthetic: 'images', n: 10, shape: [16, 16] } })).toThrow(
      /data/,
    );
  });
});
