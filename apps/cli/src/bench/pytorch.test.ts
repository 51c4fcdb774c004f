import { buildModel } from '@landscape/core';
import { describe, expect, it } from 'vitest';
import { forwardFlops } from './pytorch';

describe('nominal forward FLOPs of the benchmark models', () => {
  it('counts 2 × multiply-adds of dense and conv layers, written out by hand', () => {
    const mlp = buildModel({ type: 'mlp', input: [784], hidden: [{ units: 128, activation: 'relu' }], outputs: 10 }, 1);
    expect(forwardFlops(mlp.description)).toBe(2 * (784 * 128 + 128 * 10));
    const cnn = buildModel(
      {
        type: 'cnn',
        input: [16, 16, 3],
        conv: [
          { filters: 16, kernel: 3, activation: 'relu', pool: true },
          { filters: 32, kernel: 3, activation: 'relu', pool: true },
        ],
        hidden: [],
        outputs: 10,
      },
      1,
    );
    // conv 14×14×16 from 3×3×3 windows, pool → 7×7, conv 5×5×32 from 3×3×16, pool → 2×2×32 = 128 features.
    expect(forwardFlops(cnn.description)).toBe(2 * (14 * 14 * 16 * 27 + 5 * 5 * 32 * 144 + 128 * 10));
  });
});
