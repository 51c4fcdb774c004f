import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { Piscina } from 'piscina';
import { float32Tensor } from './blas';
import { InputError } from './errors';
import type { ManifestEntry } from './graph/bind';
import { buildGraph, type GraphOptions } from './graph/build';
import { decodeWeightBytes } from './graph/decode';
import type { ModelGraph } from './graph/ir';
import type { WeightCheckOutcome, WeightCheckTask } from './graph/weight-check-thread';
import { runGraph, type RunOptions } from './graph/run';
import { readTopology } from './graph/topology';
import type { Shape } from './layers/layer';
import type { WeightLayout } from './weights';

/**
 * A TensorFlow.js Layers model read from disk (Sequential or functional; tfjs' own files or Keras 2/3 exports),
 * kept as a graph description plus a flat weight vector. Evaluation runs the graph as a pure function of
 * (weights, inputs) — see `forward` — so any parameter vector can be evaluated (and differentiated twice) without
 * mutating a Layers model. docs/models.md lists what is supported.
 */
export interface ModelDescription {
  name: string;
  /** Input shape of one sample (no batch axis); null = free, sized by the data. */
  inputShape: Shape;
  graph: ModelGraph;
  /** The model's weights in manifest order (each bound to its layer by name). */
  layout: WeightLayout;
  /** weightsManifest entries (all groups, in file order): how the weight bytes are stored. */
  manifest: ManifestEntry[];
  /** The model's output layers; `output` is the one evaluated. */
  outputs: string[];
  output: string;
}

export type ModelOptions = GraphOptions;

export interface LoadedModel {
  description: ModelDescription;
  weights: Float64Array;
  /** The model.json document as read, for re-saving and provenance. */
  modelJson: ModelJson;
}

export interface ModelJson {
  modelTopology: unknown;
  weightsManifest: { paths: string[]; weights: ManifestEntry[] }[];
  format?: string;
  [key: string]: unknown;
}

/** Builds the model description from a model.json document; weights are bound to layers by name. */
export function describeModel(modelJson: ModelJson, source: string, options: ModelOptions = {}): ModelDescription {
  if (modelJson.format === 'graph-model') {
    throw new InputError(
      `${source}: this is a TensorFlow.js graph model (a frozen TensorFlow graph of ops, not layers), which cannot be ` +
        'evaluated with other weights. Export a Layers model instead: tensorflowjs_converter --input_format keras ' +
        '--output_format tfjs_layers_model (or tensorflowjs.converters.save_keras_model in Python), or model.save() from tfjs-layers',
    );
  }
  const manifest = (modelJson.weightsManifest ?? []).flatMap((group) => group.weights);
  const topology = readTopology(modelJson.modelTopology, source);
  const built = buildGraph(topology, manifest, source, options);
  return {
    name: topology.name,
    inputShape: built.graph.inputShape,
    graph: built.graph,
    layout: built.layout,
    manifest,
    outputs: built.outputs,
    output: built.output,
  };
}

/** Accepts the model directory or the path of its model.json. */
export function resolveModelJsonPath(path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) return join(path, 'model.json');
  return path;
}

export function loadModel(path: string, options: ModelOptions = {}): LoadedModel {
  const jsonPath = resolveModelJsonPath(path);
  if (!existsSync(jsonPath)) throw new InputError(`model file not found: ${jsonPath}`);
  let modelJson: ModelJson;
  try {
    modelJson = JSON.parse(readFileSync(jsonPath, 'utf8')) as ModelJson;
  } catch (error) {
    throw new InputError(`cannot parse model ${jsonPath}: ${(error as Error).message}`);
  }
  const description = describeModel(modelJson, jsonPath, options);
  const buffers = modelJson.weightsManifest.flatMap((group) =>
    group.paths.map((file) => {
      const weightPath = join(dirname(jsonPath), file);
      if (!existsSync(weightPath)) throw new InputError(`${jsonPath}: weight file not found: ${weightPath}`);
      return readFileSync(weightPath);
    }),
  );
  const weights = weightsFromBytes(Buffer.concat(buffers), description, jsonPath);
  return { description, weights, modelJson };
}

/** Decodes the weight files' bytes (manifest order; float32, int32 or tfjs-quantized) into the flat float64 vector. */
export function weightsFromBytes(bytes: Uint8Array, description: Pick<ModelDescription, 'manifest' | 'layout'>, source: string): Float64Array {
  return decodeWeightBytes(bytes, description.manifest, description.layout, source);
}

let weightCheckPool: Piscina | undefined;

/**
 * weightsFromBytes' check without its values, on a pool thread: a server checks an upload of hundreds of MB
 * while its event loop keeps answering. `files` are the weight files in manifest order; they move to the thread
 * and back without a copy, so the given views are left empty: use the returned ones (same bytes, same order).
 * Rejects with an InputError (naming `field`) when the bytes do not fit the manifest.
 */
export async function checkWeightBytes(
  files: readonly Uint8Array[],
  description: Pick<ModelDescription, 'manifest' | 'layout'>,
  source: string,
  field?: string,
): Promise<Uint8Array[]> {
  // One thread, started on first use and ended when idle (piscina unrefs idle threads, so none keeps a process up).
  weightCheckPool ??= new (require('piscina') as typeof import('piscina')).Piscina({
    filename: join(__dirname, 'graph', 'weight-check-thread.js'),
    minThreads: 0,
    maxThreads: 1,
    idleTimeout: 30_000,
  });
  // A view that owns its whole buffer moves as it is; any other (part of a shared buffer, or its buffer already
  // moving) is copied, since moving it would empty what shares the buffer, or fail.
  const moving = new Set<ArrayBufferLike>();
  const moved = files.map((bytes) => {
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer && !moving.has(bytes.buffer);
    return own ? (moving.add(bytes.buffer), bytes) : new Uint8Array(bytes);
  });
  const task: WeightCheckTask = { files: moved, manifest: description.manifest, layout: description.layout, source };
  const outcome = (await weightCheckPool.run(task, { transferList: moved.map((file) => file.buffer as ArrayBuffer) })) as WeightCheckOutcome;
  if (outcome.error !== undefined) throw new InputError(outcome.error, field);
  return outcome.files;
}

/** Throws unless samples of `sampleShape` fit the model's input (free dimensions take any size). */
export function checkSampleShape(description: ModelDescription, sampleShape: readonly number[]): void {
  const expected = description.inputShape;
  if (sampleShape.length !== expected.length || expected.some((dim, i) => dim !== null && dim !== sampleShape[i])) {
    const text = (shape: readonly (number | null)[]) => `[${shape.map((d) => d ?? 'any').join(', ')}]`;
    throw new InputError(`samples have shape ${text(sampleShape)} but the model expects ${text(expected)}`, 'data');
  }
}

export type ForwardOptions = RunOptions;

/**
 * The network as a pure function: params[i] is the tensor of layout entry i. Call inside tf.tidy (or a gradient
 * function). Returns the model output as tfjs-layers' predict would.
 */
export function forward(description: ModelDescription, params: readonly tf.Tensor[], input: tf.Tensor, options: ForwardOptions = {}): tf.Tensor {
  return runGraph(description.graph, params, input, options);
}

/** Uploads a flat float64 vector as one tensor per weight (the caller disposes them). */
export function toTensors(flat: Float64Array, layout: WeightLayout): tf.Tensor[] {
  return layout.map((spec) => toTensor(flat, spec));
}

/** Uploads one weight of a flat float64 vector. */
export function toTensor(flat: Float64Array, spec: WeightLayout[number]): tf.Tensor {
  const values = flat.subarray(spec.offset, spec.offset + spec.size);
  return spec.dtype === 'int32' ? tf.tensor(new Int32Array(values), spec.shape, 'int32') : float32Tensor(values, spec.shape);
}
