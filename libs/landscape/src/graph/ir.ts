import type { AnyLayerDefinition, Shape } from '../layers/layer';
import { LAYER_REGISTRY } from '../layers/registry';

/**
 * The model graph: one node per layer call, in topological order, each reading the outputs of earlier nodes (or
 * the model input, `MODEL_INPUT`). A layer called twice (a shared layer, or a nested model used twice) gives two
 * nodes bound to the same weights. Plain data (layers are referred to by class name, configs are parsed JSON), so
 * a description crosses thread boundaries; evaluation is a pure function of (weights, input).
 */
export const MODEL_INPUT = -1;

export interface GraphNode {
  /** The layer's path ('block1/conv' inside a nested model 'block1'), with '#k' for its k-th further call. */
  name: string;
  /** Keras class name: the key of the layer's registry entry. */
  className: string;
  /** The config as the registry entry parsed it. */
  config: unknown;
  /** Indices of the nodes whose outputs this node reads (MODEL_INPUT for the model input). */
  inputs: number[];
  /** Output shape without the batch axis (null = free, sized by the data). */
  shape: Shape;
  /** The layer's weight name → index into the model's weight layout. */
  weights: Record<string, number>;
}

export interface ModelGraph {
  inputShape: Shape;
  nodes: GraphNode[];
  /** Index of the node whose output is the model output. */
  output: number;
}

/** The registry entry that evaluates a node. */
export function definitionOf(node: GraphNode): AnyLayerDefinition {
  const definition = LAYER_REGISTRY.get(node.className);
  if (!definition) throw new Error(`layer class ${node.className} is not registered`);
  return definition;
}
