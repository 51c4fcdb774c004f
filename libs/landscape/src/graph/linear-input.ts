import { definitionOf, MODEL_INPUT, type ModelGraph } from './ir';

/** Per node: true when its output depends on no weight (weight-free layers reading only the model input). */
export function weightFreeNodes(graph: ModelGraph): boolean[] {
  const free: boolean[] = [];
  graph.nodes.forEach((node) => free.push(Object.keys(node.weights).length === 0 && node.inputs.every((i) => i === MODEL_INPUT || free[i])));
  return free;
}

/**
 * The nodes whose output (final activation set apart) is linear in their weights and whose input depends on no
 * weight: the model's first weighted layers. For them f(x; W) is a fixed linear map of W per batch, which both
 * subspace evaluation (the points share its terms) and the Hessian operator (its Jacobian factors out) rely on.
 */
export function linearLayersOnWeightFreeInput(graph: ModelGraph): number[] {
  const free = weightFreeNodes(graph);
  return graph.nodes.flatMap((node, i) =>
    definitionOf(node).linearInWeights === true && node.inputs.every((read) => read === MODEL_INPUT || free[read]) ? [i] : [],
  );
}
