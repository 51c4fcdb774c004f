import * as tf from '@tensorflow/tfjs-core';
import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from '../graph/ir';
import { linearLayersOnWeightFreeInput } from '../graph/linear-input';
import { runGraph } from '../graph/run';
import { applyActivation, type ActivationName } from '../layers/activations';
import type { WeightLayout } from '../weights';

/**
 * The Hessian through the model's first linear layers, factored. Such a layer's pre-activation z = f(x; W) is a
 * fixed linear map of its weights on each batch (its input depends on no weight), so with J = ∂z/∂W the loss
 * L(W, θ') = L̃(z(W), θ') has, exactly (z has no second derivative),
 *
 *     ∇L = (Jᵀ·∂L̃/∂z, ∂L̃/∂θ'),    H·(v_W, v') = (Jᵀ·q, r)  where (q, r) = H̃·(J·v_W, v').
 *
 * J·v_W is the layer applied to the direction's weights, f(x; v_W) (bias included), and Jᵀ·q the layer's weight
 * gradient at cotangent q. Double backpropagation then runs from z on, with z at θ cached per batch: for a
 * 784-input MLP two of the four [batch × 784] products per batch are gone (the forward pass, and the
 * differentiated weight gradient).
 */

/** Bound on what the factored layers prepare for their weight gradients (conv patches, all batches together). */
export const PREPARED_BYTES = 256 * 2 ** 20;
/** Bound on the cached pre-activations (all batches together); beyond it they are recomputed per product. */
export const PRE_ACTIVATION_CACHE_BYTES = 512 * 2 ** 20;

interface FactoredLayer {
  node: number;
  /** Layout indices of its weights, by the layer's weight name. */
  weights: Record<string, number>;
  /** False for a frozen layer: its output is a constant and it takes no part in the products. */
  trainable: boolean;
  activation: ActivationName;
  /** The node's config without its final activation: f(x; W) itself. */
  linearConfig: unknown;
}

const weightsOf = (layer: FactoredLayer, params: readonly tf.Tensor[]): Record<string, tf.Tensor> =>
  Object.fromEntries(Object.entries(layer.weights).map(([name, index]) => [name, params[index]!]));

/**
 * The layers to factor: linear in their weights, on weight-free input, their weights all trainable or all frozen,
 * and read by no other node (a layer shared with a later call stays in the differentiated part).
 */
function factorable(graph: ModelGraph, layout: WeightLayout): FactoredLayer[] {
  const candidates = new Set(linearLayersOnWeightFreeInput(graph));
  const readers = new Map<number, number[]>();
  graph.nodes.forEach((node, i) => Object.values(node.weights).forEach((w) => readers.set(w, [...(readers.get(w) ?? []), i])));
  return [...candidates].flatMap((i) => {
    const node: GraphNode = graph.nodes[i]!;
    const indices = Object.values(node.weights);
    const trainable = indices.map((w) => layout[w]!.trainable);
    if (!trainable.every((t) => t === trainable[0])) return [];
    if (indices.some((w) => readers.get(w)!.some((reader) => !candidates.has(reader)))) return [];
    const final = definitionOf(node).finalActivation?.(node.config);
    return [
      {
        node: i,
        weights: node.weights,
        trainable: trainable[0] ?? false,
        activation: final?.activation ?? 'linear',
        linearConfig: final?.withoutActivation ?? node.config,
      },
    ];
  });
}

/** What result.json records: the layers whose Jacobian the products factor out (by layer name). */
export function factoredLayerNames(graph: ModelGraph, layout: WeightLayout): string[] {
  return factorable(graph, layout).map((layer) => graph.nodes[layer.node]!.name);
}

/** Per batch: the factored layers' inputs (kept), and their pre-activations at the current θ (cached within budget). */
export class FactoredLinearLayers {
  readonly layers: FactoredLayer[];
  readonly trainableLayers: FactoredLayer[];
  /** Layout indices of the factored layers' weights: the differentiated part leaves them out. */
  readonly weightIndices: ReadonlySet<number>;
  /** inputs[batch][layer]: the layer's input tensors; those computed here (not the batch itself) are owned. */
  private readonly inputs: tf.Tensor[][][];
  private readonly owned: tf.Tensor[] = [];
  private cache: tf.Tensor[][] | undefined;
  /** prepared[batch][trainable layer]: what the layer's weightGradients and applyPrepared reuse across products (made on first use). */
  private prepared: (tf.Tensor | undefined)[][] | undefined;

  constructor(
    private readonly graph: ModelGraph,
    private readonly layout: WeightLayout,
    batches: readonly tf.Tensor[],
    enabled = true,
    private readonly cacheBytes = PRE_ACTIVATION_CACHE_BYTES,
  ) {
    this.layers = enabled ? factorable(graph, layout) : [];
    this.trainableLayers = this.layers.filter((layer) => layer.trainable);
    this.weightIndices = new Set(this.layers.flatMap((layer) => Object.values(layer.weights)));
    this.inputs = batches.map((x) =>
      this.layers.map((layer) =>
        graph.nodes[layer.node]!.inputs.map((read) => {
          if (read === MODEL_INPUT) return x;
          const input = tf.tidy(() => runGraph({ ...graph, output: read }, [], x, { fused: true }));
          this.owned.push(input);
          return input;
        }),
      ),
    );
  }

  private inputsOf(batch: number, layer: FactoredLayer): tf.Tensor[] {
    return this.inputs[batch]![this.layers.indexOf(layer)]!;
  }

  /** f(x; W) of `layers` on batch `batch`, for the weights in `params` (layout order); from a layer's prepared input where it has one. */
  private linear(batch: number, layers: readonly FactoredLayer[], params: readonly tf.Tensor[]): tf.Tensor[] {
    return layers.map((layer) => {
      const definition = definitionOf(this.graph.nodes[layer.node]!);
      const inputs = this.inputsOf(batch, layer);
      const prepared = this.preparedFor(batch, layer);
      return prepared && definition.applyPrepared
        ? definition.applyPrepared(layer.linearConfig, prepared, inputs, weightsOf(layer, params))
        : definition.apply(layer.linearConfig, inputs, weightsOf(layer, params), { fused: true });
    });
  }

  private preparedFor(batch: number, layer: FactoredLayer): tf.Tensor | undefined {
    const k = this.trainableLayers.indexOf(layer);
    return k < 0 ? undefined : this.preparedWeightGradients()[batch]![k];
  }

  /** Caches the pre-activations at θ (`params`, layout order) when they fit the budget; call after every move of θ. */
  setPoint(params: readonly tf.Tensor[]): void {
    this.disposeCache();
    const samples = this.inputs.reduce((sum, batch) => sum + (batch[0]?.[0]?.shape[0] ?? 0), 0);
    const perSample = this.layers.reduce((sum, layer) => sum + this.graph.nodes[layer.node]!.shape.reduce<number>((a, b) => a * (b ?? Infinity), 1), 0);
    if (samples * perSample * 4 <= this.cacheBytes) this.cache = this.inputs.map((_, b) => tf.tidy(() => this.linear(b, this.layers, params)));
  }

  /** Whether the pre-activations at θ are cached (they then outlive any tf.tidy). */
  get cached(): boolean {
    return this.cache !== undefined || this.layers.length === 0;
  }

  /** Pre-activations at θ of all factored layers on batch `batch` (layer order). Call inside tf.tidy. */
  preActivations(batch: number, params: readonly tf.Tensor[]): tf.Tensor[] {
    return this.cache?.[batch] ?? this.linear(batch, this.layers, params);
  }

  /** The factored nodes' outputs from their pre-activations (layer order), for runGraph's `given`. */
  given(pre: readonly tf.Tensor[]): Map<number, tf.Tensor> {
    return new Map(this.layers.map((layer, j) => [layer.node, applyActivation(layer.activation, pre[j]!)]));
  }

  /** J·v: f(x; v) of the trainable factored layers on batch `batch` (bias included). Call inside tf.tidy. */
  directionTerms(batch: number, v: readonly tf.Tensor[]): tf.Tensor[] {
    return this.linear(batch, this.trainableLayers, v);
  }

  /** Jᵀ·dz as (layout index, gradient) pairs, for cotangents `dz` of the trainable factored layers. Call inside tf.tidy. */
  weightGradients(batch: number, dz: readonly tf.Tensor[]): [number, tf.Tensor][] {
    const prepared = this.preparedWeightGradients();
    return this.trainableLayers.flatMap((layer, k) => {
      const definition = definitionOf(this.graph.nodes[layer.node]!);
      const inputs = this.inputsOf(batch, layer);
      const names = Object.keys(layer.weights);
      const gradients =
        definition.weightGradients?.(layer.linearConfig, inputs, dz[k]!, prepared[batch]![k]) ?? this.autodiffWeightGradients(layer, inputs, dz[k]!);
      return names.map((name): [number, tf.Tensor] => [layer.weights[name]!, gradients[name]!]);
    });
  }

  /** The layers' prepared tensors for weightGradients, made once, within PREPARED_BYTES in all. */
  private preparedWeightGradients(): (tf.Tensor | undefined)[][] {
    if (this.prepared) return this.prepared;
    let left = PREPARED_BYTES;
    this.prepared = this.inputs.map((_, b) =>
      this.trainableLayers.map((layer) => {
        const definition = definitionOf(this.graph.nodes[layer.node]!);
        // Kept: this runs inside the first product's tidy, and the tensors serve every later product.
        const made = tf.tidy(() => definition.prepareWeightGradients?.(layer.linearConfig, this.inputsOf(b, layer), left));
        if (made) tf.keep(made);
        if (made) left -= 4 * made.size;
        return made;
      }),
    );
    return this.prepared;
  }

  /** ∇_W ⟨f(x; W), dz⟩ by autodiff; f is linear, so W's value does not matter and zeros stand in. */
  private autodiffWeightGradients(layer: FactoredLayer, inputs: tf.Tensor[], dz: tf.Tensor): Record<string, tf.Tensor> {
    const definition = definitionOf(this.graph.nodes[layer.node]!);
    const names = Object.keys(layer.weights);
    const inner = (...w: tf.Tensor[]): tf.Scalar =>
      tf.sum(tf.mul(definition.apply(layer.linearConfig, inputs, Object.fromEntries(names.map((name, i) => [name, w[i]!])), { fused: false }), dz));
    const grads = tf.grads(inner)(names.map((name) => tf.zeros(this.layout[layer.weights[name]!]!.shape)));
    return Object.fromEntries(names.map((name, i) => [name, grads[i]!]));
  }

  private disposeCache(): void {
    this.cache?.flat().forEach((t) => t.dispose());
    this.cache = undefined;
  }

  dispose(): void {
    this.disposeCache();
    tf.dispose(this.prepared?.flat().filter((t) => t !== undefined));
    tf.dispose(this.owned);
  }
}
