import * as tf from '@tensorflow/tfjs-core';
import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from './ir';

export interface RunOptions {
  /**
   * Evaluation only: use tfjs' fused kernels, and free each node's output once its last reader has run, so peak
   * memory is a few activations rather than all of them. Never set under a gradient (the tape needs every
   * intermediate, and fused kernels' gradients are not second-order safe).
   */
  fused?: boolean;
}

const weightsOf = (node: GraphNode, params: readonly tf.Tensor[]): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(node.weights).map(([name, index]) => [name, params[index]!]));

/**
 * The graph as a pure function of (params, input): params[i] is the tensor of weight-layout entry i. Call inside
 * tf.tidy or a gradient function; without `fused`, intermediates are left to the caller's scope.
 */
export function runGraph(graph: ModelGraph, params: readonly tf.Tensor[], input: tf.Tensor, options: RunOptions = {}): tf.Tensor {
  const fused = options.fused === true;
  const values: (tf.Tensor | undefined)[] = new Array(graph.nodes.length);
  const valueOf = (index: number): tf.Tensor => (index === MODEL_INPUT ? input : values[index]!);
  if (!fused) {
    graph.nodes.forEach((node, i) => {
      values[i] = definitionOf(node).apply(node.config, node.inputs.map(valueOf), weightsOf(node, params), { fused: false });
    });
    return values[graph.output]!;
  }
  // Readers left per node; the output is never freed. A tensor can be several nodes' value (identity layers).
  const readers = new Array<number>(graph.nodes.length).fill(0);
  graph.nodes.forEach((node) => new Set(node.inputs).forEach((i) => i !== MODEL_INPUT && readers[i]!++));
  readers[graph.output]!++;
  const holders = new Map<tf.Tensor, number>();
  const kept = new Set<tf.Tensor>([input, ...params]);
  graph.nodes.forEach((node, i) => {
    const output = tf.tidy(() => definitionOf(node).apply(node.config, node.inputs.map(valueOf), weightsOf(node, params), { fused: true }));
    values[i] = output;
    holders.set(output, (holders.get(output) ?? 0) + 1);
    for (const read of new Set(node.inputs)) {
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
