import { encodeModelBundle, MODEL_BUNDLE_FORMAT } from '@landscape/jobs';
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
function denseModel(inputs: number, units: number): { json: string; weights: Buffer } {
  const layers = [
    { class_name: 'Dense', config: { name: 'dense_Dense1', units, activation: 'linear', use_bias: true, batch_input_shape: [null, inputs], dtype: 'float32' } },
  ];
  const weights = [
    { name: 'dense_Dense1/kernel', shape: [inputs, units], dtype: 'float32' },
    { name: 'dense_Dense1/bias', shape: [units], dtype: 'float32' },
  ];
  const json = JSON.stringify({
    modelTopology: { class_name: 'Sequential', config: { name: 'big', layers } },
    format: 'layers-model',
    weightsManifest: [{ paths: ['weights.bin'], weights }],
  });
  const values = new Float32Array(inputs * units + units).map((_, i) => (i % 97) / 97 - 0.5);
  return { json, weights: Buffer.from(values.buffer) };
}

describe('large uploads', () => {
  it('keeps /health answering while a 32 MB model is uploaded and checked', async () => {
    const { json, weights } = denseModel(800, 10_000);
    const form = new FormData();
    form.append('files', new Blob([json]), 'model.json');
    form.append('files', new Blob([weights]), 'weights.bin');
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

  it('writes a model bundle byte for byte as JSON.stringify would (ids of stored models stay valid)', () => {
    const files = { 'model.json': Buffer.from('{"a": "é"}'), 'weights.bin': Buffer.from([0, 1, 2, 250, 255]), 'x"y.bin': Buffer.from('q') };
    const encoded = Object.fromEntries(Object.entries(files).map(([name, bytes]) => [name, bytes.toString('base64')]));
    expect(encodeModelBundle(files).equals(Buffer.from(JSON.stringify({ format: MODEL_BUNDLE_FORMAT, files: encoded })))).toBe(true);
  });
});
