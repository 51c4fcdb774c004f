import * as tf from '@tensorflow/tfjs-core';
import { ACTIVATION_KERNELS, applyActivation, parseActivation, type ActivationName } from './activations';
import { boolField, expectRank, intField, known, layerError, single, type Config } from './config';
import { defineLayer, type LayerContext, type LayerDefinition, type Shape, type WeightDeclaration } from './layer';

/**
 * SimpleRNN, GRU and LSTM, unrolled over time with plain differentiable ops (matMul, add, mul, split, the
 * activations) so that Hessians through them are exact with the second-order gradients installed. Formulas, gate
 * order and weight layouts are Keras' (= tfjs-layers' recurrent.js): kernel [features, gates·units],
 * recurrent_kernel [units, gates·units], bias [gates·units]; gates z, r, h for GRU and i, f, c, o for LSTM. The
 * initial state is zero; with go_backwards the steps run from the last to the first and, as in Keras, a returned
 * sequence stays in processing order. With return_state only output 0 (the layer output) exists here: the graph
 * refuses a model that reads a layer's other outputs.
 */

type CellKind = 'SimpleRNN' | 'GRU' | 'LSTM';

interface RecurrentConfig {
  cell: CellKind;
  units: number;
  activation: ActivationName;
  /** The gates' activation (GRU, LSTM). */
  recurrentActivation: ActivationName;
  useBias: boolean;
  returnSequences: boolean;
  goBackwards: boolean;
  /** GRU only: Keras' CuDNN-compatible variant (reset gate applied after the recurrent matMul, two bias rows). */
  resetAfter: boolean;
}

const GATES: Record<CellKind, number> = { SimpleRNN: 1, GRU: 3, LSTM: 4 };

/** Options that change the computation in ways the graph cannot represent. */
function refuseUnsupported(config: Config, context: LayerContext): void {
  if (boolField(config, 'stateful', false))
    throw layerError(context, 'is stateful, which is not supported: a landscape needs the loss to be a function of the weights alone');
  if (boolField(config, 'time_major', false)) throw layerError(context, 'uses time_major: true, which is not supported');
}

function parseRecurrent(cell: CellKind, config: Config, context: LayerContext): RecurrentConfig {
  refuseUnsupported(config, context);
  // tfjs-layers defaults GRU/LSTM gates to hard_sigmoid, Keras to sigmoid: an absent value is ambiguous.
  if (cell !== 'SimpleRNN' && (config.recurrent_activation === undefined || config.recurrent_activation === null))
    throw layerError(context, 'has no recurrent_activation (tfjs-layers would default to hard_sigmoid, Keras to sigmoid); write it into the config');
  const units = intField(config, 'units', context);
  if (units < 1) throw layerError(context, `needs a positive units (got ${units})`);
  return {
    cell,
    units,
    activation: parseActivation(config.activation === undefined ? 'tanh' : config.activation, context),
    recurrentActivation: cell === 'SimpleRNN' ? 'linear' : parseActivation(config.recurrent_activation, context),
    useBias: boolField(config, 'use_bias', true),
    returnSequences: boolField(config, 'return_sequences', false),
    goBackwards: boolField(config, 'go_backwards', false),
    resetAfter: cell === 'GRU' && boolField(config, 'reset_after', false),
  };
}

/** [time, features] of the single input, with the feature size known (it sizes the kernel). */
function sequenceShape(inputShapes: Shape[], context: LayerContext): [number | null, number] {
  const input = single(inputShapes, context);
  expectRank(input, 2, context, 'input [batch, time, features]');
  return [input[0]!, known(input[1], context, 'feature size (last input axis)')];
}

function recurrentOutputShape(config: RecurrentConfig, inputShapes: Shape[], context: LayerContext): Shape {
  const [time] = sequenceShape(inputShapes, context);
  return config.returnSequences ? [time, config.units] : [config.units];
}

function recurrentWeights(config: RecurrentConfig, inputShapes: Shape[], context: LayerContext): WeightDeclaration[] {
  const [, features] = sequenceShape(inputShapes, context);
  const width = GATES[config.cell] * config.units;
  // Filter normalization reads both kernels as Dense kernels: a filter is one column, the weights into one gate
  // unit (the default last axis), from the input and from the previous state respectively.
  const declarations: WeightDeclaration[] = [
    { name: 'kernel', trainable: true, shape: [features, width] },
    { name: 'recurrent_kernel', trainable: true, shape: [config.units, width] },
  ];
  // reset_after keeps separate input and recurrent biases: row 0 is added to x·W, row 1 to h·U. Still a bias
  // (filterAxes []), though rank 2, so the bias setting governs it like the rank-1 bias.
  if (config.useBias)
    declarations.push(
      config.resetAfter ? { name: 'bias', trainable: true, shape: [2, width], filterAxes: [] } : { name: 'bias', trainable: true, shape: [width] },
    );
  return declarations;
}

interface Step {
  /** x_t·W (+ input bias), all gates: [batch, gates·units]. */
  projected: tf.Tensor2D;
  h: tf.Tensor2D;
  c: tf.Tensor2D;
}

type StepFunction = (config: RecurrentConfig, step: Step, weights: Readonly<Record<string, tf.Tensor>>) => { h: tf.Tensor2D; c: tf.Tensor2D };

const act = (name: ActivationName, x: tf.Tensor): tf.Tensor2D => applyActivation(name, x) as tf.Tensor2D;

const STEPS: Record<CellKind, StepFunction> = {
  SimpleRNN: (config, { projected, h, c }, w) => ({ h: act(config.activation, tf.add(projected, tf.matMul(h, w.recurrent_kernel as tf.Tensor2D))), c }),
  GRU: (config, { projected, h, c }, w) => {
    const u = config.units;
    const kernel = w.recurrent_kernel as tf.Tensor2D;
    const [xz, xr, xh] = tf.split(projected, 3, 1);
    if (config.resetAfter) {
      let inner = tf.matMul(h, kernel);
      if (config.useBias) inner = tf.add(inner, recurrentBias(w.bias!));
      const [rz, rr, rh] = tf.split(inner, 3, 1);
      const z = act(config.recurrentActivation, tf.add(xz!, rz!));
      const r = act(config.recurrentActivation, tf.add(xr!, rr!));
      const candidate = act(config.activation, tf.add(xh!, tf.mul(r, rh!)));
      return { h: tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate)), c };
    }
    const [gatesKernel, candidateKernel] = tf.split(kernel, [2 * u, u], 1);
    const [rz, rr] = tf.split(tf.matMul(h, gatesKernel!), 2, 1);
    const z = act(config.recurrentActivation, tf.add(xz!, rz!));
    const r = act(config.recurrentActivation, tf.add(xr!, rr!));
    const candidate = act(config.activation, tf.add(xh!, tf.matMul(tf.mul(r, h), candidateKernel!)));
    return { h: tf.add(tf.mul(z, h), tf.mul(tf.sub(1, z), candidate)), c };
  },
  LSTM: (config, { projected, h, c }, w) => {
    const [zi, zf, zc, zo] = tf.split(tf.add(projected, tf.matMul(h, w.recurrent_kernel as tf.Tensor2D)), 4, 1);
    const i = act(config.recurrentActivation, zi!);
    const f = act(config.recurrentActivation, zf!);
    const o = act(config.recurrentActivation, zo!);
    const carry = tf.add(tf.mul(f, c), tf.mul(i, act(config.activation, zc!))) as tf.Tensor2D;
    return { h: tf.mul(o, act(config.activation, carry)), c: carry };
  },
};

function inputBias(bias: tf.Tensor): tf.Tensor {
  return bias.rank === 2 ? tf.reshape(tf.slice(bias, [0, 0], [1, bias.shape[1]!]), [bias.shape[1]!]) : bias;
}

function recurrentBias(bias: tf.Tensor): tf.Tensor {
  return tf.reshape(tf.slice(bias, [1, 0], [1, bias.shape[1]!]), [bias.shape[1]!]);
}

function runRecurrent(config: RecurrentConfig, x: tf.Tensor, weights: Readonly<Record<string, tf.Tensor>>): tf.Tensor {
  const [batch, time, features] = x.shape as [number, number, number];
  const kernel = weights.kernel as tf.Tensor2D;
  const width = kernel.shape[1];
  // The input projection of every step in one matMul: [batch·time, features] · [features, gates·units].
  let projected: tf.Tensor = tf.matMul(tf.reshape(x, [batch * time, features]), kernel);
  if (config.useBias) projected = tf.add(projected, inputBias(weights.bias!));
  // Steps by slice, not unstack: tfjs' Unpack gradient fails when there is a single time step.
  const sequence = tf.reshape(projected, [batch, time, width]);
  const steps = Array.from({ length: time }, (_, t) => tf.reshape(tf.slice(sequence, [0, t, 0], [batch, 1, width]), [batch, width]) as tf.Tensor2D);
  if (config.goBackwards) steps.reverse();
  const zeros = tf.zeros([batch, config.units]) as tf.Tensor2D;
  let state = { h: zeros, c: zeros };
  const outputs: tf.Tensor2D[] = [];
  for (const step of steps) {
    state = STEPS[config.cell](config, { projected: step, ...state }, weights);
    outputs.push(state.h);
  }
  return config.returnSequences ? tf.stack(outputs, 1) : state.h;
}

/** tfjs kernels `runRecurrent` and the activations it may apply dispatch. */
const RECURRENT_KERNELS = ['Reshape', 'BatchMatMul', 'Add', 'Sub', 'Multiply', 'Pack', 'SplitV', 'Slice', ...ACTIVATION_KERNELS];

function recurrentLayer(cell: CellKind): LayerDefinition<RecurrentConfig> {
  return defineLayer<RecurrentConfig>({
    classNames: [cell],
    parse: (config, context) => parseRecurrent(cell, config, context),
    outputShape: recurrentOutputShape,
    weights: recurrentWeights,
    apply: (config, [x], weights) => runRecurrent(config, x!, weights),
    kernels: RECURRENT_KERNELS,
    secondOrder: 'exact',
  });
}

const MERGE_MODES = ['concat', 'sum', 'ave', 'mul'] as const;
type MergeMode = (typeof MERGE_MODES)[number];

interface BidirectionalConfig {
  forward: RecurrentConfig;
  backward: RecurrentConfig;
  /** Weight-name prefixes of the two copies: `forward_<inner name>/`, `backward_<inner name>/` (see copyName). */
  forwardPrefix: string;
  backwardPrefix: string;
  mergeMode: MergeMode;
}

const CELLS = Object.keys(GATES) as CellKind[];

/** One wrapped recurrent layer config: its cell kind, config and name. */
function wrapped(raw: unknown, field: string, context: LayerContext): { cell: CellKind; config: Config; name: string } {
  const inner = raw as { class_name?: unknown; config?: Config } | undefined;
  const cell = CELLS.find((name) => name === inner?.class_name);
  if (!cell || !inner?.config) throw layerError(context, `wraps ${JSON.stringify(inner?.class_name)} in ${field}; Bidirectional supports ${CELLS.join(', ')}`);
  const name = inner.config.name;
  if (typeof name !== 'string' || !name) throw layerError(context, `wraps a layer without a name in ${field} (its weights are named after it)`);
  return { cell, config: inner.config, name };
}

/**
 * The name a copy's weights live under. tfjs-layers and Keras 2 prefix the wrapped layer's name ('lstm' →
 * 'forward_lstm'); Keras 3 writes the copies already named ('forward_lstm', and an explicit 'backward_lstm').
 */
const copyName = (direction: 'forward' | 'backward', name: string): string => `${direction}_${name.replace(new RegExp(`^${direction}_`), '')}`;

function parseBidirectional(config: Config, context: LayerContext): BidirectionalConfig {
  const mergeMode = config.merge_mode === undefined ? 'concat' : config.merge_mode;
  if (!MERGE_MODES.includes(mergeMode as MergeMode))
    throw layerError(
      context,
      `has merge_mode ${JSON.stringify(mergeMode)}; supported: ${MERGE_MODES.join(', ')} (null gives two outputs, which is not supported)`,
    );
  const inner = wrapped(config.layer, 'layer', context);
  const forwardName = copyName('forward', inner.name);
  const forward = parseRecurrent(inner.cell, inner.config, { ...context, layerName: `${context.layerName}/${forwardName}` });
  // Without backward_layer (tfjs, Keras 2) the backward copy mirrors the forward one; Keras 3 always writes it.
  const explicit =
    config.backward_layer === undefined || config.backward_layer === null ? undefined : wrapped(config.backward_layer, 'backward_layer', context);
  const backwardName = copyName('backward', explicit?.name ?? inner.name);
  const backwardContext = { ...context, layerName: `${context.layerName}/${backwardName}` };
  const backward = explicit ? parseRecurrent(explicit.cell, explicit.config, backwardContext) : { ...forward, goBackwards: !forward.goBackwards };
  if (backward.goBackwards === forward.goBackwards || backward.returnSequences !== forward.returnSequences)
    throw layerError(backwardContext, 'must run in the other direction than the forward layer and match its return_sequences');
  if (mergeMode !== 'concat' && backward.units !== forward.units)
    throw layerError(backwardContext, `has ${backward.units} units but the forward layer ${forward.units}: merge_mode ${String(mergeMode)} needs equal widths`);
  return { forward, backward, forwardPrefix: `${forwardName}/`, backwardPrefix: `${backwardName}/`, mergeMode: mergeMode as MergeMode };
}

/** The weights under `prefix`, with the prefix removed. */
function weightsUnder(prefix: string, weights: Readonly<Record<string, tf.Tensor>>): Record<string, tf.Tensor> {
  return Object.fromEntries(Object.entries(weights).flatMap(([name, tensor]) => (name.startsWith(prefix) ? [[name.slice(prefix.length), tensor]] : [])));
}

function merge(mode: MergeMode, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (mode === 'concat') return tf.concat([a, b], -1);
  if (mode === 'sum') return tf.add(a, b);
  if (mode === 'ave') return tf.mul(0.5, tf.add(a, b));
  return tf.mul(a, b);
}

const bidirectional = defineLayer<BidirectionalConfig>({
  classNames: ['Bidirectional'],
  parse: parseBidirectional,
  outputShape(config, inputShapes, context) {
    const shape = recurrentOutputShape(config.forward, inputShapes, context);
    if (config.mergeMode !== 'concat') return shape;
    return [...shape.slice(0, -1), config.forward.units + config.backward.units];
  },
  weights(config, inputShapes, context) {
    const declare = (prefix: string, recurrent: RecurrentConfig) =>
      recurrentWeights(recurrent, inputShapes, context).map((weight) => ({ ...weight, name: prefix + weight.name }));
    return [...declare(config.forwardPrefix, config.forward), ...declare(config.backwardPrefix, config.backward)];
  },
  apply(config, [x], weights) {
    const forward = runRecurrent(config.forward, x!, weightsUnder(config.forwardPrefix, weights));
    let backward = runRecurrent(config.backward, x!, weightsUnder(config.backwardPrefix, weights));
    // The backward copy's sequence is in reversed time: put it back in input order before merging (wrappers.js).
    if (config.forward.returnSequences) backward = tf.reverse(backward, 1);
    return merge(config.mergeMode, forward, backward);
  },
  kernels: [...RECURRENT_KERNELS, 'Reverse', 'Concat'],
  secondOrder: 'exact',
});

export const recurrentLayers: LayerDefinition[] = [...CELLS.map(recurrentLayer), bidirectional];
