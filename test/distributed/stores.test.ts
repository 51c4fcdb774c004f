import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, specKinds, type BackendInfo, type UnitRef } from '@landscape/core';
import {
  ArtifactCache,
  ArtifactTooLargeError,
  decodeModelBundle,
  encodeModelBundle,
  FsArtifactStore,
  FsResultStore,
  jobKinds,
  JobStore,
  loadConfigFromEnv,
  readModelDirectory,
  RedisArtifactStore,
  RedisResultStore,
  WorkerRegistry,
  type ArtifactStore,
  type ResultStore,
} from '@landscape/jobs';
import { RedisServer } from '../harness/redis';
import { M2 } from './helpers';

let server: RedisServer;
let redis: Redis;
let tmp: string;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  tmp = mkdtempSync(join(tmpdir(), 'landscape-stores-'));
});
afterAll(async () => {
  await redis?.quit();
  await server?.destroy();
  rmSync(tmp, { recursive: true, force: true });
});

const stores: [string, () => ArtifactStore][] = [
  ['redis (chunks of 1000 bytes)', () => new RedisArtifactStore(redis, 'st', 20_000, 1000)],
  ['fs', () => new FsArtifactStore(join(tmp, 'artifacts'), 20_000)],
];

describe.each(stores)('artifact store: %s', (_name, make) => {
  it('stores by content address, round-trips the bytes, dedupes, limits size', async () => {
    const store = make();
    const bytes = Buffer.from(Array.from({ length: 5500 }, (_, i) => (i * 7) % 256));
    const info = await store.put(bytes, { kind: 'data', filename: '../x/../my data.csv' });
    expect(info).toMatchObject({ id: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, kind: 'data', size: 5500, filename: 'my_data.csv' });
    expect(await store.get(info.id)).toEqual(bytes);
    expect(await store.info(info.id)).toEqual(info);
    // The bytes are stored once; what the uploader says about them (here: no file name) is its own.
    const again = await store.put(Buffer.from(bytes), { kind: 'data' });
    expect(again).toMatchObject({ id: info.id, kind: 'data', size: 5500 });
    expect(again.filename).toBeUndefined();
    expect(await store.get(info.id)).toEqual(bytes);
    expect(await store.get(`sha256:${'1'.repeat(64)}`)).toBeNull();
    expect(await store.info('../../etc/passwd')).toBeNull();
    await expect(store.put(Buffer.alloc(20_001), { kind: 'data' })).rejects.toBeInstanceOf(ArtifactTooLargeError);
    await expect(store.put(Buffer.from('{"not":"a bundle"}'), { kind: 'model' })).rejects.toThrow(/not a model bundle/);
    await expect(store.put(bytes, { kind: 'nonsense' as 'data' })).rejects.toThrow(/kind: must be one of/);
  });
});

describe('model bundles and the artifact cache', () => {
  it('a bundle is canonical (file order does not matter) and rejects unsafe names', () => {
    const files = readModelDirectory(join(M2, 'model_trained'));
    const reversed = Object.fromEntries(Object.entries(files).reverse());
    expect(encodeModelBundle(reversed)).toEqual(encodeModelBundle(files));
    expect(Object.keys(decodeModelBundle(encodeModelBundle(files))).sort()).toEqual(['model.json', 'weights.bin']);
    expect(() => encodeModelBundle({ ...files, '../evil': Buffer.from('x') })).toThrow(/plain file name/);
    expect(() => encodeModelBundle({ 'weights.bin': files['weights.bin']! })).toThrow(/needs a model.json/);
  });

  it('materializes a model as a loadable directory once, and refuses bytes that do not match the id', async () => {
    const backing = new FsArtifactStore(join(tmp, 'cache-store'), 1e7);
    let downloads = 0;
    const counting: ArtifactStore = { put: (b, m) => backing.put(b, m), info: (id) => backing.info(id), get: (id) => (downloads++, backing.get(id)) };
    const model = await backing.put(encodeModelBundle(readModelDirectory(join(M2, 'model_trained'))), { kind: 'model' });
    const data = await backing.put(readFileSync(join(M2, 'dataset.json')), { kind: 'data', filename: 'dataset.json' });
    const cacheDir = join(tmp, 'cache');
    const cache = new ArtifactCache(counting, cacheDir);
    const { resolve, paths } = await cache.resolverFor({ model: model.id, data: { path: data.id }, other: 'not-a-ref' });
    expect(Object.keys(paths).sort()).toEqual([data.id, model.id].sort());
    expect(loadModel(resolve(model.id, 'model')).weights).toEqual(loadModel(join(M2, 'model_trained')).weights);
    expect(readFileSync(resolve(data.id, 'data'))).toEqual(readFileSync(join(M2, 'dataset.json')));
    expect(() => resolve('/etc/passwd', 'data.path')).toThrow(/data.path: '\/etc\/passwd' is not an artifact id/);
    // A second process-local cache over the same directory does not download again.
    await new ArtifactCache(counting, cacheDir).resolverFor({ model: model.id, data: data.id });
    expect(downloads).toBe(2);

    const weights = await backing.put(readFileSync(join(M2, 'direction_d1_raw.json')), { kind: 'weights' });
    const tampered: ArtifactStore = { ...counting, get: async () => Buffer.from('tampered') };
    await expect(new ArtifactCache(tampered, join(tmp, 'cache2')).ensure(weights.id, 'directions.x.file')).rejects.toThrow(
      `directions.x.file: artifact ${weights.id} is corrupted`,
    );
    expect(existsSync(join(tmp, 'cache2', weights.id.slice(7)))).toBe(false);
  });
});

describe('job store', () => {
  const backend: BackendInfo = { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', device: 'cpu', skipped: [] };
  const units: UnitRef[] = [
    { id: 'r0c0', work: 4 },
    { id: 'r1c0', work: 4 },
  ];

  it('stores a unit result once and counts it once, progress never goes back', async () => {
    const store = new JobStore(redis, 'st');
    const spec = { kind: 'surface' } as never;
    await store.create({ id: 'job1', kind: 'surface', spec, units, prepareSeconds: 0.1 });
    const a = { id: 'wa', host: 'h', backend: 'wasm', units: 0, concurrency: 1 };
    const b = { id: 'wb', host: 'h', backend: 'wasm', units: 0, concurrency: 2 };
    await store.setUnitProgress('job1', 'r0c0', 3);
    await store.setUnitProgress('job1', 'r0c0', 1); // a restart elsewhere does not pull progress back
    expect((await store.progress((await store.get('job1'))!)).pointsDone).toBe(3);
    const result = { tileId: 'r0c0', loss: [1, NaN, Infinity, -Infinity], accuracy: [0.5, null, 0, 1] };
    expect(await store.putUnitResult('job1', 'r0c0', result, 4, a, backend)).toBe(true);
    expect(await store.putUnitResult('job1', 'r0c0', { ...result, loss: [9, 9, 9, 9] }, 4, b, backend)).toBe(false);
    await store.setUnitProgress('job1', 'r0c0', 2);
    const record = (await store.get('job1'))!;
    expect(await store.progress(record)).toEqual({ unitsDone: 1, unitsTotal: 2, pointsDone: 4, pointsTotal: 8 });
    expect((await store.unitResults('job1')).get('r0c0')).toEqual(result);
    await store.putUnitResult('job1', 'r1c0', { values: Float64Array.of(1.5, NaN) }, 4, a, backend);
    expect((await store.unitResults('job1')).get('r1c0')).toEqual({ values: [1.5, NaN] });
    expect(await store.workers('job1')).toEqual([{ id: 'wa', host: 'h', backend: 'wasm', concurrency: 1, units: 2 }]);
    expect(record.backend).toEqual(backend);
  });

  it('status changes are compare-and-set: an ended job stays ended', async () => {
    const store = new JobStore(redis, 'st');
    await store.create({ id: 'job2', kind: 'surface', spec: { kind: 'surface' } as never, units, prepareSeconds: 0 });
    expect(await store.markRunning('job2')).toBe(true);
    expect(await store.markRunning('job2')).toBe(false);
    expect(await store.cancel('job2')).toBe(true);
    expect(await store.fail('job2', 'late failure')).toBe(false);
    expect(await store.markAggregating('job2')).toBe(false);
    const record = (await store.get('job2'))!;
    expect(record.status).toBe('cancelled');
    expect(record.error).toBeUndefined();
    expect(record.startedAt).toBeLessThanOrEqual(record.finishedAt!);
    const list = await store.list({ offset: 0, limit: 10, status: 'cancelled' });
    expect(list).toEqual({ ids: ['job2'], total: 1 });
  });
});

describe.each<[string, () => ResultStore]>([
  ['redis', () => new RedisResultStore(redis, 'st')],
  ['fs', () => new FsResultStore(join(tmp, 'results'))],
])('result store: %s', (_name, make) => {
  it('round-trips files and refuses names with directories', async () => {
    const store = make();
    await store.put('job9', 'result.json', Buffer.from('{"a":1}'));
    await store.put('job9', 'surface.html', Buffer.from('<html>'));
    expect(await store.list('job9')).toEqual([
      { name: 'result.json', size: 7 },
      { name: 'surface.html', size: 6 },
    ]);
    expect((await store.get('job9', 'result.json'))!.toString()).toBe('{"a":1}');
    expect(await store.get('job9', '../job9/result.json')).toBeNull();
    await expect(store.put('job9', '../x.json', Buffer.from(''))).rejects.toThrow(/plain file name/);
    await store.remove('job9');
    expect(await store.list('job9')).toEqual([]);
  });
});

describe('worker registry, handlers, configuration', () => {
  it('a worker without heartbeats drops out after its time-to-live', async () => {
    const registry = new WorkerRegistry(redis, 'st', 300);
    const base = { host: 'h', pid: 1, backend: 'wasm', device: 'cpu', concurrency: 1, unitsDone: 0, activeUnits: 0, startedAt: new Date().toISOString() };
    await registry.heartbeat({ ...base, id: 'w1' });
    await registry.heartbeat({ ...base, id: 'w2' });
    expect((await registry.list()).map((w) => w.id).sort()).toEqual(['w1', 'w2']);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await registry.heartbeat({ ...base, id: 'w2', unitsDone: 5 });
    expect(await registry.list()).toMatchObject([{ id: 'w2', unitsDone: 5 }]);
  });

  it('every kind of the spec schema has a handler', () => {
    expect(specKinds()).toEqual(['line', 'surface', 'hessian', 'curvature', 'train', 'trajectory']);
    expect(jobKinds.kinds().sort()).toEqual([...specKinds()].sort());
    expect(() => jobKinds.checkComplete()).not.toThrow();
    expect(jobKinds.get('line').plan).toBeTypeOf('function');
    expect(() => jobKinds.get('nope')).toThrow(/no handler for job kind 'nope'/);
  });

  it('reads the configuration from the environment', () => {
    const config = loadConfigFromEnv({
      REDIS_URL: 'redis://r:1',
      LANDSCAPE_ARTIFACT_DIR: '/shared/a',
      LANDSCAPE_LOCK_MS: '2000',
      LANDSCAPE_UNIT_ATTEMPTS: '5',
    });
    expect(config).toMatchObject({ redisUrl: 'redis://r:1', artifacts: { backend: 'fs', dir: '/shared/a' }, results: { backend: 'redis' } });
    expect(config.queue).toMatchObject({ lockDurationMs: 2000, attempts: 5, backoffMs: 2000 });
    expect(() => loadConfigFromEnv({ LANDSCAPE_LOCK_MS: 'soon' })).toThrow(/^LANDSCAPE_LOCK_MS: .*\(got 'soon'\)$/);
    expect(() => loadConfigFromEnv({ LANDSCAPE_ARTIFACT_BACKEND: 'fs' })).toThrow(/needs artifacts.dir/);
  });
});
