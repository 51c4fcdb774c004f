import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '@landscape/core';
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
    // The path starts at the initial weights (the model file the demo trained from), then 40 checkpoints.
    const recorded = JSON.parse(readFileSync(join(out, 'train', 'trajectory.json'), 'utf8')) as { checkpoints: number[][]; steps: number[] };
    expect(recorded.steps[0]).toBe(0);
    expect(recorded.checkpoints[0]).toEqual(Array.from(loadModel(join(out, 'model_init')).weights));
    for (const method of Object.values(trajectory.methods) as { coords: number[][]; trustworthiness: number; grid: { pointsComputed: number } }[]) {
      expect(method.coords).toHaveLength(41);
      expect(method.trustworthiness).toBeGreaterThan(0.9);
      expect(method.grid.pointsComputed).toBe(21 * 21);
    }
    for (const file of ['report.html', 'pca-directions-contour.svg', 'umap-surface.html']) expect(existsSync(join(out, 'trajectory', file))).toBe(true);
    // Figures are titled by the spec's label, and the path's first point is named for what it is.
    expect(readFileSync(join(out, 'surface', 'contour.svg'), 'utf8')).toContain('>spiral MLP — loss surface<');
    expect(readFileSync(join(out, 'trajectory', 'pca-contour.svg'), 'utf8')).toContain('>initial weights (step 0)<');
  });
});
