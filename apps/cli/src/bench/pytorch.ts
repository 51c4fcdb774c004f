import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  buildModel,
  createRng,
  HessianOperator,
  hutchinson,
  installBlasKernels,
  loadDatasetFile,
  loadModel,
  powerIteration,
  randomDirection,
  restoreWasmKernels,
  saveModel,
  selectBackend,
  writeWeightSetFile,
  type Architecture,
  type ModelDescription,
} from '@landscape/core';
import { benchNumpyBaseline } from './baseline';
import { machine, REFERENCE_DIR } from './core';
import { medianSeconds, report } from './measure';
import type { PytorchCase } from './names';

/**
 * Side by side with PyTorch (apps/cli/bench-baselines/torch_bench.py, 1 thread, the hand loop users write): the
 * same models, data and directions, one JSON line per case with both timings and their ratio. Surfaces and lines
 * are timed as whole processes (`landscape run` against `python3 torch_bench.py`, start-up and data loading
 * included); products, eigenvalues and traces in-process. GFLOP/s are nominal (forward multiply-adds × 2; an HVP
 * counts 4 forward passes) against the machine's measured matMul peak.
 */

const CLI = join(__dirname, '..', '..', 'bin', 'landscape.js');
const TORCH_SCRIPT = join(__dirname, '..', '..', 'bench-baselines', 'torch_bench.py');

export interface BenchCase {
  name: string;
  /** Scratch directory: spec.json, outputs, and the synthetic cases' files. */
  dir: string;
  /** model, data and the two raw directions, relative to `dir` or absolute. */
  refs: { model: string; data: string; d1: string; d2: string };
  description: ModelDescription;
  samples: number;
}

interface Python {
  command: string;
  env: NodeJS.ProcessEnv;
  record: Record<string, unknown>;
}

const SYNTHETIC: Record<string, { architecture: Architecture; samples: number }> = {
  mlp784: {
    architecture: {
      type: 'mlp',
      input: [784],
      hidden: [
        { units: 128, activation: 'relu' },
        { units: 64, activation: 'relu' },
      ],
      outputs: 10,
    },
    samples: 2000,
  },
  cnn16: {
    architecture: {
      type: 'cnn',
      input: [16, 16, 3],
      conv: [
        { filters: 16, kernel: 3, activation: 'relu', pool: true },
        { filters: 32, kernel: 3, activation: 'relu', pool: true },
      ],
      hidden: [{ units: 32, activation: 'relu' }],
      outputs: 10,
    },
    samples: 512,
  },
  tiny: {
    architecture: {
      type: 'mlp',
      input: [2],
      hidden: [
        { units: 16, activation: 'tanh' },
        { units: 16, activation: 'tanh' },
      ],
      outputs: 3,
    },
    samples: 300,
  },
};

/** Seeded model, data (inputs on a 1/4 lattice in [0, 1]: exact and short in JSON) and two raw directions. */
export function syntheticCase(root: string, name: string): BenchCase {
  const { architecture, samples } = SYNTHETIC[name]!;
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const model = buildModel(architecture, 1);
  saveModel(join(dir, 'model'), model);
  const rng = createRng(2);
  // Built-in architectures have no free input dimensions.
  const inputShape = model.description.inputShape.map((size) => size ?? 1);
  const sampleSize = inputShape.reduce((a, b) => a * b, 1);
  const classes = architecture.outputs;
  const nest = (flat: number[], shape: number[]): unknown =>
    shape.length === 1
      ? flat
      : Array.from({ length: shape[0]! }, (_, i) => nest(flat.slice((i * flat.length) / shape[0]!, ((i + 1) * flat.length) / shape[0]!), shape.slice(1)));
  const x = Array.from({ length: samples }, () =>
    nest(
      Array.from({ length: sampleSize }, () => Math.round(4 * rng.uniform()) / 4),
      inputShape,
    ),
  );
  const y = Array.from({ length: samples }, () => Math.floor(rng.uniform() * classes));
  writeFileSync(join(dir, 'data.json'), JSON.stringify({ x, y }));
  writeWeightSetFile(join(dir, 'd1.json'), randomDirection(model.description.layout, 11), model.description.layout);
  writeWeightSetFile(join(dir, 'd2.json'), randomDirection(model.description.layout, 12), model.description.layout);
  return { name, dir, refs: { model: 'model', data: 'data.json', d1: 'd1.json', d2: 'd2.json' }, description: model.description, samples };
}

function referenceCase(root: string, name: 'm1_mlp' | 'm2_cnn'): BenchCase {
  const source = join(REFERENCE_DIR, name);
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const data = loadDatasetFile(join(source, 'dataset.json'));
  // Absolute references: `landscape run` and the Python script both accept them.
  const files = {
    model: join(source, 'model_trained'),
    data: join(source, 'dataset.json'),
    d1: join(source, 'direction_d1_raw.json'),
    d2: join(source, 'direction_d2_raw.json'),
  };
  return { name, dir, refs: files, description: loadModel(files.model).description, samples: data.n };
}

/**
 * Multiply-adds × 2 of one sample's forward pass through its dense and convolution layers: each output value of
 * such a layer takes (kernel size / output channels) multiply-adds.
 */
export function forwardFlops(description: ModelDescription): number {
  let flops = 0;
  for (const node of description.graph.nodes) {
    if (!['Dense', 'Conv1D', 'Conv2D'].includes(node.className) || node.weights.kernel === undefined) continue;
    const kernel = description.layout[node.weights.kernel]!.shape;
    const outputs = node.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
    flops += (2 * outputs * kernel.reduce((a, b) => a * b, 1)) / kernel.at(-1)!;
  }
  return flops;
}

let found: Python | { missing: string } | undefined;

/** python3 (or Debian's /usr/bin/python3) that imports torch, with the faster correct OpenBLAS setting (probed once). */
function findTorch(): Python | { missing: string } {
  return (found ??= probeTorch());
}

/** A child process's matMul on wasm with one OpenBLAS environment: its rate (1024², median of 5) and its error (256² against float64). */
const OPENBLAS_PROBE = `
const tf = require('@tensorflow/tfjs-core');
require(process.argv[1]).selectBackend('wasm').then((backend) => {
  const [a, b] = [1, 2].map((seed) => tf.randomNormal([256, 256], 0, 1, 'float32', seed));
  const [x, y, c] = [a.arraySync(), b.arraySync(), tf.matMul(a, b).arraySync()];
  let error = 0, scale = 0;
  for (let i = 0; i < 256; i++) for (let j = 0; j < 256; j++) {
    let exact = 0;
    for (let k = 0; k < 256; k++) exact += x[i][k] * y[k][j];
    error = Math.max(error, Math.abs(c[i][j] - exact));
    scale = Math.max(scale, Math.abs(exact));
  }
  const [p, q] = [3, 4].map((seed) => tf.randomNormal([1024, 1024], 0, 1, 'float32', seed));
  const times = [];
  for (let r = 0; r < 6; r++) {
    const started = performance.now();
    tf.tidy(() => void tf.matMul(p, q));
    if (r > 0) times.push(performance.now() - started);
  }
  times.sort((u, v) => u - v);
  console.log(JSON.stringify({ gflops: 2 * 1024 ** 3 / times[2] / 1e6, relativeError: error / scale, matMul: backend.matMul }));
});`;

/**
 * The OpenBLAS setting for the landscape side, chosen like the torch side's (probeTorch): OPENBLAS_CORETYPE /
 * OPENBLAS_L2_SIZE as set and, where set, unset; the faster whose matMul is correct (1e-4 relative) wins. Each side
 * runs at its own best. It is put into this process's environment (so the `landscape run` it spawns get it too):
 * OpenBLAS reads it when it loads, so call this before any backend starts.
 */
export function chooseLandscapeOpenBlasSetting(): void {
  findTorch(); // the torch side probes the environment as it was
  const unset = { ...process.env };
  delete unset.OPENBLAS_CORETYPE;
  delete unset.OPENBLAS_L2_SIZE;
  const variants = [{ env: process.env, openblasEnv: 'as set' }];
  if (process.env.OPENBLAS_CORETYPE !== undefined || process.env.OPENBLAS_L2_SIZE !== undefined)
    variants.push({ env: unset, openblasEnv: 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset' });
  const core = require.resolve('@landscape/core');
  const tried = variants.map((variant) => {
    const probe = spawnSync(process.execPath, ['-e', OPENBLAS_PROBE, core], { encoding: 'utf8', env: variant.env });
    const record =
      probe.status === 0 ? (JSON.parse(probe.stdout.trim().split('\n').pop()!) as { gflops: number; relativeError: number; matMul: string }) : undefined;
    return { ...variant, record, ok: record !== undefined && record.relativeError < 1e-4 };
  });
  const best = tried.filter((t) => t.ok).sort((a, b) => b.record!.gflops - a.record!.gflops)[0];
  report({
    case: 'landscape-openblas-probe',
    chosen: best?.openblasEnv ?? 'none correct',
    tried: tried.map((t) => ({ openblasEnv: t.openblasEnv, ...t.record, ok: t.ok })),
    ...machine(),
  });
  if (!best) return;
  for (const name of ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']) {
    if (best.env[name] === undefined) delete process.env[name];
    else process.env[name] = best.env[name];
  }
}

function probeTorch(): Python | { missing: string } {
  for (const command of ['python3', '/usr/bin/python3']) {
    const found = spawnSync(command, ['-c', 'import torch'], { encoding: 'utf8' });
    if (found.status !== 0) continue;
    // OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some machines for old OpenBLAS builds) are tried unset too, in
    // this invocation only; the faster setting is kept when its matMul is still correct.
    const base: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
    const unset = { ...base };
    delete unset.OPENBLAS_CORETYPE;
    delete unset.OPENBLAS_L2_SIZE;
    const variants = [{ env: base, openblasEnv: 'as set' }];
    if (process.env.OPENBLAS_CORETYPE !== undefined || process.env.OPENBLAS_L2_SIZE !== undefined)
      variants.push({ env: unset, openblasEnv: 'OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset' });
    const probes = variants.map((variant) => {
      const probe = spawnSync(command, [TORCH_SCRIPT, 'probe'], { encoding: 'utf8', env: variant.env });
      const record: Record<string, unknown> =
        probe.status === 0 ? (JSON.parse(probe.stdout.trim().split('\n').pop()!) as Record<string, unknown>) : { ok: false, gflops: 0 };
      const tagged: Record<string, unknown> = { ...record, openblasEnv: variant.openblasEnv, OPENBLAS_CORETYPE: variant.env.OPENBLAS_CORETYPE ?? null };
      return { ...variant, record: tagged };
    });
    const best = probes.filter((p) => p.record.ok === true).sort((a, b) => Number(b.record.gflops) - Number(a.record.gflops))[0];
    if (!best) return { missing: `${command}: torch imports but its matMul probe failed` };
    report({ case: 'pytorch-probe', python: command, chosen: best.record, tried: probes.map((p) => p.record), ...machine() });
    return { command, env: best.env, record: best.record };
  }
  return { missing: "neither python3 nor /usr/bin/python3 can 'import torch'" };
}

function runPython(python: Python, args: string[]): { seconds: number; record: Record<string, unknown> } {
  const started = performance.now();
  const run = spawnSync(python.command, [TORCH_SCRIPT, ...args], { encoding: 'utf8', env: python.env, maxBuffer: 64 * 1024 * 1024, timeout: 1_200_000 });
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`torch_bench.py ${args[0]} failed: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return { seconds, record: JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown> };
}

/**
 * The dense matMul rate on wasm (median of 5, n = 1024; wasm kernels run synchronously, so no read-back is timed):
 * the yardstick for the GFLOP/s figures, with the rate of wasm's own kernel beside it.
 */
async function matMulPeak(): Promise<{ gflops: number; wasmKernelGflops: number; matMul: string }> {
  const backend = await selectBackend('wasm');
  const n = 1024;
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 1);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 2);
  const rate = async (): Promise<number> => (2 * n ** 3) / (await medianSeconds(5, () => tf.tidy(() => void tf.matMul(a, b)))) / 1e9;
  const gflops = await rate();
  restoreWasmKernels();
  const wasmKernelGflops = await rate();
  installBlasKernels();
  tf.dispose([a, b]);
  return { gflops, wasmKernelGflops, matMul: backend.matMul ?? 'wasm' };
}

function maxRelativeDifference(ours: number[], theirs: number[]): number {
  let worst = 0;
  ours.forEach((value, i) => (worst = Math.max(worst, Math.abs(value - theirs[i]!) / Math.max(Math.abs(theirs[i]!), 1e-12))));
  return worst;
}

/** Writes CASE_DIR/spec.json for a surface or line of `steps` points per axis. */
function writeLandscapeSpec(kind: 'surface' | 'line', c: BenchCase, steps: number): void {
  const r = c.refs;
  const spec = {
    kind,
    model: r.model,
    data: r.data,
    loss: 'sparse_categorical_crossentropy',
    directions: kind === 'surface' ? { x: { file: r.d1 }, y: { file: r.d2 } } : { x: { file: r.d1 } },
    grid: kind === 'surface' ? { x: [-1, 1, steps], y: [-1, 1, steps] } : { x: [-1, 1, steps] },
  };
  writeFileSync(join(c.dir, 'spec.json'), JSON.stringify(spec));
}

/** `landscape run` of CASE_DIR/spec.json (1 thread, wasm): whole-process seconds. */
function runLandscape(c: BenchCase, out: string): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, [CLI, 'run', join(c.dir, 'spec.json'), '--out', out, '--threads', '1', '--backend', 'wasm'], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn' },
    timeout: 1_200_000,
  });
  const seconds = (performance.now() - started) / 1000;
  if (run.status !== 0) throw new Error(`landscape run failed: ${run.stderr.trim().split('\n').pop()}`);
  return seconds;
}

/** A surface or line through `landscape run` (whole process, 1 thread, wasm) and through torch_bench.py. */
function landscapeCase(kind: 'surface' | 'line', c: BenchCase, steps: number, python: Python, peak: number): void {
  writeLandscapeSpec(kind, c, steps);
  const out = join(c.dir, `out-${kind}`);
  const seconds = runLandscape(c, out);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { loss: unknown; timings: { evaluateSeconds: number }; points: number };
  const torch = runPython(python, [kind, c.dir]);
  const points = result.points;
  const flops = forwardFlops(c.description) * c.samples * points;
  report({
    case: kind,
    model: c.name,
    points,
    samples: c.samples,
    parameters: c.description.layout.reduce((sum, spec) => sum + spec.size, 0),
    landscapeSeconds: seconds,
    torchSeconds: torch.seconds,
    speedupVsTorch: torch.seconds / seconds,
    landscapeEvaluateSeconds: result.timings.evaluateSeconds,
    torchLoopSeconds: torch.record.loopSeconds,
    gflops: flops / 1e9 / result.timings.evaluateSeconds,
    torchGflops: flops / 1e9 / Number(torch.record.loopSeconds),
    fractionOfMatMulPeak: flops / 1e9 / result.timings.evaluateSeconds / peak,
    maxRelativeDifference: maxRelativeDifference([result.loss].flat(2) as number[], torch.record.loss as number[]),
    ...machine(),
  });
}

/** Power iteration's stop on both sides: PyHessian's 1e-3 relative change of the Rayleigh quotient; a residual ≤ √1e-3·|λ| bounds the eigenvalue error at about the same 1e-3 relative. */
const EIGEN_TOL = 1e-3;
/** Hutchinson probes on both sides. */
const TRACE_SAMPLES = 20;

type CurvatureKind = 'hvp' | 'eigen' | 'trace';

/**
 * Our side of a curvature case, timed in this process: one HVP (median of 5), the top eigenvalue (power
 * iteration) or a Hutchinson trace. The bench runs it in a child process, as torch_bench.py runs each case, so
 * neither side starts warm from an earlier case (wasm's memory, once grown, is not given back).
 */
export async function measureCurvature(kind: CurvatureKind, dir: string, refs: BenchCase['refs'], samples: number): Promise<Record<string, unknown>> {
  await selectBackend('wasm');
  const loaded = loadModel(resolve(dir, refs.model));
  const data = loadDatasetFile(resolve(dir, refs.data));
  // One batch of the whole set on both sides: torch_bench.py (like PyHessian's single-batch mode) differentiates
  // the loss over all samples at once.
  const hessian = new HessianOperator(
    { model: loaded.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: samples },
    loaded.weights,
  );
  try {
    if (kind === 'hvp') {
      const v = randomDirection(loaded.description.layout, 1);
      // As the solvers call it: each product into the previous one's buffer.
      const product = new Float64Array(v.length);
      return { seconds: await medianSeconds(5, () => hessian.hvp(v, product)), factoredLayers: hessian.factoredLayerClasses() };
    }
    const started = performance.now();
    if (kind === 'eigen') {
      const result = powerIteration(hessian.operator, { k: 1, tol: Math.sqrt(EIGEN_TOL), maxIterations: 100, seed: 0 });
      return { seconds: (performance.now() - started) / 1000, hvps: result.hvps, eigenvalue: result.eigenvalues[0] };
    }
    const result = hutchinson(hessian.operator, { samples: TRACE_SAMPLES, seed: 0 });
    return { seconds: (performance.now() - started) / 1000, hvps: TRACE_SAMPLES, trace: result.value };
  } finally {
    hessian.dispose();
  }
}

const CURVATURE_CHILD = `require(process.argv[1]).measureCurvature(...JSON.parse(process.argv[2])).then((r) => console.log(JSON.stringify(r)));`;

function curvatureInChild(kind: CurvatureKind, c: BenchCase): Record<string, unknown> {
  const run = spawnSync(process.execPath, ['-e', CURVATURE_CHILD, __filename, JSON.stringify([kind, c.dir, c.refs, c.samples])], {
    encoding: 'utf8',
    env: { ...process.env, LOG_LEVEL: 'warn' },
    timeout: 1_200_000,
  });
  if (run.status !== 0) throw new Error(`${kind} case failed: ${run.stderr.trim().split('\n').slice(-3).join(' ')}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

/** One HVP, the top eigenvalue or a Hutchinson trace: each side timed inside its own fresh process. */
function curvatureCase(kind: CurvatureKind, c: BenchCase, python: Python, peak: number): void {
  // torch_bench.py reads the model and data references from CASE_DIR/spec.json.
  writeFileSync(join(c.dir, 'spec.json'), JSON.stringify({ model: c.refs.model, data: c.refs.data, directions: {} }));
  const ours = curvatureInChild(kind, c);
  const seconds = Number(ours.seconds);
  const common = { case: kind, model: c.name, samples: c.samples, parameters: c.description.layout.reduce((sum, spec) => sum + spec.size, 0), seconds };
  const torch = runPython(
    python,
    kind === 'hvp' ? ['hvp', c.dir, '5'] : kind === 'eigen' ? ['eigen', c.dir, String(EIGEN_TOL), '100'] : ['trace', c.dir, String(TRACE_SAMPLES)],
  );
  const torchSeconds = Number(torch.record.seconds);
  const compared = { torchSeconds, speedupVsTorch: torchSeconds / seconds };
  if (kind === 'hvp') {
    const hvpFlops = 4 * forwardFlops(c.description) * c.samples;
    report({
      ...common,
      ...compared,
      // PyHessian's products reuse one retained gradient graph: a second backward pass each.
      torchRetainedSeconds: Number(torch.record.retainedSeconds),
      speedupVsTorchRetained: Number(torch.record.retainedSeconds) / seconds,
      factoredLayers: ours.factoredLayers,
      gflops: hvpFlops / 1e9 / seconds,
      fractionOfMatMulPeak: hvpFlops / 1e9 / seconds / peak,
      ...machine(),
    });
  } else if (kind === 'eigen') {
    report({
      ...common,
      hvps: ours.hvps,
      eigenvalue: ours.eigenvalue,
      ...compared,
      torchHvps: torch.record.hvps,
      torchEigenvalue: torch.record.eigenvalue,
      ...machine(),
    });
  } else {
    report({ ...common, probes: TRACE_SAMPLES, trace: ours.trace, ...compared, torchTrace: torch.record.trace, ...machine() });
  }
}

/**
 * A top-eigenvalue + trace job, whole process on both sides: `landscape run` of a hessian job (power iteration
 * and Hutchinson, 1 thread, eigenvectors not saved) against torch_bench.py's PyHessian-style script (one retained
 * gradient graph, eigenvalues() then trace()), each with the same stops and probe count as the cases above.
 */
function hessianJobCase(c: BenchCase, python: Python): void {
  const r = c.refs;
  const spec = {
    kind: 'hessian',
    model: r.model,
    data: r.data,
    loss: 'sparse_categorical_crossentropy',
    evaluation: { batchSize: c.samples },
    top: { k: 1, method: 'power', tol: Math.sqrt(EIGEN_TOL), maxSteps: 100 },
    trace: { method: 'hutchinson', samples: TRACE_SAMPLES, batch: TRACE_SAMPLES },
    eigenvectors: false,
  };
  writeFileSync(join(c.dir, 'spec.json'), JSON.stringify(spec));
  const out = join(c.dir, 'out-hessian');
  const seconds = runLandscape(c, out);
  const result = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as {
    eigenvalues: { top: number[] };
    trace: { value: number };
    solvers: Record<string, { hvps: number; seconds: number }>;
  };
  const torch = runPython(python, ['hessian', c.dir, String(EIGEN_TOL), '100', String(TRACE_SAMPLES)]);
  const solvers = Object.values(result.solvers);
  report({
    case: 'hessian-job',
    model: c.name,
    samples: c.samples,
    landscapeSeconds: seconds,
    torchSeconds: torch.seconds,
    speedupVsTorch: torch.seconds / seconds,
    landscapeSolverSeconds: solvers.reduce((sum, solver) => sum + solver.seconds, 0),
    torchSolverSeconds: torch.record.seconds,
    hvps: solvers.reduce((sum, solver) => sum + solver.hvps, 0),
    torchHvps: torch.record.hvps,
    eigenvalue: result.eigenvalues.top[0],
    torchEigenvalue: torch.record.eigenvalue,
    trace: result.trace.value,
    torchTrace: torch.record.trace,
    ...machine(),
  });
}

export async function benchPytorch(only: readonly string[] = []): Promise<void> {
  const wanted = (name: PytorchCase): boolean => only.length === 0 || only.includes(name);
  const python = findTorch();
  if ('missing' in python) {
    report({ case: 'pytorch-probe', fallback: 'numpy (reference surfaces only)', reason: python.missing });
    if (wanted('surface')) benchNumpyBaseline(21);
    return;
  }
  const rates = await matMulPeak();
  const peak = rates.gflops;
  if (wanted('matmul'))
    report({
      case: 'matmul-peak',
      landscapeGflops: peak,
      wasmKernelGflops: rates.wasmKernelGflops,
      torchGflops: python.record.gflops,
      matMul: rates.matMul,
      ...machine(),
    });
  const root = mkdtempSync(join(tmpdir(), 'landscape-bench-torch-'));
  try {
    const cases: Record<string, BenchCase> = {};
    const get = (name: string): BenchCase => (cases[name] ??= name === 'm1_mlp' || name === 'm2_cnn' ? referenceCase(root, name) : syntheticCase(root, name));
    if (wanted('surface')) {
      for (const name of ['m1_mlp', 'm2_cnn', 'mlp784', 'cnn16']) landscapeCase('surface', get(name), 21, python, peak);
      landscapeCase('surface', get('tiny'), 101, python, peak);
    }
    if (wanted('line')) for (const name of ['m1_mlp', 'mlp784']) landscapeCase('line', get(name), 101, python, peak);
    for (const kind of ['hvp', 'eigen', 'trace'] as const) {
      if (!wanted(kind)) continue;
      for (const name of ['mlp784', 'cnn16']) curvatureCase(kind, get(name), python, peak);
    }
    if (wanted('hessian-job')) for (const name of ['mlp784', 'cnn16']) hessianJobCase(get(name), python);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
