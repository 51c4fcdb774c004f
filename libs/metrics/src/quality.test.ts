import { describe, expect, it } from 'vitest';
import { createRng, InputError } from '@landscape/core';
import { distancesFromGram, nearestNeighbours, squaredDistances } from './neighbours';
import { continuity, reconstructionMse, relativeLossError, trustworthiness } from './quality';

describe('trustworthiness and continuity', () => {
  // 1-D points with distinct distances; the embedding swaps the two end points. Worked by hand: the false
  // neighbours cost 1 + 2 + 2 + 0 + 1 = 6 rank steps, T = 1 − 6 · 2/(5·2·(10−6−1)) = 0.6.
  const x = [[0], [1], [3], [7], [15]];
  const y = [[15], [1], [3], [7], [0]];

  it('gives the hand-computed value', () => {
    expect(trustworthiness(x, y, 2)).toBeCloseTo(0.6, 15);
    expect(continuity(x, y, 2)).toBeCloseTo(0.6, 15);
  });

  it('is 1 for an isometry (rotation + translation) and continuity is trustworthiness with roles swapped', () => {
    const rng = createRng(3);
    const points = Array.from({ length: 30 }, () => [rng.normal(), rng.normal()]);
    const angle = 0.7;
    const moved = points.map(([a, b]) => [Math.cos(angle) * a! - Math.sin(angle) * b! + 5, Math.sin(angle) * a! + Math.cos(angle) * b! - 2]);
    expect(trustworthiness(points, moved, 5)).toBe(1);
    expect(continuity(points, moved, 5)).toBe(1);
    // Dropping a coordinate of 3-D points: fewer than 1, and the two measures differ in general.
    const cloud = Array.from({ length: 30 }, () => [rng.normal(), rng.normal(), rng.normal()]);
    const flat = cloud.map(([a, b]) => [a!, b!]);
    const t = trustworthiness(cloud, flat, 5);
    const c = continuity(cloud, flat, 5);
    expect(t).toBeLessThan(1);
    expect(c).toBeLessThan(1);
    expect(c).toBe(trustworthiness(flat, cloud, 5));
  });

  it('accepts distances from a Gram matrix', () => {
    const rows = [Float64Array.of(1, 0, 2), Float64Array.of(0, 1, 1), Float64Array.of(3, 1, 0)];
    const gram = new Float64Array(9);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) gram[i * 3 + j] = rows[i]!.reduce((s, v, c) => s + v * rows[j]![c]!, 0);
    const fromGram = distancesFromGram(gram, 3);
    const direct = squaredDistances(rows);
    for (let i = 0; i < 9; i++) expect(fromGram.d2[i]).toBeCloseTo(direct.d2[i]!, 12);
    expect(Array.from(nearestNeighbours(direct, 1)[2]!)).toEqual([0]);
  });

  it('rejects bad input', () => {
    expect(() => trustworthiness(x, y, 3)).toThrow(InputError); // k ≥ n/2
    expect(() => trustworthiness(x, y.slice(1), 2)).toThrow(/embedded: has 4 points/);
    expect(() => trustworthiness([[0], [1, 2], [3], [4], [5]], y, 2)).toThrow(/point 1 has 2 coordinates/);
  });
});

describe('reconstruction and loss errors', () => {
  it('computes the mean squared error over all entries', () => {
    expect(
      reconstructionMse(
        [
          [1, 2],
          [3, 4],
        ],
        [
          [1, 2],
          [3, 6],
        ],
      ),
    ).toBe(1);
    expect(() => reconstructionMse([[1, 2]], [[1]])).toThrow(/row 0 has 1 numbers/);
  });
  it('computes the mean relative loss error', () => {
    expect(relativeLossError([1.1, 1.8], [1, 2])).toBeCloseTo(0.1, 15);
    expect(() => relativeLossError([1], [0])).toThrow(/loss 0 must be finite and > 0/);
    expect(() => relativeLossError([1, 2], [1])).toThrow(InputError);
  });
});
