import * as tf from '@tensorflow/tfjs-core';
import { applyFolded, foldedProducers } from './fold';
import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from './ir';

export interface RunOptions {
  /**
   * Evaluation only: use tfjs' fused kernels, and free each node's output once its last reader has run, so peak
   * memory is a few activations rather than all of them. Never set under a gradient (the tape needs every
   * intermediate, and fused kernels' gradients are not second-order safe).
   */
  fused?: boolean;
  /**
   * Node outputs computed elsewhere (subspace evaluation): used as those nodes' values. Only the nodes the output
   * needs are run, so what feeds only given nodes is skipped.
   */
  given?: ReadonlyMap<number, tf.Tensor>;
  /**
   * Computes a node from its inputs in place of `apply` with `params` (several weight sets per pass,
   * multipoint.ts); fused runs only. Its weights must be kept by the caller, like `params`.
   */
  apply?: (node: GraphNode, index: number, inputs: tf.Tensor[]) => tf.Tensor;
}

/** Which nodes the output needs, walking back from it and stopping at given nodes. */
function neededNodes(graph: ModelGraph, given: ReadonlyMap<number, tf.Tensor>): boolean[] {
  const needed = new Array<boolean>(graph.nodes.length).fill(false);
  needed[graph.output] = true;
  for (let i = graph.output; i >= 0; i--) {
    if (needed[i] && !given.has(i)) graph.nodes[i]!.inputs.forEach((read) => read !== MODEL_INPUT && (needed[read] = true));
  }
  return needed;
}

/** A node's weights by the layer's names, from tensors indexed like the weight layout. */
export const weightsOf = (node: GraphNode, params: readonly tf.Tensor[]): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(node.weights).map(([name, index]) => [name, params[index]!]));

/**
 * The graph as a pure function of (params, input): params[i] is the tensor of weight-layout entry i. Call inside
 * tf.tidy or a gradient function; without `fused`, intermediates are left to the caller's scope.
 */
export function runGraph(graph: ModelGraph, params: readonly tf.Tensor[], input: tf.Tensor, options: RunOptions = {}): tf.Tensor {
  const fused = options.fused === true;
  const given = options.given ?? new Map<number, tf.Tensor>();
  const needed = neededNodes(graph, given);
  const values: (tf.Tensor | undefined)[] = new Array(graph.nodes.length);
  const valueOf = (index: number): tf.Tensor => (index === MODEL_INPUT ? input : values[index]!);
  if (!fused) {
    if (options.apply) throw new Error('runGraph: a node apply needs a fused run');
    graph.nodes.forEach((node, i) => {
      if (!needed[i]) return;
      values[i] = given.get(i) ?? definitionOf(node).apply(node.config, node.inputs.map(valueOf), weightsOf(node, params), { fused: false });
    });
    return values[graph.output]!;
  }
  // Batch normalizations folded into the layer before them (fold.ts): that layer is not run on its own, and the
  // normalization reads its inputs instead. Not with a node apply (several weight sets per pass).
  const folds = options.apply ? new Map<number, number>() : foldedProducers(graph, given);
  const folded = new Set(folds.values());
  const inputsOf = (i: number): number[] => (folds.has(i) ? graph.nodes[folds.get(i)!]!.inputs : folded.has(i) ? [] : graph.nodes[i]!.inputs);
  // Readers left per node; the output is never freed. A tensor can be several nodes' value (identity layers).
  const readers = new Array<number>(graph.nodes.length).fill(0);
  graph.nodes.forEach((_, i) => needed[i] && !given.has(i) && new Set(inputsOf(i)).forEach((read) => read !== MODEL_INPUT && readers[read]!++));
  readers[graph.output]!++;
  const holders = new Map<tf.Tensor, number>();
  const kept = new Set<tf.Tensor>([input, ...params, ...given.values()]);
  const apply =
    options.apply ?? ((n: GraphNode, _: number, inputs: tf.Tensor[]) => definitionOf(n).apply(n.config, inputs, weightsOf(n, params), { fused: true }));
  graph.nodes.forEach((node, i) => {
    if (!needed[i] || folded.has(i)) return;
    const producer = folds.get(i);
    const output =
      given.get(i) ??
      tf.tidy(() =>
        producer === undefined
          ? apply(node, i, node.inputs.map(valueOf))
          : applyFolded(graph, i, producer, inputsOf(i).map(valueOf), (n) => weightsOf(n, params)),
      );
    values[i] = output;
    holders.set(output, (holders.get(output) ?? 0) + 1);
    if (given.has(i)) return;
    for (const read of new Set(inputsOf(i))) {
      if (read === MODEL_INPUT || --readers[read]! > 0) continue;
      const value = values[read]!;
      values[read] = undefined;
      const left = holders.get(value)! - 1;
      holders.set(value, left);
      if (left === 0 && !kept.has(value)) value.dispose();
    }
  });
  return values[graph.output]!;
}
