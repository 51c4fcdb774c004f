import * as tf from '@tensorflow/tfjs-core';
import { axisOf, boolField, layerError, type Config } from './config';
import { defineLayer, type AnyLayerDefinition, type LayerContext, type Shape } from './layer';

/** Layers that combine several inputs: elementwise merges, concatenation, and Keras' batched Dot. */

/** Keras' elementwise output shape: equal ranks, each axis equal, 1 (broadcast) or free. */
function broadcastShape(inputs: Shape[], context: LayerContext): Shape {
  if (inputs.length < 2) throw layerError(context, `merges at least 2 inputs but is called on ${inputs.length}`);
  const rank = inputs[0]!.length;
  if (inputs.some((shape) => shape.length !== rank))
    throw layerError(context, `merges inputs of different ranks: ${inputs.map((s) => `[${s.join(', ')}]`).join(', ')}`);
  return inputs[0]!.map((_, axis) => {
    const sizes = inputs.map((shape) => shape[axis] ?? null);
    const fixed = [...new Set(sizes.filter((size): size is number => size !== null && size !== 1))];
    if (fixed.length > 1) throw layerError(context, `merges inputs whose axis ${axis + 1} sizes differ (${sizes.join(', ')})`);
    return fixed[0] ?? (sizes.includes(null) ? null : 1);
  });
}

const elementwise = (className: string, combine: (inputs: tf.Tensor[]) => tf.Tensor, kernels: string[], arity?: number) =>
  defineLayer<Record<string, never>>({
    classNames: [className],
    parse: () => ({}),
    outputShape: (_config, inputs, context) => {
      if (arity !== undefined && inputs.length !== arity) throw layerError(context, `takes exactly ${arity} inputs but is called on ${inputs.length}`);
      return broadcastShape(inputs, context);
    },
    weights: () => [],
    apply: (_config, inputs) => combine(inputs),
    kernels,
    secondOrder: 'exact',
  });

const fold = (op: (a: tf.Tensor, b: tf.Tensor) => tf.Tensor) => (inputs: tf.Tensor[]) => inputs.slice(1).reduce(op, inputs[0]!);

const concatenate = defineLayer<{ axis: number }>({
  classNames: ['Concatenate'],
  parse: (config: Config, context) => {
    const axis = config.axis ?? -1;
    if (!Number.isInteger(axis)) throw layerError(context, `has axis ${JSON.stringify(axis)}; needs an integer`);
    return { axis: axis as number };
  },
  outputShape: (config, inputs, context) => {
    if (inputs.length < 2) throw layerError(context, `concatenates at least 2 inputs but is called on ${inputs.length}`);
    const rank = inputs[0]!.length + 1;
    const axis = axisOf(config.axis, rank, context) - 1;
    return inputs[0]!.map((size, i) => {
      if (i !== axis) return size;
      const sizes = inputs.map((shape) => shape[i] ?? null);
      return sizes.includes(null) ? null : (sizes as number[]).reduce((a, b) => a + b, 0);
    });
  },
  weights: () => [],
  apply: (config, inputs) => tf.concat(inputs, config.axis),
  kernels: ['Concat'],
  secondOrder: 'exact',
});

interface DotConfig {
  axes: number[];
  normalize: boolean;
}

/** Axes (batch included) each input contracts, resolved for inputs of rank 2 or 3. */
function dotAxes(config: DotConfig, ranks: number[], context: LayerContext): [number, number] {
  if (ranks.some((rank) => rank !== 2 && rank !== 3)) throw layerError(context, 'supports inputs of rank 2 or 3 (batch included)');
  return [axisOf(config.axes[0]!, ranks[0]!, context), axisOf(config.axes[1]!, ranks[1]!, context)];
}

/** tfjs' l2Normalize (its epsilon 1e-7). */
function l2Normalize(x: tf.Tensor, axis: number): tf.Tensor {
  return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), axis, true), 1e-7)));
}

/** Keras' batch_dot for rank ≤ 3: a batched matMul after moving the contracted axes into place. */
const dot = defineLayer<DotConfig>({
  classNames: ['Dot'],
  parse: (config, context) => {
    const raw = config.axes;
    const axes = typeof raw === 'number' ? [raw, raw] : raw;
    if (!Array.isArray(axes) || axes.length !== 2 || !axes.every((a) => Number.isInteger(a))) {
      throw layerError(context, `has axes ${JSON.stringify(raw)}; needs an integer or two`);
    }
    return { axes: axes as number[], normalize: boolField(config, 'normalize', false) };
  },
  outputShape: (config, inputs, context) => {
    if (inputs.length !== 2) throw layerError(context, `takes exactly 2 inputs but is called on ${inputs.length}`);
    const [a, b] = inputs as [Shape, Shape];
    const [ax, bx] = dotAxes(config, [a.length + 1, b.length + 1], context);
    if (a[ax - 1] !== null && b[bx - 1] !== null && a[ax - 1] !== b[bx - 1]) {
      throw layerError(context, `contracts axes of different sizes (${a[ax - 1]} and ${b[bx - 1]})`);
    }
    const rest = [...a.filter((_, i) => i !== ax - 1), ...b.filter((_, i) => i !== bx - 1)];
    return rest.length ? rest : [1];
  },
  weights: () => [],
  apply: (config, inputs) => {
    let [a, b] = inputs as [tf.Tensor, tf.Tensor];
    // Ranks were checked when the graph was built.
    const [ax, bx] = config.axes.map((axis, i) => (axis < 0 ? (i === 0 ? a : b).rank + axis : axis)) as [number, number];
    if (config.normalize) {
      a = l2Normalize(a, ax);
      b = l2Normalize(b, bx);
    }
    const n = a.shape[0]!;
    // a as [n, m, k] with k contracted; b as [n, k, p].
    const left = a.rank === 2 ? tf.reshape(a, [n, 1, a.shape[1]!]) : ax === 1 ? tf.transpose(a, [0, 2, 1]) : a;
    const right = b.rank === 2 ? tf.reshape(b, [n, b.shape[1]!, 1]) : bx === 2 ? tf.transpose(b, [0, 2, 1]) : b;
    const product = tf.matMul(left, right);
    const rest = [...a.shape.filter((_, i) => i !== 0 && i !== ax), ...b.shape.filter((_, i) => i !== 0 && i !== bx)];
    return tf.reshape(product, [n, ...(rest.length ? rest : [1])]);
  },
  kernels: ['BatchMatMul', 'Transpose', 'Reshape', 'Sum', 'Square', 'Maximum', 'Sqrt', 'RealDiv'],
  secondOrder: 'exact',
});

export const mergeLayers: AnyLayerDefinition[] = [
  elementwise('Add', fold(tf.add), ['Add']),
  elementwise('Subtract', ([a, b]) => tf.sub(a!, b!), ['Sub'], 2),
  elementwise('Multiply', fold(tf.mul), ['Multiply']),
  elementwise('Average', (inputs) => tf.div(fold(tf.add)(inputs), inputs.length), ['Add', 'RealDiv']),
  elementwise('Maximum', fold(tf.maximum), ['Maximum']),
  elementwise('Minimum', fold(tf.minimum), ['Minimum']),
  concatenate,
  dot,
];
