import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { toErrorBody } from '@landscape/api';
import { InputError } from '@landscape/core';
import { ArtifactTooLargeError, SpecValidationError, decodeModelBundle } from '@landscape/jobs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, postJson, startApi, startRedisSystem, type TestApi } from './support';

const M1 = join(REFERENCE_DIR, 'm1_mlp');
const MAX_BODY = 16 * 1024;
const MAX_ARTIFACT = 256 * 1024;

let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let open: TestApi;
let keyed: TestApi;
let url: string;

function modelForm(dir: string, names = ['model.json', 'weights.bin']): FormData {
  const form = new FormData();
  for (const name of names) form.append('files', new Blob([readFileSync(join(dir, name))]), name);
  return form;
}

async function uploadRaw(kind: string, bytes: Buffer, filename?: string): Promise<{ status: number; json: any }> {
  const query = new URLSearchParams({ kind, ...(filename ? { filename } : {}) });
  return call(url, 'POST', `/v1/artifacts?${query}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
}

beforeAll(async () => {
  // Tiny tiles keep these jobs small; the unit-size limit has tests of its own.
  backing = await startRedisSystem({ limits: { minUnitPoints: 1 } });
  open = await startApi(backing.jobs, { maxBodyBytes: MAX_BODY, maxArtifactBytes: MAX_ARTIFACT });
  // A second API over the same job system, with keys.
  keyed = await startApi(open.system, { apiKeys: ['alpha-key', 'beta-key'] });
  url = open.url;
});

afterAll(async () => {
  await keyed?.close();
  await open?.close();
  await backing?.close();
});

describe('job specs', () => {
  it('answers 400 naming every invalid field', async () => {
    const answer = await postJson(url, '/v1/jobs', {
      kind: 'surface',
      model: 5,
      data: 'sha256:' + '0'.repeat(64),
      loss: 'hinge',
      directions: { x: { seed: 1 }, y: { seed: -3 } },
      grid: { x: [1, 0, 5], y: [0, 1, 0] },
    });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    const fields = (answer.json.issues as { field: string; reason: string }[]).map((issue) => issue.field);
    expect(fields).toEqual(expect.arrayContaining(['model', 'loss', 'directions.y.seed', 'grid.x', 'grid.y.2']));
    for (const issue of answer.json.issues) expect(issue.reason).toEqual(expect.any(String));
  });

  it('reports an unknown kind on the kind field', async () => {
    const answer = await postJson(url, '/v1/jobs', { kind: 'volume', model: 'x' });
    expect(answer.status).toBe(400);
    expect(answer.json.issues).toEqual([expect.objectContaining({ field: 'kind' })]);
  });

  it('reports refs to artifacts that do not exist (or are no artifact ids) on their fields', async () => {
    const missing = 'sha256:' + 'a'.repeat(64);
    const answer = await postJson(url, '/v1/jobs', { kind: 'line', model: missing, to: missing, data: 'data.json', loss: 'mse', grid: { x: [0, 1, 3] } });
    expect(answer.status).toBe(400);
    const fields = answer.json.issues.map((issue: { field: string }) => issue.field);
    expect(fields).toEqual(expect.arrayContaining(['model', 'to']));
  });

  it('answers 400 for malformed JSON, also without a JSON content type', async () => {
    const variants: Record<string, string>[] = [{ 'content-type': 'application/json' }, { 'content-type': 'application/x-www-form-urlencoded' }, {}];
    for (const headers of variants) {
      const answer = await call(url, 'POST', '/v1/jobs', { body: '{"kind": "line",', headers });
      expect(answer.status).toBe(400);
      expect(answer.json.issues[0].field).toBe('(body)');
    }
    const empty = await call(url, 'POST', '/v1/jobs');
    expect(empty.status).toBe(400);
  });

  it('answers 413 for a spec over the body limit', async () => {
    const answer = await postJson(url, '/v1/jobs', { kind: 'line', label: 'x'.repeat(MAX_BODY * 2) });
    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });
  });
});

describe('artifacts', () => {
  it('stores bytes under their SHA-256 and returns the same id for the same bytes', async () => {
    const bytes = readFileSync(join(M1, 'dataset.json'));
    const first = await uploadRaw('data', bytes, 'dataset.json');
    expect(first.status).toBe(201);
    expect(first.json).toMatchObject({
      id: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      kind: 'data',
      size: bytes.length,
      filename: 'dataset.json',
    });
    const again = await uploadRaw('data', bytes, 'dataset.json');
    expect(again.json.id).toBe(first.json.id);

    const info = await call(url, 'GET', `/v1/artifacts/${first.json.id}`);
    expect(info.status).toBe(200);
    expect(info.json).toEqual(first.json);
    const download = await fetch(`${url}/v1/artifacts/${first.json.id}?download=1`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('takes a single-file multipart upload for data too', async () => {
    const bytes = readFileSync(join(M1, 'direction_d1_raw.json'));
    const form = new FormData();
    form.append('file', new Blob([bytes]), 'd1.json');
    const answer = await call(url, 'POST', '/v1/artifacts?kind=weights', { body: form });
    expect(answer.status).toBe(201);
    expect(answer.json).toMatchObject({ kind: 'weights', filename: 'd1.json', id: `sha256:${createHash('sha256').update(bytes).digest('hex')}` });
  });

  it('bundles a multipart model upload; the same files give the same id and the bundle holds them', async () => {
    const dir = join(M1, 'model_trained');
    const first = await call(url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(dir) });
    expect(first.status).toBe(201);
    expect(first.json.kind).toBe('model');
    // Part order does not change the bundle.
    const second = await call(url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(dir, ['weights.bin', 'model.json']) });
    expect(second.json.id).toBe(first.json.id);
    const bundle = Buffer.from(await (await fetch(`${url}/v1/artifacts/${first.json.id}?download=1`)).arrayBuffer());
    const files = decodeModelBundle(bundle);
    expect(Object.keys(files).sort()).toEqual(['model.json', 'weights.bin']);
    expect(files['weights.bin']!.equals(readFileSync(join(dir, 'weights.bin')))).toBe(true);
    // The downloaded bundle can be uploaded as a raw body and is the same artifact.
    const raw = await uploadRaw('model', bundle);
    expect(raw.status).toBe(201);
    expect(raw.json.id).toBe(first.json.id);
  });

  it('rejects models that would not load, naming what is wrong', async () => {
    const dir = join(M1, 'model_trained');
    const noWeights = await call(url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(dir, ['model.json']) });
    expect(noWeights.status).toBe(400);
    expect(noWeights.json.issues[0]).toMatchObject({ field: 'files', reason: expect.stringContaining('weights.bin') });

    const truncated = new FormData();
    truncated.append('files', new Blob([readFileSync(join(dir, 'model.json'))]), 'model.json');
    truncated.append('files', new Blob([readFileSync(join(dir, 'weights.bin')).subarray(0, 100)]), 'weights.bin');
    const short = await call(url, 'POST', '/v1/artifacts?kind=model', { body: truncated });
    expect(short.status).toBe(400);
    expect(short.json.message).toMatch(/bytes/);

    const notBundle = await uploadRaw('model', Buffer.from('{"hello": 1}'));
    expect(notBundle.status).toBe(400);
  });

  it('validates kind, body and filename', async () => {
    expect((await uploadRaw('pictures', Buffer.from('x'))).json.issues[0].field).toBe('kind');
    expect((await call(url, 'POST', '/v1/artifacts?kind=data')).status).toBe(400);
    const many = new FormData();
    many.append('a', new Blob(['1']), 'a.json');
    many.append('b', new Blob(['2']), 'b.json');
    expect((await call(url, 'POST', '/v1/artifacts?kind=data', { body: many })).status).toBe(400);
    expect((await call(url, 'GET', `/v1/artifacts/sha256:${'0'.repeat(64)}?download=maybe`)).status).toBe(400);
  });

  it('answers 413 beyond the artifact limit (raw and multipart)', async () => {
    const big = Buffer.alloc(MAX_ARTIFACT + 1, 7);
    const raw = await uploadRaw('data', big, 'big.json');
    expect(raw.status).toBe(413);
    const form = new FormData();
    form.append('file', new Blob([big]), 'big.json');
    const multipart = await call(url, 'POST', '/v1/artifacts?kind=data', { body: form });
    expect(multipart.status).toBe(413);
    const model = new FormData();
    model.append('files', new Blob([Buffer.alloc(MAX_ARTIFACT / 2 + 10)]), 'a.bin');
    model.append('files', new Blob([Buffer.alloc(MAX_ARTIFACT / 2 + 10)]), 'b.bin');
    expect((await call(url, 'POST', '/v1/artifacts?kind=model', { body: model })).status).toBe(413);
  });

  it('answers 413 when a model fits the limit but its stored bundle (base64) does not', async () => {
    const units = 12_500; // 4·12500 + 12500 float32 = 250 kB of weights: under 256 KiB, its base64 is not
    const modelJson = {
      modelTopology: {
        class_name: 'Sequential',
        config: {
          name: 'wide',
          layers: [{ class_name: 'Dense', config: { name: 'dense', units, activation: 'linear', use_bias: true, batch_input_shape: [null, 4] } }],
        },
      },
      weightsManifest: [
        {
          paths: ['weights.bin'],
          weights: [
            { name: 'dense/kernel', shape: [4, units], dtype: 'float32' },
            { name: 'dense/bias', shape: [units], dtype: 'float32' },
          ],
        },
      ],
    };
    const form = new FormData();
    form.append('files', new Blob([JSON.stringify(modelJson)]), 'model.json');
    form.append('files', new Blob([Buffer.alloc(5 * units * 4)]), 'weights.bin');
    const answer = await call(url, 'POST', '/v1/artifacts?kind=model', { body: form });
    expect(answer.status).toBe(413);
    expect(answer.json.message).toMatch(/^artifact of \d+ bytes exceeds the limit/);
  });
});

describe('not found', () => {
  it.each([
    ['GET', '/v1/jobs/6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10'],
    ['GET', '/v1/jobs/6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10/result'],
    ['GET', '/v1/jobs/6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10/files'],
    ['GET', '/v1/jobs/6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10/files/result.json'],
    ['DELETE', '/v1/jobs/6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10'],
    ['GET', '/v1/jobs/not%20an%20id'],
    ['GET', '/v1/jobs/..%2F..%2Fetc'],
    ['GET', '/v1/jobs/6f1c1a5e-1d7b-4c1e-9f3a-2b9d4c8e7a10/files/..%2Fsecret'],
    ['GET', `/v1/artifacts/sha256:${'b'.repeat(64)}`],
    ['GET', '/v1/artifacts/sha256:xyz'],
    ['GET', '/v1/nothing-here'],
  ])('%s %s → 404', async (method, path) => {
    const answer = await call(url, method, path);
    expect(answer.status).toBe(404);
    expect(answer.json).toMatchObject({ statusCode: 404, error: 'Not Found' });
  });
});

describe('jobs lifecycle without workers', () => {
  it('submits (202), lists with pagination and status filter, cancels, and refuses results of unfinished jobs', async () => {
    const model = await call(url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(join(M1, 'model_trained')) });
    const data = await uploadRaw('data', readFileSync(join(M1, 'dataset.json')), 'dataset.json');
    const spec = {
      kind: 'surface',
      model: model.json.id,
      data: data.json.id,
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 5], y: [-1, 1, 3] },
      tiles: { x: 2, y: 2 },
    };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await postJson(url, '/v1/jobs', { ...spec, label: `job ${i}` });
      expect(answer.status).toBe(202);
      expect(answer.json).toMatchObject({ status: 'queued', units: 6, points: 15 });
      expect(answer.headers.get('location')).toBe(`/v1/jobs/${answer.json.id}`);
      ids.push(answer.json.id);
    }
    const page = await call(url, 'GET', '/v1/jobs?offset=1&limit=2');
    expect(page.json).toMatchObject({ total: 3, offset: 1, limit: 2 });
    expect(page.json.items.map((job: { id: string }) => job.id)).toEqual([ids[1], ids[0]]);

    const job = await call(url, 'GET', `/v1/jobs/${ids[0]}`);
    expect(job.json).toMatchObject({ id: ids[0], status: 'queued', progress: { unitsDone: 0, unitsTotal: 6, pointsDone: 0, pointsTotal: 15 } });
    expect(new Date(job.json.createdAt).getTime()).toBeGreaterThan(0);

    expect((await call(url, 'GET', `/v1/jobs/${ids[0]}/result`)).status).toBe(409);
    const cancelled = await call(url, 'DELETE', `/v1/jobs/${ids[0]}`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.status).toBe('cancelled');
    const filtered = await call(url, 'GET', '/v1/jobs?status=cancelled');
    expect(filtered.json.total).toBe(1);
    expect(filtered.json.items[0].id).toBe(ids[0]);

    for (const bad of ['offset=-1', 'limit=0', 'limit=1000', 'limit=abc', 'status=sleeping']) {
      const answer = await call(url, 'GET', `/v1/jobs?${bad}`);
      expect(answer.status, bad).toBe(400);
      expect(answer.json.issues[0].field).toBe(bad.split('=')[0]);
    }
  });
});

describe('API keys', () => {
  it('requires a valid bearer key on every route but /health', async () => {
    const none = await call(keyed.url, 'GET', '/v1/jobs');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await call(keyed.url, 'GET', '/v1/workers', { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await call(keyed.url, 'GET', '/v1/workers', { headers: { authorization: 'Basic YWxwaGEta2V5' } })).status).toBe(401);
    // Rejected before the body is read: an unauthenticated upload gets 401, not 413 or 201.
    expect((await call(keyed.url, 'POST', '/v1/artifacts?kind=data', { body: Buffer.alloc(MAX_ARTIFACT * 2) })).status).toBe(401);
    expect((await call(keyed.url, 'GET', '/docs-json')).status).toBe(401);
    expect((await call(keyed.url, 'GET', '/v1/workers', { headers: { authorization: 'Bearer alpha-key' } })).status).toBe(200);
    expect((await call(keyed.url, 'GET', '/v1/jobs', { headers: { authorization: 'bearer beta-key' } })).status).toBe(200);
    expect((await call(keyed.url, 'GET', '/health')).status).toBe(200);
  });
});

describe('operations', () => {
  it('reports health with a Redis ping', async () => {
    const answer = await call(url, 'GET', '/health');
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ status: 'ok', live: true, ready: true, redis: { ok: true } });
  });

  it('keeps a client request id and makes one otherwise', async () => {
    expect((await call(url, 'GET', '/health', { headers: { 'x-request-id': 'trace-42' } })).headers.get('x-request-id')).toBe('trace-42');
    const made = (await call(url, 'GET', '/v1/nothing')).json.requestId;
    expect(made).toMatch(/^[0-9a-f-]{36}$/);
    expect((await call(url, 'GET', '/health', { headers: { 'x-request-id': 'bad id with spaces' } })).headers.get('x-request-id')).not.toBe(
      'bad id with spaces',
    );
  });

  it('logs one JSON line per request with its id, and never the Authorization header', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _encoding, done) => (lines.push(...chunk.toString().trim().split('\n')), done()) });
    const logged = await startApi(open.system, { apiKeys: ['gamma-key'], logger: pino({ level: 'info' }, sink) });
    try {
      await call(logged.url, 'GET', '/v1/workers', { headers: { authorization: 'Bearer gamma-key', 'x-request-id': 'req-7' } });
      await call(logged.url, 'GET', '/v1/jobs/nope', { headers: { authorization: 'Bearer gamma-key' } });
    } finally {
      await logged.close();
    }
    const requests = lines.map((line) => JSON.parse(line)).filter((entry) => entry.req);
    expect(requests[0]).toMatchObject({ level: 30, req: { id: 'req-7', method: 'GET', url: '/v1/workers' }, res: { statusCode: 200 } });
    expect(requests[0].responseTime).toEqual(expect.any(Number));
    expect(requests[1]).toMatchObject({ level: 40, res: { statusCode: 404 } });
    expect(lines.join('\n')).not.toContain('gamma-key');
  });

  it('maps errors: input → 400 with fields, too large → 413, anything else → a bare 500', () => {
    expect(toErrorBody(new InputError('weight shapes differ', 'directions.x.file'))).toEqual({
      body: {
        statusCode: 400,
        error: 'Bad Request',
        message: 'directions.x.file: weight shapes differ',
        issues: [{ field: 'directions.x.file', reason: 'weight shapes differ' }],
      },
      internal: false,
    });
    expect(toErrorBody(new SpecValidationError([{ field: 'grid.x', reason: 'bad' }])).body).toMatchObject({
      statusCode: 400,
      issues: [{ field: 'grid.x', reason: 'bad' }],
    });
    expect(toErrorBody(new ArtifactTooLargeError(10, 5)).body.statusCode).toBe(413);
    const parserError = Object.assign(new Error('request entity too large'), { status: 413, expose: true, type: 'entity.too.large' });
    expect(toErrorBody(parserError).body.statusCode).toBe(413);
    const internal = toErrorBody(new TypeError('cannot read properties of undefined (secret detail)'));
    expect(internal.internal).toBe(true);
    expect(internal.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: expect.not.stringContaining('secret') });
  });

  it('serves the OpenAPI document and Swagger UI', async () => {
    const doc = await call(url, 'GET', '/docs-json');
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.json.paths)).toEqual(
      expect.arrayContaining([
        '/v1/jobs',
        '/v1/jobs/{id}',
        '/v1/jobs/{id}/result',
        '/v1/jobs/{id}/files/{name}',
        '/v1/artifacts',
        '/v1/artifacts/{id}',
        '/v1/workers',
        '/health',
      ]),
    );
    const ui = await call(url, 'GET', '/docs');
    expect(ui.status).toBe(200);
    expect(ui.text).toContain('swagger');
  });

  it('lists live workers', async () => {
    const answer = await call(url, 'GET', '/v1/workers');
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ items: [] });
  });
});

describe('Redis outage', () => {
  it('answers 503 (not a hang) while Redis is down, and recovers', async () => {
    const own = await startRedisSystem();
    // The 503s are expected here; their error-level request logs would only be noise.
    const server = await startApi(own.jobs, { requestTimeoutMs: 500, logger: pino({ level: 'silent' }) });
    try {
      expect((await call(server.url, 'GET', '/v1/jobs')).status).toBe(200);
      await own.redis.stop();
      const started = Date.now();
      const list = await call(server.url, 'GET', '/v1/jobs');
      expect(list.status).toBe(503);
      expect(Date.now() - started).toBeLessThan(5000);
      const health = await call(server.url, 'GET', '/health');
      expect(health.status).toBe(503);
      expect(health.json).toMatchObject({ status: 'unavailable', live: true, ready: false, redis: { ok: false } });
      await own.redis.restart();
      const deadline = Date.now() + 10_000;
      while ((await call(server.url, 'GET', '/health')).status !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await call(server.url, 'GET', '/v1/jobs')).status).toBe(200);
    } finally {
      // Closing the job system waits for Redis: bring it back first if an assertion failed while it was down.
      if (!own.redis.running) await own.redis.restart();
      await server.close();
      await own.close();
    }
  });
});
