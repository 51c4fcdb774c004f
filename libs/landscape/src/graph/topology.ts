import { InputError } from '../errors';
import type { ActivationDialect } from '../layers/activations';
import type { Config } from '../layers/config';
import type { Shape } from '../layers/layer';

/**
 * Reads a model.json `modelTopology` into one neutral form, whoever wrote it: tfjs-layers' own topology, Keras 2
 * exports (`model_config` wrapper, `batch_input_shape`, inbound nodes as nested lists) and Keras 3 exports
 * (`module`/`registered_name` wrappers, `batch_shape`, inbound nodes as {args, kwargs} holding keras tensors).
 */

/** The `tensor`-th output of the `node`-th call of layer `layer`. */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

export interface LayerEntry {
  name: string;
  className: string;
  config: Config;
  /** Inputs of each call of the layer (functional models only). */
  calls: TensorRef[][];
  /** Set when the layer is itself a model (a nested Sequential or functional model). */
  model?: ModelTopology;
}

export interface ModelTopology {
  kind: 'sequential' | 'functional';
  name: string;
  trainable: boolean;
  layers: LayerEntry[];
  /** Functional models: the input layers and output tensors. */
  inputs: TensorRef[];
  outputs: TensorRef[];
  /** Whose activation formulas the file follows (the whole file's, nested models included). */
  dialect: ActivationDialect;
}

const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function readTopology(modelTopology: unknown, source: string): ModelTopology {
  let node = modelTopology;
  if (isRecord(node) && isRecord(node.model_config)) node = node.model_config;
  if (!isRecord(node) || typeof node.class_name !== 'string') throw new InputError(`${source}: model.json has no modelTopology with a class_name`);
  if (!MODEL_CLASSES.has(node.class_name)) throw new InputError(`${source}: the model is a ${node.class_name}; expected a Sequential or functional model`);
  return readModel(node, source, dialectOf(modelTopology));
}

/**
 * Keras 3 exports: keras_version ≥ 3 (the converter writes it beside model_config; tfjs-layers writes
 * 'tfjs-layers x.y'), or, without a keras_version, Keras 3's `module`/`registered_name` wrappers on the layers.
 */
export function dialectOf(modelTopology: unknown): ActivationDialect {
  const version = isRecord(modelTopology) ? modelTopology.keras_version : undefined;
  if (typeof version === 'string') {
    const major = /^(\d+)\./.exec(version);
    return major && Number(major[1]) >= 3 ? 'keras3' : 'tfjs';
  }
  return hasKeras3Wrappers(modelTopology) ? 'keras3' : 'tfjs';
}

function hasKeras3Wrappers(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(hasKeras3Wrappers);
  if (!isRecord(value)) return false;
  if ('registered_name' in value && 'module' in value) return true;
  return Object.values(value).some(hasKeras3Wrappers);
}

/** The batch-less input shape a layer config declares (`batch_input_shape` in tfjs/Keras 2, `batch_shape` in Keras 3). */
export function declaredInputShape(config: Config): Shape | undefined {
  const batch = config.batch_input_shape ?? config.batch_shape;
  if (!Array.isArray(batch)) return undefined;
  return batch.slice(1).map((dim) => (dim === null ? null : Number(dim)));
}

function readModel(node: Record<string, unknown>, source: string, dialect: ActivationDialect): ModelTopology {
  const className = node.class_name as string;
  // Very old Keras Sequential configs are the bare layer list.
  const config: Config = Array.isArray(node.config) ? { layers: node.config } : isRecord(node.config) ? node.config : {};
  if (!Array.isArray(config.layers)) throw new InputError(`${source}: the ${className} model lists no layers`);
  const name = String(config.name ?? node.name ?? 'model');
  const layers = config.layers.map((raw) => readLayer(raw, source, dialect));
  const base = { name, trainable: config.trainable !== false, layers, dialect };
  if (className === 'Sequential') {
    // Keras 3 may keep the input shape only as the model's build_input_shape.
    const built = config.build_input_shape;
    if (Array.isArray(built) && layers[0] && !declaredInputShape(layers[0].config)) layers[0].config = { ...layers[0].config, batch_input_shape: built };
    return { kind: 'sequential', ...base, inputs: [], outputs: [] };
  }
  return { kind: 'functional', ...base, inputs: refList(config.input_layers, source), outputs: refList(config.output_layers, source) };
}

function readLayer(raw: unknown, source: string, dialect: ActivationDialect): LayerEntry {
  if (!isRecord(raw) || typeof raw.class_name !== 'string')
    throw new InputError(`${source}: a layer entry has no class_name: ${JSON.stringify(raw).slice(0, 120)}`);
  const config = isRecord(raw.config) ? raw.config : {};
  const name = String(config.name ?? raw.name ?? raw.class_name);
  const calls = Array.isArray(raw.inbound_nodes) ? raw.inbound_nodes.map((call) => callInputs(call, name, source)) : [];
  const entry: LayerEntry = { name, className: raw.class_name, config, calls };
  if (MODEL_CLASSES.has(raw.class_name)) entry.model = readModel(raw, source, dialect);
  return entry;
}

/** One call's input tensors: [[layer, node, tensor, kwargs], …] (tfjs/Keras 2) or {args, kwargs} (Keras 3). */
function callInputs(call: unknown, layer: string, source: string): TensorRef[] {
  if (Array.isArray(call)) return call.map((ref) => tensorRef(ref, source, layer));
  if (isRecord(call)) {
    const refs: TensorRef[] = [];
    collectKerasTensors(call.args, refs, source, layer);
    return refs;
  }
  throw new InputError(`${source}: layer '${layer}' has an inbound node of unknown form: ${JSON.stringify(call).slice(0, 120)}`);
}

/** Keras 3 keras tensors anywhere in a call's args: {class_name: '__keras_tensor__', config: {keras_history: [layer, node, tensor]}}. */
function collectKerasTensors(value: unknown, into: TensorRef[], source: string, layer: string): void {
  if (Array.isArray(value)) {
    value.forEach((item) => collectKerasTensors(item, into, source, layer));
  } else if (isRecord(value)) {
    if (value.class_name === '__keras_tensor__' && isRecord(value.config)) into.push(tensorRef(value.config.keras_history, source, layer));
    else Object.values(value).forEach((item) => collectKerasTensors(item, into, source, layer));
  }
}

function tensorRef(raw: unknown, source: string, layer: string): TensorRef {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string')
    throw new InputError(`${source}: layer '${layer}' has an input reference of unknown form: ${JSON.stringify(raw)}`);
  return { layer: raw[0], node: Number(raw[1] ?? 0), tensor: Number(raw[2] ?? 0) };
}

/** input_layers / output_layers: a list of [layer, node, tensor] refs, or (Keras 3, one tensor) a single ref. */
function refList(raw: unknown, source: string): TensorRef[] {
  if (!Array.isArray(raw)) throw new InputError(`${source}: a functional model needs input_layers and output_layers lists`);
  if (typeof raw[0] === 'string') return [tensorRef(raw, source, 'model')];
  return raw.map((ref) => tensorRef(ref, source, 'model'));
}
