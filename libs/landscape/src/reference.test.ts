import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  coreJobKinds,
  Evaluator,
  landscapeHandler,
  landscapeTiles,
  runEmbedded,
  loadDatasetFile,
  loadModel,
  parseJobSpec,
  prepareLandscape,
  readWeightSetFile,
  selectBackend,
  assembleTiles,
  type LandscapeResult,
  type LineSpec,
  type TileResult,
} from '@landscape/core';
import { maxRelativeError, readReference, referencePath, referenceSurfaceSpec, REFERENCE_MODELS, type ReferenceModel } from '../../../test/support/fixtures';

const resolverFor = (model: ReferenceModel) => (ref: string) => referencePath(model, ref);
const BACKENDS = ['wasm', 'cpu'] as const;
const out = mkdtempSync(join(tmpdir(), 'landscape-reference-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe.each(REFERENCE_MODELS)('reference %s', (name) => {
  const resolve = resolverFor(name);

  it('loads model weights bit-exactly equal to the weight-set files', () => {
    for (const which of ['init', 'trained']) {
      const model = loadModel(referencePath(name, `model_${which}`));
      const fromJson = readWeightSetFile(referencePath(name, `weights_${which}.json`), model.description.layout);
      expect(Array.from(model.weights)).toEqual(Array.from(fromJson));
    }
  });

  it.each(BACKENDS)('matches the reference losses, accuracies and logits at init and trained (%s)', async (backend) => {
    await selectBackend(backend);
    const ref = readReference(name, 'ref_loss.json');
    const data = loadDatasetFile(referencePath(name, 'dataset.json'));
    for (const which of ['init', 'trained'] as const) {
      const model = loadModel(referencePath(name, `model_${which}`));
      const evaluator = new Evaluator({ model: model.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 64 });
      const value = evaluator.evaluate(model.weights);
      evaluator.dispose();
      expect(Math.abs(value.loss - ref[`weights_${which}`].loss_f64) / ref[`weights_${which}`].loss_f64).toBeLessThan(1e-5);
      expect(value.accuracy).toBeCloseTo(ref[`weights_${which}`].accuracy, 12);
    }
  });

  it('evaluates like tfjs-layers model.predict', async () => {
    await selectBackend('cpu');
    const dir = referencePath(name, 'model_trained');
    const json = JSON.parse(readFileSync(`${dir}/model.json`, 'utf8'));
    const weightData = new Uint8Array(readFileSync(`${dir}/weights.bin`)).buffer;
    const layersModel = await tfl.loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData }),
    );
    const data = loadDatasetFile(referencePath(name, 'dataset.json'));
    const model = loadModel(dir);
    const { forward, toTensors } = await import('@landscape/core');
    const [ours, theirs] = tf.tidy(() => {
      const x = tf.tensor(data.x, [data.n, ...data.sampleShape]);
      const params = toTensors(model.weights, model.description.layout);
      return [forward(model.description, params, x).dataSync(), (layersModel.predict(x) as tf.Tensor).dataSync()];
    });
    expect(maxRelativeError(ours, theirs)).toBeLessThan(1e-6);
    const ref = readReference(name, 'ref_loss.json');
    const logits = (ref.weights_trained.logits_f64 as number[][]).flat();
    let worst = 0;
    ours.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - logits[i]!))));
    expect(worst).toBeLessThan(1e-5);
    layersModel.dispose();
  });

  it('filter-normalizes the raw directions like the reference (1e-6 relative)', () => {
    const prepared = prepareLandscape(referenceSurfaceSpec(), resolve);
    const { layout } = prepared.model.description;
    expect(maxRelativeError(prepared.plan.directions[0]!, readWeightSetFile(referencePath(name, 'direction_n1_filternorm.json'), layout))).toBeLessThan(1e-6);
    expect(maxRelativeError(prepared.plan.directions[1]!, readWeightSetFile(referencePath(name, 'direction_n2_filternorm.json'), layout))).toBeLessThan(1e-6);
    const ref = readReference(name, 'ref_surface2d.json');
    expect(prepared.directions[0]!.norm).toBeCloseTo(ref.norm_n1, 9);
  });

  it.each(BACKENDS)('reproduces the 1D interpolation (%s, two threads)', async (backend) => {
    const ref = readReference(name, 'ref_interp1d.json');
    const spec = parseJobSpec({
      kind: 'line',
      model: 'model_init',
      to: 'model_trained',
      data: 'dataset.json',
      loss: 'sparse_categorical_crossentropy',
      grid: { x: [-0.5, 1.5, 26] },
      tiles: { x: 5 },
    }) as LineSpec;
    const prepared = prepareLandscape(spec, resolve);
    expect(maxRelativeError(prepared.plan.grid.x, ref.alphas)).toBeLessThan(1e-12);
    const result = (await runEmbedded(coreJobKinds, spec, resolve, join(out, `${name}-line-${backend}`), { threads: 2, backend })) as LandscapeResult;
    expect(result.backend).toBe(backend);
    expect(result.threads).toBe(2);
    expect(maxRelativeError(result.loss as number[], ref.loss_f64)).toBeLessThan(1e-5);
    expect(result.accuracy).toEqual(ref.accuracy);
  });

  it.each(BACKENDS)('reproduces the non-square filter-normalized 2D surface (%s)', async (backend) => {
    const ref = readReference(name, 'ref_surface2d.json');
    const spec = referenceSurfaceSpec();
    const prepared = prepareLandscape(spec, resolve);
    const tiles = landscapeTiles(spec, prepared.plan.grid);
    const results = new Map<string, TileResult>();
    for (const tile of tiles) {
      results.set(tile.id, (await landscapeHandler.runUnit(spec, prepared, tile.id, { backend, inputs: new Map() })) as TileResult);
    }
    landscapeHandler.release!(prepared);
    const surface = assembleTiles(prepared.plan.grid, tiles, results.values());
    expect(surface.loss).toHaveLength(7);
    expect(surface.loss[0]).toHaveLength(9);
    expect(surface.pointsComputed).toBe(63);
    expect(maxRelativeError(surface.loss.flat() as number[], (ref.loss_f64 as number[][]).flat())).toBeLessThan(1e-5);
    expect(surface.accuracy).toEqual(ref.accuracy);
  });
});
