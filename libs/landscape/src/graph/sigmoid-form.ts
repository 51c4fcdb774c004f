import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from './ir';
import { tensorView, type WeightLayout } from '../weights';

/**
 * tanh layers in sigmoid form, for evaluation where tanh is computed as 2σ(2z) − 1 (wasm: its tanh is scalar
 * code, its sigmoid vectorized; layers/activations.ts). That form costs three element-wise passes around the
 * sigmoid, and on small models they were a sixth of a surface's time. All three fold into weights:
 * - the producer, a layer whose output z is linear in its weights jointly (`linearInWeights`) and ends in tanh,
 *   computes 2z from its weights doubled and runs σ(2z) as its fused activation;
 * - each reader gets s = σ(2z) for tanh = 2s − 1 and absorbs that affine map (`absorbsInputAffine`; Dense with a
 *   bias: (2s − 1)·W + b = s·(2W) + (b − 1ᵀW)).
 * A producer qualifies when every reader absorbs the map (and reads nothing else), the model output is not its
 * output, and no other node shares the weights of a node rewritten. Both rewrites are linear maps of the parameter
 * vector, applied on the host in float64: to each point's vector, or once to a plan's origin and directions
 * (θ0 + Σ c·v maps to T·θ0 + Σ c·T·v), from which subspace terms are computed too.
 */
export interface SigmoidForm {
  /** The graph with each producer's activation sigmoid. */
  graph: ModelGraph;
  /** Rewrites a parameter vector in place (only the weights of producers and readers change) and returns it. */
  rewrite(theta: Float64Array): Float64Array;
  /** "producer into reader, …" per producer, for result.json. */
  record: string[];
}

export function sigmoidForm(graph: ModelGraph, layout: WeightLayout): SigmoidForm | undefined {
  const readers = graph.nodes.map((): number[] => []);
  graph.nodes.forEach((node, i) => node.inputs.forEach((read) => read !== MODEL_INPUT && readers[read]!.push(i)));
  const boundBy = new Map<number, number>();
  graph.nodes.forEach((node) => Object.values(node.weights).forEach((index) => boundBy.set(index, (boundBy.get(index) ?? 0) + 1)));
  const ownsWeights = (node: GraphNode): boolean => Object.values(node.weights).every((index) => boundBy.get(index) === 1);
  const producers = graph.nodes.flatMap((node, i) => {
    const definition = definitionOf(node);
    const isTanh = definition.linearInWeights && definition.withActivation && definition.finalActivation?.(node.config)?.activation === 'tanh';
    const absorbed = readers[i]!.every((r) => {
      const reader = graph.nodes[r]!;
      return reader.inputs.length === 1 && ownsWeights(reader) && definitionOf(reader).absorbsInputAffine?.accepts(reader.config) === true;
    });
    return isTanh && i !== graph.output && readers[i]!.length > 0 && absorbed && ownsWeights(node) ? [i] : [];
  });
  if (producers.length === 0) return undefined;
  const producing = new Set(producers);
  const readersOf = new Set(producers.flatMap((i) => readers[i]!));
  const weightsOf = (node: GraphNode, theta: Float64Array) =>
    Object.fromEntries(Object.entries(node.weights).map(([name, index]) => [name, tensorView(theta, layout[index]!)]));
  return {
    graph: {
      ...graph,
      nodes: graph.nodes.map((node, i) => (producing.has(i) ? { ...node, config: definitionOf(node).withActivation!(node.config, 'sigmoid') } : node)),
    },
    rewrite: (theta) => {
      graph.nodes.forEach((node, i) => {
        // A node may be both: it reads 2s − 1 with its original weights, and then doubles its own output.
        if (readersOf.has(i)) definitionOf(node).absorbsInputAffine!.rewrite(node.config, weightsOf(node, theta), 2, -1);
        if (producing.has(i)) for (const weight of Object.values(weightsOf(node, theta))) for (let j = 0; j < weight.length; j++) weight[j] *= 2;
      });
      return theta;
    },
    record: producers.map((i) => `${graph.nodes[i]!.name} into ${readers[i]!.map((r) => graph.nodes[r]!.name).join(', ')}`),
  };
}
