import * as tf from '@tensorflow/tfjs-core';
import { inferShapes } from './graph/build';
import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from './graph/ir';
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

/** Per node: true when its output depends on no weight (weight-free layers reading only the model input). */
function weightFree(graph: ModelGraph): boolean[] {
  const free: boolean[] = [];
  graph.nodes.forEach((node) => free.push(Object.keys(node.weights).length === 0 && node.inputs.every((i) => i === MODEL_INPUT || free[i])));
  return free;
}

const nodeWeightSize = (node: GraphNode, layout: WeightLayout): number =>
  Object.values(node.weights).reduce((sum, index) => sum + layout[index]!.size, 0);

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
  budgetBytes = SUBSPACE_CACHE_BYTES,
): SubspaceDecision {
  const free = weightFree(graph);
  const linear = graph.nodes
    .map((node, i) => ({ node, i }))
    .filter(({ node }) => definitionOf(node).linearInWeights === true && node.inputs.every((i) => i === MODEL_INPUT || free[i]));
  const none = (reason: string, nodes: typeof linear): SubspaceDecision => ({ layers: nodes.map(({ node }) => node.name), nodes: [], used: false, reason });
  if (directions < 1) return none('not a subspace of points', linear);
  if (!linear.length) return none('no layer whose output is linear in its weights reads weight-free input', linear);
  const shapes = inferShapes(graph, [...sampleShape], 'subspace');
  const paying = linear.filter(({ node, i }) => nodeWeightSize(node, layout) / shapes[i]!.at(-1)! > directions + 1);
  if (!paying.length) return none(`the layers' fan-in does not exceed the ${directions + 1} terms a point would combine`, linear);
  const bytes = paying.reduce((sum, { i }) => sum + (directions + 1) * samples * (product(shapes[i]!) ?? Infinity) * 4, 0);
  if (bytes > budgetBytes) return none(`its terms need ${Math.ceil(bytes / 2 ** 20)} MiB, over the ${budgetBytes / 2 ** 20} MiB budget`, paying);
  return { layers: paying.map(({ node }) => node.name), nodes: paying.map(({ i }) => i), used: true };
}

/** The record without the node indices. */
export const subspaceRecord = ({ layers, used, reason }: SubspaceDecision): SubspaceRecord => ({ layers, used, ...(reason ? { reason } : {}) });

interface SharedLayer {
  node: number;
  activation: ActivationName;
  /** Output shape without the batch axis. */
  shape: number[];
}

/**
 * The K+1 terms of each shared layer for each batch, on the backend: terms[batch][layer] is [K+1, units], row 0
 * at the origin and row k at direction k (bias included), so a point's pre-activation is one [1, K+1] matMul.
 */
export class SubspaceTerms {
  private readonly layers: SharedLayer[] = [];
  private readonly terms: tf.Tensor2D[][];

  constructor(graph: ModelGraph, layout: WeightLayout, nodes: readonly number[], batches: readonly tf.Tensor[], origin: Float64Array, directions: readonly Float64Array[]) {
    const weightSets = [origin, ...directions].map((vector) => toTensors(vector, layout));
    try {
      this.terms = batches.map((x, b) =>
        nodes.map((index) =>
          tf.tidy(() => {
            const node = graph.nodes[index]!;
            const definition = definitionOf(node);
            const final = definition.finalActivation?.(node.config);
            const inputs = node.inputs.map((i) => (i === MODEL_INPUT ? x : runGraph({ ...graph, output: i }, [], x, { fused: true })));
            const rows = weightSets.map((params) => {
              const weights = Object.fromEntries(Object.entries(node.weights).map(([name, i]) => [name, params[i]!]));
              return definition.apply(final?.withoutActivation ?? node.config, inputs, weights, { fused: true });
            });
            if (b === 0) this.layers.push({ node: index, activation: final?.activation ?? 'linear', shape: rows[0]!.shape.slice(1) });
            return tf.concat(rows.map((y) => tf.reshape(y, [1, -1])), 0) as tf.Tensor2D;
          }),
        ),
      );
    } finally {
      weightSets.flat().forEach((tensor) => tensor.dispose());
    }
  }

  /** The shared layers' outputs on batch `batch` at the point `coefficients` (graph node → output). Call inside tf.tidy. */
  outputs(batch: number, coefficients: readonly number[]): Map<number, tf.Tensor> {
    const weights = tf.tensor2d([[1, ...coefficients]]);
    return new Map(
      this.layers.map((layer, j) => {
        const pre = tf.reshape(tf.matMul(weights, this.terms[batch]![j]!), [-1, ...layer.shape]);
        return [layer.node, applyActivation(layer.activation, pre)];
      }),
    );
  }

  dispose(): void {
    this.terms.flat().forEach((tensor) => tensor.dispose());
  }
}
