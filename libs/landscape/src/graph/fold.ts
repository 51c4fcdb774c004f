import type * as tf from '@tensorflow/tfjs-core';
import { definitionOf, MODEL_INPUT, type ModelGraph } from './ir';

/**
 * Batch normalization folded into the layer before it, for evaluation (fused runs). At inference BN is per
 * channel y·s + t (s = γ/√(σ² + ε), t = β − μ·s), so conv(x; W, b)·s + t = conv(x; W·s, b·s + t): the
 * normalization's own pass over the activations goes, for a few ops on the weights per pass. On wasm, whose
 * batch-norm kernel is scalar code, that pass was a quarter of a ResNet-20 forward pass (590 of 2,260 ms on 500
 * samples). Folded: a layer with `outputAffine` (BatchNormalization over the last axis) whose only input is a
 * layer with `absorbsAffine` (Dense, convolutions) that nothing else reads and that ends in no activation.
 */

/** Per folded normalization node, the node folded into it (which is then not run on its own). */
export function foldedProducers(graph: ModelGraph, given: Pick<ReadonlySet<number>, 'has'>): Map<number, number> {
  const readers = new Array<number>(graph.nodes.length).fill(0);
  for (const node of graph.nodes) for (const read of node.inputs) if (read !== MODEL_INPUT) readers[read]!++;
  const folds = new Map<number, number>();
  graph.nodes.forEach((node, i) => {
    const producer = node.inputs.length === 1 ? node.inputs[0]! : MODEL_INPUT;
    if (producer === MODEL_INPUT || readers[producer] !== 1 || producer === graph.output || given.has(producer) || given.has(i)) return;
    const normalization = definitionOf(node).outputAffine;
    const absorbs = definitionOf(graph.nodes[producer]!).absorbsAffine;
    if (normalization?.folds(node.config, graph.nodes[producer]!.shape) && absorbs?.accepts(graph.nodes[producer]!.config)) folds.set(i, producer);
  });
  return folds;
}

/** For result.json: "bn into conv" per normalization folded when `given` nodes (subspace terms) are computed apart. */
export function foldedNormalizations(graph: ModelGraph, given: readonly number[]): string[] {
  return [...foldedProducers(graph, new Set(given))].map(([index, producer]) => `${graph.nodes[index]!.name} into ${graph.nodes[producer]!.name}`);
}

/** The output of normalization node `index` with `producer` folded in, from the producer's inputs. Call inside tf.tidy. */
export function applyFolded(
  graph: ModelGraph,
  index: number,
  producer: number,
  inputs: tf.Tensor[],
  weightsOf: (node: ModelGraph['nodes'][number]) => Record<string, tf.Tensor>,
): tf.Tensor {
  const normalization = graph.nodes[index]!;
  const layer = graph.nodes[producer]!;
  const { scale, shift } = definitionOf(normalization).outputAffine!.affine(normalization.config, weightsOf(normalization));
  const definition = definitionOf(layer);
  return definition.apply(layer.config, inputs, definition.absorbsAffine!.weights(layer.config, weightsOf(layer), scale, shift), { fused: true });
}
