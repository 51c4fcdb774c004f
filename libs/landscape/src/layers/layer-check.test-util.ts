import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// Tests build tfjs-layers models at collection time, before any selectBackend: a backend must be registered.
import '@tensorflow/tfjs-backend-cpu';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '../data';
import type { WeightLayout } from '../weights';
import { relativeError } from '../hessian/fixtures.test-util';
import { HessianOperator } from '../hessian/hvp';
import type { LossName } from '../losses';
import { describeModel, forward, toTensors, weightsFromBytes, type ModelDescription, type ModelJson } from '../model';
import { createRng } from '../random';

/**
 * Per-layer verification against the real tfjs-layers: a small seeded model is built with tfjs-layers, saved with
 * its own save(), loaded here, and checked (1) forward against tfjs-layers' predict and (2) Hessian-vector products
 * (double backprop through HessianOperator) against central finite differences of the gradient.
 */
export interface LayerCase {
  name: string;
  /** Registry class names this case verifies. */
  covers: string[];
  /** One sample's input shape. */
  input: number[];
  /** The reference model, built with tfjs-layers (weights are seeded afterwards). */
  build: () => tfl.LayersModel;
  /**
   * For layers tfjs-layers lacks: the reference is built from equivalent tfjs-layers layers, and this rewrites the
   * saved topology to use the layer under test instead (same weights, same function).
   */
  rewrite?: (topology: Topology) => void;
  /** Set for models that read token ids (Embedding): inputs are integers drawn from [0, vocabulary). */
  vocabulary?: number;
}

/** A saved Keras topology, as the tests edit it in place. */
export interface TopologyLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown>;
  inbound_nodes?: unknown;
}
export interface Topology {
  class_name: string;
  config: { layers: TopologyLayer[]; [key: string]: unknown };
}

/** Every `*.cases.test-util.ts` in this folder exports `cases: LayerCase[]` (one file per family group). */
export async function allLayerCases(): Promise<LayerCase[]> {
  const files = readdirSync(__dirname).filter((file) => file.endsWith('.cases.test-util.ts'));
  const modules = await Promise.all(files.map((file) => import(join(__dirname, file)) as Promise<{ cases: LayerCase[] }>));
  return modules.flatMap((module) => module.cases);
}

/** model.json + weight bytes exactly as tfjs-layers' save() writes them. */
export async function savedArtifacts(model: tfl.LayersModel): Promise<{ modelJson: ModelJson; bytes: Uint8Array }> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const artifacts = saved!;
  const modelJson: ModelJson = {
    modelTopology: artifacts.modelTopology,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs! }],
  };
  return { modelJson, bytes: new Uint8Array(artifacts.weightData as ArrayBuffer) };
}

/** Replaces every weight with seeded values (variances positive), so biases and statistics are not trivial. */
export function seedWeights(model: tfl.LayersModel, seed: number, scale = 0.5): void {
  const rng = createRng(seed);
  const values = model.weights.map((weight) => {
    const size = weight.shape.reduce((a: number, b) => a * (b ?? 1), 1);
    const positive = weight.originalName.endsWith('moving_variance');
    const data = Float32Array.from({ length: size }, () => (positive ? 0.5 + rng.uniform() : scale * rng.normal()));
    return tf.tensor(data, weight.shape as number[]);
  });
  model.setWeights(values);
  tf.dispose(values);
}

/** Seeded normals times `scale`. */
export function seededTensor(shape: number[], seed: number, scale = 1): tf.Tensor {
  const rng = createRng(seed);
  return tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => scale * rng.normal()),
    shape,
  );
}

/** A model input: seeded normals, or with `vocabulary` seeded integer ids in [0, vocabulary). */
export function seededInput(shape: number[], seed: number, vocabulary?: number): tf.Tensor {
  if (!vocabulary) return seededTensor(shape, seed);
  const rng = createRng(seed);
  return tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.floor(rng.uniform() * vocabulary)),
    shape,
  );
}

export interface LoadedCase {
  reference: tfl.LayersModel;
  description: ModelDescription;
  weights: Float64Array;
  modelJson: ModelJson;
}

export async function loadCase(layerCase: LayerCase, seed = 1): Promise<LoadedCase> {
  const reference = layerCase.build();
  seedWeights(reference, seed);
  const { modelJson, bytes } = await savedArtifacts(reference);
  if (layerCase.rewrite) layerCase.rewrite(modelJson.modelTopology as Topology);
  const description = describeModel(modelJson, layerCase.name);
  return { reference, description, weights: weightsFromBytes(bytes, description, layerCase.name), modelJson };
}

/** ‖ours − predict‖∞ / ‖predict‖∞ on a seeded batch, with fused (evaluation) or plain (gradient) kernels. */
export function forwardError(loaded: LoadedCase, input: number[], fused: boolean, vocabulary?: number): number {
  const [ours, theirs] = tf.tidy(() => {
    const x = seededInput([5, ...input], 7, vocabulary);
    const params = toTensors(loaded.weights, loaded.description.layout);
    return [forward(loaded.description, params, x, { fused }).dataSync(), (loaded.reference.predict(x) as tf.Tensor).dataSync()];
  });
  return maxNormError(ours, theirs);
}

/** ‖ours − theirs‖∞ / ‖theirs‖∞ (outputs near zero do not inflate it, unlike an elementwise relative error). */
export function maxNormError(ours: ArrayLike<number>, theirs: ArrayLike<number>): number {
  if (ours.length !== theirs.length) throw new Error(`output sizes differ: ${ours.length} vs ${theirs.length}`);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < theirs.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i]! - theirs[i]!));
    scale = Math.max(scale, Math.abs(theirs[i]!));
  }
  return diff / scale;
}

/** A seeded regression (or classification) set for `description`, targets of the output's width. */
export function seededDataset(input: number[], outputUnits: number, n = 6, seed = 3, classes?: number, vocabulary?: number): Dataset {
  const x = seededInput([n, ...input], seed, vocabulary);
  const rng = createRng(seed + 1);
  const data: Dataset = {
    n,
    sampleShape: input,
    x: x.dataSync() as Float32Array,
    targets: classes
      ? { kind: 'labels', labels: Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * classes)) }
      : { kind: 'rows', rows: Float32Array.from({ length: n * outputUnits }, () => rng.normal()), width: outputUnits },
    provenance: { source: 'seeded', total: n },
  };
  x.dispose();
  return data;
}

/**
 * ‖H·v − (∇L(θ + hv) − ∇L(θ − hv)) / 2h‖ / ‖·‖ for a seeded unit vector v on the trainable coordinates: the
 * smallest over a few step sizes h, because a step can cross a kink of relu/max (the gradient jumps there) and
 * float32 gradients limit how small h can go.
 */
export function hvpError(description: ModelDescription, theta: Float64Array, data: Dataset, loss: LossName = 'mse'): number {
  const op = new HessianOperator({ model: description, data, loss, output: 'logits', batchSize: 4 }, theta);
  try {
    const rng = createRng(11);
    const u = Float64Array.from({ length: op.operator.dimension }, () => rng.normal());
    const length = Math.hypot(...u);
    const v = op.expand(u.map((value) => value / length));
    const hv = op.hvp(v);
    const gradientAt = (step: number): Float64Array => {
      op.setPoint(theta.map((t, i) => t + step * v[i]!));
      return op.gradient().gradient;
    };
    return Math.min(
      ...[2e-3, 5e-4, 1.25e-4].map((h) => {
        const plus = gradientAt(h);
        const minus = gradientAt(-h);
        return relativeError(
          hv,
          plus.map((p, i) => (p - minus[i]!) / (2 * h)),
        );
      }),
    );
  } finally {
    op.dispose();
  }
}

/**
 * The factored operator (the first linear layers' Jacobian set apart, hessian/linear-input.ts) against
 * differentiating every layer twice: the largest relative difference of the gradient and of H·v for a seeded
 * v, and the layer classes it factored (none: nothing to compare).
 */
export function factoredDifference(description: ModelDescription, theta: Float64Array, data: Dataset): { difference: number; factored: string[] } {
  const setup = { model: description, data, loss: 'mse' as const, output: 'logits' as const, batchSize: 4 };
  const factored = new HessianOperator(setup, theta);
  const plain = new HessianOperator(setup, theta, { firstLayers: 'plain' });
  try {
    const rng = createRng(13);
    const v = factored.expand(Float64Array.from({ length: factored.operator.dimension }, () => rng.normal()));
    const difference = Math.max(relativeError(factored.gradient().gradient, plain.gradient().gradient), relativeError(factored.hvp(v), plain.hvp(v)));
    return { difference, factored: factored.factoredLayerClasses() };
  } finally {
    factored.dispose();
    plain.dispose();
  }
}

/** Mean cross-entropy of tfjs-layers' predict at θ (weights set by name, so the save order does not matter). */
export function predictCrossEntropy(model: tfl.LayersModel, theta: Float64Array, layout: WeightLayout, x: tf.Tensor, labels: Int32Array): number {
  const byName = new Map(layout.map((spec) => [spec.name, spec]));
  model.setWeights(
    model.weights.map((weight) => {
      const spec = byName.get(weight.originalName)!;
      return tf.tensor(Float32Array.from(theta.subarray(spec.offset, spec.offset + spec.size)), spec.shape);
    }),
  );
  const logits = tf.tidy(() => (model.predict(x) as tf.Tensor).arraySync() as number[][]);
  let total = 0;
  logits.forEach((row, i) => {
    const top = Math.max(...row);
    total += top + Math.log(row.reduce((sum, v) => sum + Math.exp(v - top), 0)) - row[labels[i]!]!;
  });
  return total / logits.length;
}
