import { activationLayers } from './activation';
import { convLayers } from './conv';
import { coreLayers } from './core';
import { embeddingLayers } from './embedding';
import type { AnyLayerDefinition } from './layer';
import { mergeLayers } from './merge';
import { normalizationLayers } from './normalization';
import { poolingLayers } from './pooling';
import { recurrentLayers } from './recurrent';
import { reshapeLayers } from './reshape';

/** Every layer family; adding a family = one import and one line here. */
const FAMILIES: Record<string, AnyLayerDefinition[]> = {
  core: coreLayers,
  conv: convLayers,
  pooling: poolingLayers,
  normalization: normalizationLayers,
  merge: mergeLayers,
  activation: activationLayers,
  reshape: reshapeLayers,
  embedding: embeddingLayers,
  recurrent: recurrentLayers,
};

/** Keras class name → its layer definition; a class claimed by two entries is a programming error. */
function byClassName(): ReadonlyMap<string, AnyLayerDefinition> {
  const map = new Map<string, AnyLayerDefinition>();
  for (const [family, definitions] of Object.entries(FAMILIES)) {
    for (const definition of definitions) {
      for (const className of definition.classNames) {
        if (map.has(className)) throw new Error(`layer class ${className} is registered twice (again in family '${family}')`);
        map.set(className, definition);
      }
    }
  }
  return map;
}

export const LAYER_REGISTRY: ReadonlyMap<string, AnyLayerDefinition> = byClassName();

/** The registered definitions, each once (an entry may handle several class names). */
export const LAYER_DEFINITIONS: readonly AnyLayerDefinition[] = Object.values(FAMILIES).flat();
