import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { landscapeHandler, parseJobSpec, runEmbedded, type LineSpec } from '@landscape/core';
import { ArtifactCache, encodeModelBundle, FsArtifactStore, readModelDirectory } from '@landscape/jobs';
import { afterAll, describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../support/fixtures';

/**
 * The worker's artifact cache trusts nothing on disk: a planted entry (the hostile run replaced a model's
 * weights and changed a job's origin loss from 0.11 to 1.29 with no error) is detected, discarded and fetched again.
 */
const M1 = join(REFERENCE_DIR, 'm1_mlp');
const tmp = mkdtempSync(join(tmpdir(), 'landscape-cache-test-'));
const reference = JSON.parse(readFileSync(join(M1, 'ref_loss.json'), 'utf8')) as Record<string, { loss_f32: number }>;

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The loss at the model's own weights, as a one-point line job computes it from the cache's copies. */
async function originLoss(cache: ArtifactCache, model: string, data: string): Promise<number> {
  const spec = parseJobSpec({
    kind: 'line',
    model,
    to: model,
    data,
    loss: 'sparse_categorical_crossentropy',
    grid: { x: [0, 0, 1] },
    backend: 'cpu',
    threads: 1,
  });
  const { resolve } = await cache.resolverFor(spec, { [model]: { kind: 'model' }, [data]: { kind: 'data', filename: 'dataset.json' } });
  const result = (await runEmbedded(landscapeHandler, spec as LineSpec, resolve, mkdtempSync(join(tmp, 'out-')), { threads: 1, backend: 'cpu' })) as {
    loss: number[];
  };
  return result.loss[0]!;
}

describe('artifact cache', () => {
  it('detects a planted model entry, downloads the real one again, and the loss matches the PyTorch reference', async () => {
    const store = new FsArtifactStore(join(tmp, 'store'), 1e8);
    const model = (await store.put(encodeModelBundle(readModelDirectory(join(M1, 'model_trained'))), { kind: 'model' })).id;
    const data = (await store.put(readFileSync(join(M1, 'dataset.json')), { kind: 'data', filename: 'dataset.json' })).id;
    const cacheDir = join(tmp, 'cache');
    const first = new ArtifactCache(store, cacheDir);
    expect(await originLoss(first, model, data)).toBeCloseTo(reference.weights_trained!.loss_f32, 5);

    // Plant the initial weights in the trained model's entry, then start a fresh process-local cache over the dir.
    // The model directory sits under its upload name, so figures label it as an embedded run does.
    const entry = await first.ensure(model, 'model', { kind: 'model' });
    expect(basename(entry)).toBe('model');
    copyFileSync(join(M1, 'model_init', 'weights.bin'), join(entry, 'weights.bin'));
    const second = new ArtifactCache(store, cacheDir);
    expect(await originLoss(second, model, data)).toBeCloseTo(reference.weights_trained!.loss_f32, 5);
    expect(second.discarded).toBe(1);
    expect(readFileSync(join(entry, 'weights.bin')).equals(readFileSync(join(M1, 'model_trained', 'weights.bin')))).toBe(true);

    // The same cache notices a change made after it verified the entry.
    writeFileSync(join(entry, 'weights.bin'), readFileSync(join(M1, 'model_init', 'weights.bin')));
    await second.ensure(model, 'model', { kind: 'model' });
    expect(second.discarded).toBe(2);
  });

  it('detects a planted data file, and keeps each uploader’s file name apart', async () => {
    const store = new FsArtifactStore(join(tmp, 'store2'), 1e8);
    const bytes = readFileSync(join(M1, 'dataset.json'));
    const id = (await store.put(bytes, { kind: 'data', filename: 'dataset.json' })).id;
    const cache = new ArtifactCache(store, join(tmp, 'cache2'));
    const path = await cache.ensure(id, 'data', { kind: 'data', filename: 'dataset.json' });
    writeFileSync(path, '{"x": [[0, 0, 0, 0]], "y": [0]}');
    expect(readFileSync(await new ArtifactCache(store, join(tmp, 'cache2')).ensure(id, 'data', { kind: 'data', filename: 'dataset.json' })).equals(bytes)).toBe(
      true,
    );
    const other = await cache.ensure(id, 'data', { kind: 'data', filename: 'samples.json' });
    expect(other).not.toBe(path);
    expect(other.endsWith('samples.json')).toBe(true);
  });
});
