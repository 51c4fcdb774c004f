import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, startApi, startRedisSystem, type Answer, type TestApi } from './support';

/**
 * Hundreds of malformed requests: random JSON shapes, wrong types, huge numbers, non-JSON, deep nesting, unknown
 * kinds, mutations of a valid spec. Client input must never produce a 5xx.
 */
let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let server: TestApi;

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

const ODD_NUMBERS = [0, -0, -1, 1.5, 1e308, -1e308, 2 ** 53 + 1, 2 ** 32, -(2 ** 31), 5e-324, 1e21, 123456789012];
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
    let node = spec;
    for (const key of path.slice(0, -1)) {
      if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
      node = node[key];
    }
    node[path[path.length - 1]!] = value(2);
  }
  return spec;
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
  backing = await startRedisSystem();
  server = await startApi(backing.jobs, { maxBodyBytes: 256 * 1024 });
});

afterAll(async () => {
  await server?.close();
  await backing?.close();
});

describe('fuzzing the API', () => {
  it('answers every malformed job submission with a 4xx', async () => {
    // Real artifacts in the base spec, so mutations reach the deeper checks (model/data loading), not just the schema.
    const m1 = join(REFERENCE_DIR, 'm1_mlp');
    const form = new FormData();
    for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(m1, 'model_trained', name))]), name);
    const model = (await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: form })).json.id as string;
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
      const answer = await call(server.url, 'POST', '/v1/jobs', { body, headers: { 'content-type': contentType ?? 'application/json' } });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      // A spec that is valid in form is accepted and its job fails at preparation (the data is a model): 202.
      if (answer.status === 202) {
        expect(answer.json.status, name).toBe('failed');
        continue;
      }
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
      const answer = await call(server.url, request.method, request.path, { body: request.body, headers: request.headers });
      expectClientError(answer, request.name);
    }
  });
});
