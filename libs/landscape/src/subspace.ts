import * as tf from '@tensorflow/tfjs-core';
import { inferShapes } from './graph/build';
import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from './graph/ir';
import { linearLayersOnWeightFreeInput } from './graph/linear-input';
import { runGraph } from './graph/run';
import { applyActivation, type ActivationName } from './layers/activations';
import { product } from './layers/config';
import { toTensors } from './model';
import type { WeightLayout } from './weights';

/**
 * Subspace evaluation. For points θ = θ0 + Σ c_k·d_k (lines, surfaces), a layer whose output is linear in its
 * weights (`linearInWeights`) and whose input does not depend on any weight computes
 * f(x; θ0) + Σ c_k·f(x; d_k). Those K+1 terms are computed once per batch and kept on the backend; each point
 * then costs one small combination instead of the layer's full pass. With a 784-input MLP that layer is most of
 * the arithmetic.
 */

/** Bound on the terms kept on the backend (all batches and layers together); beyond it points are evaluated plainly. */
export const SUBSPACE_CACHE_BYTES = 512 * 2 ** 20;

/**
 * A layer pays when its fan-in (weights per output channel) exceeds this many times the K+1 terms a point
 * combines: a point then combines the terms over the layer's output instead of running the layer's fused kernel.
 * Measured with K = 2 on wasm (shared vs plain, same run): the reference MLP's fan-in 5 at 1.1×, the reference
 * CNN's 10 at 0.9×, ResNet-20's stem convolution's 28 at 1.00× (1,000 samples: 3.35–3.42 s a point either way,
 * and 197 MB of terms kept), a 784-input MLP's 785 at 4.2×.
 */
export const PAYING_FAN_IN_PER_TERM = 16;

export interface SubspaceOptions {
  budgetBytes?: number;
  /** 'always': wherever it is exact and fits the budget, paying or not (tests of the shared path on small models). */
  mode?: 'auto' | 'always';
}

/** What result.json records under `evaluation.subspace`. */
export interface SubspaceRecord {
  /** The layers whose work is shared between the points. */
  layers: string[];
  used: boolean;
  /** Why it was not used. */
  reason?: string;
}

export interface SubspaceDecision extends SubspaceRecord {
  /** Graph node indices of `layers`. */
  nodes: number[];
}

const nodeWeightSize = (node: GraphNode, layout: WeightLayout): number => Object.values(node.weights).reduce((sum, index) => sum + layout[index]!.size, 0);

/**
 * Whether (and for which layers) points of a `directions`-dimensional subspace share work, for `samples` samples
 * of `sampleShape`. A layer takes part when its output is linear in its weights, its input is weight-free, and
 * its weights per output channel (its fan-in) exceed the K+1 terms a point then combines, so that it pays.
 */
export function subspaceDecision(
  graph: ModelGraph,
  layout: WeightLayout,
  sampleShape: readonly number[],
  samples: number,
  directions: number,
  { budgetBytes = SUBSPACE_CACHE_BYTES, mode = 'auto' }: SubspaceOptions = {},
): SubspaceDecision {
  const linear = linearLayersOnWeightFreeInput(graph).map((i) => ({ node: graph.nodes[i]!, i }));
  const none = (reason: string, nodes: typeof linear): SubspaceDecision => ({ layers: nodes.map(({ node }) => node.name), nodes: [], used: false, reason });
  if (directions < 1) return none('not a subspace of points', linear);
  if (!linear.length) return none('no layer whose output is linear in its weights reads weight-free input', linear);
  const shapes = inferShapes(graph, [...sampleShape], 'subspace');
  const least = mode === 'always' ? 0 : PAYING_FAN_IN_PER_TERM * (directions + 1);
  const paying = linear.filter(({ node, i }) => nodeWeightSize(node, layout) / shapes[i]!.at(-1)! > least);
  if (!paying.length) return none(`it does not pay: the layers' fan-in is at most ${least} (${PAYING_FAN_IN_PER_TERM}× the terms a point combines)`, linear);
  const bytes = paying.reduce((sum, { i }) => sum + (directions + 1) * samples * (product(shapes[i]!) ?? Infinity) * 4, 0);
  if (bytes > budgetBytes) return none(`its terms need ${Math.ceil(bytes / 2 ** 20)} MiB, over the ${budgetBytes / 2 ** 20} MiB budget`, paying);
  return { layers: paying.map(({ node }) => node.name), nodes: paying.map(({ i }) => i), used: true };
}

/** The record without the node indices. */
export const subspaceRecord = ({ layers, used, reason }: SubspaceDecision): SubspaceRecord => ({ layers, used, ...(reason ? { reason } : {}) });

interface SharedLayer {
  node: number;
  activation: ActivationName;
}

/**
 * The K+1 terms of each shared layer for each batch, on the backend, stacked as the rows of one matrix:
 * terms[batch][layer] is [K+1, batch·units], row 0 at the origin and row k at direction k (bias included). The
 * pre-activations of several points are one matMul of their coefficient rows [1, c_1, …, c_K] with it.
 */
export class SubspaceTerms {
  private readonly layers: SharedLayer[] = [];
  private readonly terms: { stacked: tf.Tensor2D; shape: number[] }[][];
  /** Layout indices of the weights only shared layers read: a pass given the terms never reads them. */
  readonly sharedOnlyWeights: ReadonlySet<number>;

  constructor(
    graph: ModelGraph,
    layout: WeightLayout,
    nodes: readonly number[],
    batches: readonly tf.Tensor[],
    origin: Float64Array,
    directions: readonly Float64Array[],
  ) {
    const shared = new Set(nodes);
    const readElsewhere = new Set(graph.nodes.flatMap((node, index) => (shared.has(index) ? [] : Object.values(node.weights))));
    this.sharedOnlyWeights = new Set(nodes.flatMap((index) => Object.values(graph.nodes[index]!.weights)).filter((i) => !readElsewhere.has(i)));
    const weightSets = [origin, ...directions].map((vector) => toTensors(vector, layout));
    try {
      this.terms = batches.map((x, b) =>
        nodes.map((index) => {
          const node = graph.nodes[index]!;
          const definition = definitionOf(node);
          const final = definition.finalActivation?.(node.config);
          if (b === 0) this.layers.push({ node: index, activation: final?.activation ?? 'linear' });
          return tf.tidy(() => {
            const inputs = node.inputs.map((i) => (i === MODEL_INPUT ? x : runGraph({ ...graph, output: i }, [], x, { fused: true })));
            const terms = weightSets.map((params) => {
              const weights = Object.fromEntries(Object.entries(node.weights).map(([name, i]) => [name, params[i]!]));
              return definition.apply(final?.withoutActivation ?? node.config, inputs, weights, { fused: true });
            });
            return { stacked: tf.stack(terms.map((term) => tf.reshape(term, [-1]))) as tf.Tensor2D, shape: terms[0]!.shape };
          });
        }),
      );
    } finally {
      weightSets.flat().forEach((tensor) => tensor.dispose());
    }
  }

  /**
   * The shared layers' outputs on batch `batch` for the points whose rows [1, c_1, …, c_K] are `coefficients`
   * ([points, K+1]), folded set-major ([points·batch, ...], see multipoint.ts). Call inside tf.tidy.
   */
  outputs(batch: number, coefficients: tf.Tensor2D): Map<number, tf.Tensor> {
    const points = coefficients.shape[0];
    return new Map(
      this.layers.map((layer, j) => {
        const { stacked, shape } = this.terms[batch]![j]!;
        const pre = tf.reshape(tf.matMul(coefficients, stacked), [points * shape[0]!, ...shape.slice(1)]);
        return [layer.node, applyActivation(layer.activation, pre, true)];
      }),
    );
  }

  dispose(): void {
    this.terms.flat().forEach(({ stacked }) => stacked.dispose());
  }
}
