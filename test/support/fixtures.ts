import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseJobSpec, type SurfaceSpec } from '@landscape/core';

/** The PyTorch float64 reference fixtures (test/fixtures/reference/README.md states every convention). */
export const REFERENCE_DIR = join(__dirname, '..', 'fixtures', 'reference');
export const REFERENCE_MODELS = ['m1_mlp', 'm2_cnn'] as const;
export type ReferenceModel = (typeof REFERENCE_MODELS)[number];

export function referencePath(model: ReferenceModel, file: string): string {
  return join(REFERENCE_DIR, model, file);
}

export function readReference<T = any>(model: ReferenceModel, file: string): T {
  return JSON.parse(readFileSync(referencePath(model, file), 'utf8')) as T;
}

/** Largest |a − b| / |b| over paired numbers (b = reference). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} vs ${expected.length}`);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.abs(expected[i]!);
    const diff = Math.abs(actual[i]! - expected[i]!);
    worst = Math.max(worst, scale === 0 ? (diff === 0 ? 0 : Infinity) : diff / scale);
  }
  return worst;
}

/** NumPy-written data files and NumPy's float32 view of them (test/fixtures/data/generate.py). */
export const DATA_FIXTURES_DIR = join(__dirname, '..', 'fixtures', 'data');

/** The surface of ref_surface2d.json: the raw directions filter-normalized (bias ignored) on a 9×7 grid. */
export function referenceSurfaceSpec(): SurfaceSpec {
  return parseJobSpec({
    kind: 'surface',
    model: 'model_trained',
    data: 'dataset.json',
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { file: 'direction_d1_raw.json' }, y: { file: 'direction_d2_raw.json' }, normalization: 'filter', bias: 'ignore' },
    grid: { x: [-1, 1, 9], y: [-0.5, 0.5, 7] },
  }) as SurfaceSpec;
}
