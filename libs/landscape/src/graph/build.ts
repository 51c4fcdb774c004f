import { InputError } from '../errors';
import type { ActivationDialect } from '../layers/activations';
import type { AnyLayerDefinition, LayerContext, Shape, WeightDeclaration } from '../layers/layer';
import { LAYER_REGISTRY } from '../layers/registry';
import { makeLayout, type LayoutEntry, type WeightLayout } from '../weights';
import { WeightBinder, type ManifestEntry } from './bind';
import { definitionOf, MODEL_INPUT, type GraphNode, type ModelGraph } from './ir';
import { declaredInputShape, type LayerEntry, type ModelTopology, type TensorRef } from './topology';

export interface GraphOptions {
  /** Multi-output models: the output layer the loss reads (default: the first output). */
  output?: string;
  /** Weights of `trainable: false` layers: held fixed (`exclude`, default) or moved like the others (`include`). */
  frozen?: 'exclude' | 'include';
}

export interface BuiltGraph {
  graph: ModelGraph;
  layout: WeightLayout;
  /** Every output layer of the model; `output` is the one the graph evaluates. */
  outputs: string[];
  output: string;
}

interface LayerState {
  definition: AnyLayerDefinition;
  config: unknown;
  calls: number;
  trainable: boolean;
  /** Weight name → manifest index, fixed at the first call (later calls share them). */
  weights: Record<string, number>;
  declarations: WeightDeclaration[];
}

/** Weight names and shapes: a shared layer's later calls must need the weights its first call bound. */
const signature = (declarations: WeightDeclaration[]): string => declarations.map((d) => `${d.name}:${d.shape.join('x')}`).join();

/**
 * Builds the graph IR from a topology: nested models are inlined (their layers named by path), every layer call
 * becomes a node, shapes are inferred, and weights are bound by layer and weight name (bind.ts).
 */
class GraphBuilder {
  readonly nodes: GraphNode[] = [];
  /** Manifest index → whether the weight may move (trainable, and its layer not frozen unless frozen layers are included). */
  readonly moves = new Map<number, boolean>();
  private readonly layers = new Map<string, LayerState>();

  constructor(
    private readonly source: string,
    private readonly binder: WeightBinder,
    readonly inputShape: Shape,
    private readonly includeFrozen: boolean,
    private readonly dialect: ActivationDialect,
  ) {}

  shapeOf(node: number): Shape {
    return node === MODEL_INPUT ? this.inputShape : this.nodes[node]!.shape;
  }

  /** Adds one call of a (non-model) layer; returns its node index. */
  call(entry: LayerEntry, prefix: string[], trainable: boolean, inputs: number[]): number {
    const path = [...prefix, entry.name];
    const name = path.join('/');
    const context: LayerContext = { layerName: name, source: this.source, dialect: this.dialect };
    let state = this.layers.get(name);
    if (!state) {
      const definition = LAYER_REGISTRY.get(entry.className);
      if (!definition)
        throw new InputError(`${this.source}: layer '${name}' is of class ${entry.className}, which is not supported (docs/models.md lists the layers)`);
      state = {
        definition,
        config: definition.parse(entry.config, context),
        calls: 0,
        trainable: trainable && entry.config.trainable !== false,
        weights: {},
        declarations: [],
      };
      this.layers.set(name, state);
    }
    const inputShapes = inputs.map((input) => this.shapeOf(input));
    const shape = state.definition.outputShape(state.config, inputShapes, context);
    const declarations = state.definition.weights(state.config, inputShapes, context);
    if (state.calls === 0) {
      state.declarations = declarations;
      for (const declaration of declarations) {
        const index = this.binder.bind(path, declaration);
        state.weights[declaration.name] = index;
        this.moves.set(index, declaration.trainable && (this.includeFrozen || state.trainable));
      }
    } else if (signature(declarations) !== signature(state.declarations)) {
      throw new InputError(`${this.source}: shared layer '${name}' is called on inputs that need other weight shapes`);
    }
    this.nodes.push({
      name: state.calls === 0 ? name : `${name}#${state.calls}`,
      className: entry.className,
      config: state.config,
      inputs,
      shape,
      weights: { ...state.weights },
    });
    state.calls++;
    return this.nodes.length - 1;
  }

  /** Inlines a (nested or top-level) model called on `inputs`; returns its output nodes. */
  model(model: ModelTopology, prefix: string[], trainable: boolean, inputs: number[]): number[] {
    const inner = trainable && model.trainable;
    if (model.kind === 'sequential') {
      let current = inputs[0]!;
      for (const entry of model.layers) {
        if (entry.className === 'InputLayer') continue;
        current = this.layerCall(entry, prefix, inner, [current]);
      }
      return [current];
    }
    if (model.inputs.length !== inputs.length) {
      throw new InputError(`${this.source}: model '${prefix.join('/') || model.name}' has ${model.inputs.length} inputs but is called on ${inputs.length}`);
    }
    const byName = new Map(model.layers.map((entry) => [entry.name, entry]));
    const offsets = nestedNodeOffsets(model);
    const inputOf = new Map(model.inputs.map((ref, i) => [ref.layer, inputs[i]!]));
    const resolved = new Map<string, number>();
    const resolve = (ref: TensorRef, trail: string[]): number => {
      const key = `${ref.layer}#${ref.node}`;
      const known = resolved.get(key);
      if (known !== undefined) return known;
      const entry = byName.get(ref.layer);
      if (!entry) throw new InputError(`${this.source}: a layer input refers to layer '${ref.layer}', which the model does not have`);
      if (ref.tensor !== 0)
        throw new InputError(`${this.source}: layer '${ref.layer}' is used for its output ${ref.tensor}; only single-output layers are supported`);
      if (trail.includes(key)) throw new InputError(`${this.source}: the model graph has a cycle through layer '${ref.layer}'`);
      let node: number;
      if (entry.className === 'InputLayer') {
        const input = inputOf.get(entry.name);
        if (input === undefined) throw new InputError(`${this.source}: input layer '${entry.name}' is not one of the model's inputs`);
        node = input;
      } else {
        const call = entry.calls[ref.node - (offsets.get(entry.name) ?? 0)];
        if (!call) throw new InputError(`${this.source}: layer '${entry.name}' has no call ${ref.node}`);
        node = this.layerCall(
          entry,
          prefix,
          inner,
          call.map((input) => resolve(input, [...trail, key])),
        );
      }
      resolved.set(key, node);
      return node;
    };
    return model.outputs.map((ref) => resolve(ref, []));
  }

  private layerCall(entry: LayerEntry, prefix: string[], trainable: boolean, inputs: number[]): number {
    if (!entry.model) return this.call(entry, prefix, trainable, inputs);
    const outputs = this.model(entry.model, [...prefix, entry.name], trainable && entry.config.trainable !== false, inputs);
    if (outputs.length !== 1)
      throw new InputError(`${this.source}: nested model '${entry.name}' has ${outputs.length} outputs; only single-output nested models are supported`);
    return outputs[0]!;
  }
}

/**
 * Keras 2 and tfjs number the calls of a nested model from 1 (its call 0 is the one that built it, not saved),
 * Keras 3 from 0 for some models: read from the references themselves (1-based when they reach past the calls).
 */
function nestedNodeOffsets(model: ModelTopology): Map<string, number> {
  const refs = [...model.layers.flatMap((entry) => entry.calls.flat()), ...model.outputs];
  const offsets = new Map<string, number>();
  for (const entry of model.layers) {
    if (!entry.model) continue;
    const nodes = refs.filter((ref) => ref.layer === entry.name).map((ref) => ref.node);
    if (nodes.length && Math.min(...nodes) >= 1 && Math.max(...nodes) >= entry.calls.length) offsets.set(entry.name, 1);
  }
  return offsets;
}

/** The model's input shape, from its input layer (functional) or first layer (Sequential). */
function inputShapeOf(topology: ModelTopology, source: string): Shape {
  if (topology.kind === 'functional') {
    if (topology.inputs.length !== 1) {
      throw new InputError(
        `${source}: the model has ${topology.inputs.length} inputs (${topology.inputs.map((r) => r.layer).join(', ')}); only single-input models are supported`,
      );
    }
    const entry = topology.layers.find((layer) => layer.name === topology.inputs[0]!.layer);
    const shape = entry && declaredInputShape(entry.config);
    if (!shape) throw new InputError(`${source}: input layer '${topology.inputs[0]!.layer}' declares no batch_input_shape/batch_shape`);
    return shape;
  }
  let first = topology.layers[0];
  while (first?.model && first.model.layers[0]) first = first.model.layers[0];
  const shape = first && declaredInputShape(first.config);
  if (!shape) throw new InputError(`${source}: the first layer has no batch_input_shape/batch_shape, so the input shape is unknown`);
  return shape;
}

/** Keeps the nodes the chosen output depends on (in order), renumbered. */
function prune(nodes: GraphNode[], output: number): { nodes: GraphNode[]; output: number } {
  const needed = new Set<number>();
  const visit = (index: number): void => {
    if (index === MODEL_INPUT || needed.has(index)) return;
    needed.add(index);
    nodes[index]!.inputs.forEach(visit);
  };
  visit(output);
  const renumber = new Map<number, number>([[MODEL_INPUT, MODEL_INPUT]]);
  const kept: GraphNode[] = [];
  nodes.forEach((node, index) => {
    if (!needed.has(index)) return;
    renumber.set(index, kept.length);
    kept.push({ ...node, inputs: node.inputs.map((input) => renumber.get(input)!) });
  });
  return { nodes: kept, output: renumber.get(output)! };
}

export function buildGraph(topology: ModelTopology, manifest: ManifestEntry[], source: string, options: GraphOptions = {}): BuiltGraph {
  const binder = new WeightBinder(manifest, source);
  const builder = new GraphBuilder(source, binder, inputShapeOf(topology, source), options.frozen === 'include', topology.dialect);
  const outputNodes = builder.model(topology, [], true, [MODEL_INPUT]);
  const outputs = topology.kind === 'functional' ? topology.outputs.map((ref) => ref.layer) : [builder.nodes.at(-1)?.name ?? 'output'];
  const chosen = options.output ?? outputs[0]!;
  const index = outputs.indexOf(chosen);
  if (index < 0) throw new InputError(`the model has no output '${chosen}' (outputs: ${outputs.join(', ')})`, 'outputLayer');
  if (outputNodes[index] === MODEL_INPUT) throw new InputError(`${source}: output '${chosen}' is the model input itself`);
  binder.assertAllBound();

  const { nodes, output } = prune(builder.nodes, outputNodes[index]!);
  // Weights the chosen output does not read (other heads) cannot change the loss: they are held fixed.
  const used = new Set(nodes.flatMap((node) => Object.values(node.weights)));
  const bound = binder.boundEntries();
  const layoutIndex = new Map(bound.map((entry, i) => [entry.manifestIndex, i]));
  const layout = makeLayout(
    bound.map((entry): LayoutEntry => ({
      name: entry.name,
      shape: entry.shape,
      trainable: used.has(entry.manifestIndex) && builder.moves.get(entry.manifestIndex) === true,
      filterAxes: entry.declaration.filterAxes,
      dtype: entry.declaration.dtype ?? 'float32',
    })),
  );
  const graphNodes = nodes.map((node) => ({
    ...node,
    weights: Object.fromEntries(Object.entries(node.weights).map(([name, manifestIndex]) => [name, layoutIndex.get(manifestIndex)!])),
  }));
  return { graph: { inputShape: builder.inputShape, nodes: graphNodes, output }, layout, outputs, output: chosen };
}

/** Output shape of every node for a concrete input shape (free dimensions sized by the data). */
export function inferShapes(graph: ModelGraph, inputShape: Shape, source: string): Shape[] {
  const shapes: Shape[] = [];
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((i) => (i === MODEL_INPUT ? inputShape : shapes[i]!));
    shapes.push(definitionOf(node).outputShape(node.config, inputs, { layerName: node.name, source }));
  }
  return shapes;
}
