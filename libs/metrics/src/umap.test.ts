import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '@landscape/core';
import { idwInverseMap, idwLeaveOneOut } from './inverse-map';
import { continuity, reconstructionMse, trustworthiness } from './quality';
import { fitUmap } from './umap';

const trajectory = JSON.parse(readFileSync(join(__dirname, '../../../test/fixtures/reference/m1_mlp/trajectory.json'), 'utf8')) as { checkpoints: number[][] };
const rows = trajectory.checkpoints.map((row) => Float64Array.from(row));

describe('UMAP of the M1 trajectory', () => {
  const first = fitUmap(rows, { nNeighbors: 10, seed: 7 });

  it('is reproducible for a seed and changes with the seed', () => {
    const again = fitUmap(rows, { nNeighbors: 10, seed: 7 });
    expect(again.embedding).toEqual(first.embedding);
    const other = fitUmap(rows, { nNeighbors: 10, seed: 8 });
    expect(other.embedding).not.toEqual(first.embedding);
    expect(first.embedding).toHaveLength(40);
    expect(first.embedding.flat().every(Number.isFinite)).toBe(true);
  });

  it('keeps neighbourhoods of a smooth trajectory', () => {
    // A slowly moving SGD path: a sound 2-D layout keeps most 5-neighbourhoods (PCA reaches 0.9977 here).
    expect(trustworthiness(rows, first.embedding, 5)).toBeGreaterThan(0.9);
    expect(continuity(rows, first.embedding, 5)).toBeGreaterThan(0.9);
  });

  it('maps embedded checkpoints back exactly and interpolates between them', () => {
    expect(first.inverse(first.embedding)).toEqual(rows);
    const [a, b] = [first.embedding[0]!, first.embedding[1]!];
    const middle = first.inverse([[(a[0]! + b[0]!) / 2, (a[1]! + b[1]!) / 2]])[0]!;
    // a convex combination: every coordinate within the range of the checkpoints
    for (let c = 0; c < middle.length; c++) {
      const values = rows.map((row) => row[c]!);
      expect(middle[c]).toBeGreaterThanOrEqual(Math.min(...values) - 1e-12);
      expect(middle[c]).toBeLessThanOrEqual(Math.max(...values) + 1e-12);
    }
  });

  it('rejects too few checkpoints with an InputError', () => {
    expect(() => fitUmap(rows.slice(0, 15), { nNeighbors: 15 })).toThrow(InputError);
    expect(() => fitUmap(rows.slice(0, 15), { nNeighbors: 15 })).toThrow(/needs at least 16 checkpoints, got 15/);
    expect(() => first.inverse([[0]])).toThrow(/point 0 has 1 coordinates, expected 2/);
  });
});

describe('IDW inverse map', () => {
  const embedding = [
    [0, 0],
    [1, 0],
    [0, 1],
    [5, 5],
  ];
  const points = [Float64Array.of(0, 0), Float64Array.of(2, 0), Float64Array.of(0, 4), Float64Array.of(9, 9)];

  it('weights the k nearest by inverse squared distance', () => {
    const inverse = idwInverseMap(embedding, points, { k: 2 });
    // (0.5, 0): nearest are [0,0] and [1,0] at 0.5 each: the mean of their rows
    expect(Array.from(inverse([[0.5, 0]])[0]!)).toEqual([1, 0]);
    // (0.25, 0): distances 0.25 and 0.75 → weights 16 and 16/9 → 0.9·row0 + 0.1·row1
    const value = inverse([[0.25, 0]])[0]!;
    expect(value[0]).toBeCloseTo(0.2, 14);
    expect(value[1]).toBe(0);
  });

  it('gives a leave-one-out reconstruction error that is not trivially zero', () => {
    const loo = idwLeaveOneOut(embedding, points, { k: 1 });
    expect(Array.from(loo[0]!)).toEqual([2, 0]); // nearest other of (0,0) is (1,0) (tie with (0,1) → lower index)
    expect(reconstructionMse(points, loo)).toBeGreaterThan(0);
    expect(() => idwInverseMap(embedding, points, { k: 5 })).toThrow(/inverse.k/);
    expect(() => idwInverseMap(embedding.slice(1), points)).toThrow(/embedding: has 3 points for 4 checkpoints/);
  });
});
