import * as tf from '@tensorflow/tfjs-core';
import { subsetDataset } from '../data';
import { InputError } from '../errors';
import type { EvaluationSetup } from '../evaluate';
import { float32Tensor, hostValues } from '../blas';
import { lossSum, targetMatrix } from '../losses';
import type { ModelDescription } from '../model';
import { modelObjective, objectiveOutput, type ModelObjective } from '../objective';
import { layoutSize, type WeightLayout } from '../weights';
import { FactoredLinearLayers } from './linear-input';
import { RetainedGradient } from './retained-gradient';
import { installSecondOrderGradients } from './second-order';

/** A symmetric linear map on Float64Array vectors; `apply` may be called any number of times. */
export interface LinearOperator {
  dimension: number;
  /**
   * The product. `into` (never `v` itself) is a buffer of `dimension` entries the operator may write the product
   * into and return: solvers that drop each product pass the previous one back, so a product allocates no fresh
   * host memory (each new 10⁵-entry vector is ~200 page faults, several ms on a VM). Use the returned array.
   */
  apply(v: Float64Array, into?: Float64Array): Float64Array;
}

export interface HessianOptions {
  /** Use a seeded subset of the evaluation set (kept for every product, so the operator stays one matrix). */
  subset?: { n: number; seed: number };
  /** Only samples [start, end) of the (subset) evaluation set: one data shard of a sharded product. */
  range?: { start: number; end: number };
  /**
   * 'factored' (default): the first linear layers' Jacobian is factored out of the products (linear-input.ts);
   * 'plain': every layer is differentiated twice (the reference the tests compare with).
   */
  firstLayers?: 'factored' | 'plain';
  /**
   * 'retained' (default): each batch's gradient is recorded once per point with its tape and every product is one
   * backward pass through it (retained-gradient.ts), within RETAINED_TAPE_BYTES; 'recomputed': every product runs
   * the forward and both backward passes again. Whether a product was retained is `retainedProducts`.
   */
  products?: 'retained' | 'recomputed';
  /** Budget for retained tapes (default RETAINED_TAPE_BYTES). */
  retainedTapeBytes?: number;
}

/** Bound on the tapes kept for retained products (all batches of an operator together); beyond it products recompute. */
export const RETAINED_TAPE_BYTES = 1024 * 2 ** 20;

/** Flat parameter vectors ↔ their trainable coordinates (what the solvers work on). */
export class TrainableCoordinates {
  readonly parameters: number;
  /** Flat indices of the trainable coordinates, ascending. */
  readonly indices: Int32Array;

  constructor(layout: WeightLayout) {
    this.parameters = layoutSize(layout);
    const indices: number[] = [];
    for (const spec of layout) if (spec.trainable) for (let k = 0; k < spec.size; k++) indices.push(spec.offset + k);
    this.indices = Int32Array.from(indices);
  }

  /** Trainable coordinates of a flat vector. */
  compact(v: Float64Array): Float64Array {
    // A plain loop: Float64Array.from(indices, map) takes ~20 ms on 10⁵ coordinates (V8's generic iteration path).
    const u = new Float64Array(this.indices.length);
    for (let k = 0; k < u.length; k++) u[k] = v[this.indices[k]!]!;
    return u;
  }

  /** Flat vector with `u` on the trainable coordinates and zeros elsewhere. */
  expand(u: Float64Array): Float64Array {
    const v = new Float64Array(this.parameters);
    for (let k = 0; k < u.length; k++) v[this.indices[k]!] = u[k]!;
    return v;
  }
}

interface Batch {
  x: tf.Tensor;
  target: tf.Tensor;
}

/**
 * The Hessian of the mean loss over the evaluation set (or a seeded subset) at a parameter vector θ, applied
 * by double backpropagation through the pure model objective (objective.ts). Batches are summed (each batch
 * contributes its loss sum, the total is divided by n), computed in float32 by tfjs and accumulated in float64.
 *
 * Vectors are flat parameter vectors (weights.ts order). Non-trainable weights (BN moving statistics) are
 * constants: their rows and columns are zero. `operator` is the same map restricted to the trainable
 * coordinates, which is what the eigen/trace solvers work on (no spurious zero eigenvalues).
 */
export class HessianOperator {
  readonly parameters: number;
  /** Flat indices of the trainable coordinates, ascending. */
  readonly trainableIndices: Int32Array;
  readonly operator: LinearOperator;
  readonly sampleCount: number;
  hvpCount = 0;
  /** Products computed through a retained tape (the rest recomputed). */
  retainedProducts = 0;
  gradientCount = 0;

  private readonly model: ModelDescription;
  private readonly coordinates: TrainableCoordinates;
  /** The trainable weights the products differentiate through (layout indices); the factored layers' are apart. */
  private readonly differentiated: number[];
  private readonly batches: Batch[] = [];
  private readonly objective: ModelObjective;
  private readonly factored: FactoredLinearLayers;
  private readonly retain: boolean;
  private readonly retainedTapeBytes: number;
  /** Per batch, the gradient retained at the current point; `false` once the tapes were found over budget. */
  private retained: RetainedGradient[] | false = [];
  private params: tf.Tensor[] = [];

  constructor(
    private readonly setup: EvaluationSetup,
    theta: Float64Array,
    options: HessianOptions = {},
  ) {
    installSecondOrderGradients();
    this.model = setup.model;
    const { layout } = this.model;
    this.parameters = layoutSize(layout);
    if (theta.length !== this.parameters) throw new InputError(`parameter vector has ${theta.length} numbers but the model has ${this.parameters}`);
    this.coordinates = new TrainableCoordinates(layout);
    this.trainableIndices = this.coordinates.indices;

    const data = options.subset ? subsetDataset(setup.data, options.subset.n, options.subset.seed) : setup.data;
    const { start: rangeStart, end: rangeEnd } = options.range ?? { start: 0, end: data.n };
    if (!(Number.isInteger(rangeStart) && Number.isInteger(rangeEnd) && rangeStart >= 0 && rangeStart < rangeEnd && rangeEnd <= data.n)) {
      throw new Error(`sample range [${rangeStart}, ${rangeEnd}) is not inside the ${data.n} samples`);
    }
    this.sampleCount = rangeEnd - rangeStart;
    this.objective = modelObjective(this.model, setup.loss, setup.output, data.sampleShape);
    const { outputUnits } = this.objective;
    const targets = targetMatrix(setup.loss, data, outputUnits, data.provenance.source);
    const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
    // Batches start at the range start, so a batch-aligned shard repeats the whole set's float32 batch products.
    for (let start = rangeStart; start < rangeEnd; start += setup.batchSize) {
      const end = Math.min(rangeEnd, start + setup.batchSize);
      this.batches.push({
        x: tf.tensor(data.x.subarray(start * sampleSize, end * sampleSize), [end - start, ...data.sampleShape], 'float32'),
        target: tf.tensor2d(targets.subarray(start * outputUnits, end * outputUnits), [end - start, outputUnits], 'float32'),
      });
    }
    this.factored = new FactoredLinearLayers(
      this.objective.graph,
      layout,
      this.batches.map((batch) => batch.x),
      (options.firstLayers ?? 'factored') === 'factored',
    );
    this.retain = (options.products ?? 'retained') === 'retained';
    this.retainedTapeBytes = options.retainedTapeBytes ?? RETAINED_TAPE_BYTES;
    this.differentiated = layout.flatMap((spec, i) => (spec.trainable && !this.factored.weightIndices.has(i) ? [i] : []));
    this.setPoint(theta);
    // Every coordinate trainable (the usual case): the operator is hvp itself, without two copies per product.
    const everyCoordinate = this.trainableIndices.length === this.parameters;
    this.operator = {
      dimension: this.trainableIndices.length,
      apply: everyCoordinate ? (u, into) => this.hvp(u, into) : (u) => this.compact(this.hvp(this.expand(u))),
    };
  }

  /** Moves the operator to another parameter vector (data stays uploaded). */
  setPoint(theta: Float64Array): void {
    if (theta.length !== this.parameters) throw new InputError(`parameter vector has ${theta.length} numbers but the model has ${this.parameters}`);
    this.releaseRetained();
    tf.dispose(this.params);
    this.params = this.model.layout.map((spec) => float32Tensor(theta.subarray(spec.offset, spec.offset + spec.size), spec.shape));
    this.factored.setPoint(this.params);
  }

  /**
   * Sum of the per-sample loss over batch `b` as a function of the factored layers' trainable pre-activations
   * followed by the differentiated weights (`variablesAt` order); `pre` are all factored pre-activations at θ.
   */
  private batchLoss(b: number, pre: readonly tf.Tensor[]): (...variables: tf.Tensor[]) => tf.Scalar {
    const batch = this.batches[b]!;
    const trainable = this.factored.trainableLayers.length;
    return (...variables) => {
      const params = [...this.params];
      this.differentiated.forEach((weight, i) => (params[weight] = variables[trainable + i]!));
      let k = 0;
      const given = this.factored.given(this.factored.layers.map((layer, j) => (layer.trainable ? variables[k++]! : pre[j]!)));
      return lossSum(this.setup.loss, objectiveOutput(this.objective, params, batch.x, { given }), batch.target, this.objective.outputKind) as tf.Scalar;
    };
  }

  /** The variables of `batchLoss` at θ. Call inside tf.tidy. */
  private variablesAt(pre: readonly tf.Tensor[]): tf.Tensor[] {
    return [...this.factored.layers.flatMap((layer, j) => (layer.trainable ? [pre[j]!] : [])), ...this.differentiated.map((weight) => this.params[weight]!)];
  }

  /** Per-variable results of batch `b` as (layout index, tensor) pairs: the factored layers' through Jᵀ. Call inside tf.tidy. */
  private toWeights(b: number, perVariable: tf.Tensor[]): [number, tf.Tensor][] {
    const trainable = this.factored.trainableLayers.length;
    return [
      ...this.factored.weightGradients(b, perVariable.slice(0, trainable)),
      ...this.differentiated.map((weight, i): [number, tf.Tensor] => [weight, perVariable[trainable + i]!]),
    ];
  }

  /** Adds per-weight tensors into the flat float64 accumulator and frees them. */
  private accumulate(into: Float64Array, tensors: [number, tf.Tensor][]): void {
    for (const [weight, tensor] of tensors) {
      const values = hostValues(tensor);
      const offset = this.model.layout[weight]!.offset;
      for (let k = 0; k < values.length; k++) into[offset + k] += values[k]!;
    }
    tf.dispose(tensors.map(([, tensor]) => tensor));
  }

  /** Mean loss and its gradient (flat, zero on non-trainable weights). */
  gradient(): { loss: number; gradient: Float64Array } {
    const gradient = new Float64Array(this.parameters);
    let loss = 0;
    this.batches.forEach((_, b) => {
      const { value, grads } = tf.tidy(() => {
        const pre = this.factored.preActivations(b, this.params);
        const { value, grads } = tf.valueAndGrads(this.batchLoss(b, pre))(this.variablesAt(pre));
        return { value, grads: this.toWeights(b, grads) };
      });
      loss += value.dataSync()[0]!;
      value.dispose();
      this.accumulate(gradient, grads);
    });
    this.gradientCount++;
    return { loss: loss / this.sampleCount, gradient: scale(gradient, 1 / this.sampleCount) };
  }

  /** H·v for a flat vector v (entries on non-trainable weights are ignored), written into `into` when given (not v). */
  hvp(v: Float64Array, into?: Float64Array): Float64Array {
    if (v.length !== this.parameters) throw new Error(`vector has ${v.length} entries, the model has ${this.parameters} parameters`);
    if (into === v) throw new Error('hvp: the result buffer must not be the vector');
    const result = into?.length === this.parameters ? into.fill(0) : new Float64Array(this.parameters);
    const vs = this.model.layout.map((spec) => float32Tensor(v.subarray(spec.offset, spec.offset + spec.size), spec.shape));
    try {
      this.batches.forEach((_, b) => {
        const retained = this.retainedGradient(b);
        const products = tf.tidy(() => {
          const pre = this.factored.preActivations(b, this.params);
          // The variables' direction: J·v on the factored pre-activations, v itself on the differentiated weights.
          const tangent = [...this.factored.directionTerms(b, vs), ...this.differentiated.map((weight) => vs[weight]!)];
          if (retained) return this.toWeights(b, retained.vjp(tangent));
          const directional = (...variables: tf.Tensor[]): tf.Scalar => {
            const grads = tf.grads(this.batchLoss(b, pre))(variables);
            return tf.addN(grads.map((g, i) => tf.sum(tf.mul(g, tangent[i]!)))) as tf.Scalar;
          };
          return this.toWeights(b, tf.grads(directional)(this.variablesAt(pre)));
        });
        this.accumulate(result, products);
      });
    } finally {
      tf.dispose(vs);
    }
    this.hvpCount++;
    if (this.retained && this.retained.length === this.batches.length) this.retainedProducts++;
    return scale(result, 1 / this.sampleCount);
  }

  /** Batch `b`'s gradient with its tape at the current point, recorded on first use; undefined: recompute. */
  private retainedGradient(b: number): RetainedGradient | undefined {
    // The variables must outlive the tape: cached pre-activations (or none) and the parameter tensors.
    if (!this.retain || this.retained === false || !this.factored.cached) return undefined;
    if (!this.retained[b]) {
      const pre = this.factored.preActivations(b, this.params);
      this.retained[b] = RetainedGradient.of(this.batchLoss(b, pre), this.variablesAt(pre));
      if (this.retained.reduce((bytes, r) => bytes + r.bytes, 0) > this.retainedTapeBytes) {
        // The tapes' size depends on the model and the data, not on θ: recompute at every point from now on.
        this.releaseRetained();
        this.retained = false;
        return undefined;
      }
    }
    return this.retained[b];
  }

  private releaseRetained(): void {
    if (!this.retained) return;
    this.retained.forEach((r) => r.dispose());
    this.retained = [];
  }

  /** Class names of the layers whose Jacobian is factored out of the products (tests and the bench report them). */
  factoredLayerClasses(): string[] {
    return this.factored.layers.map((layer) => this.objective.graph.nodes[layer.node]!.className);
  }

  compact(v: Float64Array): Float64Array {
    return this.coordinates.compact(v);
  }

  expand(u: Float64Array): Float64Array {
    return this.coordinates.expand(u);
  }

  dispose(): void {
    this.releaseRetained();
    this.factored.dispose();
    tf.dispose(this.params);
    this.params = [];
    for (const batch of this.batches) tf.dispose([batch.x, batch.target]);
    this.batches.length = 0;
  }
}

/**
 * Per process, the operators of a prepared job (data uploaded once, reused by every unit of the job): the whole
 * evaluation set, and each data shard this process computed (keyed by its sample range).
 */
const operators = new WeakMap<object, Map<string, HessianOperator>>();

export function operatorFor(key: object, setup: EvaluationSetup, theta: Float64Array, options: HessianOptions = {}): HessianOperator {
  let forKey = operators.get(key);
  if (!forKey) operators.set(key, (forKey = new Map()));
  const name = options.range ? `${options.range.start}-${options.range.end}` : 'all';
  let operator = forKey.get(name);
  if (!operator) {
    operator = new HessianOperator(setup, theta, options);
    forKey.set(name, operator);
  }
  return operator;
}

/** Frees the operators kept for `key` (workers call it when a job is done). */
export function releaseOperator(key: object): void {
  operators.get(key)?.forEach((operator) => operator.dispose());
  operators.delete(key);
}

function scale(v: Float64Array, factor: number): Float64Array {
  for (let i = 0; i < v.length; i++) v[i] *= factor;
  return v;
}
