import { checkWeightBytes, describeModel, type ModelJson } from '@landscape/core';
import { encodeModelBundle, encodeModelBundleYielding, MODEL_BUNDLE_FORMAT } from '@landscape/jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startApi, startRedisSystem, type TestApi } from './support';

/** A large upload is read and checked in slices, not in one blocking stretch: /health keeps answering meanwhile. */
let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let server: TestApi;
const MAX = 256 * 1024 * 1024;

beforeAll(async () => {
  backing = await startRedisSystem({ artifacts: { maxBytes: MAX } });
  server = await startApi(backing.jobs, { maxArtifactBytes: MAX });
});

afterAll(async () => {
  await server?.close();
  await backing?.close();
});

/** A Sequential model with one Dense layer of inputs × units (4-byte float weights, all finite). */
function denseModel(inputs: number, units: number, quantization?: object): { json: string; weights: Buffer } {
  const layers = [
    { class_name: 'Dense', config: { name: 'dense_Dense1', units, activation: 'linear', use_bias: true, batch_input_shape: [null, inputs], dtype: 'float32' } },
  ];
  const weights = [
    { name: 'dense_Dense1/kernel', shape: [inputs, units], dtype: 'float32' },
    { name: 'dense_Dense1/bias', shape: [units], dtype: 'float32', ...(quantization ? { quantization } : {}) },
  ];
  const json = JSON.stringify({
    modelTopology: { class_name: 'Sequential', config: { name: 'big', layers } },
    format: 'layers-model',
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  });
  const values = new Float32Array(inputs * units + units).map((_, i) => (i % 97) / 97 - 0.5);
  return { json, weights: Buffer.from(values.buffer) };
}

function modelForm({ json, weights }: { json: string; weights: Buffer }): FormData {
  const form = new FormData();
  form.append('files', new Blob([json]), 'model.json');
  form.append('files', new Blob([weights]), 'weights.bin');
  return form;
}

describe('large uploads', () => {
  it('keeps /health answering while a 32 MB model is uploaded and checked', async () => {
    const form = modelForm(denseModel(800, 10_000));
    let uploading = true;
    const health: { status: number; ms: number }[] = [];
    const upload = call(server.url, 'POST', '/v1/artifacts?kind=model', { body: form }).finally(() => (uploading = false));
    while (uploading) {
      const started = performance.now();
      const answer = await call(server.url, 'GET', '/health');
      health.push({ status: answer.status, ms: Math.round(performance.now() - started) });
    }
    const answer = await upload;
    expect(answer.status, answer.text).toBe(201);
    // Served other requests while the upload was in flight (how fast is a benchmark's business, not a test's:
    // on a loaded machine the readiness ping inside may well time out, which /health reports as 503).
    expect(health.length).toBeGreaterThanOrEqual(2);
    expect(health.every(({ status }) => status === 200 || status === 503)).toBe(true);
    console.log(JSON.stringify({ healthAnswers: health.length, maxHealthMs: Math.max(...health.map(({ ms }) => ms)) }));
  });

  it('checks weight bytes on a thread: the event loop turns while they are decoded', async () => {
    const { json, weights } = denseModel(800, 10_000);
    const description = describeModel(JSON.parse(json) as ModelJson, 'model.json');
    let turns = 0;
    let checking = true;
    const spin = (): void => {
      if (!checking) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    // Decoded on this thread, the 8 M values would be one blocking stretch: not a single turn until it ends.
    await checkWeightBytes([weights.subarray(0, 1000), weights.subarray(1000)], description, 'model.json').finally(() => (checking = false));
    expect(turns).toBeGreaterThanOrEqual(2);
    // The thread's verdict is the decoder's: a value that is not finite, or bytes that do not fit, are input errors.
    const broken = Buffer.from(weights);
    broken.writeFloatLE(NaN, 4 * 12_345);
    await expect(checkWeightBytes([broken], description, 'model.json', 'files')).rejects.toMatchObject({
      name: 'InputError',
      field: 'files',
      message: "files: model.json: weight 'dense_Dense1/kernel' has a non-finite value at index 12345 (NaN)",
    });
    await expect(checkWeightBytes([weights.subarray(4)], description, 'model.json')).rejects.toThrow(
      'model.json: weight files hold 32039996 bytes but the manifest needs 32040000',
    );
    // A buffer given twice is moved once (and copied once): twice the bytes, an input error, not a failed transfer.
    const whole = Buffer.from(weights);
    await expect(checkWeightBytes([whole, whole], description, 'model.json')).rejects.toThrow('hold 64080000 bytes');
    // The files come back with their bytes; the ones given were moved to the thread.
    const given = Buffer.from(weights);
    const [back] = await checkWeightBytes([given], description, 'model.json');
    expect(given.byteLength).toBe(0);
    expect(Buffer.from(back!).equals(weights)).toBe(true);
  });

  it('answers weights that do not decode with a 400 naming the files field', async () => {
    const nan = denseModel(4, 3);
    nan.weights.writeFloatLE(Infinity, 8);
    const notFinite = await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(nan) });
    expect(notFinite.status, notFinite.text).toBe(400);
    expect((notFinite.json as { issues: unknown[] }).issues[0]).toEqual({
      field: 'files',
      reason: "model.json: weight 'dense_Dense1/kernel' has a non-finite value at index 2 (Infinity)",
    });
    // A quantized entry without its scale: the bias is stored as 3 uint8 values.
    const quantized = denseModel(4, 3, { dtype: 'uint8' });
    const bytes = Buffer.concat([quantized.weights.subarray(0, 4 * 12), Buffer.from([1, 2, 3])]);
    const noScale = await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: modelForm({ json: quantized.json, weights: bytes }) });
    expect(noScale.status, noScale.text).toBe(400);
    expect((noScale.json as { issues: unknown[] }).issues[0]).toEqual({
      field: 'files',
      reason: "model.json: weight 'dense_Dense1/bias' is quantized but has no min/scale",
    });
  });

  it('writes a model bundle byte for byte as JSON.stringify would (ids of stored models stay valid)', async () => {
    // A file of several base64 slices (3 MiB each) and a remainder, names that need JSON escaping or are not ASCII.
    const big = Buffer.from(Array.from({ length: 3 * 3 * 1024 * 1024 + 2 }, (_, i) => (i * 7919) % 256));
    const files = { 'model.json': Buffer.from('{"a": "é"}'), 'weights.bin': Buffer.from([0, 1, 2, 250, 255]), 'x"y.bin': Buffer.from('q'), 'ü.bin': big };
    const encoded = Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, bytes.toString('base64')]));
    const expected = Buffer.from(JSON.stringify({ format: MODEL_BUNDLE_FORMAT, files: encoded }));
    expect(encodeModelBundle(files).equals(expected)).toBe(true);
    expect((await encodeModelBundleYielding(files)).equals(expected)).toBe(true);
  });
});
