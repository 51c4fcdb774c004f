import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from './backend';
import { savedArtifacts, seedWeights } from './layers/layer-check.test-util';
import { prepareLandscape } from './prepare';
import { parseJobSpec, type SurfaceSpec } from './spec';
import { tensorView } from './weights';

const L = tfl.layers;
let dir: string;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'landscape-options-'));
  const x = tfl.input({ shape: [3] });
  const trunk = L.dense({ name: 'trunk', units: 4, activation: 'tanh', trainable: false }).apply(x) as tfl.SymbolicTensor;
  const heads = ['head_a', 'head_b'].map((name) => L.dense({ name, units: 2 }).apply(trunk) as tfl.SymbolicTensor);
  const model = tfl.model({ inputs: x, outputs: heads });
  seedWeights(model, 2);
  const { modelJson, bytes } = await savedArtifacts(model);
  writeFileSync(join(dir, 'model.json'), JSON.stringify(modelJson));
  writeFileSync(join(dir, 'weights.bin'), bytes);
  writeFileSync(
    join(dir, 'data.json'),
    JSON.stringify({
      x: [
        [0.1, 0.2, 0.3],
        [-1, 0, 1],
      ],
      y: [0, 1],
    }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('spec model options reach the loaded model', () => {
  const prepare = (extra: Record<string, unknown>) =>
    prepareLandscape(
      parseJobSpec({
        kind: 'surface',
        model: 'model.json',
        data: 'data.json',
        loss: 'sparse_categorical_crossentropy',
        directions: { x: { seed: 1 }, y: { seed: 2 }, normalization: 'layer' },
        grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
        ...extra,
      }) as SurfaceSpec,
      (ref) => join(dir, ref),
    );
  const moved = (prepared: ReturnType<typeof prepare>) =>
    prepared.model.description.layout.filter((spec) => tensorView(prepared.plan.directions[0]!, spec).some((v) => v !== 0)).map((spec) => spec.name);

  it('outputLayer picks the head; frozen layers and the other head stay fixed', () => {
    const prepared = prepare({ outputLayer: 'head_b' });
    expect(prepared.setup.model.output).toBe('head_b');
    expect(moved(prepared)).toEqual(['head_b/kernel']);
  });

  it('frozen: include moves the frozen layer too', () => {
    expect(moved(prepare({ frozen: 'include' })).sort()).toEqual(['head_a/kernel', 'trunk/kernel']);
  });
});
