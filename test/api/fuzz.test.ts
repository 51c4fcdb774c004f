import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, startApi, startRedisSystem, type Answer, type TestApi } from './support';

/**
 * The hostile-input suite (run in CI): hundreds of malformed requests over every route with keys on: random JSON
 * shapes, wrong types, huge numbers, non-JSON, deep nesting, unknown kinds, mutations of valid specs of every
 * kind, broken model uploads, odd ids, headers and methods. Client input must never produce a 5xx, a hang (each
 * request has a deadline) or a crash (the API runs in this process), and the whole suite stays under a minute.
 */
let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let server: TestApi;
const KEY = 'fuzz-key-a';
const OTHER_KEY = 'fuzz-key-b';
/** Every answer's status, over the whole suite. */
const tally = new Map<number, number>();
/** The suite's budget: it runs in CI on every change, so it must stay bounded. */
const SUITE_BUDGET_MS = 60_000;
let suiteStarted = 0;

/** A request as the key holder sends it, with a deadline: a hang fails the suite instead of stalling it. */
async function send(
  method: string,
  path: string,
  init: { body?: RequestInit['body']; headers?: Record<string, string>; key?: string | null } = {},
): Promise<Answer> {
  const headers = { ...(init.key === null ? {} : { authorization: `Bearer ${init.key ?? KEY}` }), ...init.headers };
  const answer = await call(server.url, method, path, { body: init.body, headers, signal: AbortSignal.timeout(10_000) });
  tally.set(answer.status, (tally.get(answer.status) ?? 0) + 1);
  return answer;
}

/** Deterministic (mulberry32) so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = rng(20261127);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;

const ODD_NUMBERS = [0, -0, -1, 1.5, 1e308, -1e308, 2 ** 53, 2 ** 53 + 1, 2 ** 32, -(2 ** 31), 5e-324, 1e21, 123456789012, 1e9, 5e9, 1e10];
const ODD_STRINGS = [
  '',
  ' ',
  'line',
  'surface',
  'volume',
  'sha256:',
  'sha256:' + 'f'.repeat(64),
  '../../etc/passwd',
  '\u0000',
  '🚀',
  'x'.repeat(5000),
  '__proto__',
  'constructor',
  'NaN',
];
const KEYS = [
  'kind',
  'model',
  'data',
  'loss',
  'grid',
  'directions',
  'x',
  'y',
  'to',
  'tiles',
  'limits',
  'seed',
  'file',
  '__proto__',
  'constructor',
  'prototype',
  'path',
  'synthetic',
  'n',
  'steps',
  'runs',
  'density',
  'epochs',
  'learningRate',
  'noise',
  'neighbors',
  'checkpointEvery',
  'hidden',
  'units',
];

function value(depth: number): unknown {
  const roll = random();
  if (depth <= 0 || roll < 0.35) {
    return pick<() => unknown>([() => pick(ODD_NUMBERS), () => pick(ODD_STRINGS), () => random() < 0.5, () => null, () => Math.floor(random() * 100)])();
  }
  if (roll < 0.65) return Array.from({ length: Math.floor(random() * 5) }, () => value(depth - 1));
  const object: Record<string, unknown> = {};
  for (let i = Math.floor(random() * 6); i > 0; i--) object[pick(KEYS)] = value(depth - 1);
  return object;
}

/** A valid-looking spec with one or more fields replaced by something wrong. */
function mutated(base: Record<string, unknown>): Record<string, unknown> {
  const spec = structuredClone(base) as Record<string, any>;
  for (let i = 1 + Math.floor(random() * 3); i > 0; i--) {
    const path = pick([
      ['kind'],
      ['model'],
      ['data'],
      ['loss'],
      ['grid', 'x'],
      ['grid', 'y'],
      ['grid', 'x', 2],
      ['directions', 'x'],
      ['directions', 'y', 'seed'],
      ['tiles'],
      ['limits', 'maxPoints'],
      ['evaluation', 'batchSize'],
      ['backend'],
      ['unknownField'],
    ]);
    setAt(spec, path, value(2));
  }
  return spec;
}

/** Puts `value` at `path` of `target`, making the objects on the way. */
function setAt(target: Record<string, any>, path: readonly (string | number)[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key];
  }
  node[path[path.length - 1]!] = value;
}

function deep(levels: number, open: string, close: string): string {
  return open.repeat(levels) + close.repeat(levels);
}

function bodies(base: Record<string, unknown>): { name: string; body: string | Buffer; contentType?: string }[] {
  const list: { name: string; body: string | Buffer; contentType?: string }[] = [];
  for (let i = 0; i < 120; i++) list.push({ name: `random ${i}`, body: JSON.stringify(value(4)) ?? 'null' });
  for (let i = 0; i < 150; i++) list.push({ name: `mutated ${i}`, body: JSON.stringify(mutated(base)) });
  for (const kind of ['volume', 'LINE', 'hessian', '', 'toString', '__proto__', 'constructor'])
    list.push({ name: `kind ${kind}`, body: JSON.stringify({ ...base, kind }) });
  const nonJson = [
    '',
    'nope',
    '{',
    '}',
    '[1,2',
    '{"kind":}',
    "{'kind':'line'}",
    'NaN',
    'Infinity',
    '{"a":1}{"b":2}',
    '\u0000\u0001',
    '<xml/>',
    '"just a string"',
    '12',
    'true',
    'null',
  ];
  for (const text of nonJson) list.push({ name: `non-JSON ${JSON.stringify(text)}`, body: text });
  list.push({ name: 'deep arrays', body: deep(10000, '[', ']') });
  list.push({ name: 'deep objects', body: '{"a":'.repeat(5000) + '1' + '}'.repeat(5000) });
  list.push({ name: 'deep spec field', body: JSON.stringify({ ...base, grid: JSON.parse(deep(800, '[', ']')) }) });
  list.push({ name: 'huge numbers', body: '{"kind":"line","grid":{"x":[1e999,-1e999,1e400]},"limits":{"maxPoints":1e999}}' });
  list.push({ name: 'many keys', body: JSON.stringify(Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, i]))) });
  list.push({ name: 'binary', body: Buffer.from(Array.from({ length: 512 }, () => Math.floor(random() * 256))), contentType: 'application/octet-stream' });
  list.push({ name: 'bad charset', body: '{"kind":"line"}', contentType: 'application/json; charset=klingon' });
  list.push({ name: 'utf-16', body: Buffer.from('{"kind":"line"}', 'utf16le'), contentType: 'application/json; charset=utf-16' });
  list.push({ name: 'invalid utf-8', body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), contentType: 'application/json' });
  return list;
}

function expectClientError(answer: Answer, name: string): void {
  expect(answer.status, `${name}: ${answer.text.slice(0, 300)}`).toBeGreaterThanOrEqual(400);
  expect(answer.status, `${name}: ${answer.text.slice(0, 300)}`).toBeLessThan(500);
  expect(answer.json?.statusCode, name).toBe(answer.status);
}

beforeAll(async () => {
  suiteStarted = Date.now();
  backing = await startRedisSystem();
  // Keys on (two owners); no rate limit, so every case reaches the checks behind it.
  server = await startApi(backing.jobs, { maxBodyBytes: 256 * 1024, apiKeys: [KEY, OTHER_KEY], rateLimitPerMinute: 0 });
});

afterAll(async () => {
  // The tally over every test of the suite: no 5xx at all.
  const serverErrors = [...tally].filter(([status]) => status >= 500);
  expect(serverErrors).toEqual([]);
  const total = [...tally.values()].reduce((a, b) => a + b, 0);
  console.log(
    JSON.stringify({ hostileRequests: total, statuses: Object.fromEntries([...tally].sort(([a], [b]) => a - b)), seconds: (Date.now() - suiteStarted) / 1000 }),
  );
  expect(total).toBeGreaterThan(600);
  expect(Date.now() - suiteStarted).toBeLessThan(SUITE_BUDGET_MS);
  await server?.close();
  await backing?.close();
});

describe('fuzzing the API', () => {
  it('answers every malformed job submission with a 4xx', async () => {
    // Real artifacts in the base spec, so mutations reach the deeper checks (model/data loading), not just the schema.
    const m1 = join(REFERENCE_DIR, 'm1_mlp');
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(m1, 'model_trained', name))]), name);
    const model = (await send('POST', '/v1/artifacts?kind=model', { body: form })).json.id as string;
    const base = {
      kind: 'surface',
      model,
      // A model as data: loads as neither, so even a spec the mutations leave valid is rejected or fails.
      data: model,
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
    };
    const cases = bodies(base);
    expect(cases.length).toBeGreaterThan(300);
    const statuses = new Map<number, number>();
    for (const { name, body, contentType } of cases) {
      const answer = await send('POST', '/v1/jobs', { body, headers: { 'content-type': contentType ?? 'application/json' } });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      // The data is a model: a spec the mutations leave valid is still refused on its `data` field.
      expect(answer.status, name).not.toBe(202);
      expectClientError(answer, name);
      if (answer.status === 400) expect(answer.json.issues.length, name).toBeGreaterThan(0);
    }
    expect(statuses.get(400)).toBeGreaterThan(250);
  });

  it('answers malformed artifact uploads and odd paths with a 4xx', async () => {
    const requests: { name: string; method: string; path: string; body?: string | Buffer | FormData; headers?: Record<string, string> }[] = [];
    // Data, weight sets and trajectories are any bytes until a job loads them; models and kinds are checked on upload.
    for (const kind of ['', 'model', 'MODEL', 'x'.repeat(300), '%00']) {
      requests.push({
        name: `raw kind ${kind}`,
        method: 'POST',
        path: `/v1/artifacts?kind=${kind}`,
        body: JSON.stringify(value(3)),
        headers: { 'content-type': 'text/plain' },
      });
    }
    for (const kind of ['', 'model', 'data', 'weights', 'trajectory'])
      requests.push({ name: `empty kind ${kind}`, method: 'POST', path: `/v1/artifacts?kind=${kind}` });
    const bundles = [
      '{"format":"landscape-model-bundle","files":{"model.json":"e30="}}',
      '{"format":"landscape-model-bundle","files":{"../x":"AA=="}}',
      '{"format":"landscape-model-bundle","files":[]}',
      '{"format":"landscape-model-bundle","files":{"model.json":5}}',
      '{"format":"landscape-model-bundle","files":{"__proto__":"AA==","model.json":"e30="}}',
    ];
    for (const bundle of bundles)
      requests.push({
        name: `bundle ${bundle}`,
        method: 'POST',
        path: '/v1/artifacts?kind=model',
        body: bundle,
        headers: { 'content-type': 'application/json' },
      });
    const modelJsons = [
      {},
      { modelTopology: null, weightsManifest: [] },
      { modelTopology: { class_name: 'Functional' }, weightsManifest: [] },
      { weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'dense/kernel', shape: [2, 2] }] }] },
      value(4),
    ];
    for (const [i, json] of modelJsons.entries()) {
      const form = new FormData();
      form.append('files', new Blob([JSON.stringify(json)]), 'model.json');
      if (i % 2) form.append('files', new Blob([Buffer.alloc(16)]), 'w.bin');
      requests.push({ name: `model.json ${i}`, method: 'POST', path: '/v1/artifacts?kind=model', body: form });
    }
    for (const name of ['../model.json', '__proto__', '.hidden', 'a/b.bin']) {
      const form = new FormData();
      form.append('files', new Blob(['{}']), name);
      requests.push({ name: `part name ${name}`, method: 'POST', path: '/v1/artifacts?kind=model', body: form });
    }
    requests.push({
      name: 'broken multipart',
      method: 'POST',
      path: '/v1/artifacts?kind=model',
      body: '--xyz\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc',
      headers: { 'content-type': 'multipart/form-data; boundary=xyz' },
    });
    requests.push({
      name: 'multipart without boundary',
      method: 'POST',
      path: '/v1/artifacts?kind=model',
      body: 'abc',
      headers: { 'content-type': 'multipart/form-data' },
    });
    for (const path of [
      '/v1/jobs/%E0%A4%A',
      '/v1/jobs/%',
      '/v1/artifacts/%ZZ',
      `/v1/jobs/${'a'.repeat(5000)}`,
      '/v1/jobs/x/files/%2e%2e',
      '/v1/jobs?offset=1e3',
      '/v1/jobs?limit=1&limit=2',
      '/v1/jobs?status=queued&status=failed',
      '/v1/artifacts/sha256:abc?download=1',
    ]) {
      requests.push({ name: `path ${path}`, method: 'GET', path });
    }
    requests.push({ name: 'delete collection', method: 'DELETE', path: '/v1/jobs' });
    requests.push({ name: 'put job', method: 'PUT', path: '/v1/jobs/abc', body: '{}' });
    for (const request of requests) {
      const answer = await send(request.method, request.path, { body: request.body, ...(request.headers ? { headers: request.headers } : {}) });
      expectClientError(answer, request.name);
    }
  });

  it('answers hostile values in specs of every kind with a 4xx naming a field', async () => {
    const m1 = join(REFERENCE_DIR, 'm1_mlp');
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(m1, 'model_trained', name))]), name);
    const model = (await send('POST', '/v1/artifacts?kind=model', { body: form })).json.id as string;
    const upload = async (kind: string, file: string): Promise<string> =>
      (
        await send('POST', `/v1/artifacts?kind=${kind}&filename=${file}`, {
          body: readFileSync(join(m1, file)),
          headers: { 'content-type': 'application/octet-stream' },
        })
      ).json.id as string;
    const data = await upload('data', 'dataset.json');
    const trajectory = await upload('trajectory', 'trajectory.json');
    const weights = await upload('weights', 'weights_init.json');
    const common = { model, data, loss: 'sparse_categorical_crossentropy' };
    const bases: Record<string, unknown>[] = [
      { kind: 'line', ...common, to: model, grid: { x: [-1, 1, 5] } },
      { kind: 'surface', ...common, directions: { x: { file: weights }, y: { seed: 2 } }, grid: { x: [-1, 1, 5], y: [-1, 1, 5] } },
      { kind: 'curvature', ...common, directions: { x: { seed: 1 }, y: { seed: 2 } }, grid: { x: [-1, 1, 3], y: [-1, 1, 3] } },
      { kind: 'hessian', ...common, top: { k: 2 }, trace: { samples: 10 }, density: { runs: 2, steps: 10 } },
      { kind: 'train', model: { type: 'mlp', input: [4], hidden: [{ units: 8 }], outputs: 3 }, data, loss: 'sparse_categorical_crossentropy', epochs: 2 },
      { kind: 'trajectory', ...common, trajectory, methods: ['pca'] },
    ];
    // The values that crashed or hung the API, and their relatives, at the places they went.
    const HOSTILE = [1e9, 5e9, 2 ** 53, 1e308, -1e308, 1e10, 10_000, 0, -1, 0.5, null, 'big', [], {}, [1e9, 2], [-1e308, 1e308, 3]];
    const PLACES = [
      ['grid', 'x'],
      ['grid', 'x', 2],
      ['grid', 'y', 2],
      ['grid', 'steps'],
      ['grid', 'steps', 0],
      ['tiles'],
      ['density', 'runs'],
      ['density', 'steps'],
      ['trace', 'samples'],
      ['top', 'k'],
      ['epochs'],
      ['learningRate'],
      ['checkpointEvery'],
      ['neighbors'],
      ['autoencoder', 'epochs'],
      ['umap', 'nNeighbors'],
      ['model', 'hidden', 0, 'units'],
      ['model', 'input', 0],
      ['data'],
      ['model'],
      ['trajectory'],
      ['directions', 'x'],
      ['limits'],
    ];
    let cases = 0;
    for (const base of bases) {
      for (let i = 0; i < 24; i++) {
        const spec = structuredClone(base) as Record<string, any>;
        const path = pick(PLACES);
        setAt(spec, path, pick(HOSTILE as unknown[]));
        const answer = await send('POST', '/v1/jobs', { body: JSON.stringify(spec), headers: { 'content-type': 'application/json' } });
        cases++;
        if (answer.status === 202) continue; // a value that happens to be fine there (e.g. 0.5 as a learning rate)
        expectClientError(answer, `${String(base.kind)} ${path.join('.')}`);
        if (answer.status === 400) expect(answer.json.issues.length).toBeGreaterThan(0);
      }
    }
    expect(cases).toBeGreaterThanOrEqual(140);
  });

  it('answers broken model uploads (mutated model.json) with a 4xx', async () => {
    const m1 = join(REFERENCE_DIR, 'm1_mlp');
    const original = JSON.parse(readFileSync(join(m1, 'model_trained', 'model.json'), 'utf8'));
    const weightsBin = readFileSync(join(m1, 'model_trained', 'weights.bin'));
    const REPLACEMENTS = [null, {}, [], 'big', -1, 1e308, [null], [{}], { config: null }, true];
    const PLACES = [
      ['weightsManifest'],
      ['weightsManifest', 0],
      ['weightsManifest', 0, 'paths'],
      ['weightsManifest', 0, 'paths', 0],
      ['weightsManifest', 0, 'weights'],
      ['weightsManifest', 0, 'weights', 0],
      ['weightsManifest', 0, 'weights', 0, 'name'],
      ['weightsManifest', 0, 'weights', 0, 'shape'],
      ['weightsManifest', 0, 'weights', 0, 'shape', 0],
      ['weightsManifest', 0, 'weights', 0, 'dtype'],
      ['modelTopology'],
      ['modelTopology', 'class_name'],
      ['modelTopology', 'config'],
      ['modelTopology', 'config', 'layers'],
      ['modelTopology', 'config', 'layers', 0],
      ['modelTopology', 'config', 'layers', 0, 'config'],
      ['modelTopology', 'config', 'layers', 1, 'class_name'],
      ['modelTopology', 'config', 'layers', 1, 'config', 'units'],
      ['modelTopology', 'config', 'layers', 0, 'config', 'batch_input_shape'],
    ];
    for (let i = 0; i < 60; i++) {
      const json = structuredClone(original) as Record<string, any>;
      const path = pick(PLACES);
      setAt(json, path, pick(REPLACEMENTS as unknown[]));
      const form = new FormData();
      form.append('files', new Blob([JSON.stringify(json)]), 'model.json');
      form.append('files', new Blob([weightsBin]), 'weights.bin');
      const answer = await send('POST', '/v1/artifacts?kind=model', { body: form });
      // A replacement that leaves the model loadable (e.g. a dtype tfjs ignores) may be stored.
      if (answer.status === 201) continue;
      expectClientError(answer, `model.json ${path.join('.')}`);
    }
  });

  it('answers odd ids, methods, headers and other owners’ resources on every route with a 4xx', async () => {
    // Something of the other key's to reach for.
    const theirs = await send('POST', '/v1/artifacts?kind=data&filename=d.json', {
      body: '{"x": [[1, 2, 3, 4]], "y": [0]}',
      headers: { 'content-type': 'application/octet-stream' },
      key: OTHER_KEY,
    });
    expect(theirs.status).toBe(201);
    const ids = ['abc', 'x'.repeat(65), '%00', '..', '__proto__', '00000000-0000-0000-0000-000000000000', theirs.json.id, encodeURIComponent('a/b')];
    const artifactIds = [theirs.json.id, `sha256:${'0'.repeat(64)}`, 'sha256:', 'sha256:' + 'g'.repeat(64), '__proto__', '%2e%2e'];
    const requests: { method: string; path: string; body?: string; headers?: Record<string, string>; key?: string | null }[] = [];
    for (const id of ids) {
      for (const suffix of ['', '/result', '/files', '/files/result.json', '/files/..%2fx', '/files/.hidden'])
        requests.push({ method: 'GET', path: `/v1/jobs/${id}${suffix}` });
      requests.push(
        { method: 'DELETE', path: `/v1/jobs/${id}` },
        { method: 'DELETE', path: `/v1/jobs/${id}?purge=true` },
        { method: 'DELETE', path: `/v1/jobs/${id}?purge=x` },
      );
    }
    for (const id of artifactIds)
      requests.push(
        { method: 'GET', path: `/v1/artifacts/${id}` },
        { method: 'GET', path: `/v1/artifacts/${id}?download=1` },
        { method: 'GET', path: `/v1/artifacts/${id}?download=maybe` },
        { method: 'DELETE', path: `/v1/artifacts/${id}` },
      );
    for (const method of ['PUT', 'PATCH', 'OPTIONS', 'PROPFIND'])
      for (const path of ['/v1/jobs', '/v1/artifacts', '/v1/workers', '/health']) requests.push({ method, path, body: '{}' });
    for (const authorization of ['', 'Bearer', 'Bearer ', 'Basic Zm9vOmJhcg==', `Bearer ${KEY}x`, `bearer  ${'k'.repeat(5000)}`, 'Bearer \u00ff'])
      for (const path of ['/v1/jobs', '/v1/workers', '/v1/artifacts?kind=data', '/docs-json'])
        requests.push({
          method: path.includes('artifacts') ? 'POST' : 'GET',
          path,
          key: null,
          headers: { authorization },
          body: path.includes('artifacts') ? 'x' : undefined,
        });
    for (const key of ['', 'x'.repeat(201), ' '])
      requests.push({ method: 'POST', path: '/v1/jobs', body: '{"kind":"line"}', headers: { 'content-type': 'application/json', 'idempotency-key': key } });
    for (const query of ['offset=-1', 'offset=abc', 'limit=0', 'limit=201', 'limit=1e3', 'status=done', 'status[]=queued', 'offset=99999999999999999'])
      requests.push({ method: 'GET', path: `/v1/jobs?${query}` });
    requests.push({ method: 'GET', path: '/v1/nothing' }, { method: 'POST', path: '/v1/workers', body: '{}' }, { method: 'GET', path: `/${'a'.repeat(8000)}` });
    expect(requests.length).toBeGreaterThan(150);
    for (const request of requests) {
      const answer = await send(request.method, request.path, {
        ...(request.body !== undefined ? { body: request.body } : {}),
        ...(request.headers ? { headers: request.headers } : {}),
        ...(request.key !== undefined ? { key: request.key } : {}),
      });
      const name = `${request.method} ${request.path.slice(0, 80)}`;
      // OPTIONS on a route Express answers itself (204/200) is fine; nothing may be a 5xx.
      expect(answer.status, name).toBeLessThan(500);
      if (answer.status >= 400) expect(answer.json?.statusCode, name).toBe(answer.status);
    }
    // The other key's artifact is still there, untouched by any of this.
    expect((await send('GET', `/v1/artifacts/${theirs.json.id}`, { key: OTHER_KEY })).status).toBe(200);
    expect((await send('GET', '/health', { key: null })).status).toBe(200);
  });
});
