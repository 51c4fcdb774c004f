import { createRng, InputError } from '@landscape/core';
import { checkCheckpoints } from './checkpoints';
import { idwInverseMap, type InverseMap, type InverseMapOptions } from './inverse-map';

export interface UmapOptions {
  /** Default 15 (umap-js's default); needs at least nNeighbors + 1 checkpoints. */
  nNeighbors?: number;
  minDist?: number;
  spread?: number;
  /** Default: umap-js's own choice (500 up to 2,500 points, then 400, 300, 200). */
  nEpochs?: number;
  /** Seeds every random choice of umap-js (forest, NN-descent, initial layout, negative sampling). Default 0. */
  seed?: number;
  /** The inverse map's neighbours and exponent. */
  inverse?: InverseMapOptions;
}

export interface UmapEmbedding {
  /** One 2-D point per checkpoint. */
  embedding: number[][];
  nNeighbors: number;
  minDist: number;
  spread: number;
  nEpochs: number;
  seed: number;
  /** 2-D points → parameter vectors (IDW among the nearest embedded checkpoints, see inverse-map.ts). */
  inverse: InverseMap;
}

/** The settings a fit of `n` checkpoints uses, checked (InputError naming the option) before anything is computed. */
export function umapSettings(n: number, options: UmapOptions): { nNeighbors: number; minDist: number; spread: number; seed: number; nEpochs: number } {
  const nNeighbors = options.nNeighbors ?? 15;
  const minDist = options.minDist ?? 0.1;
  const spread = options.spread ?? 1;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(nNeighbors) || nNeighbors < 2) throw new InputError(`must be an integer ≥ 2, got ${nNeighbors}`, 'nNeighbors');
  if (n < nNeighbors + 1) {
    throw new InputError(`UMAP with nNeighbors = ${nNeighbors} needs at least ${nNeighbors + 1} checkpoints, got ${n} (lower nNeighbors)`, 'checkpoints');
  }
  if (!(spread > 0)) throw new InputError(`must be > 0, got ${spread}`, 'spread');
  if (!(minDist >= 0 && minDist <= spread)) throw new InputError(`must be in [0, spread = ${spread}], got ${minDist}`, 'minDist');
  if (!Number.isInteger(seed) || seed < 0) throw new InputError(`must be a non-negative integer, got ${seed}`, 'seed');
  const nEpochs = options.nEpochs ?? (n <= 2500 ? 500 : n <= 5000 ? 400 : n <= 7500 ? 300 : 200);
  if (!Number.isInteger(nEpochs) || nEpochs < 1) throw new InputError(`must be a positive integer, got ${nEpochs}`, 'nEpochs');
  return { nNeighbors, minDist, spread, seed, nEpochs };
}

/**
 * UMAP of checkpoints into 2-D with umap-js, reproducible: umap-js draws from Math.random unless it is given a
 * `random` function, so it gets a fresh seeded generator per fit; the same rows and seed give the same embedding.
 * Blocks the calling thread (cost grows with n² and the parameter count of each distance).
 */
export function fitUmap(rows: readonly Float64Array[], options: UmapOptions = {}): UmapEmbedding {
  const { n } = checkCheckpoints(rows, 'checkpoints', 1);
  const { nNeighbors, minDist, spread, seed, nEpochs } = umapSettings(n, options);
  const rng = createRng(seed);
  // Loaded on use: umap-js (and its dependencies) is a few ms of every process's start-up.
  const { UMAP } = require('umap-js') as typeof import('umap-js');
  const umap = new UMAP({ nComponents: 2, nNeighbors, minDist, spread, nEpochs, random: rng.uniform });
  // umap-js only indexes rows and reads .length, so the Float64Arrays go in as they are (no n×P number[] copy).
  const embedding = umap.fit(rows as unknown as number[][]).map((point) => [point[0]!, point[1]!]);
  return { embedding, nNeighbors, minDist, spread, nEpochs, seed, inverse: idwInverseMap(embedding, rows, options.inverse) };
}
