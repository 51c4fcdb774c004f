import type * as tf from '@tensorflow/tfjs-core';
import { InputError } from '../errors';
import type { WeightDeclaration } from '../layers/layer';

/** One weightsManifest entry as model.json writes it (tfjs' WeightsManifestEntry). */
export type ManifestEntry = tf.io.WeightsManifestEntry;

interface Claim {
  layer: string;
  declaration: WeightDeclaration;
}

const shapeText = (shape: readonly (number | null)[]): string => `[${shape.join(', ')}]`;

/** Keras 2 exports may keep TensorFlow's ':0' output suffix on variable names. */
const normalized = (name: string): string => name.replace(/:0$/, '');

/**
 * Keras names a recurrent layer's weights after its cell: 'lstm/lstm_cell/kernel', and inside Bidirectional
 * 'bidirectional/forward_lstm/lstm_cell_1/kernel'. The layer declares them without the cell: the name without
 * that one segment (directly before the weight name), if it has one.
 */
const withoutCell = (name: string): string | undefined => {
  const segments = name.split('/');
  if (segments.length < 3 || !/^\w+_cell(_\d+)?$/.test(segments.at(-2)!)) return undefined;
  return [...segments.slice(0, -2), segments.at(-1)!].join('/');
};

/**
 * Binds each layer's declared weights to manifest entries by name, never by position: Keras' converter writes
 * weights sorted by layer name (dense_10 before dense_2) and tfjs-layers' save() writes all trainable weights
 * before all non-trainable ones, so positions say nothing. A layer at path [model, block, conv] binds weight
 * `kernel` to the most specific of 'model/block/conv/kernel', 'block/conv/kernel', 'conv/kernel' present; failing
 * those, to the one manifest name ending in '/conv/kernel'. Missing, ambiguous, extra and mis-shaped weights are
 * InputErrors naming the weight.
 */
export class WeightBinder {
  private readonly byName = new Map<string, number>();
  private readonly claims = new Map<number, Claim>();

  constructor(
    private readonly manifest: readonly ManifestEntry[],
    private readonly source: string,
  ) {
    manifest.forEach((entry, index) => {
      if (this.isModelWeight(entry)) this.byName.set(normalized(entry.name), index);
    });
    this.addCellAliases();
  }

  /** Also finds cell-named recurrent weights by their name without the cell, unless that is ambiguous or taken. */
  private addCellAliases(): void {
    const aliases = new Map<string, number[]>();
    for (const [name, index] of this.byName) {
      const alias = withoutCell(name);
      if (alias && !this.byName.has(alias)) aliases.set(alias, [...(aliases.get(alias) ?? []), index]);
    }
    for (const [alias, indices] of aliases) if (indices.length === 1) this.byName.set(alias, indices[0]!);
  }

  /** tfjs-layers' save({includeOptimizer}) appends the optimizer's state in the group 'optimizer'. */
  private isModelWeight(entry: ManifestEntry): boolean {
    return entry.group !== 'optimizer';
  }

  /** The manifest index of `declaration` of the layer at `path`. */
  bind(path: string[], declaration: WeightDeclaration): number {
    const layer = path.join('/');
    const candidates = path.map((_, i) => [...path.slice(i), declaration.name].join('/'));
    let index = candidates.map((name) => this.byName.get(name)).find((i) => i !== undefined);
    if (index === undefined) {
      const suffix = `/${path.at(-1)}/${declaration.name}`;
      // A cell-named weight may match by its name and by its alias: count each manifest weight once.
      const byIndex = new Map([...this.byName].filter(([name, i]) => name.endsWith(suffix) && !this.claims.has(i)).map(([name, i]) => [i, name]));
      const matches = [...byIndex].map(([i, name]) => [name, i] as const);
      if (matches.length > 1) {
        throw new InputError(
          `${this.source}: layer '${layer}' needs weight '${declaration.name}', and several manifest weights could be it: ${matches.map(([n]) => n).join(', ')}`,
        );
      }
      index = matches[0]?.[1];
    }
    if (index === undefined) {
      throw new InputError(
        `${this.source}: layer '${layer}' needs weight '${candidates.at(-1)}' ${shapeText(declaration.shape)}, which weightsManifest does not have`,
      );
    }
    const entry = this.manifest[index]!;
    const claim = this.claims.get(index);
    if (claim && claim.layer !== layer)
      throw new InputError(`${this.source}: weight '${entry.name}' would belong to both layer '${claim.layer}' and '${layer}'`);
    if (shapeText(entry.shape) !== shapeText(declaration.shape)) {
      throw new InputError(
        `${this.source}: weight '${entry.name}' has shape ${shapeText(entry.shape)} but layer '${layer}' needs ${shapeText(declaration.shape)}`,
      );
    }
    this.claims.set(index, { layer, declaration });
    return index;
  }

  /** Every model weight of the manifest must belong to a layer: an extra weight means the file is not this model. */
  assertAllBound(): void {
    const extra = this.manifest.filter((entry, index) => this.isModelWeight(entry) && !this.claims.has(index));
    if (extra.length)
      throw new InputError(`${this.source}: weightsManifest has weights no layer of the model uses: ${extra.map((e) => `'${e.name}'`).join(', ')}`);
  }

  /** The bound entries in manifest order. */
  boundEntries(): { manifestIndex: number; name: string; shape: number[]; declaration: WeightDeclaration }[] {
    return [...this.claims]
      .sort(([a], [b]) => a - b)
      .map(([manifestIndex, claim]) => ({
        manifestIndex,
        name: this.manifest[manifestIndex]!.name,
        shape: [...this.manifest[manifestIndex]!.shape],
        declaration: claim.declaration,
      }));
  }
}
