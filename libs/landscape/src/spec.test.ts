import { describe, expect, it } from 'vitest';
import { validateJobSpec } from '@landscape/core';

const surface = {
  kind: 'surface',
  model: 'm/model.json',
  data: 'd.json',
  loss: 'sparse_categorical_crossentropy',
  directions: { x: { file: 'd1.json' }, y: { seed: 7 }, normalization: 'filter', bias: 'ignore' },
  grid: { x: [-1, 1, 51], y: [-0.5, 0.5, 21] },
};

describe('job spec', () => {
  it('accepts the documented examples and fills defaults', () => {
    const result = validateJobSpec(surface);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.spec).toMatchObject({ output: 'logits', backend: 'auto', evaluation: { batchSize: 1024 } });
    expect(
      validateJobSpec({
        kind: 'line',
        model: 'init/model.json',
        to: 'trained/model.json',
        data: 'data.json',
        loss: 'sparse_categorical_crossentropy',
        grid: { x: [-0.5, 1.5, 41] },
      }).ok,
    ).toBe(true);
  });

  it.each([
    [{ ...surface, loss: 'hinge' }, 'loss'],
    [{ ...surface, grid: { x: [1, -1, 5], y: [0, 1, 3] } }, 'grid.x'],
    [{ ...surface, grid: { x: [-1, 1, 2.5], y: [0, 1, 3] } }, 'grid.x.2'],
    [{ ...surface, directions: { x: { seed: -1 }, y: { seed: 1 } } }, 'directions.x.seed'],
    [{ ...surface, kind: 'volume' }, 'kind'],
    [{ ...surface, extra: 1 }, 'extra'],
    [{ kind: 'line', model: 'a', data: 'd', loss: 'mse', grid: { x: [0, 1, 3] } }, 'to'],
  ])('names the offending field %#', (input, field) => {
    const result = validateJobSpec(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.field)).toContain(field);
  });

  it('rejects non-objects', () => {
    for (const input of [null, 3, 'x', [], true]) expect(validateJobSpec(input).ok).toBe(false);
  });
});
