import * as tf from '@tensorflow/tfjs-core';
import { enumField, expectRank, intField, layerError, product, requireChannelsLast, single, type Config } from './config';
import { defineLayer, type AnyLayerDefinition, type LayerContext } from './layer';

/** Layers that move values around without weights: reshaping, permuting, repeating, padding, cropping, upsampling. */

const flatten = defineLayer<Record<string, never>>({
  classNames: ['Flatten'],
  parse: (config, context) => {
    requireChannelsLast(config, context);
    return {};
  },
  outputShape: (_config, inputs, context) => [product(single(inputs, context))],
  weights: () => [],
  apply: (_config, [x]) => tf.reshape(x!, [x!.shape[0]!, -1]),
  kernels: ['Reshape'],
  secondOrder: 'exact',
});

const reshape = defineLayer<{ target: number[] }>({
  classNames: ['Reshape'],
  parse: (config, context) => {
    const target = config.target_shape;
    if (!Array.isArray(target) || !target.every((d) => Number.isInteger(d) && (d > 0 || d === -1)) || target.filter((d) => d === -1).length > 1) {
      throw layerError(context, `has target_shape ${JSON.stringify(target)}; needs positive integers and at most one -1`);
    }
    return { target: target as number[] };
  },
  outputShape: (config, inputs, context) => {
    const size = product(single(inputs, context));
    const knownPart = config.target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    if (!config.target.includes(-1)) {
      if (size !== null && size !== knownPart) throw layerError(context, `reshapes ${size} values per sample to [${config.target.join(', ')}]`);
      return config.target;
    }
    if (size !== null && size % knownPart !== 0) throw layerError(context, `cannot reshape ${size} values per sample to [${config.target.join(', ')}]`);
    return config.target.map((d) => (d === -1 ? (size === null ? null : size / knownPart) : d));
  },
  weights: () => [],
  apply: (config, [x]) => tf.reshape(x!, [x!.shape[0]!, ...config.target]),
  kernels: ['Reshape'],
  secondOrder: 'exact',
});

const permute = defineLayer<{ dims: number[] }>({
  classNames: ['Permute'],
  parse: (config, context) => {
    const dims = config.dims;
    const sorted = Array.isArray(dims) ? [...dims].sort((a, b) => a - b) : [];
    if (!Array.isArray(dims) || !sorted.every((d, i) => d === i + 1)) throw layerError(context, `has dims ${JSON.stringify(dims)}; needs a permutation of 1…n`);
    return { dims: dims as number[] };
  },
  outputShape: (config, inputs, context) => {
    const input = single(inputs, context);
    expectRank(input, config.dims.length, context);
    return config.dims.map((d) => input[d - 1]!);
  },
  weights: () => [],
  apply: (config, [x]) => tf.transpose(x!, [0, ...config.dims]),
  kernels: ['Transpose'],
  secondOrder: 'exact',
});

const repeatVector = defineLayer<{ n: number }>({
  classNames: ['RepeatVector'],
  parse: (config, context) => ({ n: intField(config, 'n', context) }),
  outputShape: (config, inputs, context) => {
    const input = single(inputs, context);
    expectRank(input, 1, context);
    return [config.n, input[0]!];
  },
  weights: () => [],
  apply: (config, [x]) => tf.tile(tf.expandDims(x!, 1), [1, config.n, 1]),
  kernels: ['ExpandDims', 'Reshape', 'Tile'],
  secondOrder: 'exact',
});

/** [before, after] per spatial axis, from an int, a pair per axis (1-D) / one int per axis (2-D), or explicit pairs. */
function amounts(config: Config, key: string, rank: 1 | 2, context: LayerContext, fallback: number): [number, number][] {
  const raw = config[key] ?? fallback;
  const bad = () => layerError(context, `has ${key} ${JSON.stringify(raw)}`);
  const pairOf = (value: unknown): [number, number] => {
    if (typeof value === 'number') return [value, value];
    if (Array.isArray(value) && value.length === 2) return [value[0], value[1]] as [number, number];
    throw bad();
  };
  let result: [number, number][];
  if (typeof raw === 'number') result = new Array(rank).fill([raw, raw]);
  else if (rank === 1) result = [pairOf(raw)];
  else if (Array.isArray(raw) && raw.length === 2) result = raw.map(pairOf);
  else throw bad();
  if (!result.flat().every((v) => Number.isInteger(v) && v >= 0)) throw bad();
  return result;
}

const grow = (size: number | null, [before, after]: [number, number], sign: 1 | -1): number | null => (size === null ? null : size + sign * (before + after));

const zeroPadding = (rank: 1 | 2) =>
  defineLayer<{ padding: [number, number][] }>({
    classNames: [`ZeroPadding${rank}D`],
    parse: (config, context) => {
      requireChannelsLast(config, context);
      return { padding: amounts(config, 'padding', rank, context, 1) };
    },
    outputShape: (config, inputs, context) => {
      const input = single(inputs, context);
      expectRank(input, rank + 1, context);
      return [...config.padding.map((amount, i) => grow(input[i]!, amount, 1)), input.at(-1)!];
    },
    weights: () => [],
    apply: (config, [x]) => tf.pad(x!, [[0, 0], ...config.padding, [0, 0]]),
    kernels: ['PadV2'],
    secondOrder: 'exact',
  });

const cropping = (rank: 1 | 2) =>
  defineLayer<{ cropping: [number, number][] }>({
    classNames: [`Cropping${rank}D`],
    parse: (config, context) => {
      requireChannelsLast(config, context);
      return { cropping: amounts(config, 'cropping', rank, context, rank === 1 ? 1 : 0) };
    },
    outputShape: (config, inputs, context) => {
      const input = single(inputs, context);
      expectRank(input, rank + 1, context);
      const shape = [...config.cropping.map((amount, i) => grow(input[i]!, amount, -1)), input.at(-1)!];
      if (shape.some((size) => size !== null && size < 1)) throw layerError(context, `crops the input [${input.join(', ')}] to nothing`);
      return shape;
    },
    weights: () => [],
    apply: (config, [x]) => {
      const begin = [0, ...config.cropping.map(([before]) => before), 0];
      const size = [-1, ...config.cropping.map(([before, after], i) => x!.shape[i + 1]! - before - after), -1];
      return tf.slice(x!, begin, size);
    },
    kernels: ['Slice'],
    secondOrder: 'exact',
  });

/** Nearest-neighbour upsampling by integer factors, as repeats (equal to tfjs' resizeNearestNeighbor for these sizes). */
const upSampling = (rank: 1 | 2) =>
  defineLayer<{ size: number[] }>({
    classNames: [`UpSampling${rank}D`],
    parse: (config, context) => {
      requireChannelsLast(config, context);
      enumField(config, 'interpolation', ['nearest'] as const, context, 'nearest');
      const raw = config.size ?? 2;
      const size = typeof raw === 'number' ? new Array<number>(rank).fill(raw) : raw;
      if (!Array.isArray(size) || size.length !== rank || !size.every((s) => Number.isInteger(s) && s >= 1))
        throw layerError(context, `has size ${JSON.stringify(raw)}`);
      return { size: size as number[] };
    },
    outputShape: (config, inputs, context) => {
      const input = single(inputs, context);
      expectRank(input, rank + 1, context);
      return [...config.size.map((factor, i) => (input[i] === null ? null : input[i]! * factor)), input.at(-1)!];
    },
    weights: () => [],
    apply: (config, [x]) => {
      // One axis at a time as [before, 1, after] tiled to [before, factor, after]: tfjs' Tile gradient stops at rank 4.
      let y = x!;
      config.size.forEach((factor, i) => {
        const shape = y.shape;
        const before = shape.slice(0, i + 2).reduce((a, b) => a * b, 1);
        const tiled = tf.tile(tf.reshape(y, [before, 1, y.size / before]), [1, factor, 1]);
        y = tf.reshape(
          tiled,
          shape.map((size, axis) => (axis === i + 1 ? size * factor : size)),
        );
      });
      return y;
    },
    kernels: ['Reshape', 'Tile'],
    secondOrder: 'exact',
  });

export const reshapeLayers: AnyLayerDefinition[] = [
  flatten,
  reshape,
  permute,
  repeatVector,
  zeroPadding(1),
  zeroPadding(2),
  cropping(1),
  cropping(2),
  upSampling(1),
  upSampling(2),
];
