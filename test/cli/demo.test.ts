import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';

describe('landscape demo', () => {
  const root = mkdtempSync(join(tmpdir(), 'landscape-demo-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('trains a model and writes the line, surface and trajectory landscapes with every plot and export', () => {
    const out = join(root, 'demo');
    const result = runCli(['demo', '--out', out]);
    expect(result.status).toBe(0);
    for (const file of ['result.json', 'result.csv', 'contour.svg', 'surface.html', 'surface.h5', 'surface.vtp'])
      expect(existsSync(join(out, 'surface', file))).toBe(true);
    for (const file of ['result.json', 'result.csv', 'line.svg', 'line.h5']) expect(existsSync(join(out, 'line', file))).toBe(true);
    const surface = JSON.parse(readFileSync(join(out, 'surface', 'result.json'), 'utf8'));
    expect(surface.pointsComputed).toBe(51 * 51);
    // The trained model sits in a basin: the centre is the lowest point of its neighbourhood and classifies well.
    const centre = surface.loss[25][25];
    expect(surface.accuracy[25][25]).toBeGreaterThan(0.9);
    expect(centre).toBeLessThan(surface.loss[0][0]);
    expect(centre).toBeLessThan(surface.loss[50][50]);
    const line = JSON.parse(readFileSync(join(out, 'line', 'result.json'), 'utf8'));
    expect(line.loss).toHaveLength(41);
    expect(line.loss[30]).toBeLessThan(line.loss[10]); // α = 1 (trained) below α = 0 (init)
    // The training run's trajectory and its embedding landscapes, every method.
    for (const file of ['trajectory.json', 'loss.svg', 'model.json', 'weights.bin', 'result.json']) expect(existsSync(join(out, 'train', file))).toBe(true);
    const trajectory = JSON.parse(readFileSync(join(out, 'trajectory', 'result.json'), 'utf8'));
    expect(Object.keys(trajectory.methods)).toEqual(['pca', 'pca-directions', 'umap', 'autoencoder']);
    for (const method of Object.values(trajectory.methods) as { coords: number[][]; trustworthiness: number; grid: { pointsComputed: number } }[]) {
      expect(method.coords).toHaveLength(40);
      expect(method.trustworthiness).toBeGreaterThan(0.9);
      expect(method.grid.pointsComputed).toBe(21 * 21);
    }
    for (const file of ['report.html', 'pca-directions-contour.svg', 'umap-surface.html']) expect(existsSync(join(out, 'trajectory', file))).toBe(true);
  });
});
