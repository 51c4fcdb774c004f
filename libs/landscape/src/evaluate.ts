import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './data';
import { coefficientsAt, type Grid } from './grid';
import { hostBatchSums, oneHotClasses, targetMatrix, type LossName, type OutputKind } from './losses';
import { toTensor, toTensors, type ModelDescription } from './model';
import { modelObjective, objectiveOutput, type ModelObjective } from './objective';
import type { Tile, TileResult } from './tiles';
import { hostValues, matMulFormsFast } from './blas';
import { defaultPointsPerPass, PassSizer, PlanWeights, pointsPerPassCap, runSets, type PointsPerPassRecord } from './multipoint';
import { subspaceDecision, subspaceRecord, SubspaceTerms, type SubspaceDecision, type SubspaceRecord } from './subspace';
import { foldedNormalizations } from './graph/fold';
import type { ModelGraph } from './graph/ir';
import { sigmoidForm, type SigmoidForm } from './graph/sigmoid-form';
import { tanhThroughSigmoid } from './layers/activations';
import { combine, layoutSize, type WeightLayout } from './weights';

/** Everything needed to evaluate the loss at a parameter vector; plain data, so it can cross thread boundaries. */
export interface EvaluationSetup {
  model: ModelDescription;
  data: Dataset;
  loss: LossName;
  output: OutputKind;
  /** Samples per forward pass; bounds memory. */
  batchSize: number;
  /** Subspace evaluation (subspace.ts): 'auto' (default) shares layers where it pays, 'always' wherever it is exact. */
  subspace?: 'auto' | 'always';
  /**
   * Points per pass over the data (multipoint.ts): a number, or 'auto' to choose it by measuring the first passes.
   * Default: `defaultPointsPerPass`, a rule of the model and the kernels. K changes the last bits of the values
   * (float32 rounding), so a measured K would make a job's numbers depend on the machine's timing.
   */
  pointsPerPass?: number | 'auto';
}

export interface PointValue {
  loss: number;
  /** null for regression losses. */
  accuracy: number | null;
}

interface PlanState {
  plan: LandscapePlan;
  /** The plan's origin and directions as passes read them: rewritten for the sigmoid form, if any. */
  origin: Float64Array;
  directions: Float64Array[];
  /** The shared layers' terms, when subspace evaluation applies. */
  terms?: SubspaceTerms;
  /** The plan's origin and directions on the backend, for passes of K ≥ 2 points (built by the first). */
  weights?: PlanWeights;
  sizer: PassSizer;
  /** A point's weights, for passes of one point (combined on the host in float64). */
  scratch: Float64Array<ArrayBuffer>;
  /** The weights only shared layers read, uploaded once at the origin (no pass reads them; see `uploadPoint`). */
  held: Map<number, tf.Tensor>;
}

interface Batch {
  x: tf.Tensor;
  /** Kept on the host: the loss is reduced there (hostBatchSums). */
  targets: Float32Array;
  /** The targets' classes where every row is one-hot (hostBatchSums' fast path for cross-entropy). */
  classes: Int32Array | undefined;
}

/**
 * Holds the evaluation set on the backend (uploaded once) and evaluates parameter vectors: `evaluate` one vector
 * (uploaded, every layer run), `evaluatePoints` the points of a plan several per pass. Outputs are reduced to loss
 * and accuracy on the host in float64.
 */
export class Evaluator {
  private readonly batches: Batch[];
  /** What the loss reads, its graph as fused passes run it: with its tanh layers in sigmoid form, if any. */
  private readonly objective: ModelObjective;
  private readonly sigmoid?: SigmoidForm;
  /** `evaluate`'s vector rewritten for the sigmoid form. */
  private readonly rewritten?: Float64Array;
  /** What the last plan evaluatePoints saw keeps on the backend. */
  private plan?: PlanState;
  readonly outputUnits: number;

  constructor(readonly setup: EvaluationSetup) {
    const { model, data } = setup;
    const objective = modelObjective(model, setup.loss, setup.output, data.sampleShape);
    this.sigmoid = evaluationSigmoidForm(objective.graph, model.layout, tf.getBackend());
    this.objective = this.sigmoid ? { ...objective, graph: this.sigmoid.graph } : objective;
    this.outputUnits = this.objective.outputUnits;
    if (this.sigmoid) this.rewritten = new Float64Array(layoutSize(model.layout));
    const targets = targetMatrix(setup.loss, data, this.outputUnits, data.provenance.source);
    const classes = oneHotClasses(targets, this.outputUnits);
    const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
    this.batches = [];
    for (let start = 0; start < data.n; start += setup.batchSize) {
      const end = Math.min(data.n, start + setup.batchSize);
      this.batches.push({
        x: tf.tensor(data.x.subarray(start * sampleSize, end * sampleSize), [end - start, ...data.sampleShape], 'float32'),
        targets: targets.subarray(start * this.outputUnits, end * this.outputUnits),
        classes: classes?.subarray(start, end),
      });
    }
  }

  /** Loss (mean over samples) and accuracy at the flat parameter vector `weights`. */
  evaluate(weights: Float64Array): PointValue {
    if (this.rewritten) this.rewritten.set(weights);
    return this.pass(toTensors(this.sigmoid ? this.sigmoid.rewrite(this.rewritten!) : weights, this.setup.model.layout));
  }

  /** Loss and accuracy at origin + Σ coefficients[k]·directions[k] of `plan` (see `evaluatePoints`). */
  evaluateAt(plan: LandscapePlan, coefficients: readonly number[]): PointValue {
    return this.evaluatePoints(plan, [coefficients])[0]!;
  }

  /**
   * Loss and accuracy at each point origin + Σ_k point[k]·directions[k] of `plan`, K points per pass
   * (multipoint.ts; K measured on the first passes of a plan unless the setup fixes it). A pass of one point is
   * the plain pass (weights combined on the host and uploaded, fused kernels); K ≥ 2 runs `runSets`. Shares the layers
   * `evaluationSubspace` allows between the points. The plan's weights and terms stay on the backend until
   * another plan comes or the evaluator is disposed. `onPass` gets each pass's values; returning false stops.
   */
  evaluatePoints(plan: LandscapePlan, points: readonly (readonly number[])[], onPass?: (values: PointValue[]) => boolean | void): PointValue[] {
    const state = this.stateFor(plan);
    state.sizer.unit(points.length);
    const values: PointValue[] = [];
    while (values.length < points.length) {
      const sets = state.sizer.next(points.length - values.length);
      const started = performance.now();
      const next = points.slice(values.length, values.length + sets);
      const pass = sets === 1 ? [this.pass(this.uploadPoint(state, next[0]!), state, next[0]!)] : this.passSets(state, next);
      state.sizer.record((performance.now() - started) / 1000);
      values.push(...pass);
      if (onPass?.(pass) === false) break;
    }
    return values;
  }

  /** How this evaluator chose K for `plan` (result.json's `evaluation.pointsPerPass`). */
  pointsPerPass(plan: LandscapePlan): PointsPerPassRecord {
    return this.stateFor(plan).sizer.toRecord();
  }

  private stateFor(plan: LandscapePlan): PlanState {
    if (this.plan?.plan !== plan) {
      this.disposePlan();
      const { model, data, batchSize } = this.setup;
      const decision = evaluationSubspace(this.setup, plan.directions.length);
      const rewrite = (v: Float64Array): Float64Array => (this.sigmoid ? this.sigmoid.rewrite(Float64Array.from(v)) : v);
      const [origin, directions] = [rewrite(plan.origin), plan.directions.map(rewrite)];
      const terms = decision.used
        ? new SubspaceTerms(
            this.objective.graph,
            model.layout,
            decision.nodes,
            this.batches.map((batch) => batch.x),
            origin,
            directions,
          )
        : undefined;
      const cap = pointsPerPassCap(this.objective.graph, model.layout, data.sampleShape, Math.min(batchSize, data.n));
      this.plan = {
        plan,
        origin,
        directions,
        terms,
        sizer: this.sizer(cap, decision),
        scratch: new Float64Array(plan.origin.length),
        held: new Map([...(terms?.sharedOnlyWeights ?? [])].map((i) => [i, toTensor(origin, model.layout[i]!)])),
      };
    }
    return this.plan;
  }

  /** K as the spec sets it ('auto': measured), else the default rule (multipoint.ts). */
  private sizer(cap: number, decision: SubspaceDecision): PassSizer {
    const { pointsPerPass, model, data } = this.setup;
    if (pointsPerPass === 'auto') return new PassSizer(cap);
    if (pointsPerPass !== undefined) return new PassSizer(cap, pointsPerPass, 'evaluation.pointsPerPass in the spec');
    const shared = decision.used ? decision.nodes : [];
    const { points, reason } = defaultPointsPerPass(
      this.objective.graph,
      model.layout,
      data.sampleShape,
      Math.min(this.setup.batchSize, data.n),
      cap,
      shared,
      matMulFormsFast(),
    );
    return new PassSizer(cap, points, reason);
  }

  /**
   * A point's weights on the backend, each combined on the host in float64 and uploaded, except the held ones: an
   * MLP's 784-input first layer would be ~90% of the numbers combined and uploaded per point for nothing.
   */
  private uploadPoint(state: PlanState, point: readonly number[]): tf.Tensor[] {
    const { origin, directions } = state;
    return this.setup.model.layout.map((spec, i) => {
      const held = state.held.get(i);
      if (held) return held;
      const range = (v: Float64Array): Float64Array => v.subarray(spec.offset, spec.offset + spec.size);
      combine(range(origin), point, directions.map(range), range(state.scratch));
      return toTensor(state.scratch, spec);
    });
  }

  /** One pass over the batches for K ≥ 2 points: the K weight sets built on the backend, one output read per batch. */
  private passSets(state: PlanState, points: readonly (readonly number[])[]): PointValue[] {
    const { loss, data } = this.setup;
    const sets = points.length;
    const dims = state.plan.directions.length;
    const coefficients = tf.tensor2d(points.flat(), [sets, dims], 'float32');
    const rows = state.terms
      ? tf.tensor2d(
          points.flatMap((point) => [1, ...point]),
          [sets, dims + 1],
          'float32',
        )
      : undefined;
    // Built on the first pass of K ≥ 2 points only: a plan evaluated a point per pass keeps no copy of its weights.
    state.weights ??= new PlanWeights(this.setup.model.layout, state.origin, state.directions);
    const weights = state.weights;
    const stacked = tf.tidy(() => weights.stacked(coefficients));
    const lossTotals = new Float64Array(sets);
    const correctTotals = new Float64Array(sets);
    try {
      for (const [i, batch] of this.batches.entries()) {
        const output = tf.tidy(() => {
          const y = runSets(this.objective.graph, stacked, sets, batch.x, rows && state.terms!.outputs(i, rows));
          return tf.reshape(y, [-1, this.outputUnits]);
        });
        const values = hostValues(output);
        const width = batch.targets.length;
        for (let s = 0; s < sets; s++) {
          const sums = hostBatchSums(
            loss,
            values.subarray(s * width, (s + 1) * width),
            batch.targets,
            this.outputUnits,
            this.objective.outputKind,
            batch.classes,
          );
          lossTotals[s] += sums.loss;
          correctTotals[s] += sums.correct;
        }
        output.dispose();
      }
    } finally {
      tf.dispose([coefficients, ...(rows ? [rows] : []), ...stacked]);
    }
    return Array.from(lossTotals, (total, s) => ({ loss: total / data.n, accuracy: loss === 'mse' ? null : correctTotals[s]! / data.n }));
  }

  /**
   * One pass over the batches at one parameter vector (`params`, uploaded; disposed here except the plan's held
   * weights; fused kernels): `evaluate`, and the points of a plan one per pass (`point`: its coefficients, for the
   * plan's shared layers).
   */
  private pass(params: tf.Tensor[], state?: PlanState, point?: readonly number[]): PointValue {
    const { loss, data } = this.setup;
    const row = state?.terms ? tf.tensor2d([[1, ...point!]], undefined, 'float32') : undefined;
    let lossTotal = 0;
    let correctTotal = 0;
    try {
      for (const [i, batch] of this.batches.entries()) {
        const output = tf.tidy(() =>
          objectiveOutput(this.objective, params, batch.x, { fused: true, ...(row ? { given: state!.terms!.outputs(i, row) } : {}) }),
        );
        const sums = hostBatchSums(loss, hostValues(output), batch.targets, this.outputUnits, this.objective.outputKind, batch.classes);
        output.dispose();
        lossTotal += sums.loss;
        correctTotal += sums.correct;
      }
    } finally {
      params.forEach((tensor, i) => state?.held.get(i) !== tensor && tensor.dispose());
      row?.dispose();
    }
    return { loss: lossTotal / data.n, accuracy: loss === 'mse' ? null : correctTotal / data.n };
  }

  private disposePlan(): void {
    if (!this.plan) return;
    this.plan.terms?.dispose();
    this.plan.weights?.dispose();
    tf.dispose([...this.plan.held.values()]);
    this.plan = undefined;
  }

  dispose(): void {
    this.disposePlan();
    for (const batch of this.batches) {
      batch.x.dispose();
    }
    this.batches.length = 0;
  }
}

/** The points of a landscape: θ(point) = origin + Σ_k coefficient_k · directions[k]. Plain data. */
export interface LandscapePlan {
  origin: Float64Array;
  directions: Float64Array[];
  grid: Grid;
}

/**
 * The one rule for whether the points of a `directions`-dimensional plan share layers' work (subspace.ts): used
 * by the evaluator and by the result's record alike.
 */
export function evaluationSubspace(setup: EvaluationSetup, directions: number): SubspaceDecision {
  return subspaceDecision(setup.model.graph, setup.model.layout, setup.data.sampleShape, setup.data.n, directions, { mode: setup.subspace ?? 'auto' });
}

/** The one rule for which tanh layers fused passes on `backend` run in sigmoid form: used by the evaluator and by the result's record alike. */
function evaluationSigmoidForm(graph: ModelGraph, layout: WeightLayout, backend: string): SigmoidForm | undefined {
  return tanhThroughSigmoid(backend) ? sigmoidForm(graph, layout) : undefined;
}

/** result.json's record of how points were evaluated: the layers shared between them, the rewrites of layers. */
export interface EvaluationRecord {
  subspace: SubspaceRecord;
  /** "bn into conv" per batch normalization folded into the layer before it in passes of one point (graph/fold.ts). */
  normalizationsFolded: string[];
  /** "tanh layer into its readers" per tanh layer run in sigmoid form (graph/sigmoid-form.ts). */
  tanhAsSigmoid: string[];
}

/** The record of points evaluated through `decision` on `backend` (the subspace's layers are computed apart, so never folded). */
export function evaluationRecord(setup: EvaluationSetup, decision: SubspaceDecision, backend: string): EvaluationRecord {
  const { graph } = modelObjective(setup.model, setup.loss, setup.output, setup.data.sampleShape);
  return {
    subspace: subspaceRecord(decision),
    normalizationsFolded: foldedNormalizations(setup.model.graph, decision.used ? decision.nodes : []),
    tanhAsSigmoid: evaluationSigmoidForm(graph, setup.model.layout, backend)?.record ?? [],
  };
}

/**
 * Evaluates every point of a tile (y outer, x inner), several per pass. `onPoint` is called after each point
 * (progress, and the cancellation check: returning false stops the tile early, which then throws).
 */
export function evaluateTile(evaluator: Evaluator, plan: LandscapePlan, tile: Tile, onPoint?: (done: number) => boolean | void): TileResult {
  const points: number[][] = [];
  for (let iy = tile.y0; iy < tile.y1; iy++) for (let ix = tile.x0; ix < tile.x1; ix++) points.push(coefficientsAt(plan.grid, ix, iy));
  const loss: number[] = [];
  const accuracy: (number | null)[] = [];
  let cancelled = false;
  evaluator.evaluatePoints(plan, points, (values) => {
    for (const value of values) {
      loss.push(value.loss);
      accuracy.push(value.accuracy);
      if (onPoint?.(loss.length) === false) {
        cancelled = true;
        break;
      }
    }
    return !cancelled;
  });
  if (cancelled) throw new UnitCancelled(tile.id);
  return { tileId: tile.id, loss, accuracy, pointsPerPass: evaluator.pointsPerPass(plan) };
}

export class UnitCancelled extends Error {
  constructor(unitId: string) {
    super(`unit ${unitId} stopped: job cancelled`);
    this.name = 'UnitCancelled';
  }
}
