import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { runEmbedded } from '../embedded';
import type { ExecutionRecord } from '../handler';
import { prepareLandscape } from '../prepare';
import { parseJobSpec, validateJobSpec, type CurvatureSpec, type HessianSpec, type SurfaceSpec } from '../spec';
import { readWeightSetFile } from '../weights';
import { curvatureHandler, type CurvatureResult } from './curvature-job';
import { hessianHandler, type HessianResult, type HessianUnitResult } from './hessian-job';
import { HessianOperator } from './hvp';
import { REFERENCE, referenceCase, relativeError } from './fixtures.test-util';

const resolve = (ref: string): string => join(REFERENCE, ref);
const out = mkdtempSync(join(tmpdir(), 'hessian-job-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const m1 = referenceCase('m1_mlp');
const base = { model: 'm1_mlp/model_trained/model.json', data: 'm1_mlp/dataset.json', loss: 'sparse_categorical_crossentropy', backend: 'wasm' };

describe('job specs', () => {
  it('accepts hessian and curvature specs with defaults', () => {
    const hessian = parseJobSpec({ kind: 'hessian', ...base, top: { k: 3 }, trace: { method: 'hutchpp' } }) as HessianSpec;
    expect(hessian.top).toEqual({ k: 3, method: 'lanczos' });
    expect(hessian.trace).toEqual({ method: 'hutchpp', samples: 100, batch: 20 });
    expect(hessian.eigenvectors).toBe(true);
    const curvature = parseJobSpec({
      kind: 'curvature',
      ...base,
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
    }) as CurvatureSpec;
    expect(curvature.curvature).toEqual({ tol: 1e-3, maxSteps: 40 });
  });

  it('names the offending field', () => {
    const none = validateJobSpec({ kind: 'hessian', ...base });
    expect(none.ok).toBe(false);
    expect(!none.ok && none.issues[0]!.field).toBe('top');
    const badMethod = validateJobSpec({ kind: 'hessian', ...base, bottom: { k: 2, method: 'power' } });
    expect(!badMethod.ok && badMethod.issues[0]!.field).toBe('bottom.method');
    const tiles = validateJobSpec({ kind: 'hessian', ...base, top: { k: 1 }, tiles: { x: 2 } });
    expect(tiles.ok).toBe(false);
  });

  it('refuses exact mode for a model too large for a dense Hessian', () => {
    const dir = join(out, 'big');
    mkdirSync(dir);
    const modelJson = {
      modelTopology: {
        class_name: 'Sequential',
        config: { name: 'big', layers: [{ class_name: 'Dense', config: { name: 'd', units: 60, activation: 'linear', batch_input_shape: [null, 100] } }] },
      },
      weightsManifest: [
        {
          paths: ['weights.bin'],
          weights: [
            { name: 'd/kernel', shape: [100, 60], dtype: 'float32' },
            { name: 'd/bias', shape: [60], dtype: 'float32' },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
    writeFileSync(join(dir, 'weights.bin'), Buffer.alloc(6060 * 4));
    writeFileSync(join(dir, 'data.json'), JSON.stringify({ x: [new Array(100).fill(0.5)], y: [3] }));
    const spec = parseJobSpec({
      kind: 'hessian',
      model: 'model.json',
      data: 'data.json',
      loss: 'sparse_categorical_crossentropy',
      trace: { method: 'exact' },
    }) as HessianSpec;
    expect(() => hessianHandler.prepare(spec, (ref) => join(dir, ref))).toThrow(
      /trace\.method: "exact" builds the full Hessian .* limited to 5000 trainable parameters/,
    );
  });

  it('rejects more eigenvalues than trainable parameters', () => {
    const spec = parseJobSpec({ kind: 'hessian', ...base, top: { k: 224 } }) as HessianSpec;
    expect(() => hessianHandler.prepare(spec, resolve)).toThrow(/top\.k: asks for 224 eigenvalues but the model has 223/);
  });
});

describe('hessian job (m1_mlp, wasm)', () => {
  const spec = parseJobSpec({
    kind: 'hessian',
    ...base,
    seed: 11,
    top: { k: 3 },
    bottom: { k: 2, maxSteps: 223 },
    trace: { method: 'hutchinson', samples: 45, batch: 20 },
    density: { runs: 3, steps: 30, points: 200 },
  }) as HessianSpec;
  const dir = join(out, 'hessian');
  let result: HessianResult;

  it('runs embedded and writes result.json, eigenvector weight sets and the density plot', async () => {
    result = (await runEmbedded(hessianHandler, spec, resolve, dir, { threads: 1, backend: 'wasm' })) as HessianResult;
    const { top5_eigenvalues_descending: top5, bottom2_eigenvalues_ascending: bottom2, trace } = m1.hessian;
    result.eigenvalues.top!.forEach((value, i) => expect(Math.abs(value - top5[i]!) / top5[i]!).toBeLessThan(1e-4));
    result.eigenvalues.bottom!.forEach((value, i) => expect(Math.abs(value - bottom2[i]!)).toBeLessThan(1e-4 * top5[0]!));
    expect(result.trace!.samples).toBe(45);
    expect(Math.abs(result.trace!.value - trace)).toBeLessThan(3 * result.trace!.stderr);
    expect(result.density!.values.length).toBe(200);
    expect(result.solvers.lanczos!.converged).toBe(true);
    expect(result.solvers.trace!.hvps).toBe(45);
    expect(result.solvers.density!.hvps).toBe(90);
    expect(result.backend).toBe('wasm');
    expect(result.hvp!.factoredLayers).toEqual([m1.setup.model.graph.nodes[0]!.name]);
    const onDisk = JSON.parse(readFileSync(join(dir, 'result.json'), 'utf8')) as HessianResult;
    expect(onDisk.eigenvalues).toEqual(result.eigenvalues);
    expect(readFileSync(join(dir, 'density.svg'), 'utf8')).toMatch(/^<\?xml[\s\S]*<svg[\s\S]*<\/svg>\s*$/);
    expect(result.eigenvectors.map((e) => e.file)).toEqual([
      'eigenvector_top_1.json',
      'eigenvector_top_2.json',
      'eigenvector_top_3.json',
      'eigenvector_bottom_1.json',
      'eigenvector_bottom_2.json',
    ]);
  });

  it('saves eigenvectors that satisfy Hv = λv and work as surface directions', async () => {
    await selectBackend('wasm');
    const layout = m1.setup.model.layout;
    const v = readWeightSetFile(join(dir, 'eigenvector_top_1.json'), layout);
    const hessian = new HessianOperator(m1.setup, m1.theta);
    const hv = hessian.hvp(v);
    hessian.dispose();
    expect(
      relativeError(
        hv,
        v.map((x) => x * result.eigenvalues.top![0]!),
      ),
    ).toBeLessThan(1e-4);
    const surface = parseJobSpec({
      kind: 'surface',
      ...base,
      directions: { x: { file: join(dir, 'eigenvector_top_1.json') }, y: { file: join(dir, 'eigenvector_top_2.json') }, normalization: 'none' },
      grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
    }) as SurfaceSpec;
    const prepared = prepareLandscape(surface, (ref) => (ref.startsWith('/') ? ref : resolve(ref)));
    expect(relativeError(prepared.plan.directions[0]!, v)).toBe(0);
  });

  it('gives the same result with its units run separately, in any order', async () => {
    const prepared = await hessianHandler.prepare(spec, resolve);
    const units = await hessianHandler.plan(spec, resolve);
    expect(units.map((u) => u.id)).toEqual(['lanczos', 'trace-0', 'trace-1', 'trace-2', 'density-0', 'density-1', 'density-2']);
    const results = new Map<string, HessianUnitResult>();
    for (const unit of [...units].reverse())
      results.set(unit.id, await hessianHandler.runUnit(spec, prepared, unit.id, { backend: 'wasm', inputs: new Map() }));
    await expect(hessianHandler.runUnit(spec, prepared, 'trace-3', { backend: 'wasm', inputs: new Map() })).rejects.toThrow(/no unit trace-3/);
    hessianHandler.release!(prepared);
    const execution: ExecutionRecord = { startedAt: new Date(), prepareSeconds: 0, evaluateSeconds: 1, backend: await selectBackend('wasm'), threads: 1 };
    const again = (await hessianHandler.assemble(spec, prepared, results, execution, join(out, 'hessian-units'))) as HessianResult;
    expect(again.trace).toEqual(result.trace);
    expect(again.density).toEqual(result.density);
    expect(again.eigenvalues).toEqual(result.eigenvalues);
  });

  it('stops a unit when the job is cancelled', async () => {
    const prepared = await hessianHandler.prepare(spec, resolve);
    await expect(hessianHandler.runUnit(spec, prepared, 'density-0', { backend: 'wasm', inputs: new Map(), onWork: (done) => done < 3 })).rejects.toMatchObject(
      {
        name: 'UnitCancelled',
      },
    );
    hessianHandler.release!(prepared);
  });

  it('exact mode: the whole spectrum, its extremes and the trace', async () => {
    const exactSpec = parseJobSpec({
      kind: 'hessian',
      ...base,
      top: { k: 2, method: 'exact' },
      bottom: { k: 1, method: 'exact' },
      trace: { method: 'exact' },
      eigenvectors: false,
    }) as HessianSpec;
    const exact = (await runEmbedded(hessianHandler, exactSpec, resolve, join(out, 'exact'), { threads: 1, backend: 'wasm' })) as HessianResult;
    expect(exact.eigenvalues.all!.length).toBe(223);
    expect(exact.trace).toMatchObject({ method: 'exact', stderr: 0 });
    expect(Math.abs(exact.trace!.value - m1.hessian.trace) / m1.hessian.trace).toBeLessThan(1e-5);
    expect(exact.eigenvalues.top![0]).toBeCloseTo(m1.hessian.top5_eigenvalues_descending[0]!, 4);
    expect(exact.eigenvalues.bottom![0]).toBeCloseTo(m1.hessian.bottom2_eigenvalues_ascending[0]!, 4);
    expect(exact.eigenvectors).toEqual([]);
    expect(exact.solvers.exact!.hvps).toBe(223);
  });
});

describe('curvature job (m1_mlp, wasm)', () => {
  it('computes λmax and λmin per grid point; the origin matches the reference Hessian', async () => {
    const spec = parseJobSpec({
      kind: 'curvature',
      ...base,
      directions: { x: { file: 'm1_mlp/direction_n1_filternorm.json' }, y: { file: 'm1_mlp/direction_n2_filternorm.json' }, normalization: 'none' },
      grid: { x: [-0.5, 0.5, 3], y: [0, 0, 1] },
      tiles: { x: 2, y: 1 },
      curvature: { tol: 1e-7, maxSteps: 223 },
    }) as CurvatureSpec;
    const dir = join(out, 'curvature');
    const result = (await runEmbedded(curvatureHandler, spec, resolve, dir, { threads: 1, backend: 'wasm' })) as CurvatureResult;
    expect(result.pointsComputed).toBe(3);
    expect(result.unconverged).toBe(0);
    const lambdaMax = result.lambdaMax[0]![1]!;
    const lambdaMin = result.lambdaMin[0]![1]!;
    expect(Math.abs(lambdaMax - m1.hessian.top5_eigenvalues_descending[0]!) / lambdaMax).toBeLessThan(1e-4);
    expect(Math.abs(lambdaMin - m1.hessian.bottom2_eigenvalues_ascending[0]!)).toBeLessThan(1e-4 * lambdaMax);
    expect(result.ratio[0]![1]).toBeCloseTo(Math.abs(lambdaMin / lambdaMax), 12);
    // Away from the trained point the curvature changes.
    expect(result.lambdaMax[0]![0]).not.toBeCloseTo(lambdaMax, 2);
    for (const file of ['result.json', 'curvature_lambda_max.svg', 'curvature_lambda_min.svg', 'curvature_ratio.svg'])
      expect(existsSync(join(dir, file))).toBe(true);
  });
});
