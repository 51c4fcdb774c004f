import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';
import { DATA_FIXTURES_DIR, referencePath } from '../support/fixtures';

let dir: string;
const base = {
  kind: 'surface',
  model: 'model',
  data: 'dataset.json',
  loss: 'sparse_categorical_crossentropy',
  directions: { x: { file: 'd1.json' }, y: { seed: 2 } },
  grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
};

function writeSpec(name: string, spec: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof spec === 'string' ? spec : JSON.stringify(spec));
  return path;
}

/** Every bad input: exit code 2 and exactly one readable line on stderr naming the problem. */
function expectBadInput(specFile: string, pattern: RegExp, extra: string[] = []): void {
  const result = runCli(['run', specFile, '--out', join(dir, 'out'), ...extra]);
  expect(result.status).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'landscape-bad-'));
  cpSync(referencePath('m1_mlp', 'model_trained'), join(dir, 'model'), { recursive: true });
  cpSync(referencePath('m1_mlp', 'dataset.json'), join(dir, 'dataset.json'));
  cpSync(referencePath('m1_mlp', 'direction_d1_raw.json'), join(dir, 'd1.json'));
  cpSync(referencePath('m2_cnn', 'direction_d1_raw.json'), join(dir, 'cnn-d1.json'));
  cpSync(referencePath('m2_cnn', 'dataset.json'), join(dir, 'images.json'));
  const d1 = JSON.parse(readFileSync(join(dir, 'd1.json'), 'utf8'));
  d1['dense_Dense2/kernel'].shape = [10, 12];
  writeFileSync(join(dir, 'wrong-shape.json'), JSON.stringify(d1));
  cpSync(join(dir, 'model'), join(dir, 'nan-model'), { recursive: true });
  const weights = readFileSync(join(dir, 'nan-model', 'weights.bin'));
  weights.writeFloatLE(Number.NaN, 4 * 50); // inside dense_Dense1/bias (offset 48)
  writeFileSync(join(dir, 'nan-model', 'weights.bin'), weights);
  cpSync(join(dir, 'model'), join(dir, 'inf-direction-model'), { recursive: true });
  cpSync(join(dir, 'model'), join(dir, 'custom-layer-model'), { recursive: true });
  const custom = JSON.parse(readFileSync(join(dir, 'custom-layer-model', 'model.json'), 'utf8'));
  custom.modelTopology.config.layers[1].class_name = 'MyAttention';
  writeFileSync(join(dir, 'custom-layer-model', 'model.json'), JSON.stringify(custom));
  for (const file of ['fortran.npy', 'y_labels.npy', 'm1_mlp.npz']) cpSync(join(DATA_FIXTURES_DIR, file), join(dir, file));
  writeFileSync(join(dir, 'cut.npz'), readFileSync(join(dir, 'm1_mlp.npz')).subarray(0, 2000));
});

describe('landscape run: bad input exits 2 with one clear line', () => {
  it('missing spec file', () => expectBadInput(join(dir, 'nope.json'), /cannot read job spec .*nope\.json: file not found/));
  it('spec that is not JSON', () => expectBadInput(writeSpec('broken.json', '{"kind": "surface",'), /cannot read job spec .*broken\.json/));
  it('missing model file', () => expectBadInput(writeSpec('missing-model.json', { ...base, model: 'absent' }), /model file not found: .*absent/));
  it('missing data file', () => expectBadInput(writeSpec('missing-data.json', { ...base, data: 'absent.json' }), /data file not found: .*absent\.json/));
  it('unknown loss', () => expectBadInput(writeSpec('loss.json', { ...base, loss: 'hinge' }), /loss: Invalid enum value.*'hinge'/));
  it('direction with weights of another model names the weight', () =>
    expectBadInput(
      writeSpec('other-model.json', { ...base, directions: { x: { file: 'cnn-d1.json' }, y: { seed: 2 } } }),
      /weight 'conv2d_Conv2D1\/kernel' is not a weight of the model/,
    ));
  it('direction with a wrong shape names the weight and both shapes', () =>
    expectBadInput(
      writeSpec('shape.json', { ...base, directions: { x: { file: 'wrong-shape.json' }, y: { seed: 2 } } }),
      /weight 'dense_Dense2\/kernel' has shape \[10, 12\] but the model expects \[12, 10\]/,
    ));
  it('NaN in the model weights names the weight', () =>
    expectBadInput(writeSpec('nan.json', { ...base, model: 'nan-model' }), /weight 'dense_Dense1\/bias' has a non-finite value at index 2 \(NaN\)/));
  it('Infinity in a direction names the weight', () => {
    const d1 = JSON.parse(readFileSync(join(dir, 'd1.json'), 'utf8'));
    d1['dense_Dense3/bias'].data[1] = 1e400; // JSON.stringify writes Infinity as null…
    writeFileSync(join(dir, 'inf-d1.json'), JSON.stringify(d1).replace('null', '1e400')); // …so write the literal that parses to Infinity
    expectBadInput(
      writeSpec('inf.json', { ...base, directions: { x: { file: 'inf-d1.json' }, y: { seed: 2 } } }),
      /weight 'dense_Dense3\/bias' has a non-finite value at index 1 \(Infinity\)/,
    );
  });
  it('unknown layer class names the class and the layer', () =>
    expectBadInput(writeSpec('custom.json', { ...base, model: 'custom-layer-model' }), /layer 'dense_Dense2' is of class MyAttention, which is not supported/));
  it('grid over the point limit', () =>
    expectBadInput(writeSpec('big.json', { ...base, grid: { x: [-1, 1, 300], y: [-1, 1, 300] } }), /90000 points exceed the limit of 40000/));
  it('grid over a limit given on the command line', () =>
    expectBadInput(writeSpec('small.json', base), /9 points exceed the limit of 4/, ['--max-points', '4']));
  it('data that does not fit the model input', () =>
    expectBadInput(writeSpec('image-data.json', { ...base, data: 'images.json' }), /data: samples have shape \[8, 8, 1\] but the model expects \[4\]/));
  it('NumPy x in Fortran order', () =>
    expectBadInput(
      writeSpec('fortran-data.json', { ...base, data: { path: 'fortran.npy', y: 'y_labels.npy' } }),
      /fortran\.npy: the array is in Fortran order/,
    ));
  it('.npy x without its y file', () =>
    expectBadInput(writeSpec('npy-no-y.json', { ...base, data: 'fortran.npy' }), /data\.y: .*fortran\.npy: an \.npy file holds only x/));
  it('.npz without the named arrays', () =>
    expectBadInput(
      writeSpec('npz-keys.json', { ...base, data: { path: 'm1_mlp.npz', keys: { x: 'images', y: 'y' } } }),
      /m1_mlp\.npz: no array named 'images' \(arrays: x, y\)/,
    ));
  it('truncated .npz', () => expectBadInput(writeSpec('npz-cut.json', { ...base, data: 'cut.npz' }), /cut\.npz: not a readable \.npz archive \(truncated/));
  it('invalid grid axis', () =>
    expectBadInput(writeSpec('axis.json', { ...base, grid: { x: [1, -1, 3], y: [-1, 1, 3] } }), /grid\.x: must be \[min, max, steps\] with min < max/));
  it('unknown option value', () => {
    const result = runCli(['run', writeSpec('ok.json', base), '--out', join(dir, 'o'), '--backend', 'tpu']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--backend.*tpu/);
  });
});

describe('landscape bench: bad input exits 2 with one clear line', () => {
  it('unknown --only case', () => {
    const result = runCli(['bench', '--only', 'hvp,surfaces']);
    expect(result.status).toBe(2);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/unknown case 'surfaces'/);
  });
});
