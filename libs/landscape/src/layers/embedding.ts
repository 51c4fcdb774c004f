import * as tf from '@tensorflow/tfjs-core';
import { boolField, intField, layerError, single, type Config } from './config';
import { defineLayer, type LayerContext, type LayerDefinition, type Shape } from './layer';

interface EmbeddingConfig {
  inputDim: number;
  outputDim: number;
  /** Keras 2 / tfjs `input_length`: the expected sizes of the id axes (null entries are free), checked against the input. */
  inputLength: (number | null)[] | undefined;
  context: LayerContext;
}

function parseInputLength(raw: unknown, context: LayerContext): (number | null)[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  const list = Array.isArray(raw) ? raw : [raw];
  if (!list.every((entry) => entry === null || (typeof entry === 'number' && Number.isInteger(entry) && entry > 0)))
    throw layerError(context, `has an invalid input_length ${JSON.stringify(raw)}`);
  return list as (number | null)[];
}

/** Ids arrive as float32 data: each must be an integer in [0, inputDim), else the lookup would silently read another row. */
function checkIds(ids: tf.Tensor, config: EmbeddingConfig): void {
  const values = ids.dataSync();
  for (let i = 0; i < values.length; i++) {
    const id = values[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= config.inputDim)
      throw layerError(
        config.context,
        `looks up id ${id} (input element ${i}), but ids must be integers in [0, ${config.inputDim - 1}] (input_dim ${config.inputDim})`,
      );
  }
}

function positive(config: Config, field: string, context: LayerContext): number {
  const value = intField(config, field, context);
  if (value < 1) throw layerError(context, `needs a positive ${field} (got ${value})`);
  return value;
}

const embedding = defineLayer<EmbeddingConfig>({
  classNames: ['Embedding'],
  parse(config, context) {
    // A mask changes what downstream layers compute (recurrent steps are skipped, pooling ignores padding), and the
    // model graph carries no masks: computing without it would silently give another loss.
    if (boolField(config, 'mask_zero', false))
      throw layerError(
        context,
        'uses mask_zero: true, which is not supported (masks are not propagated through the model graph); re-export with mask_zero: false',
      );
    if (config.lora_rank !== undefined && config.lora_rank !== null) throw layerError(context, 'uses lora_rank (LoRA embeddings are not supported)');
    if (boolField(config, 'sparse', false)) throw layerError(context, 'uses sparse: true (sparse embeddings are not supported)');
    return {
      inputDim: positive(config, 'input_dim', context),
      outputDim: positive(config, 'output_dim', context),
      inputLength: parseInputLength(config.input_length, context),
      context,
    };
  },
  outputShape(config, inputShapes, context) {
    const input = single(inputShapes, context);
    if (config.inputLength) {
      const fits =
        config.inputLength.length === input.length &&
        config.inputLength.every((expected, axis) => expected === null || input[axis] === null || input[axis] === expected);
      if (!fits) throw layerError(context, `has input_length ${JSON.stringify(config.inputLength)}, but its input has shape ${JSON.stringify(input)}`);
    }
    return [...input, config.outputDim] as Shape;
  },
  weights(config) {
    return [{ name: 'embeddings', trainable: true, shape: [config.inputDim, config.outputDim] }];
  },
  apply(config, [ids], weights, context) {
    checkIds(ids!, config);
    // tfjs-layers casts the ids to int32 and gathers rows of the table (embeddings.js).
    const indices = tf.reshape(ids!.dtype === 'int32' ? ids! : tf.cast(ids!, 'int32'), [ids!.size]);
    const table = weights.embeddings as tf.Tensor2D;
    // Gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks: where gradients may be taken there,
    // the rows are picked by a one-hot matMul instead (the same numbers: one product by 1, the rest by 0). The
    // one-hot is made int32 and cast: wasm's OneHot ignores a float32 dtype and writes int32 bits.
    const rows =
      context.fused || tf.getKernel('UnsortedSegmentSum', tf.getBackend())
        ? tf.gather(table, indices)
        : tf.matMul(tf.cast(tf.oneHot(indices, config.inputDim), 'float32'), table);
    return tf.reshape(rows, [...ids!.shape, config.outputDim]);
  },
  kernels: ['Cast', 'Reshape', 'GatherV2', 'OneHot', 'BatchMatMul'],
  secondOrder: 'exact',
});

export const embeddingLayers: LayerDefinition[] = [embedding];
