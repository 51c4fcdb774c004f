import { z } from 'zod';
import { batchNormLayer, conv2dLayer, denseLayer, depthwiseLayer, FunctionalGraph, plainLayer, type BuiltWeight } from './keras';
import type { ModelJson } from '../model';

const imageShape = z.tuple([z.number().int().min(1), z.number().int().min(1), z.number().int().min(1)]);

/**
 * CIFAR-style ResNet of He et al. (2016, §4.2) in Keras' ResNet v1 form: a 3×3 stem, 3 stages of (depth − 2)/6 basic
 * blocks (conv-BN-ReLU-conv-BN, + shortcut, ReLU) with width, 2·width and 4·width filters, global average pooling
 * and a Dense classifier. Where a stage halves the resolution and doubles the filters, the shortcut is a strided
 * 1×1 convolution (projection, as in Keras' CIFAR-10 ResNet example; ResNet-20 has 274,442 parameters).
 * `skip: false` gives the plain net of Li et al. (2018, Fig. 5): the same layers without the shortcuts.
 */
export const resnetSchema = z
  .object({
    type: z.literal('resnet'),
    depth: z
      .number()
      .int()
      .min(8)
      .refine((depth) => (depth - 2) % 6 === 0, { message: 'must be 6n + 2 (20, 32, 56, …)' })
      .default(20),
    /** Filters of the first stage (16 in the paper). */
    width: z.number().int().min(1).max(512).default(16),
    /** [height, width, channels] */
    input: imageShape.default([32, 32, 3]),
    outputs: z.number().int().min(1).default(10),
    skip: z.boolean().default(true),
  })
  .strict();

/**
 * A MobileNet-style net (Howard et al. 2017): a 3×3 stem, then depthwise-separable blocks (DepthwiseConv2D-BN-ReLU6,
 * pointwise 1×1 Conv2D-BN-ReLU6), global average pooling and a Dense classifier. Convolutions carry no bias.
 */
export const mobilenetSchema = z
  .object({
    type: z.literal('mobilenet'),
    input: imageShape.default([32, 32, 3]),
    /** Filters of the stem convolution. */
    stem: z.number().int().min(1).default(16),
    blocks: z
      .array(z.object({ filters: z.number().int().min(1), strides: z.union([z.literal(1), z.literal(2)]).default(1) }).strict())
      .min(1)
      .default([
        { filters: 32, strides: 1 },
        { filters: 64, strides: 2 },
        { filters: 128, strides: 2 },
      ]),
    outputs: z.number().int().min(1).default(10),
  })
  .strict();

export type ResnetArchitecture = z.infer<typeof resnetSchema>;
export type MobilenetArchitecture = z.infer<typeof mobilenetSchema>;

const relu = (name: string) => plainLayer('Activation', name, { activation: 'relu' });
const relu6 = (name: string) => plainLayer('ReLU', name, { max_value: 6 });
const classifier = (graph: FunctionalGraph, from: string, channels: number, outputs: number): string => {
  const pooled = graph.add(plainLayer('GlobalAveragePooling2D', 'pool', { data_format: 'channels_last' }), [from]);
  return graph.add(denseLayer('logits', channels, outputs), [pooled]);
};

export function buildResnet(architecture: ResnetArchitecture): { modelJson: ModelJson; entries: BuiltWeight[] } {
  const { depth, width, input, outputs, skip } = architecture;
  const graph = new FunctionalGraph(`resnet${depth}${skip ? '' : '_plain'}`, input);
  const he = { init: 'he' as const, padding: 'same' as const };
  let x = graph.add(conv2dLayer('conv1', input[2], width, 3, he), [graph.inputName]);
  x = graph.add(relu('relu1'), [graph.add(batchNormLayer('bn1', width), [x])]);
  let channels = width;
  for (let stage = 1; stage <= 3; stage++) {
    const filters = width * 2 ** (stage - 1);
    for (let block = 1; block <= (depth - 2) / 6; block++) {
      const p = `stage${stage}_block${block}`;
      const strides = stage > 1 && block === 1 ? 2 : 1;
      let y = graph.add(conv2dLayer(`${p}_conv1`, channels, filters, 3, { ...he, strides }), [x]);
      y = graph.add(relu(`${p}_relu1`), [graph.add(batchNormLayer(`${p}_bn1`, filters), [y])]);
      y = graph.add(conv2dLayer(`${p}_conv2`, filters, filters, 3, he), [y]);
      // Added before bn2: tfjs orders layers of equal depth this way, so its save() writes the same manifest.
      const projection = skip && (strides !== 1 || channels !== filters);
      const shortcut = projection ? graph.add(conv2dLayer(`${p}_shortcut`, channels, filters, 1, { ...he, strides }), [x]) : x;
      y = graph.add(batchNormLayer(`${p}_bn2`, filters), [y]);
      if (skip) y = graph.add(plainLayer('Add', `${p}_add`), [shortcut, y]);
      x = graph.add(relu(`${p}_relu2`), [y]);
      channels = filters;
    }
  }
  return graph.toModelJson(classifier(graph, x, channels, outputs));
}

export function buildMobilenet(architecture: MobilenetArchitecture): { modelJson: ModelJson; entries: BuiltWeight[] } {
  const { input, stem, blocks, outputs } = architecture;
  const graph = new FunctionalGraph('mobilenet', input);
  const noBias = { init: 'he' as const, padding: 'same' as const, useBias: false };
  let x = graph.add(conv2dLayer('conv1', input[2], stem, 3, noBias), [graph.inputName]);
  x = graph.add(relu6('relu1'), [graph.add(batchNormLayer('bn1', stem), [x])]);
  let channels = stem;
  blocks.forEach(({ filters, strides }, i) => {
    const p = `block${i + 1}`;
    x = graph.add(depthwiseLayer(`${p}_dw`, channels, 3, strides), [x]);
    x = graph.add(relu6(`${p}_dw_relu`), [graph.add(batchNormLayer(`${p}_dw_bn`, channels), [x])]);
    x = graph.add(conv2dLayer(`${p}_pw`, channels, filters, 1, noBias), [x]);
    x = graph.add(relu6(`${p}_pw_relu`), [graph.add(batchNormLayer(`${p}_pw_bn`, filters), [x])]);
    channels = filters;
  });
  return graph.toModelJson(classifier(graph, x, channels, outputs));
}
