import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  architectureSchema,
  buildModel,
  buildModelFiles,
  describeModel,
  Evaluator,
  HessianOperator,
  parseJobSpec,
  selectBackend,
  syntheticDataset,
  type Architecture,
  type ModelJson,
} from '@landscape/core';

/** Loads a built model with tfjs-layers itself, from the same bytes saveModel writes. */
async function loadInTfjs(files: { modelJson: ModelJson; weights: Float64Array }): Promise<tfl.LayersModel> {
  return tfl.loadLayersModel(
    tf.io.fromMemory({
      modelTopology: files.modelJson.modelTopology as tf.io.ModelJSON['modelTopology'],
      weightSpecs: files.modelJson.weightsManifest[0]!.weights as tf.io.WeightsManifestEntry[],
      weightData: Float32Array.from(files.weights).buffer,
    }),
  );
}

/** What tfjs-layers' own save() writes for a model: its manifest and weight bytes. */
async function savedByTfjs(model: tfl.LayersModel): Promise<{ specs: tf.io.WeightsManifestEntry[]; bytes: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return { specs: artifacts!.weightSpecs!, bytes: new Uint8Array(artifacts!.weightData as ArrayBuffer) };
}

const arch = (input: unknown): Architecture => architectureSchema.parse(input);
const classNames = (model: tfl.LayersModel): string[] => model.layers.map((layer) => layer.getClassName());
const paramCount = (modelJson: ModelJson): number => modelJson.weightsManifest[0]!.weights.reduce((total, w) => total + w.shape.reduce((a, b) => a * b, 1), 0);

describe('built-in ResNet and MobileNet are functional tfjs Layers models', () => {
  it.each([20, 32, 56])('ResNet-%i: tfjs-layers loads it with the parameters saved and re-saves the same weights', async (depth) => {
    await selectBackend('cpu');
    const files = buildModelFiles(arch({ type: 'resnet', depth }), 1);
    expect(files.modelJson.modelTopology).toMatchObject({ class_name: 'Model' });
    const model = await loadInTfjs(files);
    expect(model.countParams()).toBe(paramCount(files.modelJson));
    // depth = stem + 2 convolutions per block + the Dense classifier; two more (1×1 projection) convolutions.
    expect(classNames(model).filter((name) => name === 'Conv2D')).toHaveLength(depth - 1 + 2);
    expect(classNames(model).filter((name) => name === 'Add')).toHaveLength(((depth - 2) / 6) * 3);
    const resaved = await savedByTfjs(model);
    expect(resaved.specs.map(({ name, shape }) => ({ name, shape }))).toEqual(
      files.modelJson.weightsManifest[0]!.weights.map(({ name, shape }) => ({ name, shape })),
    );
    expect(Buffer.from(resaved.bytes).equals(Buffer.from(Float32Array.from(files.weights).buffer))).toBe(true);
    if (depth === 20) {
      // Keras' CIFAR-10 ResNet example (ResNet v1, projection shortcuts) prints these counts for ResNet-20.
      expect(model.countParams()).toBe(274_442);
      expect(model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a! * b!, 1)!, 0)).toBe(273_066);
    }
    model.dispose();
  });

  it('skip: false is the same net without the Add shortcuts (Li et al. Fig. 5)', async () => {
    await selectBackend('cpu');
    const resnet = buildModelFiles(arch({ type: 'resnet' }), 1);
    const plain = buildModelFiles(arch({ type: 'resnet', skip: false }), 1);
    const model = await loadInTfjs(plain);
    expect(classNames(model)).not.toContain('Add');
    const names = (files: typeof plain) => files.modelJson.weightsManifest[0]!.weights.map((w) => w.name);
    // Only the two projection convolutions (1×1, 16→32 and 32→64 filters, with bias) are missing.
    expect(names(resnet).filter((name) => !names(plain).includes(name))).toEqual([
      'stage2_block1_shortcut/kernel',
      'stage2_block1_shortcut/bias',
      'stage3_block1_shortcut/kernel',
      'stage3_block1_shortcut/bias',
    ]);
    expect(model.countParams()).toBe(274_442 - (16 * 32 + 32) - (32 * 64 + 64));
    model.dispose();
  });

  it('a tiny ResNet and a MobileNet predict in tfjs-layers; skips change the function', async () => {
    await selectBackend('cpu');
    const tiny = { type: 'resnet', depth: 8, width: 4, input: [8, 8, 3], outputs: 3 };
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 3);
    const outputs: Float32Array[] = [];
    for (const input of [tiny, { ...tiny, skip: false }, { type: 'mobilenet', input: [8, 8, 3], stem: 4, blocks: [{ filters: 8, strides: 2 }], outputs: 3 }]) {
      const model = await loadInTfjs(buildModelFiles(arch(input), 2));
      const y = model.predict(x) as tf.Tensor;
      expect(y.shape).toEqual([2, 3]);
      outputs.push(y.dataSync() as Float32Array);
      y.dispose();
      model.dispose();
    }
    x.dispose();
    outputs.flatMap((o) => Array.from(o)).forEach((v) => expect(Number.isFinite(v)).toBe(true));
    expect(Array.from(outputs[0]!)).not.toEqual(Array.from(outputs[1]!));
  });

  it('MobileNet: depthwise-separable blocks with BN and ReLU6, re-saved identically by tfjs-layers', async () => {
    await selectBackend('cpu');
    const files = buildModelFiles(arch({ type: 'mobilenet' }), 4);
    const model = await loadInTfjs(files);
    expect(classNames(model).filter((name) => name === 'DepthwiseConv2D')).toHaveLength(3);
    expect(model.getLayer('block1_dw_relu').getConfig()).toMatchObject({ maxValue: 6 });
    // stem 3·3·3·16, then per block: depthwise 3·3·C + BN 4C + pointwise C·F + BN 4F; BN 4·16; Dense 128·10 + 10.
    const blocks = [
      [16, 32],
      [32, 64],
      [64, 128],
    ].reduce((sum, [c, f]) => sum + 9 * c! + 4 * c! + c! * f! + 4 * f!, 0);
    expect(model.countParams()).toBe(3 * 3 * 3 * 16 + 4 * 16 + blocks + 128 * 10 + 10);
    const resaved = await savedByTfjs(model);
    expect(resaved.specs.map((s) => s.name)).toEqual(files.modelJson.weightsManifest[0]!.weights.map((w) => w.name));
    expect(Buffer.from(resaved.bytes).equals(Buffer.from(Float32Array.from(files.weights).buffer))).toBe(true);
    model.dispose();
  });

  it('initial weights are seeded He-uniform for convolutions, BN starts at γ = 1, β = 0, mean 0, variance 1', () => {
    const a = buildModelFiles(arch({ type: 'resnet' }), 7);
    expect(buildModelFiles(arch({ type: 'resnet' }), 7).weights).toEqual(a.weights);
    expect(buildModelFiles(arch({ type: 'resnet' }), 8).weights).not.toEqual(a.weights);
    const specs = a.modelJson.weightsManifest[0]!.weights;
    const slice = (name: string): Float64Array => {
      let offset = 0;
      for (const spec of specs) {
        const size = spec.shape.reduce((x, y) => x * y, 1);
        if (spec.name === name) return a.weights.subarray(offset, offset + size);
        offset += size;
      }
      throw new Error(name);
    };
    const kernel = slice('stage3_block3_conv2/kernel'); // 3·3·64 fan-in: std sqrt(2/576)
    const std = Math.sqrt(kernel.reduce((sum, v) => sum + v * v, 0) / kernel.length);
    expect(std / Math.sqrt(2 / 576)).toBeGreaterThan(0.97);
    expect(std / Math.sqrt(2 / 576)).toBeLessThan(1.03);
    expect(Math.max(...kernel.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 576));
    expect(Array.from(slice('bn1/gamma'))).toEqual(new Array(16).fill(1));
    expect(Array.from(slice('bn1/moving_variance'))).toEqual(new Array(16).fill(1));
    expect(Array.from(slice('bn1/moving_mean'))).toEqual(new Array(16).fill(0));
    // tfjs' own order: every trainable weight, then the moving statistics.
    const firstStatistic = specs.findIndex((spec) => spec.name.endsWith('/moving_mean'));
    expect(specs[firstStatistic - 1]!.name).toBe('logits/bias');
    expect(specs.slice(firstStatistic).every((spec) => /\/moving_(mean|variance)$/.test(spec.name))).toBe(true);
  });
});

describe('examples/resnet-skip', () => {
  const dir = join(__dirname, '..', '..', '..', '..', 'examples', 'resnet-skip');
  it.each(readdirSync(dir).filter((file) => file.endsWith('.job.json')))('%s is a valid job spec', (file) => {
    expect(() => parseJobSpec(JSON.parse(readFileSync(join(dir, file), 'utf8')))).not.toThrow();
  });
});

/** Functional models load in landscape's own reader only with the model graph (issue 8, item 1). */
const graphModelsSupported = (() => {
  try {
    describeModel(buildModelFiles(arch({ type: 'resnet', depth: 8, width: 2, input: [4, 4, 1], outputs: 2 }), 0).modelJson, 'probe');
    return true;
  } catch {
    return false;
  }
})();

describe.skipIf(!graphModelsSupported)('built-in graph models evaluate in landscape like in tfjs-layers', () => {
  it.each([
    { type: 'resnet', depth: 8, width: 4, input: [8, 8, 3], outputs: 4 },
    { type: 'resnet', depth: 8, width: 4, input: [8, 8, 3], outputs: 4, skip: false },
    { type: 'mobilenet', input: [8, 8, 3], stem: 4, blocks: [{ filters: 8, strides: 2 }], outputs: 4 },
  ])("$type (skip $skip): loss at the weights equals tfjs-layers' (1e-5 relative)", async (input) => {
    await selectBackend('cpu');
    const architecture = arch(input);
    const loaded = buildModel(architecture, 5);
    const data = syntheticDataset({ synthetic: 'images', n: 40, seed: 1, classes: 4, shape: [8, 8, 3] });
    const evaluator = new Evaluator({ model: loaded.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 16 });
    const ours = evaluator.evaluate(loaded.weights).loss;
    evaluator.dispose();
    const model = await loadInTfjs(buildModelFiles(architecture, 5));
    const labels = (data.targets as { labels: Int32Array }).labels;
    const theirs = tf.tidy(() => {
      const logits = model.predict(tf.tensor(data.x, [data.n, 8, 8, 3])) as tf.Tensor;
      return -tf.mean(tf.sum(tf.mul(tf.oneHot(tf.tensor1d(labels, 'int32'), 4), tf.logSoftmax(logits)), -1)).dataSync()[0]!;
    });
    model.dispose();
    expect(Math.abs(ours - theirs) / theirs).toBeLessThan(1e-5);
  });

  it.each([true, false])('ResNet graph (skip %s): Hessian-vector products match central differences of the gradient', async (skip) => {
    await selectBackend('cpu');
    const architecture = arch({ type: 'resnet', depth: 8, width: 2, input: [6, 6, 2], outputs: 3, skip });
    const loaded = buildModel(architecture, 6);
    // Central differences of a ReLU net's gradient jump wherever a unit crosses its kink (the Hessian itself is the
    // a.e. one), so the graph (strided and 1×1 convolutions, BN, Add, pooling, Dense) is checked with tanh in place
    // of ReLU: the same weights and layout, a smooth function.
    const smooth = buildModelFiles(architecture, 6).modelJson;
    for (const layer of (smooth.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } }).config.layers) {
      if (layer.class_name === 'Activation') layer.config.activation = 'tanh';
    }
    const description = describeModel(smooth, 'resnet with tanh');
    const data = syntheticDataset({ synthetic: 'images', n: 24, seed: 2, classes: 3, shape: [6, 6, 2] });
    const op = new HessianOperator({ model: description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 24 }, loaded.weights);
    const direction = Float64Array.from({ length: op.parameters }, (_, i) => 0.5 * Math.sin(12.9898 * (i + 1)));
    const v = op.expand(op.compact(direction));
    const hv = op.hvp(v);
    const h = 1e-3;
    const gradientAt = (sign: number): Float64Array => {
      op.setPoint(loaded.weights.map((t, i) => t + sign * h * v[i]!));
      return op.gradient().gradient;
    };
    const plus = gradientAt(1);
    const minus = gradientAt(-1);
    op.dispose();
    const difference = plus.map((p, i) => (p - minus[i]!) / (2 * h));
    const norm = (a: Float64Array): number => Math.sqrt(a.reduce((sum, x) => sum + x * x, 0));
    expect(norm(hv.map((x, i) => x - difference[i]!)) / norm(difference)).toBeLessThan(1e-3);
  });
});
