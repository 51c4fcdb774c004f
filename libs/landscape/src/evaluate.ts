import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from './data';
import { coefficientsAt, type Grid } from './grid';
import { hostBatchSums, targetMatrix, type LossName, type OutputKind } from './losses';
import { toTensors, type ModelDescription } from './model';
import { modelObjective, objectiveOutput, type ModelObjective } from './objective';
import type { Tile, TileResult } from './tiles';
import { subspaceDecision, SubspaceTerms, type SubspaceDecision } from './subspace';
import { combine } from './weights';

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
}

export interface PointValue {
  loss: number;
  /** null for regression losses. */
  accuracy: number | null;
}

interface Batch {
  x: tf.Tensor;
  /** Kept on the host: the loss is reduced there (hostBatchSums). */
  targets: Float32Array;
}

/**
 * Holds the evaluation set on the backend (uploaded once) and evaluates parameter vectors one at a time.
 * Each call uploads the weights, runs every batch forward and reduces its outputs to loss and accuracy on the host.
 */
export class Evaluator {
  private readonly batches: Batch[];
  private readonly objective: ModelObjective;
  /** The subspace of the last plan evaluateAt saw, and its cached terms when subspace evaluation applies. */
  private subspace?: { plan: LandscapePlan; terms?: SubspaceTerms };
  readonly outputUnits: number;

  constructor(readonly setup: EvaluationSetup) {
    const { model, data } = setup;
    this.objective = modelObjective(model, setup.loss, setup.output, data.sampleShape);
    this.outputUnits = this.objective.outputUnits;
    const targets = targetMatrix(setup.loss, data, this.outputUnits, data.provenance.source);
    const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
    this.batches = [];
    for (let start = 0; start < data.n; start += setup.batchSize) {
      const end = Math.min(data.n, start + setup.batchSize);
      this.batches.push({
        x: tf.tensor(data.x.subarray(start * sampleSize, end * sampleSize), [end - start, ...data.sampleShape], 'float32'),
        targets: targets.subarray(start * this.outputUnits, end * this.outputUnits),
      });
    }
  }

  /** Loss (mean over samples) and accuracy at the flat parameter vector `weights`. */
  evaluate(weights: Float64Array): PointValue {
    return this.pass(weights);
  }

  /**
   * Loss and accuracy at origin + Σ coefficients[k]·directions[k] of `plan` (`scratch` receives the weights).
   * Shares the layers `evaluationSubspace` allows between the points of the plan; their terms stay cached on the
   * backend until another plan comes or the evaluator is disposed.
   */
  evaluateAt(plan: LandscapePlan, coefficients: readonly number[], scratch?: Float64Array<ArrayBuffer>): PointValue {
    const weights = combine(plan.origin, coefficients, plan.directions, scratch);
    const terms = this.termsFor(plan);
    if (!terms) return this.pass(weights);
    const scalars = coefficients.map((c) => tf.scalar(c));
    try {
      return this.pass(weights, (batch) => terms.outputs(batch, scalars));
    } finally {
      scalars.forEach((scalar) => scalar.dispose());
    }
  }

  private termsFor(plan: LandscapePlan): SubspaceTerms | undefined {
    if (this.subspace?.plan !== plan) {
      this.subspace?.terms?.dispose();
      const decision = evaluationSubspace(this.setup, plan.directions.length);
      const terms = decision.used
        ? new SubspaceTerms(
            this.objective.graph,
            this.setup.model.layout,
            decision.nodes,
            this.batches.map((batch) => batch.x),
            plan.origin,
            plan.directions,
          )
        : undefined;
      this.subspace = { plan, terms };
    }
    return this.subspace.terms;
  }

  /** One pass over the batches; `shared` gives the outputs of the shared layers of batch i (subspace evaluation). */
  private pass(weights: Float64Array, shared?: (batch: number) => Map<number, tf.Tensor>): PointValue {
    const { model, loss, data } = this.setup;
    const params = toTensors(weights, model.layout);
    let lossTotal = 0;
    let correctTotal = 0;
    try {
      for (const [i, batch] of this.batches.entries()) {
        const output = tf.tidy(() => objectiveOutput(this.objective, params, batch.x, { fused: true, ...(shared ? { given: shared(i) } : {}) }));
        const values = output.dataSync() as Float32Array;
        output.dispose();
        const sums = hostBatchSums(loss, values, batch.targets, this.outputUnits, this.objective.outputKind);
        lossTotal += sums.loss;
        correctTotal += sums.correct;
      }
    } finally {
      params.forEach((tensor) => tensor.dispose());
    }
    return { loss: lossTotal / data.n, accuracy: loss === 'mse' ? null : correctTotal / data.n };
  }

  dispose(): void {
    this.subspace?.terms?.dispose();
    this.subspace = undefined;
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

/**
 * Evaluates every point of a tile (y outer, x inner). `onPoint` is called after each point (progress, and the
 * cancellation check: returning false stops the tile early, which then throws).
 */
export function evaluateTile(evaluator: Evaluator, plan: LandscapePlan, tile: Tile, onPoint?: (done: number) => boolean | void): TileResult {
  const loss: number[] = [];
  const accuracy: (number | null)[] = [];
  const weights = new Float64Array(plan.origin.length);
  for (let iy = tile.y0; iy < tile.y1; iy++) {
    for (let ix = tile.x0; ix < tile.x1; ix++) {
      const value = evaluator.evaluateAt(plan, coefficientsAt(plan.grid, ix, iy), weights);
      loss.push(value.loss);
      accuracy.push(value.accuracy);
      if (onPoint?.(loss.length) === false) throw new UnitCancelled(tile.id);
    }
  }
  return { tileId: tile.id, loss, accuracy };
}

export class UnitCancelled extends Error {
  constructor(unitId: string) {
    super(`unit ${unitId} stopped: job cancelled`);
    this.name = 'UnitCancelled';
  }
}
