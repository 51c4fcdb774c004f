import { describe, expect, it } from 'vitest';
import { LAYER_DEFINITIONS, LAYER_REGISTRY } from './registry';
import { allLayerCases } from './layer-check.test-util';

describe('layer registry', () => {
  it('names each layer class once', () => {
    const names = LAYER_DEFINITIONS.flatMap((definition) => definition.classNames);
    expect(new Set(names).size).toBe(names.length);
    expect(LAYER_REGISTRY.size).toBe(names.length);
  });

  it('has a forward-vs-tfjs-layers and a Hessian-vector-product check for every registered layer', async () => {
    // layers.test.ts runs both checks for every case (or asserts the typed second-order error).
    const covered = new Set((await allLayerCases()).flatMap((layerCase) => layerCase.covers));
    const unchecked = [...LAYER_REGISTRY.keys()].filter((name) => !covered.has(name));
    expect(unchecked).toEqual([]);
  });

  it('declares the tfjs kernels each layer dispatches and its second-order status', () => {
    for (const definition of LAYER_DEFINITIONS) {
      expect(definition.kernels.length + (definition.classNames.includes('Dropout') ? 1 : 0)).toBeGreaterThan(0);
      expect(definition.secondOrder === 'exact' || typeof definition.secondOrder.unsupported === 'string').toBe(true);
    }
  });
});
