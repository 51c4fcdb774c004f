import { createRng } from './random';
import { layoutSize, type WeightLayout } from './weights';

/**
 * Seeded N(0, 1) direction: one standard-normal draw of the whole flat vector (flat order), zero on
 * non-trainable weights. Normalize it afterwards with `normalizeDirection`.
 */
export function randomDirection(layout: WeightLayout, seed: number): Float64Array {
  const rng = createRng(seed);
  const d = new Float64Array(layoutSize(layout));
  for (const spec of layout) {
    for (let i = 0; i < spec.size; i++) {
      const value = rng.normal();
      if (spec.trainable) d[spec.offset + i] = value;
    }
  }
  return d;
}
