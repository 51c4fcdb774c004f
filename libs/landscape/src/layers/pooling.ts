import * as tf from '@tensorflow/tfjs-core';
import { boolField, enumField, expectRank, intTuple, requireChannelsLast, single, windowOutput } from './config';
import { defineLayer, type AnyLayerDefinition } from './layer';

/** Max/average pooling, channels_last; 1-D pooling runs as 2-D pooling over [n, 1, width, channels]. */
interface PoolConfig {
  poolSize: number[];
  strides: number[];
  padding: 'valid' | 'same';
}

const pooling = (rank: 1 | 2, mode: 'max' | 'avg') =>
  defineLayer<PoolConfig>({
    classNames: [`${mode === 'max' ? 'Max' : 'Average'}Pooling${rank}D`],
    parse: (config, context) => {
      requireChannelsLast(config, context);
      const poolSize = intTuple(config, 'pool_size', rank, context, 2);
      const strides = config.strides === null || config.strides === undefined ? poolSize : intTuple(config, 'strides', rank, context);
      return { poolSize, strides, padding: enumField(config, 'padding', ['valid', 'same'] as const, context, 'valid') };
    },
    outputShape: (config, inputs, context) => {
      const input = single(inputs, context);
      expectRank(input, rank + 1, context);
      return [...input.slice(0, -1).map((size, i) => windowOutput(size, config.poolSize[i]!, config.strides[i]!, config.padding)), input.at(-1)!];
    },
    weights: () => [],
    apply: (config, [x]) => {
      const image = rank === 2 ? (x as tf.Tensor4D) : (tf.expandDims(x!, 1) as tf.Tensor4D);
      const size = (rank === 2 ? config.poolSize : [1, config.poolSize[0]!]) as [number, number];
      const strides = (rank === 2 ? config.strides : [1, config.strides[0]!]) as [number, number];
      const y = mode === 'max' ? tf.maxPool(image, size, strides, config.padding) : tf.avgPool(image, size, strides, config.padding);
      return rank === 2 ? y : tf.squeeze(y, [1]);
    },
    kernels: [mode === 'max' ? 'MaxPool' : 'AvgPool', 'ExpandDims', 'Reshape'],
    secondOrder: 'exact',
  });

const globalPooling = (rank: 1 | 2, mode: 'max' | 'avg') =>
  defineLayer<{ keepDims: boolean }>({
    classNames: [`Global${mode === 'max' ? 'Max' : 'Average'}Pooling${rank}D`],
    parse: (config, context) => {
      requireChannelsLast(config, context);
      return { keepDims: boolField(config, 'keepdims', false) };
    },
    outputShape: (config, inputs, context) => {
      const input = single(inputs, context);
      expectRank(input, rank + 1, context);
      return config.keepDims ? [...input.slice(0, -1).map(() => 1), input.at(-1)!] : [input.at(-1)!];
    },
    weights: () => [],
    apply: (config, [x]) => {
      const axes = rank === 2 ? [1, 2] : [1];
      return mode === 'max' ? tf.max(x!, axes, config.keepDims) : tf.mean(x!, axes, config.keepDims);
    },
    kernels: [mode === 'max' ? 'Max' : 'Mean'],
    secondOrder: 'exact',
  });

export const poolingLayers: AnyLayerDefinition[] = [
  pooling(1, 'max'),
  pooling(1, 'avg'),
  pooling(2, 'max'),
  pooling(2, 'avg'),
  globalPooling(1, 'max'),
  globalPooling(1, 'avg'),
  globalPooling(2, 'max'),
  globalPooling(2, 'avg'),
];
