import * as tf from '@tensorflow/tfjs-core';
import { inferShapes } from './graph/build';
import { definitionOf, MODEL_INPUT, type ModelGraph } from './graph/ir';
import { runGraph, weightsOf } from './graph/run';
import { product } from './layers/config';
import { applyEachSet } from './layers/layer';
import type { WeightLayout } from './weights';

/**
 * Several points per pass. On small models most of a point's time is per-op overhead (op dispatch, weight upload,
 * reading the outputs back), not arithmetic. Here K points of a plan θ = θ0 + Σ_d c_d·v_d run as one pass over
 * the graph: their K weight sets are built on the backend (one matMul per weight), and activations of all K sets
 * are folded into the batch axis ([K·batch, ...], set-major). Weight-free layers apply unchanged (once, when their input is
 * shared by all sets); layers with weights use their `applySets` (Dense: one batched matMul) or run once per set.
 * Whether that beats one point per pass (the plain pass) depends on the model and the backend's kernels, so K is
 * measured (PassSizer), K = 1 being the plain pass.
 */

/** Bound on one pass's activations and weight sets; K is capped so a pass stays within it. */
export const POINTS_PER_PASS_BYTES = 256 * 2 ** 20;
/** Largest K measured or used. */
export const MAX_POINTS_PER_PASS = 64;
/**
 * The measurement stops at the first K whose time per point is this many times the best so far (clearly slower).
 * Time per point is not monotone in K (on wasm, K = 2 is often the slowest and K = 32 as fast as K = 1), so
 * smaller losses do not stop it.
 */
const SLOWER_STOPS = 2;
/** Passes per K measured: one to warm up, two timed. */
const PASSES_PER_K = 3;

/** The plan's origin and directions on the backend, uploaded once per weight; K weight sets per pass from them. */
export class PlanWeights {
  /** Per layout entry: its origin values [size] and its rows of the directions [directions, size]. */
  private readonly parts: { origin: tf.Tensor1D; directions: tf.Tensor2D }[];

  constructor(
    private readonly layout: WeightLayout,
    origin: Float64Array,
    directions: readonly Float64Array[],
  ) {
    this.parts = layout.map((spec) => {
      const rows = new Float32Array(directions.length * spec.size);
      directions.forEach((direction, d) => rows.set(direction.subarray(spec.offset, spec.offset + spec.size), d * spec.size));
      return {
        origin: tf.tensor1d(Float32Array.from(origin.subarray(spec.offset, spec.offset + spec.size)), 'float32'),
        directions: tf.tensor2d(rows, [directions.length, spec.size], 'float32'),
      };
    });
  }

  /**
   * Per layout entry, the K sets stacked [K, ...shape] for coefficient rows [K, directions]: θ0 + C·V, one matMul
   * per weight (slicing one product for all weights would take strided slices, slow on wasm). Call inside tf.tidy.
   */
  stacked(coefficients: tf.Tensor2D): tf.Tensor[] {
    const sets = coefficients.shape[0];
    return this.layout.map((spec, i) => {
      const { origin, directions } = this.parts[i]!;
      const weight = tf.reshape(tf.fused.matMul({ a: coefficients, b: directions, bias: origin }), [sets, ...spec.shape]);
      // As toTensors' Int32Array.from: truncation.
      return spec.dtype === 'int32' ? tf.cast(weight, 'int32') : weight;
    });
  }

  dispose(): void {
    this.parts.forEach(({ origin, directions }) => tf.dispose([origin, directions]));
  }
}

/** Per node: true when its output depends on no weight (and is not given), so all sets share one value. */
function sharedNodes(graph: ModelGraph, given: ReadonlyMap<number, tf.Tensor>): boolean[] {
  const shared: boolean[] = [];
  graph.nodes.forEach((node, i) =>
    shared.push(!given.has(i) && Object.keys(node.weights).length === 0 && node.inputs.every((read) => read === MODEL_INPUT || shared[read])),
  );
  return shared;
}

/** x repeated for each set, set-major: the folded form of a shared activation. */
const foldShared = (x: tf.Tensor, sets: number): tf.Tensor => tf.tile(x, [sets, ...x.shape.slice(1).map(() => 1)]);

/**
 * The graph's output for K weight sets (`stacked[i]`: layout entry i as [K, ...shape]) on one batch, folded
 * [K·batch, ...]. `given` node outputs are folded too (subspace terms combined per set). Call inside tf.tidy.
 */
export function runSets(graph: ModelGraph, stacked: readonly tf.Tensor[], sets: number, x: tf.Tensor, given?: ReadonlyMap<number, tf.Tensor>): tf.Tensor {
  const shared = sharedNodes(graph, given ?? new Map());
  const isShared = (read: number): boolean => read === MODEL_INPUT || shared[read]!;
  const output = runGraph(graph, [], x, {
    fused: true,
    ...(given ? { given } : {}),
    apply: (node, i, inputs) => {
      const definition = definitionOf(node);
      if (shared[i]) return definition.apply(node.config, inputs, {}, { fused: true });
      const context = { fused: true, sets, shared: node.inputs.map(isShared) };
      if (Object.keys(node.weights).length === 0) {
        return definition.apply(
          node.config,
          inputs.map((input, j) => (context.shared[j] ? foldShared(input, sets) : input)),
          {},
          { fused: true },
        );
      }
      const weights = weightsOf(node, stacked);
      return definition.applySets
        ? definition.applySets(node.config, inputs, weights, context)
        : applyEachSet(definition, node.config, inputs, weights, context);
    },
  });
  return shared[graph.output] ? foldShared(output, sets) : output;
}

/**
 * The most points one pass may hold: a pass keeps about three of the largest activation per set alive, plus the
 * set's weights (float32).
 */
export function pointsPerPassCap(graph: ModelGraph, layout: WeightLayout, sampleShape: readonly number[], batchSize: number): number {
  const shapes = inferShapes(graph, [...sampleShape], 'multipoint');
  const largest = Math.max(product([...sampleShape]) ?? Infinity, ...shapes.map((shape) => product(shape) ?? Infinity));
  const parameters = layout.reduce((sum, spec) => sum + spec.size, 0);
  const bytesPerSet = 4 * (3 * largest * batchSize + 2 * parameters);
  return Math.max(1, Math.min(MAX_POINTS_PER_PASS, Math.floor(POINTS_PER_PASS_BYTES / bytesPerSet)));
}

/**
 * A pass below this much arithmetic is mostly tfjs' per-op overhead (~10–20 µs an op on wasm), so the default
 * K gathers points until a pass does about this much: a 370-parameter MLP on 300 samples takes 16 points per pass
 * (2.4× faster than one), a 784-input MLP on 2,000 samples one.
 */
export const DEFAULT_FLOPS_PER_PASS = 16e6;
/** Largest default K: beyond it passes gained nothing measurable on small MLPs. */
const MAX_DEFAULT_POINTS_PER_PASS = 32;

/**
 * The default K, a function of the model, the data size and the matMul kernels only (never of timing, so a job's
 * numbers are the same on every process that has the same kernels): K ≥ 2 where every layer the points do not
 * share (`shared`: subspace.ts) is a Dense layer and matMul runs on OpenBLAS (blas.ts), whose batched matMul is
 * as fast as its plain one; wasm's own batched matMul is ~25× slower than its plain one, and K weight sets side by
 * side in a convolution were measured slower than K passes.
 */
export function defaultPointsPerPass(
  graph: ModelGraph,
  layout: WeightLayout,
  sampleShape: readonly number[],
  samples: number,
  cap: number,
  shared: readonly number[],
  batchedMatMulFast: boolean,
): { points: number; reason: string } {
  if (!batchedMatMulFast) return { points: 1, reason: "the default: one point per pass (wasm's own batched matMul is slow)" };
  const shapes = inferShapes(graph, [...sampleShape], 'multipoint');
  let flops = 0;
  for (const [index, node] of graph.nodes.entries()) {
    if (shared.includes(index) || Object.keys(node.weights).length === 0) continue;
    if (node.className !== 'Dense') return { points: 1, reason: `the default: one point per pass (layer ${node.name} is a ${node.className})` };
    // Each output number is a fan-in-long dot product.
    const fanIn = layout[node.weights.kernel!]!.shape[0]!;
    flops += 2 * samples * (product(shapes[index]!) ?? 0) * fanIn;
  }
  let points = 1;
  while (points * 2 <= Math.min(cap, MAX_DEFAULT_POINTS_PER_PASS) && points * 2 * flops <= DEFAULT_FLOPS_PER_PASS) points *= 2;
  return { points, reason: `the default: points per pass up to ${DEFAULT_FLOPS_PER_PASS / 1e6} MFLOP a pass (Dense layers on OpenBLAS)` };
}

/** What result.json records under `evaluation.pointsPerPass` for one unit's evaluator. */
export interface PointsPerPassRecord {
  /** K used for the points (the last pass of a tile may hold fewer). */
  pointsPerPass: number;
  /** Memory cap on K (`POINTS_PER_PASS_BYTES`, `MAX_POINTS_PER_PASS`). */
  cap: number;
  /** Time per point of each K tried, in order (the faster of two timed passes after one untimed, real points). */
  measured: { points: number; secondsPerPoint: number }[];
  reason: string;
}

/**
 * Chooses K from a short measurement on the first passes: K = 1, 2, 4, … up to the cap and to a third of a
 * unit's points, each K for three passes: the first untimed (the code path and its kernels warm up), the faster of
 * the other two counting (the machine may be busy). A K clearly slower per point than the best so far ends the
 * sequence. Then K = 1 is timed once more: the first passes of a process run cold code, which would favour the
 * K measured later. The fastest per point wins. These passes evaluate real points, so the measurement costs only
 * their slower rate.
 */
export class PassSizer {
  private readonly measured: { points: number; secondsPerPoint: number }[] = [];
  /** The K still to measure, in order. */
  private readonly queue: number[] = [];
  private reason: string;
  private trying: number | undefined;
  /** Passes of the K being tried so far, and the faster timed one's seconds. */
  private tries = 0;
  private fastest = Infinity;

  /** `forced`: K without measuring, for `forcedBecause`. */
  constructor(
    readonly cap: number,
    private readonly forced?: number,
    forcedBecause = 'evaluation.pointsPerPass in the spec',
  ) {
    this.reason = forced === undefined ? `fastest per point of those measured, up to the cap of ${cap}` : forcedBecause;
    if (forced === undefined) for (let k = 1; k <= cap; k *= 2) this.queue.push(k);
  }

  private best(): number {
    if (this.forced !== undefined) return this.forced;
    return this.measured.reduce((best, m) => (m.secondsPerPoint < best.secondsPerPoint ? m : best), { points: 1, secondsPerPoint: Infinity }).points;
  }

  /** A unit of `points` points starts: a K whose three passes do not fit in it is not measured. */
  unit(points: number): void {
    const fits = this.queue.filter((k, i) => PASSES_PER_K * k <= points || (i === 0 && this.tries > 0));
    if (fits.length === this.queue.length) return;
    this.reason = `fastest per point of those measured, up to a third of a unit's ${points} points`;
    this.queue.splice(0, this.queue.length, ...fits);
    this.recheckOne();
  }

  /** Once the sequence is over, K = 1 again, warm (unless it is all that was measured). */
  private recheckOne(): void {
    if (this.queue.length === 0 && this.measured.length > 1 && this.measured.filter((m) => m.points === 1).length === 1) this.queue.push(1);
  }

  /** K for the next pass, with `left` points of the unit still to evaluate. */
  next(left: number): number {
    this.trying = undefined;
    const candidate = this.queue[0];
    if (candidate === undefined || (PASSES_PER_K - this.tries) * candidate > left) return Math.min(this.best(), left);
    this.trying = candidate;
    return candidate;
  }

  /** The pass `next` sized took `seconds`. */
  record(seconds: number): void {
    if (this.trying === undefined) return;
    if (this.tries++ > 0) this.fastest = Math.min(this.fastest, seconds);
    if (this.tries < PASSES_PER_K) return;
    const bestSoFar = Math.min(...this.measured.map((m) => m.secondsPerPoint));
    const secondsPerPoint = this.fastest / this.trying;
    this.tries = 0;
    this.fastest = Infinity;
    this.measured.push({ points: this.trying, secondsPerPoint });
    this.queue.shift();
    if (secondsPerPoint > SLOWER_STOPS * bestSoFar && this.queue.length) {
      this.reason = `fastest per point of those measured; ${this.trying} points per pass were clearly slower`;
      this.queue.length = 0;
    }
    this.recheckOne();
  }

  toRecord(): PointsPerPassRecord {
    return { pointsPerPass: this.best(), cap: this.cap, measured: [...this.measured], reason: this.queue.length ? `${this.reason} (measuring)` : this.reason };
  }
}

/** What result.json records for a job: the K its units used, and the longest measurement one of them made. */
export interface PointsPerPassSummary {
  /** Distinct K the units used, ascending. */
  used: number[];
  cap: number;
  measured: PointsPerPassRecord['measured'];
  reason: string;
}

export function pointsPerPassSummary(records: readonly PointsPerPassRecord[]): PointsPerPassSummary | undefined {
  if (!records.length) return undefined;
  const longest = records.reduce((a, b) => (b.measured.length > a.measured.length ? b : a));
  return {
    used: [...new Set(records.map((r) => r.pointsPerPass))].sort((a, b) => a - b),
    cap: longest.cap,
    measured: longest.measured,
    reason: longest.reason,
  };
}
