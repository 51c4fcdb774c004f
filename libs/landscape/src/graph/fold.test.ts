import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../backend';
import { allLayerCases, loadCase, maxNormError, seededInput } from '../layers/layer-check.test-util';
import { forward, toTensors } from '../model';
import { foldedNormalizations } from './fold';

describe.each(['cpu', 'wasm'] as const)('batch normalization folded into the layer before it, on %s', (backend) => {
  beforeAll(async () => {
    await selectBackend(backend);
  });

  it('skips every foldable normalization pass and matches predict and the unfolded run', async () => {
    const layerCase = (await allLayerCases()).find((c) => c.name === 'batch normalization folded into dense and convolution layers')!;
    const loaded = await loadCase(layerCase, 4);
    const x = seededInput([5, ...layerCase.input], 9);
    const params = toTensors(loaded.weights, loaded.description.layout);
    const run = (fused: boolean): Float32Array => tf.tidy(() => forward(loaded.description, params, x, { fused }).dataSync() as Float32Array);
    const profile = await tf.profile(() => void run(true));
    // Six normalizations; only the one after the 1×1 conv (read by the Add too) runs as a kernel of its own.
    expect(profile.kernels.filter((k) => k.name === 'FusedBatchNorm')).toHaveLength(1);
    const predicted = tf.tidy(() => (loaded.reference.predict(x) as tf.Tensor).dataSync());
    expect(maxNormError(run(true), predicted)).toBeLessThan(1e-5);
    expect(maxNormError(run(true), run(false))).toBeLessThan(1e-5);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) run(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, ...params]);
  });

  it('records which normalizations it folds, and folds none into a layer computed apart (subspace terms)', async () => {
    const layerCase = (await allLayerCases()).find((c) => c.name === 'batch normalization folded into dense and convolution layers')!;
    const { graph } = (await loadCase(layerCase, 4)).description;
    const folded = foldedNormalizations(graph, []);
    expect(folded).toHaveLength(5);
    for (const entry of folded) expect(entry).toMatch(/^batch_normalization\w* into (conv2d|depthwise_conv2d|separable_conv2d|conv1d|dense)\w*$/);
    const firstConv = graph.nodes.findIndex((node) => node.className === 'Conv2D');
    expect(foldedNormalizations(graph, [firstConv])).toEqual(folded.slice(1));
  });
});
