import * as tf from '@tensorflow/tfjs-core';
import type { ActivationDialect, ActivationName } from './activations';

/**
 * The contract of one layer kind in the model graph. The graph reader (model graph IR) parses each Keras/tfjs
 * layer config with `parse`, infers shapes with `outputShape`, binds the weights `weights` declares by
 * `<layer name>/<weight name>` (never by manifest position), and evaluation calls `apply` in topological order as
 * a pure function of (weights, inputs). Adding a layer = one entry in its family's file plus one registry line.
 */

/** A tensor shape without the batch axis; null is a free dimension (its size comes from the data). */
export type Shape = (number | null)[];

export interface WeightDeclaration {
  /** Keras' weight name inside the layer: 'kernel', 'bias', 'gamma', 'moving_mean', 'embeddings', … */
  name: string;
  /** False for statistics such as BatchNorm's moving mean/variance: never moved by directions, Hessians or training. */
  trainable: boolean;
  /** The shape the layer expects, checked against the manifest. */
  shape: number[];
  /** dtype the layer needs (default float32); e.g. int32 for lookup tables. */
  dtype?: 'float32' | 'int32';
  /**
   * The axes that index this weight's filters (output units) for filter normalization, read together as one
   * index. Default: the last axis of a rank ≥ 2 weight, none for rank ≤ 1. [] marks a bias-like weight (handled by
   * the bias setting), e.g. PReLU's slopes.
   */
  filterAxes?: number[];
}

export interface LayerContext {
  /** The layer's name in the model (for error messages). */
  layerName: string;
  /** The model file, for error messages. */
  source: string;
  /** Whose formulas the file's activations follow (default tfjs: tfjs-layers' and Keras 2's). */
  dialect?: ActivationDialect;
}

export interface ApplyContext {
  /**
   * Evaluation only: the layer may use tfjs' fused kernels (bias and activation in one op). Never set when
   * gradients are taken, because fused kernels' gradients are not second-order safe.
   */
  fused: boolean;
}

/**
 * Several weight sets in one pass (multipoint.ts). An input either holds the K sets' activations folded into the
 * batch axis, set-major ([K·batch, ...]: rows s·batch … (s+1)·batch − 1 belong to set s), or, where `shared[i]`,
 * one activation [batch, ...] every set reads (it depends on no weight, e.g. the model input).
 */
export interface SetsContext extends ApplyContext {
  /** K, the number of weight sets. */
  sets: number;
  /** Per input: true when it is one activation all sets share, false when it is folded. */
  shared: readonly boolean[];
}

export interface LayerDefinition<Config = unknown> {
  /** Keras class names this entry handles (the first is the canonical one). */
  readonly classNames: readonly string[];
  /** Parses and validates the layer's config; throws InputError naming the layer and the field. */
  parse(config: Record<string, unknown>, context: LayerContext): Config;
  /** Output shape (no batch axis) from the input shapes; throws InputError on a wrong input count or rank. */
  outputShape(config: Config, inputShapes: Shape[], context: LayerContext): Shape;
  /** The weights the layer binds, in Keras' order, for these input shapes. */
  weights(config: Config, inputShapes: Shape[], context: LayerContext): WeightDeclaration[];
  /** Inference-mode forward pass. Called inside tf.tidy or a gradient function: do not dispose intermediates. */
  apply(config: Config, inputs: tf.Tensor[], weights: Readonly<Record<string, tf.Tensor>>, context: ApplyContext): tf.Tensor;
  /**
   * `apply` for K weight sets at once: each weight stacked [K, ...shape], inputs as `SetsContext` says; returns
   * the folded output [K·batch, ...]. Optional: without it a layer with weights runs once per set
   * (`applyEachSet`), and a weight-free layer runs once on the folded inputs (it treats samples independently).
   */
  applySets?(config: Config, inputs: tf.Tensor[], weights: Readonly<Record<string, tf.Tensor>>, context: SetsContext): tf.Tensor;
  /** tfjs kernel names `apply` may dispatch: second-order safety is checked against these per layer. */
  readonly kernels: readonly string[];
  /** Exact second derivatives through this layer, or the reason a Hessian through it raises SecondOrderUnsupportedError. */
  readonly secondOrder: 'exact' | { unsupported: string };
  /**
   * The activation this layer ends with, and its config without it. Lets the model objective compute the loss
   * from the input of a final softmax/sigmoid (exact and stable). Absent: the layer ends in no such activation.
   */
  finalActivation?(config: Config): { activation: ActivationName; withoutActivation: Config } | undefined;
  /** True when evaluation passes the input through unchanged (dropout, noise): the objective looks through it. */
  readonly identity?: boolean;
  /**
   * True when the output, with `finalActivation` removed, is linear in all the layer's weights jointly (bias
   * included) for a fixed input: f(x; W0 + Σ c_k·D_k) = f(x; W0) + Σ c_k·f(x; D_k). Lets evaluation share this
   * layer's work between points of an affine subspace when its input does not depend on the weights (subspace.ts).
   */
  readonly linearInWeights?: boolean;
  /**
   * For a `linearInWeights` layer: the gradient of ⟨f(x; W), dy⟩ with respect to each weight, f without its final
   * activation. It does not depend on W, so it needs no forward pass; the Hessian operator uses it for the
   * model's first layers (hessian/linear-input.ts). Absent or undefined: autodiff, which runs the layer forward
   * once more.
   */
  weightGradients?(config: Config, inputs: tf.Tensor[], dy: tf.Tensor, prepared?: tf.Tensor): Record<string, tf.Tensor> | undefined;
  /**
   * For `weightGradients` over inputs that stay the same across many calls (the Hessian operator's factored
   * layers): a tensor computed once from them, within `bytes`, and passed back to every call (a convolution's
   * patches of its input, so its kernel gradient is one matMul); undefined: nothing to prepare.
   */
  prepareWeightGradients?(config: Config, inputs: tf.Tensor[], bytes: number): tf.Tensor | undefined;
  /** `apply` (fused, no final activation) from what `prepareWeightGradients` made of the same inputs. */
  applyPrepared?(config: Config, prepared: tf.Tensor, inputs: tf.Tensor[], weights: Readonly<Record<string, tf.Tensor>>): tf.Tensor;
  /**
   * Evaluation only: this layer is, at inference, a per-channel affine map y = x·scale + shift over the last axis
   * (batch normalization with its moving statistics), when `folds` holds for its input shape. graph/fold.ts then
   * folds it into the layer before it (`absorbsAffine`).
   */
  readonly outputAffine?: {
    folds(config: Config, inputShape: Shape): boolean;
    affine(config: Config, weights: Readonly<Record<string, tf.Tensor>>): { scale: tf.Tensor; shift: tf.Tensor };
  };
  /**
   * Evaluation only: when `accepts` holds (no activation after the linear part), the weights with which this
   * layer computes its own output·scale + shift (scale and shift over the output's last axis, in place of `bias`
   * too where the layer has none).
   */
  readonly absorbsAffine?: {
    accepts(config: Config): boolean;
    weights(config: Config, weights: Readonly<Record<string, tf.Tensor>>, scale: tf.Tensor, shift: tf.Tensor): Record<string, tf.Tensor>;
  };
  /** Evaluation only: the config with its final activation replaced (graph/sigmoid-form.ts runs a tanh layer as a sigmoid). */
  withActivation?(config: Config, activation: ActivationName): Config;
  /**
   * Evaluation only: when `accepts` holds, the layer computes from s, with its weights rewritten by `rewrite`,
   * what it computed from s·scale + shift (scalars). `rewrite` works in place on one parameter vector's values of
   * the layer's weights (float64, row-major in the layout's shapes) and is linear, so it applies to directions alike.
   */
  readonly absorbsInputAffine?: {
    accepts(config: Config): boolean;
    rewrite(config: Config, weights: Readonly<Record<string, Float64Array>>, scale: number, shift: number): void;
  };
}

/**
 * `absorbsAffine.weights` of a layer whose kernel `kernelName` has its output channels on the last axes (their
 * sizes `outputAxes`: [units], or [channels, multiplier] of a depthwise kernel) and whose optional bias is `bias`.
 */
export function scaledKernel(kernelName: string, outputAxes: (kernel: tf.Tensor) => number[]) {
  return (_config: unknown, weights: Readonly<Record<string, tf.Tensor>>, scale: tf.Tensor, shift: tf.Tensor): Record<string, tf.Tensor> => {
    const kernel = weights[kernelName]!;
    return {
      ...weights,
      [kernelName]: tf.mul(kernel, tf.reshape(scale, outputAxes(kernel))),
      bias: weights.bias ? tf.add(tf.mul(weights.bias, scale), shift) : shift,
    };
  };
}

/**
 * `absorbsInputAffine.rewrite` of a layer whose kernel `kernelName` maps each input value linearly into output
 * channels on the kernel's last axes (`channels` of them: the channel of flat kernel index i is i mod channels) and
 * whose bias is over those channels: (s·a + c) ∗ W + b = s ∗ (a·W) + (b + c·ΣW), the sum over each channel's
 * weights. Exact only where every output reads real inputs (no zero padding: there s·a + c would have to be 0).
 */
export function inputAffineIntoKernel<Config>(kernelName: string, channels: (config: Config, kernel: Float64Array) => number) {
  return (config: Config, weights: Readonly<Record<string, Float64Array>>, scale: number, shift: number): void => {
    const kernel = weights[kernelName]!;
    const bias = weights.bias!;
    const count = channels(config, kernel);
    for (let i = 0; i < kernel.length; i++) {
      bias[i % count] += shift * kernel[i]!;
      kernel[i] *= scale;
    }
  };
}

/** The generic `applySets`: `apply` once per set on that set's slice of the inputs and weights, concatenated. */
export function applyEachSet<Config>(
  definition: Pick<LayerDefinition<Config>, 'apply'>,
  config: Config,
  inputs: tf.Tensor[],
  weights: Readonly<Record<string, tf.Tensor>>,
  { sets, shared, fused }: SetsContext,
): tf.Tensor {
  // One unstack, not tf.split or K slices: both are many times slower on wasm.
  const slices = inputs.map((x, i) => (shared[i] ? undefined : tf.unstack(tf.reshape(x, [sets, -1, ...x.shape.slice(1)]))));
  // Each set's weight as a 1-D slice of the flat stack, then reshaped: wasm's fused kernels read a bias's rank
  // from its storage, which is then the weight's own size (tf.unstack would leave a [1, units] storage behind).
  const perSet = Object.entries(weights).map(([name, stacked]) => {
    const flat = tf.reshape(stacked, [-1]);
    const [, ...shape] = stacked.shape;
    const size = flat.size / sets;
    return [name, Array.from({ length: sets }, (_, s) => tf.reshape(tf.slice(flat, s * size, size), shape))] as const;
  });
  const outputs = Array.from({ length: sets }, (_, s) =>
    definition.apply(
      config,
      inputs.map((x, i) => slices[i]?.[s] ?? x),
      Object.fromEntries(perSet.map(([name, set]) => [name, set[s]!])),
      { fused },
    ),
  );
  return outputs.length === 1 ? outputs[0]! : tf.concat(outputs, 0);
}

/** Typed identity: lets each family file declare entries with their own Config type. */
export function defineLayer<Config>(definition: LayerDefinition<Config>): LayerDefinition<Config> {
  return definition;
}

/** A registry entry of any config type: each family's array mixes entries with different configs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyLayerDefinition = LayerDefinition<any>;
