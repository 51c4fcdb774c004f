import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runEmbedded } from './embedded';
import { landscapeHandler } from './landscape-job';
import { nonFiniteSummary } from './result';
import { parseJobSpec } from './spec';

const M1 = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'reference', 'm1_mlp');
const tmp = mkdtempSync(join(tmpdir(), 'landscape-nonfinite-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('non-finite results', () => {
  it('flags a job whose every loss overflows (weights of 3e38) in result.json, with counts and a warning', async () => {
    // m1 with every weight 3e38: finite float32 weights whose products overflow, so each loss is NaN or Infinity.
    const model = join(tmp, 'huge');
    mkdirSync(model);
    copyFileSync(join(M1, 'model_trained', 'model.json'), join(model, 'model.json'));
    const size = readFileSync(join(M1, 'model_trained', 'weights.bin')).length / 4;
    writeFileSync(join(model, 'weights.bin'), Buffer.from(new Float32Array(size).fill(3e38).buffer));
    const spec = parseJobSpec({
      kind: 'line',
      model,
      to: join(M1, 'model_trained'),
      data: join(M1, 'dataset.json'),
      loss: 'sparse_categorical_crossentropy',
      grid: { x: [0, 0.5, 3] },
      backend: 'cpu',
      threads: 1,
    });
    const out = join(tmp, 'out');
    const result = (await runEmbedded(landscapeHandler, spec, (ref) => ref, out, { threads: 1, backend: 'cpu' })) as { loss: number[] };
    expect(result.loss.every((loss) => !Number.isFinite(loss))).toBe(true);
    const written = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as {
      nonFinite: { count: number; fields: Record<string, number>; warning: string };
    };
    expect(written.nonFinite.fields.loss).toBe(3);
    expect(written.nonFinite.count).toBeGreaterThanOrEqual(3);
    expect(written.nonFinite.warning).toMatch(/NaN or ±Infinity: .*loss \(3\)/);
  });

  it('counts by field path and says nothing for finite results', () => {
    expect(nonFiniteSummary({ loss: [1, 2], nested: { a: [[0.5]] } })).toBeUndefined();
    expect(
      nonFiniteSummary({
        loss: [
          [1, NaN],
          [Infinity, 2],
        ],
        curvature: { lambdaMax: [-Infinity] },
        ok: 1,
      }),
    ).toMatchObject({
      count: 3,
      fields: { loss: 2, 'curvature.lambdaMax': 1 },
    });
  });
});
