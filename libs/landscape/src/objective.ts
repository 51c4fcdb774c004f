import * as tf from '@tensorflow/tfjs-core';
import { InputError } from './errors';
import { inferShapes } from './graph/build';
import { definitionOf, type ModelGraph } from './graph/ir';
import { runGraph, type RunOptions } from './graph/run';
import type { ActivationName } from './layers/activations';
import { product } from './layers/config';
import type { LossName, OutputKind } from './losses';
import type { ModelDescription } from './model';

/**
 * What the loss reads, decided once per (model, loss, output setting, sample shape) and used alike by
 * evaluation, Hessian-vector products and training, so all three compute the same function:
 *
 * - A final softmax with a categorical loss, or a final sigmoid with binary cross-entropy, is skipped and the loss
 *   computed from its input (logits): exact, and stable where probabilities round to 0 or 1.
 * - Any other final softmax/sigmoid output is read as probabilities, whatever `output` says.
 * - Otherwise `output` says whether the model's output is logits or probabilities (mse reads it as is).
 *   Every other final activation (a tanh regression head, …) is kept.
 */
export interface ModelObjective {
  /** The graph whose output the loss reads (the model's, with a skipped final activation removed). */
  graph: ModelGraph;
  /** Values per sample the loss reads (the output flattened). */
  outputUnits: number;
  outputKind: OutputKind;
  /** The final activation skipped, if any (for the record). */
  skipped?: ActivationName;
}

const CATEGORICAL = new Set<LossName>(['sparse_categorical_crossentropy', 'categorical_crossentropy']);

export function modelObjective(model: ModelDescription, loss: LossName, output: OutputKind, sampleShape: readonly number[]): ModelObjective {
  const { graph } = model;
  // The last layer that computes something: dropout/noise layers after a softmax pass it through.
  let last = graph.output;
  while (definitionOf(graph.nodes[last]!).identity && graph.nodes[last]!.inputs[0]! >= 0) last = graph.nodes[last]!.inputs[0]!;
  const final = definitionOf(graph.nodes[last]!).finalActivation?.(graph.nodes[last]!.config);
  const activation = final?.activation;
  const skip = (activation === 'softmax' && CATEGORICAL.has(loss)) || (activation === 'sigmoid' && loss === 'binary_crossentropy');
  const outputKind: OutputKind = skip ? 'logits' : activation === 'softmax' || activation === 'sigmoid' ? 'probabilities' : output;
  const objectiveGraph: ModelGraph = skip
    ? { ...graph, nodes: graph.nodes.map((node, i) => (i === last ? { ...node, config: final!.withoutActivation } : node)) }
    : graph;
  const shape = inferShapes(objectiveGraph, [...sampleShape], model.name)[objectiveGraph.output]!;
  if (CATEGORICAL.has(loss) && shape.length !== 1) {
    throw new InputError(`the model's output has shape [${shape.join(', ')}] per sample; ${loss} needs one axis of class scores`, 'loss');
  }
  return { graph: objectiveGraph, outputUnits: product(shape) ?? 1, outputKind, ...(skip ? { skipped: activation } : {}) };
}

/** The objective's output as [batch, outputUnits] rows (what the losses read). Call inside tf.tidy or a gradient. */
export function objectiveOutput(objective: ModelObjective, params: readonly tf.Tensor[], x: tf.Tensor, options: RunOptions = {}): tf.Tensor2D {
  const y = runGraph(objective.graph, params, x, options);
  return (y.rank === 2 ? y : tf.reshape(y, [y.shape[0]!, objective.outputUnits])) as tf.Tensor2D;
}
