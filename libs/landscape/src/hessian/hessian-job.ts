import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from '../backend';
import { InputError } from '../errors';
import { UnitCancelled, type EvaluationSetup } from '../evaluate';
import type { ExecutionRecord, JobHandler, UnitContext, UnitRef } from '../handler';
import type { LoadedModel } from '../model';
import { checkSampleShape } from '../model';
import { loadData, loadModelRef, modelOptionsOf, PlannedPreparation, type RefResolver } from '../prepare';
import { evaluationProvenance, stringifyResult, type Provenance } from '../result';
import type { HessianSpec } from '../spec';
import { layoutSize, writeWeightSetFile, type WeightLayout } from '../weights';
import { exactSpectrum } from './exact';
import { hutchinsonSamples, meanAndStderr } from './hutchinson';
import { hutchpp } from './hutchpp';
import { operatorFor, releaseOperator, TrainableCoordinates, type LinearOperator } from './hvp';
import { factoredLayerNames } from './linear-input';
import { lanczos } from './lanczos';
import type { SolverStats } from './linalg';
import { densitySvg } from './plots';
import { powerIteration } from './power';
import {
  DEFAULT_SHARD_MIN_WORK,
  emptyHvpStats,
  localExchange,
  planHvp,
  shardedOperator,
  shardRanges,
  summarizeHvp,
  timedOperator,
  type HvpRunStats,
  type HvpSummary,
} from './sharded';
import { slqDensity, slqRun } from './slq';

export interface PreparedHessian {
  setup: EvaluationSetup;
  model: LoadedModel;
  /** Trainable coordinates: the dimension the solvers work in. */
  dimension: number;
}

/** Eigenpairs as plain JSON: vectors are flat parameter vectors (weights.ts order), empty when not kept. */
export interface EigenPairs {
  values: number[];
  vectors: number[][];
}

type SolverUnitResult =
  | ({ kind: 'exact'; all: number[]; top?: EigenPairs; bottom?: EigenPairs; trace: number; asymmetry: number } & SolverStats)
  | ({ kind: 'lanczos'; top?: EigenPairs; bottom?: EigenPairs } & SolverStats)
  | ({ kind: 'power'; top: EigenPairs } & SolverStats)
  | ({ kind: 'hutchinson'; first: number; values: number[] } & SolverStats)
  | ({ kind: 'hutchpp'; value: number; stderr: number; samples: number } & SolverStats)
  | ({ kind: 'slq'; index: number; nodes: number[]; weights: number[] } & SolverStats);

/** A unit's result plus how its products ran (whole or sharded, latencies). */
export type HessianUnitResult = SolverUnitResult & { hvp?: HvpRunStats };

export interface HessianResult extends Provenance {
  kind: 'hessian';
  label?: string;
  /** The Hessian is taken at the model's own weights. */
  parameters: number;
  trainableParameters: number;
  seed: number;
  eigenvalues: { top?: number[]; bottom?: number[]; all?: number[] };
  /** Weight-set files in the output directory (use them as `{"file": …}` surface directions). */
  eigenvectors: { which: 'top' | 'bottom'; index: number; eigenvalue: number; file: string }[];
  trace?: { method: 'exact' | 'hutchinson' | 'hutchpp'; value: number; stderr: number; samples: number };
  density?: { grid: number[]; values: number[]; sigma: number; runs: number; steps: number };
  /** Per solver: iterations, convergence, Hessian-vector products and seconds (summed over its units). */
  solvers: Record<string, SolverStats>;
  /** How the Hessian-vector products ran: mode, shards, mean wall / compute / overhead milliseconds per product. */
  hvp?: HvpSummary;
}

export function trainableDimension(layout: WeightLayout): number {
  return layout.reduce((sum, spec) => sum + (spec.trainable ? spec.size : 0), 0);
}

const usesExact = (spec: HessianSpec): boolean => spec.top?.method === 'exact' || spec.bottom?.method === 'exact' || spec.trace?.method === 'exact';
const lanczosTop = (spec: HessianSpec) => (spec.top?.method === 'lanczos' ? spec.top : undefined);
const lanczosBottom = (spec: HessianSpec) => (spec.bottom?.method === 'lanczos' ? spec.bottom : undefined);
const DEFAULT_LANCZOS_STEPS = 300;
/** A dense float64 Hessian of this size takes ~200 MB and its eigendecomposition minutes in JavaScript. */
const MAX_EXACT_DIMENSION = 5000;

export function prepareHessian(spec: HessianSpec, resolve: RefResolver): PreparedHessian {
  const model = loadModelRef(spec.model, 'model', resolve, modelOptionsOf(spec));
  const data = loadData(spec.data, resolve);
  checkSampleShape(model.description, data.sampleShape);
  const dimension = trainableDimension(model.description.layout);
  for (const [field, part] of [
    ['top', spec.top],
    ['bottom', spec.bottom],
  ] as const) {
    if (part && part.k > dimension) throw new InputError(`asks for ${part.k} eigenvalues but the model has ${dimension} trainable parameters`, `${field}.k`);
  }
  if (usesExact(spec) && dimension > MAX_EXACT_DIMENSION) {
    const field = spec.trace?.method === 'exact' ? 'trace.method' : spec.top?.method === 'exact' ? 'top.method' : 'bottom.method';
    throw new InputError(
      `"exact" builds the full Hessian (${dimension}² entries, ${dimension} products); it is limited to ${MAX_EXACT_DIMENSION} trainable parameters — use lanczos, hutchinson or hutchpp`,
      field,
    );
  }
  const setup: EvaluationSetup = { model: model.description, data, loss: spec.loss, output: spec.output, batchSize: spec.evaluation.batchSize };
  return { setup, model, dimension };
}

/** Independent pieces: one eigen solve per method, Hutchinson probe batches, one unit per SLQ run. */
export function hessianUnits(spec: HessianSpec, dimension: number): UnitRef[] {
  const units: UnitRef[] = [];
  if (usesExact(spec)) units.push({ id: 'exact', work: dimension });
  if (lanczosTop(spec) || lanczosBottom(spec)) {
    const steps = Math.max(lanczosTop(spec)?.maxSteps ?? DEFAULT_LANCZOS_STEPS, lanczosBottom(spec)?.maxSteps ?? DEFAULT_LANCZOS_STEPS);
    units.push({ id: 'lanczos', work: Math.min(dimension, steps) });
  }
  if (spec.top?.method === 'power') units.push({ id: 'power', work: spec.top.k * 100 });
  if (spec.trace?.method === 'hutchinson') {
    for (let first = 0; first < spec.trace.samples; first += spec.trace.batch) {
      units.push({ id: `trace-${first / spec.trace.batch}`, work: Math.min(spec.trace.batch, spec.trace.samples - first) });
    }
  }
  if (spec.trace?.method === 'hutchpp') units.push({ id: 'trace-hutchpp', work: spec.trace.samples });
  if (spec.density) for (let i = 0; i < spec.density.runs; i++) units.push({ id: `density-${i}`, work: Math.min(dimension, spec.density.steps) });
  return units;
}

/** Counts products for progress and stops the unit when the job is cancelled. */
function tracked(operator: LinearOperator, unitId: string, context: UnitContext): LinearOperator {
  let done = 0;
  return {
    dimension: operator.dimension,
    apply(v, into) {
      const out = operator.apply(v, into);
      if (context.onWork?.(++done) === false) throw new UnitCancelled(unitId);
      return out;
    },
  };
}

function pairs(hessian: TrainableCoordinates, values: number[], vectors: Float64Array[], keep: boolean): EigenPairs {
  return { values, vectors: keep ? vectors.map((u) => Array.from(hessian.expand(u))) : [] };
}

const stats = (s: SolverStats): SolverStats => ({ iterations: s.iterations, converged: s.converged, hvps: s.hvps, seconds: s.seconds });

export function runHessianUnit(spec: HessianSpec, hessian: TrainableCoordinates, unitId: string, op: LinearOperator): SolverUnitResult {
  const keep = spec.eigenvectors;
  if (unitId === 'exact') {
    const exact = exactSpectrum(op);
    const n = exact.values.length;
    const top = spec.top?.method === 'exact' ? Array.from({ length: spec.top.k }, (_, i) => n - 1 - i) : undefined;
    const bottom = spec.bottom?.method === 'exact' ? Array.from({ length: spec.bottom.k }, (_, i) => i) : undefined;
    const pick = (indices: number[]) =>
      pairs(
        hessian,
        indices.map((i) => exact.values[i]!),
        indices.map((i) => exact.vectors[i]!),
        keep,
      );
    return {
      kind: 'exact',
      all: exact.values,
      ...(top ? { top: pick(top) } : {}),
      ...(bottom ? { bottom: pick(bottom) } : {}),
      trace: exact.trace,
      asymmetry: exact.asymmetry,
      ...stats(exact),
    };
  }
  if (unitId === 'lanczos') {
    const top = lanczosTop(spec);
    const bottom = lanczosBottom(spec);
    const result = lanczos(op, {
      top: top?.k ?? 0,
      bottom: bottom?.k ?? 0,
      tol: Math.min(top?.tol ?? 1e-6, bottom?.tol ?? 1e-6),
      maxSteps: Math.max(top?.maxSteps ?? DEFAULT_LANCZOS_STEPS, bottom?.maxSteps ?? DEFAULT_LANCZOS_STEPS),
      vectors: keep,
      seed: spec.seed,
    });
    return {
      kind: 'lanczos',
      ...(top ? { top: pairs(hessian, result.top.eigenvalues, result.top.eigenvectors, keep) } : {}),
      ...(bottom ? { bottom: pairs(hessian, result.bottom.eigenvalues, result.bottom.eigenvectors, keep) } : {}),
      ...stats(result),
    };
  }
  if (unitId === 'power' && spec.top?.method === 'power') {
    const result = powerIteration(op, { k: spec.top.k, tol: spec.top.tol, maxIterations: spec.top.maxSteps, seed: spec.seed });
    return { kind: 'power', top: pairs(hessian, result.eigenvalues, result.eigenvectors, keep), ...stats(result) };
  }
  if (unitId === 'trace-hutchpp' && spec.trace) {
    const result = hutchpp(op, { samples: spec.trace.samples, seed: spec.seed });
    return { kind: 'hutchpp', value: result.value, stderr: result.stderr, samples: result.samples, ...stats(result) };
  }
  const traceBatch = /^trace-(\d+)$/.exec(unitId);
  if (traceBatch && spec.trace?.method === 'hutchinson') {
    const started = performance.now();
    const first = Number(traceBatch[1]) * spec.trace.batch;
    const count = Math.min(spec.trace.batch, spec.trace.samples - first);
    if (count <= 0) throw new Error(`no unit ${unitId} in this job`);
    const values = hutchinsonSamples(op, { seed: spec.seed, first, count });
    return { kind: 'hutchinson', first, values, iterations: count, converged: true, hvps: count, seconds: (performance.now() - started) / 1000 };
  }
  const densityRun = /^density-(\d+)$/.exec(unitId);
  if (densityRun && spec.density && Number(densityRun[1]) < spec.density.runs) {
    const index = Number(densityRun[1]);
    const run = slqRun(op, { steps: spec.density.steps, seed: spec.seed, index });
    return { kind: 'slq', index, nodes: run.nodes, weights: run.weights, ...stats(run) };
  }
  throw new Error(`no unit ${unitId} in this job`);
}

function sumStats(list: SolverStats[]): SolverStats {
  return {
    iterations: list.reduce((s, x) => s + x.iterations, 0),
    converged: list.every((x) => x.converged),
    hvps: list.reduce((s, x) => s + x.hvps, 0),
    seconds: list.reduce((s, x) => s + x.seconds, 0),
  };
}

export function hessianResult(
  spec: HessianSpec,
  prepared: PreparedHessian,
  results: ReadonlyMap<string, HessianUnitResult>,
  execution: ExecutionRecord,
  outDir: string,
): HessianResult {
  const all = [...results.values()];
  const byKind = <K extends HessianUnitResult['kind']>(kind: K) => all.filter((r): r is Extract<HessianUnitResult, { kind: K }> => r.kind === kind);
  const exact = byKind('exact')[0];
  const lanczosResult = byKind('lanczos')[0];
  const power = byKind('power')[0];
  const top = spec.top ? (spec.top.method === 'exact' ? exact?.top : spec.top.method === 'power' ? power?.top : lanczosResult?.top) : undefined;
  const bottom = spec.bottom ? (spec.bottom.method === 'exact' ? exact?.bottom : lanczosResult?.bottom) : undefined;
  if ((spec.top && !top) || (spec.bottom && !bottom)) throw new Error('the eigenvalue unit of this job has no result');

  const layout = prepared.model.description.layout;
  const eigenvectors: HessianResult['eigenvectors'] = [];
  for (const [which, found] of [
    ['top', top],
    ['bottom', bottom],
  ] as const) {
    found?.vectors.forEach((vector, i) => {
      const file = `eigenvector_${which}_${i + 1}.json`;
      writeWeightSetFile(join(outDir, file), Float64Array.from(vector), layout);
      eigenvectors.push({ which, index: i + 1, eigenvalue: found.values[i]!, file });
    });
  }

  let trace: HessianResult['trace'];
  if (spec.trace?.method === 'exact') {
    if (!exact) throw new Error('the exact unit of this job has no result');
    trace = { method: 'exact', value: exact.trace, stderr: 0, samples: 0 };
  } else if (spec.trace?.method === 'hutchinson') {
    const values = byKind('hutchinson')
      .sort((a, b) => a.first - b.first)
      .flatMap((r) => r.values);
    const { mean, stderr } = meanAndStderr(values);
    trace = { method: 'hutchinson', value: mean, stderr, samples: values.length };
  } else if (spec.trace?.method === 'hutchpp') {
    const r = byKind('hutchpp')[0];
    if (!r) throw new Error('the Hutch++ unit of this job has no result');
    trace = { method: 'hutchpp', value: r.value, stderr: r.stderr, samples: r.samples };
  }

  let density: HessianResult['density'];
  const runs = byKind('slq').sort((a, b) => a.index - b.index);
  if (spec.density && runs.length) {
    const smoothed = slqDensity(runs, { points: spec.density.points, sigma: spec.density.sigma });
    density = { ...smoothed, runs: runs.length, steps: spec.density.steps };
  }

  const solvers: Record<string, SolverStats> = {};
  if (exact) solvers.exact = stats(exact);
  if (lanczosResult) solvers.lanczos = stats(lanczosResult);
  if (power) solvers.power = stats(power);
  const traceUnits = [...byKind('hutchinson'), ...byKind('hutchpp')];
  if (traceUnits.length) solvers.trace = sumStats(traceUnits);
  if (runs.length) solvers.density = sumStats(runs);
  const summary = summarizeHvp(all.flatMap((r) => (r.hvp ? [r.hvp] : [])));
  const hvp = summary && { ...summary, factoredLayers: factoredLayerNames(prepared.model.description.graph, layout) };

  return {
    kind: 'hessian',
    ...(spec.label ? { label: spec.label } : {}),
    parameters: layoutSize(layout),
    trainableParameters: prepared.dimension,
    seed: spec.seed,
    eigenvalues: {
      ...(top ? { top: top.values } : {}),
      ...(bottom ? { bottom: bottom.values } : {}),
      ...(exact ? { all: exact.all } : {}),
    },
    eigenvectors,
    ...(trace ? { trace } : {}),
    ...(density ? { density } : {}),
    solvers,
    ...(hvp ? { hvp } : {}),
    ...evaluationProvenance(spec.model, prepared.model.description.name, prepared.setup, execution),
  };
}

const hessians = new PlannedPreparation<HessianSpec, PreparedHessian>(prepareHessian);

export const hessianHandler: JobHandler<HessianSpec, PreparedHessian, HessianUnitResult> = {
  // prepareHessian reads and checks the inputs only (plain JavaScript); products build their tensors lazily. The
  // plan's reading is kept for the first prepare of the same spec (the data read once, not twice).
  plan: (spec, resolve) => hessianUnits(spec, hessians.plan(spec, resolve).dimension),
  prepare: (spec, resolve) => hessians.prepare(spec, resolve),
  async runUnit(spec, prepared, unitId, context) {
    if (!hessianUnits(spec, prepared.dimension).some((unit) => unit.id === unitId)) throw new Error(`no unit ${unitId} in this job`);
    await selectBackend(context.backend);
    const { setup } = prepared;
    const n = setup.data.n;
    const plan = planHvp(spec.hvp, {
      samples: n,
      trainableParameters: prepared.dimension,
      batchSize: setup.batchSize,
      workers: context.hvp?.workers ?? 1,
      threads: context.hvp?.threads ?? 1,
      minWork: context.hvp?.minWork ?? DEFAULT_SHARD_MIN_WORK,
    });
    const hvp = emptyHvpStats(plan);
    const coordinates = new TrainableCoordinates(setup.model.layout);
    let op: LinearOperator;
    if (plan.mode === 'sharded') {
      const ranges = shardRanges(n, setup.batchSize, plan.shards);
      op = shardedOperator(
        {
          dimension: prepared.dimension,
          shards: plan.shards,
          expand: (u) => coordinates.expand(u),
          compact: (v) => coordinates.compact(v),
          product: (shard, v) => operatorFor(prepared, setup, prepared.model.weights, { range: ranges[shard]! }).hvp(v),
          weights: ranges.map((range) => (range.end - range.start) / n),
          // Embedded runs (no workers) compute every shard here: same sums, no parallelism.
          exchange: context.hvp?.exchange() ?? localExchange(),
        },
        hvp,
      );
    } else {
      op = timedOperator(operatorFor(prepared, setup, prepared.model.weights).operator, hvp);
    }
    return { ...runHessianUnit(spec, coordinates, unitId, tracked(op, unitId, context)), hvp };
  },
  async hvpShard(_spec, prepared, shard, vector, context) {
    await selectBackend(context.backend);
    const { setup } = prepared;
    const range = shardRanges(setup.data.n, setup.batchSize, shard.count)[shard.index];
    if (!range) throw new Error(`no shard ${shard.index} of ${shard.count}`);
    return operatorFor(prepared, setup, prepared.model.weights, { range }).hvp(vector);
  },
  async assemble(spec, prepared, results, execution, outDir) {
    mkdirSync(outDir, { recursive: true });
    const result = hessianResult(spec, prepared, results, execution, outDir);
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    if (result.density) {
      const subtitle = `${spec.label ?? result.model.name} · ${result.density.runs} SLQ runs × ${result.density.steps} steps · σ = ${result.density.sigma.toPrecision(3)}`;
      writeFileSync(
        join(outDir, 'density.svg'),
        densitySvg(result.density.grid, result.density.values, {
          title: 'Hessian spectral density',
          subtitle,
          marks: result.eigenvalues.top,
          marksLabel: 'top eigenvalues',
        }),
      );
    }
    return result;
  },
  release: (prepared) => releaseOperator(prepared),
};
