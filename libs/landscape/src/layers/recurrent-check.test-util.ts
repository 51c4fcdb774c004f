import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, expect } from 'vitest';
import { selectBackend } from '../backend';
import type { LayerDefinition, Shape } from './layer';
import { maxNormError } from './layer-check.test-util';
import { LAYER_REGISTRY } from './registry';

/**
 * Per-layer verification helpers: a layer as tfjs-layers' own save() writes it (config + weights by name), our
 * definition run on it, and a Hessian-vector product by double backprop against finite differences.
 */

/** Runs the enclosing block on `backend` (selectBackend installs the second-order gradients), then returns to cpu. */
export function onBackend(backend: 'cpu' | 'wasm'): void {
  beforeAll(() => selectBackend(backend));
  afterAll(() => selectBackend('cpu'));
}

export function definitionOf(className: string): LayerDefinition {
  const definition = LAYER_REGISTRY.get(className);
  if (!definition) throw new Error(`no definition for ${className}`);
  return definition;
}

export interface SavedLayer {
  className: string;
  name: string;
  config: Record<string, unknown>;
  /** The layer's weights keyed by weight name inside the layer ('kernel', 'forward_lstm_1/bias', …). */
  weights: Record<string, tf.Tensor>;
}

/** The model's (non-input) layers as saved by tfjs-layers' `save()`: topology configs and the weights decoded from the manifest. */
export async function savedLayers(model: tfl.LayersModel): Promise<SavedLayer[]> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (saved) => {
      artifacts = saved;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const topology = artifacts!.modelTopology as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  const named = tf.io.decodeWeights(artifacts!.weightData as ArrayBuffer, artifacts!.weightSpecs!);
  // An explicit input layer is saved as an InputLayer entry without weights: the graph reader's business, not a layer's.
  return topology.config.layers
    .filter((layer) => layer.class_name !== 'InputLayer')
    .map(({ class_name, config }) => {
      const name = String(config.name);
      const weights: Record<string, tf.Tensor> = {};
      for (const [full, tensor] of Object.entries(named)) if (full.startsWith(`${name}/`)) weights[full.slice(name.length + 1)] = tensor;
      return { className: class_name, name, config, weights };
    });
}

export const context = (layer: SavedLayer) => ({ layerName: layer.name, source: 'test model.json' });

/** Parses the saved layer with `definition`, checks the declared weights against the saved ones and returns its forward pass. */
export function bindLayer(definition: LayerDefinition, layer: SavedLayer, inputShape: Shape) {
  expect(definition.classNames).toContain(layer.className);
  const config = definition.parse(layer.config, context(layer));
  const declared = definition.weights(config, [inputShape], context(layer));
  expect(Object.fromEntries(declared.map((w) => [w.name, w.shape]))).toEqual(Object.fromEntries(Object.entries(layer.weights).map(([n, t]) => [n, t.shape])));
  return {
    outputShape: definition.outputShape(config, [inputShape], context(layer)),
    apply: (x: tf.Tensor, weights: Readonly<Record<string, tf.Tensor>> = layer.weights) => definition.apply(config, [x], weights, { fused: false }),
  };
}

/** maxNormError of two tensors of the same shape. */
export function relativeError(actual: tf.Tensor, expected: tf.Tensor): number {
  expect(actual.shape).toEqual(expected.shape);
  return maxNormError(actual.dataSync(), expected.dataSync());
}

/** Every kernel `run` dispatches is among `kernels` (second-order safety is checked against that list). */
export async function expectKernelsListed(kernels: readonly string[], run: () => tf.Tensor): Promise<void> {
  const profile = await tf.profile(() => {
    run();
  });
  expect(profile.kernelNames.filter((name) => !kernels.includes(name))).toEqual([]);
}

type Loss = (weights: tf.Tensor[]) => tf.Scalar;

function gradient(loss: Loss, weights: tf.Tensor[]): tf.Tensor[] {
  return tf.grads((...w: tf.Tensor[]) => loss(w))(weights);
}

/**
 * H·v by double backprop (the derivative of ⟨∇loss, v⟩) and by central differences of the gradient,
 * (∇loss(w + εv) − ∇loss(w − εv)) / 2ε, with one Richardson step to cancel the ε² term in float32.
 */
export function hessianVectorProducts(loss: Loss, weights: tf.Tensor[], direction: tf.Tensor[], step = 1e-2): { exact: tf.Tensor; differences: tf.Tensor } {
  return tf.tidy(() => {
    const exact = tf.grads((...w: tf.Tensor[]) => tf.addN(gradient(loss, w).map((g, i) => tf.sum(tf.mul(g, direction[i]!)))) as tf.Scalar)(weights);
    const central = (h: number) => {
      const plus = gradient(
        loss,
        weights.map((w, i) => tf.add(w, tf.mul(h, direction[i]!))),
      );
      const minus = gradient(
        loss,
        weights.map((w, i) => tf.sub(w, tf.mul(h, direction[i]!))),
      );
      return tf.concat(plus.map((g, i) => tf.reshape(tf.div(tf.sub(g, minus[i]!), 2 * h), [-1])));
    };
    const differences = tf.div(tf.sub(tf.mul(4, central(step / 2)), central(step)), 3);
    return { exact: tf.concat(exact.map((g) => tf.reshape(g, [-1]))), differences };
  });
}

/** A quadratic loss on the output: nonzero curvature comes from the layer's own nonlinearity. */
export function squaredError(output: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.mul(0.5, tf.mean(tf.sum(tf.square(tf.sub(output, target)), -1)));
}
