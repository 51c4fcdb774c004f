import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  evaluationSubspace,
  flatToWeightSet,
  formatValue,
  InputError,
  loadModel,
  parseJobSpec,
  runEmbedded,
  type TileResult,
  type TrajectorySpec,
} from '@landscape/core';
import { maxRelativeError } from '../../../test/support/fixtures';
import { prepareTrajectory, trajectoryHandler, type TrajectoryResult } from './trajectory-job';

const REFERENCE = join(__dirname, '../../../test/fixtures/reference');
const out = mkdtempSync(join(tmpdir(), 'trajectory-job-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const load = (model: string, file: string) => JSON.parse(readFileSync(join(REFERENCE, model, file), 'utf8'));

function specFor(model: string, extra: object): TrajectorySpec {
  return parseJobSpec({
    kind: 'trajectory',
    model: join(REFERENCE, model, 'model_trained'),
    data: join(REFERENCE, model, 'dataset.json'),
    loss: 'sparse_categorical_crossentropy',
    trajectory: join(REFERENCE, model, 'trajectory.json'),
    backend: 'cpu',
    ...extra,
  }) as TrajectorySpec;
}

const resolve = (ref: string): string => (isAbsolute(ref) ? ref : join(out, ref));

/** `landscape run`'s path: plan, prepare, every unit, assemble; the prepared job is freed afterwards. */
async function run(spec: TrajectorySpec, dir: string): Promise<TrajectoryResult> {
  return (await runEmbedded(trajectoryHandler, spec, resolve, join(out, dir), { threads: 1, backend: 'cpu' })) as TrajectoryResult;
}

/** Equal up to one sign flip per axis. */
function expectCoordsUpToSign(actual: number[][], expected: number[][], tolerance: number): void {
  expect(actual).toHaveLength(expected.length);
  for (const axis of [0, 1]) {
    const sign = Math.sign(actual.reduce((s, p, i) => s + p[axis]! * expected[i]![axis]!, 0)) || 1;
    actual.forEach((point, i) => expect(Math.abs(sign * point[axis]! - expected[i]![axis]!)).toBeLessThan(tolerance));
  }
}

const ALL = { grid: { steps: [5, 4], margin: 0.25 }, umap: { nEpochs: 100, seed: 3 }, autoencoder: { epochs: 80, hidden: [16], seed: 2 } };

describe('trajectory job, all methods on the M1 reference trajectory', () => {
  let first: TrajectoryResult;

  it('matches the scikit-learn reference and evaluates every grid', async () => {
    first = await run(specFor('m1_mlp', ALL), 'm1-a');
    const ref = load('m1_mlp', 'ref_trajectory_pca.json');
    const trajectory = load('m1_mlp', 'trajectory.json');
    expect(Object.keys(first.methods)).toEqual(['pca', 'pca-directions', 'umap', 'autoencoder']);

    const pca = first.methods.pca!;
    pca.explainedVarianceRatio!.forEach((r, k) => expect(Math.abs(r - ref.mean_centred.explained_variance_ratio[k])).toBeLessThan(1e-6));
    expectCoordsUpToSign(pca.coords, ref.mean_centred.embedding, 1e-5);
    expect(Math.abs(pca.trustworthiness - ref.mean_centred.trustworthiness_k5)).toBeLessThan(1e-9);
    expect(Math.abs(pca.reconstructionMse / ref.mean_centred.reconstruction_mse - 1)).toBeLessThan(1e-6);

    const li = first.methods['pca-directions']!;
    li.explainedVarianceRatio!.forEach((r, k) => expect(Math.abs(r - ref.li_final_centred.explained_variance_ratio[k])).toBeLessThan(1e-6));
    expectCoordsUpToSign(li.coords, ref.li_final_centred.projection, 1e-5);
    expect(li.coords[39]).toEqual([0, 0]);
    expect(Math.abs(li.trustworthiness - ref.li_final_centred.trustworthiness_k5)).toBeLessThan(1e-9);
    // The plane through θ_final fits no better than the best (mean-centred) plane.
    expect(li.reconstructionMse).toBeGreaterThanOrEqual(pca.reconstructionMse);
    expect(li.axes.x).toMatch(/PC1.*93\.39 %/);

    // float32 evaluation of the stored checkpoints against the float64 reference losses
    first.checkpointLoss.forEach((loss, i) => expect(Math.abs(loss / trajectory.loss_f64_at_checkpoint[i] - 1)).toBeLessThan(1e-5));
    expect(first.steps).toEqual(trajectory.sgd_steps_at_checkpoint);
    for (const [name, method] of Object.entries(first.methods)) {
      expect(method.coords, name).toHaveLength(40);
      expect(method.grid.loss, name).toHaveLength(4);
      expect(
        method.grid.loss.flat().every((v) => typeof v === 'number' && v > 0),
        name,
      ).toBe(true);
      expect(
        method.grid.accuracy.flat().every((v) => typeof v === 'number' && v >= 0 && v <= 1),
        name,
      ).toBe(true);
      expect(method.trustworthiness, name).toBeGreaterThan(0.5);
      expect(method.continuity, name).toBeGreaterThan(0.5);
      expect(method.relativeLossError, name).toBeGreaterThanOrEqual(0);
      expect(method.reconstructedLoss, name).toHaveLength(40);
      // the grid spans the embedding plus the margin
      const xs = method.coords.map((p) => p[0]!);
      expect(method.grid.x[0]!, name).toBeLessThan(Math.min(...xs));
      expect(method.grid.x[4]!, name).toBeGreaterThan(Math.max(...xs));
    }
    // PCA's reconstructions lie on the plotted plane: their losses are the path's.
    expect(pca.pathLoss).toEqual(pca.reconstructedLoss);
    expect(first.methods.umap!.pathLoss).toEqual(first.checkpointLoss);
    expect(first.pointsComputed).toBe(80);
    expect(first.points).toBe(80);
    expect(first.seeds).toEqual({ umap: 3, autoencoder: 2 });
    // The reference MLP's first layer is too narrow for shared terms to pay; UMAP's and the autoencoder's grids lie on no plane.
    expect(pca.evaluation.subspace).toEqual({ layers: ['dense_Dense1'], used: false, reason: expect.stringMatching(/does not pay/) });
    expect(first.methods.umap!.evaluation.subspace).toEqual({
      layers: [],
      used: false,
      reason: expect.stringMatching(/inverse-distance interpolation\) is not linear/),
    });
    expect(first.methods.autoencoder!.evaluation.subspace).toMatchObject({ used: false, reason: expect.stringMatching(/decoder\) is not linear/) });

    const dir = join(out, 'm1-a');
    const saved = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8'));
    expect(saved.methods.umap.coords).toEqual(first.methods.umap!.coords);
    // One colour scale for every panel: the same thresholds and fills in each contour, spanning every method's
    // grid, and the same colour range in each 3-D view.
    const allLosses = Object.values(first.methods).flatMap((method) => method.grid.loss.flat() as number[]);
    const scales = Object.keys(first.methods).map((name) => {
      const svg = readFileSync(join(dir, `${name}-contour.svg`), 'utf8');
      expect(svg).toContain('class="path"');
      expect(svg).toContain('>start<');
      expect(svg).toContain('loss (levels shared by all panels)');
      const html = readFileSync(join(dir, `${name}-surface.html`), 'utf8');
      expect(html).toContain('"name":"training trajectory"');
      const levels = [...svg.matchAll(/<path class="level"[^>]*data-threshold="([^"]*)" fill="([^"]*)"/g)].map((m) => [Number(m[1]), m[2]]);
      const page = JSON.parse(/<script id="landscape-data" type="application\/json">(.*?)<\/script>/s.exec(html)![1]!);
      const { scale, labels, max } = page.colour as { scale: [number, string][]; labels: string[]; max: number };
      return { levels, colour: { scale, labels, max } };
    });
    for (const scale of scales) expect(scale).toEqual(scales[0]);
    expect(scales[0]!.levels[0]![0]).toBe(Math.min(...allLosses));
    // The 3-D views colour each band as the contours do, and their colour bars end at the lowest and highest loss of all grids.
    expect(scales[0]!.colour.scale.filter((_, i) => i % 2 === 0).map(([, colour]) => colour)).toEqual(scales[0]!.levels.map(([, fill]) => fill));
    expect(scales[0]!.colour.labels[0]).toBe(formatValue(Math.min(...allLosses)));
    expect(scales[0]!.colour.labels.at(-1)).toBe(formatValue(Math.max(...allLosses)));
    // This trajectory file has no step 0, so its first point is named as what it is.
    expect(readFileSync(join(dir, 'pca-contour.svg'), 'utf8')).toContain(`>first checkpoint (step ${first.steps![0]})<`);
    expect(readFileSync(join(dir, 'pca-directions-contour.svg'), 'utf8')).toContain('PC1 of θ_i − θ_final');
    const report = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(report).toContain('trustworthiness (k = 5)');
    expect(report.match(/<svg /g)).toHaveLength(4);
    expect(report).toContain('id="ll3-clip"');
    expect(readFileSync(join(dir, 'result.csv'), 'utf8').split('\n')).toHaveLength(1 + 80 + 1);
  });

  it('is reproducible: the same spec gives the same numbers (UMAP and autoencoder included)', async () => {
    const tensors = tf.memory().numTensors;
    const second = await run(specFor('m1_mlp', ALL), 'm1-b');
    // The autoencoder and the evaluator free every tensor once the job is released.
    expect(tf.memory().numTensors).toBe(tensors);
    expect(second.methods).toEqual(first.methods);
    expect(second.checkpointLoss).toEqual(first.checkpointLoss);
    // Any worker may run an embedding unit, in its own process: a fresh process must derive the same embeddings.
    const script = `
      const { trajectoryHandler } = require('@landscape/metrics');
      const { parseJobSpec, selectBackend } = require('@landscape/core');
      (async () => {
        await selectBackend('cpu');
        const spec = parseJobSpec(${JSON.stringify(specFor('m1_mlp', ALL))});
        const prepared = trajectoryHandler.prepare(spec, (r) => r);
        const embeddings = [];
        for (const method of spec.methods)
          embeddings.push(await trajectoryHandler.runUnit(spec, prepared, 'embed:' + method, { backend: 'cpu', inputs: new Map() }));
        process.stdout.write(JSON.stringify(embeddings.map((e) => [e.method, e.coords])));
      })();`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: join(__dirname, '..') });
    expect(child.stderr).toBe('');
    const methods = JSON.parse(child.stdout) as [string, number[][]][];
    expect(methods.map(([name]) => name)).toEqual(Object.keys(first.methods));
    for (const [name, coords] of methods) expect(coords, name).toEqual(first.methods[name as keyof TrajectoryResult['methods']]!.coords);
  });
});

/** Mean cross-entropy of the reference MLP (4 → 12 tanh → 10 softplus → 3 logits) at θ, in float64, written out here. */
function referenceMlpLoss(theta: readonly number[], x: readonly number[][], labels: readonly number[]): number {
  const widths = [x[0]!.length, 12, 10, 3];
  const activations = [Math.tanh, (v: number) => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v))), (v: number) => v];
  let offset = 0;
  let h = x.map((row) => [...row]);
  for (let layer = 0; layer < 3; layer++) {
    const [fanIn, units] = [widths[layer]!, widths[layer + 1]!];
    const kernel = theta.slice(offset, (offset += fanIn * units));
    const bias = theta.slice(offset, (offset += units));
    h = h.map((row) => bias.map((b, j) => activations[layer]!(row.reduce((sum, v, i) => sum + v * kernel[i * units + j]!, b))));
  }
  return (
    h.reduce((sum, logits, i) => {
      const top = Math.max(...logits);
      return sum + top + Math.log(logits.reduce((s, v) => s + Math.exp(v - top), 0)) - logits[labels[i]!]!;
    }, 0) / h.length
  );
}

describe('PCA maps: subspace evaluation', () => {
  it('evaluates a PCA grid as a surface: the shared path equals the plain one and a float64 forward pass on the scikit-learn plane (1e-5)', async () => {
    // One tile per grid, so that a unit's points are the whole grid (y outer, x inner); four batches of samples.
    const spec = specFor('m1_mlp', {
      methods: ['pca', 'pca-directions'],
      grid: { steps: [5, 4], margin: 0.25 },
      tiles: { x: 5, y: 4 },
      evaluation: { batchSize: 64 },
    });
    const plain = await run(spec, 'm1-plane');
    const ref = load('m1_mlp', 'ref_trajectory_pca.json');
    const data = load('m1_mlp', 'dataset.json') as { x: number[][]; y: number[] };
    const rows: number[][] = load('m1_mlp', 'trajectory.json').checkpoints;
    const saved = JSON.parse(readFileSync(join(out, 'm1-plane', 'result.json'), 'utf8')) as TrajectoryResult;

    const prepared = prepareTrajectory(spec, resolve);
    // The shared path is forced: 'auto' leaves this narrow first layer to the plain path (the run above).
    const shared = { ...prepared, setup: { ...prepared.setup, subspace: 'always' as const } };
    expect(evaluationSubspace(shared.setup, 2)).toMatchObject({ layers: ['dense_Dense1'], used: true });
    const tensors = tf.memory().numTensors;
    const planes = [
      {
        method: 'pca' as const,
        centre: ref.mean_centred.mean as number[],
        components: ref.mean_centred.components as number[][],
        scores: ref.mean_centred.embedding,
      },
      {
        method: 'pca-directions' as const,
        centre: rows.at(-1)!,
        components: ref.li_final_centred.components as number[][],
        scores: ref.li_final_centred.projection,
      },
    ];
    for (const { method, centre, components, scores } of planes) {
      const result = plain.methods[method]!;
      expect(saved.methods[method]!.evaluation).toEqual(result.evaluation);
      const embedding = await trajectoryHandler.runUnit(spec, shared, `embed:${method}`, { backend: 'cpu', inputs: new Map() });
      const tile = (await trajectoryHandler.runUnit(spec, shared, `${method}:r0c0`, {
        backend: 'cpu',
        inputs: new Map([[`embed:${method}`, embedding]]),
      })) as TileResult;
      expect(tile.tileId).toBe(`${method}:r0c0`);
      expect(maxRelativeError(tile.loss, result.grid.loss.flat() as number[])).toBeLessThan(1e-5);
      expect(tile.accuracy).toEqual(result.grid.accuracy.flat());
      // scikit-learn's plane (its axes' signs matched to ours), each point evaluated independently of tfjs.
      const signs = [0, 1].map((k) => Math.sign(result.coords.reduce((sum, point, i) => sum + point[k]! * scores[i][k], 0)));
      const theirs = result.grid.y.flatMap((y) =>
        result.grid.x.map((x) => {
          const theta = centre.map((value, c) => value + signs[0]! * x * components[0]![c]! + signs[1]! * y * components[1]![c]!);
          return referenceMlpLoss(theta, data.x, data.y);
        }),
      );
      expect(maxRelativeError(tile.loss, theirs)).toBeLessThan(1e-5);
    }
    // What the shared evaluator holds: its data, the last plane's terms per batch (one shared layer, its three
    // terms stacked in one tensor) and that layer's kernel and bias at the origin, freed on release.
    expect(tf.memory().numTensors - tensors).toBe(2 * Math.ceil(data.x.length / prepared.setup.batchSize) + 2);
    trajectoryHandler.release!(shared);
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('trajectory inputs', () => {
  it('M2: both PCA methods match the reference; weight-set files give the same result as the JSON file', async () => {
    const ref = load('m2_cnn', 'ref_trajectory_pca.json');
    const fromJson = await run(specFor('m2_cnn', { methods: ['pca', 'pca-directions'], grid: { steps: [2, 2] } }), 'm2-json');
    const pca = fromJson.methods.pca!;
    pca.explainedVarianceRatio!.forEach((r, k) => expect(Math.abs(r - ref.mean_centred.explained_variance_ratio[k])).toBeLessThan(1e-6));
    expectCoordsUpToSign(pca.coords, ref.mean_centred.embedding, 1e-5);
    expect(Math.abs(pca.trustworthiness - ref.mean_centred.trustworthiness_k5)).toBeLessThan(1e-9);
    expect(Math.abs(pca.reconstructionMse / ref.mean_centred.reconstruction_mse - 1)).toBeLessThan(1e-6);
    const li = fromJson.methods['pca-directions']!;
    li.explainedVarianceRatio!.forEach((r, k) => expect(Math.abs(r - ref.li_final_centred.explained_variance_ratio[k])).toBeLessThan(1e-6));
    expectCoordsUpToSign(li.coords, ref.li_final_centred.projection, 1e-5);

    const { layout } = loadModel(join(REFERENCE, 'm2_cnn', 'model_trained')).description;
    const checkpoints: number[][] = load('m2_cnn', 'trajectory.json').checkpoints;
    mkdirSync(join(out, 'sets'), { recursive: true });
    const files = checkpoints.map((row, i) => {
      const file = join(out, 'sets', `c${i}.json`);
      writeFileSync(file, JSON.stringify(flatToWeightSet(Float64Array.from(row), layout)));
      return file;
    });
    const fromSets = await run(specFor('m2_cnn', { methods: ['pca-directions'], grid: { steps: [2, 2] }, trajectory: files }), 'm2-sets');
    expect(fromSets.methods['pca-directions']!.coords).toEqual(li.coords);
    expect(fromSets.methods['pca-directions']!.grid.loss).toEqual(li.grid.loss);
  });

  it('rejects bad input with an InputError naming the field, checkpoint and weight', async () => {
    const rows: number[][] = load('m1_mlp', 'trajectory.json').checkpoints;
    const short = join(out, 'short.json');
    writeFileSync(short, JSON.stringify({ checkpoints: rows.map((row, i) => (i === 3 ? row.slice(1) : row)) }));
    // Every one of these is known at planning (a 400 at submit), before anything is fitted.
    const prepare = async (extra: object) => trajectoryHandler.plan(specFor('m1_mlp', { methods: ['pca'], ...extra }), resolve);
    await expect(prepare({ trajectory: short })).rejects.toThrow(InputError);
    await expect(prepare({ trajectory: short })).rejects.toThrow(/^trajectory: checkpoint 3 has 222 numbers but the model has 223 parameters/);

    const nan = join(out, 'nan.json');
    writeFileSync(nan, JSON.stringify({ checkpoints: rows.map((row, i) => (i === 2 ? row.map((v, c) => (c === 50 ? 'x' : v)) : row)) }));
    await expect(prepare({ trajectory: nan })).rejects.toThrow(/checkpoint 2 has a non-finite value at weight 'dense_Dense1\/bias' index 2/);

    const renamed = join(out, 'renamed.json');
    const trajectory = load('m1_mlp', 'trajectory.json');
    trajectory.flat_order[1].name = 'other/bias';
    writeFileSync(renamed, JSON.stringify(trajectory));
    await expect(prepare({ trajectory: renamed })).rejects.toThrow(/flat_order.*'other\/bias'.*'dense_Dense1\/bias'/);

    // Three listed checkpoints, so neighbors: 1 passes the spec's own check and loading finds the foreign weights.
    const sets = [
      join(REFERENCE, 'm1_mlp', 'weights_init.json'),
      join(REFERENCE, 'm2_cnn', 'weights_init.json'),
      join(REFERENCE, 'm1_mlp', 'weights_init.json'),
    ];
    await expect(prepare({ trajectory: sets, neighbors: 1 })).rejects.toThrow(/^trajectory\.1: .*weight/);
    await expect(prepare({ neighbors: 20 })).rejects.toThrow(/^neighbors: /);
    await expect(prepare({ methods: ['umap'], umap: { nNeighbors: 50 } })).rejects.toThrow(/^umap: /);

    expect(() => parseJobSpec({ ...specFor('m1_mlp', {}), methods: ['pca', 'tsne'] })).toThrow(/methods\.1: /);
    expect(() => parseJobSpec({ ...specFor('m1_mlp', {}), methods: ['pca', 'pca'] })).toThrow(/methods: .*twice/);
    expect(() => parseJobSpec({ ...specFor('m1_mlp', {}), trajectory: ['one.json'] })).toThrow(/trajectory/);
  });
});
