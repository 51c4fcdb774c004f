import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { apiSettingsFromEnv, keyIdOf, listenAddressFromEnv } from '@landscape/api';
import { stringifyResult } from '@landscape/core';
import { createJobSystem, type JobSystem } from '@landscape/jobs';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../harness/redis';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, postJson, startApi, startRedisSystem, type Answer, type TestApi } from './support';

/** Ownership, idempotent submission, integrity headers, retention, slow clients, rate limits and safe defaults. */
const M1 = join(REFERENCE_DIR, 'm1_mlp');
const KEYS = { alpha: 'alpha-key-0123', beta: 'beta-key-4567', admin: 'admin-key-89ab' };
let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let server: TestApi;
let system: JobSystem;

const as = (key: string, headers: Record<string, string> = {}): Record<string, string> => ({ authorization: `Bearer ${key}`, ...headers });

function modelForm(): FormData {
  const form = new FormData();
  for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(M1, 'model_trained', name))]), name);
  return form;
}

async function uploads(key: string, target: TestApi = server): Promise<{ model: string; data: string }> {
  const model = await call(target.url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(), headers: as(key) });
  const data = await call(target.url, 'POST', '/v1/artifacts?kind=data&filename=dataset.json', {
    body: readFileSync(join(M1, 'dataset.json')),
    headers: as(key, { 'content-type': 'application/octet-stream' }),
  });
  expect([model.status, data.status]).toEqual([201, 201]);
  return { model: model.json.id, data: data.json.id };
}

const surface = (refs: { model: string; data: string }, label = 'x'): Record<string, unknown> => ({
  kind: 'surface',
  ...refs,
  loss: 'sparse_categorical_crossentropy',
  directions: { x: { seed: 1 }, y: { seed: 2 } },
  grid: { x: [-1, 1, 5], y: [-1, 1, 5] },
  label,
});

/** Completes a job the way a worker does (real store transitions, files in the real result store). */
async function complete(id: string, files: Record<string, Buffer>): Promise<void> {
  await system.store.markAggregating(id);
  for (const [name, bytes] of Object.entries(files)) await system.results.put(id, name, bytes);
  expect(await system.store.complete(id)).toBe(true);
}

beforeAll(async () => {
  backing = await startRedisSystem({ resultTtlSeconds: 3600 });
  server = await startApi(backing.jobs, { apiKeys: [KEYS.alpha, KEYS.beta], adminKeys: [KEYS.admin], maxBodyBytes: 1024 * 1024 });
  system = server.system;
});

afterAll(async () => {
  await server?.close();
  await backing?.close();
});

describe('ownership', () => {
  it('a second key cannot see, list, cancel, download or use the first key’s jobs and artifacts; an admin can', async () => {
    const refs = await uploads(KEYS.alpha);
    const submitted = await postJson(server.url, '/v1/jobs', surface(refs), as(KEYS.alpha));
    expect(submitted.status).toBe(202);
    const id = submitted.json.id as string;
    expect(submitted.json.owner).toBe(keyIdOf(KEYS.alpha));
    await complete(id, { 'result.json': Buffer.from(stringifyResult({ loss: [1, 2] })) });

    const beta = as(KEYS.beta);
    for (const path of [`/v1/jobs/${id}`, `/v1/jobs/${id}/result`, `/v1/jobs/${id}/files`, `/v1/jobs/${id}/files/result.json`, `/v1/artifacts/${refs.model}`])
      expect((await call(server.url, 'GET', path, { headers: beta })).status, path).toBe(404);
    expect((await call(server.url, 'GET', `/v1/artifacts/${refs.data}?download=1`, { headers: beta })).status).toBe(404);
    expect((await call(server.url, 'DELETE', `/v1/jobs/${id}`, { headers: beta })).status).toBe(404);
    expect((await call(server.url, 'DELETE', `/v1/jobs/${id}?purge=true`, { headers: beta })).status).toBe(404);
    expect((await call(server.url, 'DELETE', `/v1/artifacts/${refs.model}`, { headers: beta })).status).toBe(404);
    expect((await call(server.url, 'GET', '/v1/jobs', { headers: beta })).json).toMatchObject({ items: [], total: 0 });
    // Knowing an id is not enough to use the artifact.
    const borrowed = await postJson(server.url, '/v1/jobs', surface(refs), beta);
    expect(borrowed.status).toBe(400);
    expect(borrowed.json.issues.map((issue: { field: string }) => issue.field)).toEqual(['model', 'data']);

    expect((await call(server.url, 'GET', `/v1/jobs/${id}`, { headers: as(KEYS.alpha) })).status).toBe(200);
    expect((await call(server.url, 'GET', '/v1/jobs', { headers: as(KEYS.alpha) })).json.items.map((job: { id: string }) => job.id)).toContain(id);
    const admin = as(KEYS.admin);
    expect((await call(server.url, 'GET', `/v1/jobs/${id}`, { headers: admin })).json.owner).toBe(keyIdOf(KEYS.alpha));
    expect((await call(server.url, 'GET', `/v1/artifacts/${refs.model}`, { headers: admin })).status).toBe(200);
    expect((await call(server.url, 'GET', `/v1/artifacts/${refs.data}?download=1`, { headers: admin })).text).toBe(
      readFileSync(join(M1, 'dataset.json'), 'utf8'),
    );
    expect((await call(server.url, 'GET', '/v1/jobs', { headers: admin })).json.items.map((job: { id: string }) => job.id)).toContain(id);
  });

  it('keeps one blob but metadata per upload: the same bytes as another kind and name keep what each uploader said', async () => {
    const bytes = readFileSync(join(M1, 'weights_init.json'));
    const post = (key: string, kind: string, filename: string): Promise<Answer> =>
      call(server.url, 'POST', `/v1/artifacts?kind=${kind}&filename=${filename}`, {
        body: bytes,
        headers: as(key, { 'content-type': 'application/octet-stream' }),
      });
    const first = await post(KEYS.alpha, 'weights', 'w0.json');
    const second = await post(KEYS.beta, 'trajectory', 'path.json');
    expect(second.json.id).toBe(first.json.id);
    expect(second.json).toMatchObject({ kind: 'trajectory', filename: 'path.json' });
    expect((await call(server.url, 'GET', `/v1/artifacts/${first.json.id}`, { headers: as(KEYS.alpha) })).json).toMatchObject({
      kind: 'weights',
      filename: 'w0.json',
    });
    expect((await call(server.url, 'GET', `/v1/artifacts/${first.json.id}`, { headers: as(KEYS.beta) })).json).toMatchObject({
      kind: 'trajectory',
      filename: 'path.json',
    });
    // Deleting one upload keeps the bytes for the other; the last one takes them.
    expect((await call(server.url, 'DELETE', `/v1/artifacts/${first.json.id}`, { headers: as(KEYS.alpha) })).status).toBe(204);
    expect((await call(server.url, 'GET', `/v1/artifacts/${first.json.id}`, { headers: as(KEYS.alpha) })).status).toBe(404);
    const download = await call(server.url, 'GET', `/v1/artifacts/${first.json.id}?download=1`, { headers: as(KEYS.beta) });
    expect(Buffer.from(download.text).equals(bytes)).toBe(true);
    expect((await call(server.url, 'DELETE', `/v1/artifacts/${first.json.id}`, { headers: as(KEYS.beta) })).status).toBe(204);
    expect(await system.artifacts.get(first.json.id)).toBeNull();
  });

  it('stores key ids, never keys', async () => {
    const values: string[] = [];
    for (const key of await system.redis.keys('apitest:*')) {
      const type = await system.redis.type(key);
      if (type === 'string') values.push(key, (await system.redis.get(key)) ?? '');
      if (type === 'hash') values.push(key, ...Object.entries(await system.redis.hgetall(key)).flat());
      if (type === 'zset') values.push(key, ...(await system.redis.zrange(key, 0, -1)));
    }
    const dump = values.join('\n');
    expect(dump).toContain(keyIdOf(KEYS.alpha));
    for (const key of Object.values(KEYS)) expect(dump).not.toContain(key);
  });
});

describe('idempotent submission', () => {
  it('answers a retry with the same Idempotency-Key with the first job, and a reuse with another spec with 409', async () => {
    const refs = await uploads(KEYS.alpha);
    const headers = as(KEYS.alpha, { 'idempotency-key': 'submit-1' });
    const first = await postJson(server.url, '/v1/jobs', surface(refs, 'idem'), headers);
    const again = await postJson(server.url, '/v1/jobs', surface(refs, 'idem'), headers);
    expect([first.status, again.status]).toEqual([202, 202]);
    expect(again.json.id).toBe(first.json.id);
    // The same key string from another API key is another key.
    const other = await postJson(server.url, '/v1/jobs', surface(await uploads(KEYS.beta), 'idem'), as(KEYS.beta, { 'idempotency-key': 'submit-1' }));
    expect(other.json.id).not.toBe(first.json.id);
    expect((await postJson(server.url, '/v1/jobs', surface(refs, 'changed'), headers)).status).toBe(409);
    const labelled = (await call(server.url, 'GET', '/v1/jobs?limit=200', { headers: as(KEYS.alpha) })).json.items.filter(
      (job: { id: string }) => job.id === first.json.id,
    );
    expect(labelled).toHaveLength(1);
  });

  it('a submit whose answer timed out (503) creates no job; its retry with the same key creates exactly one', async () => {
    const redis = await RedisServer.start({ appendonly: true });
    let hastyLogger: pino.Logger | undefined;
    const jobs = { redisUrl: redis.url, prefix: 'idem', cacheDir: join(backing.redis.dir, 'idem-cache') };
    const patient = await startApi(jobs, { apiKeys: [KEYS.alpha] });
    // Same job system, but a handler may take only 300 ms.
    const ended = new Promise<string>((resolve) => {
      const lines = new Writable({
        write(chunk: Buffer, _encoding, done) {
          const line = JSON.parse(chunk.toString()) as { msg: string };
          if (line.msg.startsWith('abandoned submission ended')) resolve(line.msg);
          done();
        },
      });
      hastyLogger = pino({ level: 'warn' }, lines);
    });
    const hasty = await startApi(patient.system, { apiKeys: [KEYS.alpha], requestTimeoutMs: 300, logger: hastyLogger! });
    try {
      const refs = await (async () => {
        const model = await call(patient.url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(), headers: as(KEYS.alpha) });
        const data = await call(patient.url, 'POST', '/v1/artifacts?kind=data&filename=dataset.json', {
          body: readFileSync(join(M1, 'dataset.json')),
          headers: as(KEYS.alpha, { 'content-type': 'application/octet-stream' }),
        });
        return { model: model.json.id as string, data: data.json.id as string };
      })();
      const headers = as(KEYS.alpha, { 'idempotency-key': 'timed-out' });
      // Redis stops: the submission blocks on it until the API gives up and answers 503.
      await redis.stop();
      const timedOut = await postJson(hasty.url, '/v1/jobs', surface(refs, 'timeout'), headers);
      expect(timedOut.status).toBe(503);
      await redis.restart();
      // The abandoned request resumes with Redis and sees its deadline passed: no job.
      expect(await ended).toBe('abandoned submission ended: no job created');
      expect((await call(patient.url, 'GET', '/v1/jobs', { headers: as(KEYS.alpha) })).json.total).toBe(0);
      // It let the key go, so the retry is judged afresh (a 409 would mean the first request still held it).
      let retry: Answer;
      do retry = await postJson(patient.url, '/v1/jobs', surface(refs, 'timeout'), headers);
      while (retry.status === 409);
      expect(retry.status).toBe(202);
      const list = await call(patient.url, 'GET', '/v1/jobs', { headers: as(KEYS.alpha) });
      expect(list.json.total).toBe(1);
      expect(list.json.items[0].id).toBe(retry.json.id);
    } finally {
      if (!redis.running) await redis.restart();
      await hasty.close();
      await patient.close();
      await redis.destroy();
    }
  });
});

describe('integrity and safe serving', () => {
  it('serves result files with their SHA-256 (ETag, Digest, job view), nosniff, and a sandboxing CSP for HTML', async () => {
    const refs = await uploads(KEYS.alpha);
    const id = (await postJson(server.url, '/v1/jobs', surface(refs, 'files'), as(KEYS.alpha))).json.id as string;
    const result = Buffer.from(stringifyResult({ loss: [0.5, Number.NaN, Number.POSITIVE_INFINITY], accuracy: [1, 1, 0] }));
    const html = Buffer.from('<!doctype html><script>document.title = "x"</script>');
    await complete(id, { 'result.json': result, 'surface.html': html });
    const sha = createHash('sha256').update(result).digest();

    const view = await call(server.url, 'GET', `/v1/jobs/${id}`, { headers: as(KEYS.alpha) });
    expect(view.json.result.sha256).toBe(sha.toString('hex'));
    // A result with NaN/Infinity says so, in the view and in result.json itself.
    expect(view.json.result.nonFinite).toMatchObject({ count: 2, fields: { loss: 2 } });
    expect(view.json.result.nonFinite.warning).toMatch(/2 values are NaN or ±Infinity: loss \(2\)/);
    expect(JSON.parse(result.toString()).nonFinite.count).toBe(2);

    const file = await call(server.url, 'GET', `/v1/jobs/${id}/files/result.json`, { headers: as(KEYS.alpha) });
    expect(file.headers.get('etag')).toBe(`"${sha.toString('hex')}"`);
    expect(file.headers.get('digest')).toBe(`sha-256=${sha.toString('base64')}`);
    expect(file.headers.get('repr-digest')).toBe(`sha-256=:${sha.toString('base64')}:`);
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    const cached = await call(server.url, 'GET', `/v1/jobs/${id}/result`, { headers: as(KEYS.alpha, { 'if-none-match': file.headers.get('etag')! }) });
    expect(cached.status).toBe(304);
    const page = await call(server.url, 'GET', `/v1/jobs/${id}/files/surface.html`, { headers: as(KEYS.alpha) });
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'.*sandbox allow-scripts/);
    for (const path of ['/health', '/v1/jobs']) {
      const answer = await call(server.url, 'GET', path, { headers: as(KEYS.alpha) });
      expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
      expect(answer.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    }
  });

  it('says when an active job has no live worker', async () => {
    const refs = await uploads(KEYS.alpha);
    const id = (await postJson(server.url, '/v1/jobs', surface(refs, 'waiting'), as(KEYS.alpha))).json.id as string;
    expect((await call(server.url, 'GET', `/v1/jobs/${id}`, { headers: as(KEYS.alpha) })).json).toMatchObject({ status: 'queued', waitingFor: 'workers' });
    const worker = {
      id: 'w1',
      host: 'h',
      pid: 1,
      backend: 'cpu',
      device: 'cpu',
      concurrency: 1,
      unitsDone: 0,
      activeUnits: 0,
      startedAt: new Date().toISOString(),
    };
    await system.workers.heartbeat(worker);
    try {
      expect((await call(server.url, 'GET', `/v1/jobs/${id}`, { headers: as(KEYS.alpha) })).json.waitingFor).toBeUndefined();
    } finally {
      await system.workers.remove('w1');
    }
  });
});

describe('retention', () => {
  it('lets owners delete jobs with their files, and expires finished jobs after the configured TTL', async () => {
    const refs = await uploads(KEYS.alpha);
    const id = (await postJson(server.url, '/v1/jobs', surface(refs, 'retention'), as(KEYS.alpha))).json.id as string;
    await complete(id, { 'result.json': Buffer.from('{}') });
    // Finished: every key of the job carries the TTL (3600 s in this system).
    for (const key of [`apitest:job:${id}`, `apitest:job:${id}:files`]) {
      const ttl = await system.redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(3500);
      expect(ttl, key).toBeLessThanOrEqual(3600);
    }
    expect((await call(server.url, 'DELETE', `/v1/jobs/${id}?purge=true`, { headers: as(KEYS.alpha) })).status).toBe(204);
    expect((await call(server.url, 'GET', `/v1/jobs/${id}`, { headers: as(KEYS.alpha) })).status).toBe(404);
    expect(await system.redis.exists(`apitest:job:${id}`, `apitest:job:${id}:files`)).toBe(0);
    expect((await call(server.url, 'GET', '/v1/jobs?limit=200', { headers: as(KEYS.alpha) })).json.items.map((job: { id: string }) => job.id)).not.toContain(
      id,
    );
  });

  it('drops expired jobs from listings', async () => {
    const refs = await uploads(KEYS.beta);
    const id = (await postJson(server.url, '/v1/jobs', surface(refs, 'expiring'), as(KEYS.beta))).json.id as string;
    await system.service.cancel(id);
    // What Redis does when the TTL runs out, done now instead of waiting an hour.
    await system.redis.del(`apitest:job:${id}`);
    await system.redis.zadd('apitest:jobs:expiry', 0, `${keyIdOf(KEYS.beta)}/${id}`);
    // An admin's listing sweeps it from every index, the owner's included.
    const list = await call(server.url, 'GET', '/v1/jobs?limit=200', { headers: as(KEYS.admin) });
    expect(list.json.items.map((job: { id: string }) => job.id)).not.toContain(id);
    expect(await system.redis.zscore('apitest:jobs', id)).toBeNull();
    expect(await system.redis.zscore(`apitest:jobs:owner:${keyIdOf(KEYS.beta)}`, id)).toBeNull();
  });
});

describe('retention of a file result store', () => {
  it('the sweep removes an expired job’s files from LANDSCAPE_RESULT_DIR, and keeps those of live jobs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'landscape-results-'));
    const fsSystem = createJobSystem({ redisUrl: backing.redis.url, prefix: 'fsretention', results: { backend: 'fs', dir }, resultTtlSeconds: 1 });
    const fsServer = await startApi(fsSystem, { apiKeys: [KEYS.alpha], logger: pino({ level: 'silent' }) });
    try {
      const submit = async (label: string): Promise<string> => {
        const answer = await postJson(fsServer.url, '/v1/jobs', surface(await uploads(KEYS.alpha, fsServer), label), as(KEYS.alpha));
        expect(answer.status).toBe(202);
        return answer.json.id as string;
      };
      const [expiring, live] = [await submit('expiring'), await submit('live')];
      for (const id of [expiring, live]) {
        await fsSystem.store.markAggregating(id);
        await fsSystem.results.put(id, 'result.json', Buffer.from('{}'));
      }
      expect(await fsSystem.store.complete(expiring)).toBe(true);
      expect(existsSync(join(dir, expiring, 'result.json'))).toBe(true);
      // What Redis does when the 1 s TTL runs out, done now instead of waiting.
      await fsSystem.redis.del(`fsretention:job:${expiring}`);
      await fsSystem.redis.zadd('fsretention:jobs:expiry', 0, `${keyIdOf(KEYS.alpha)}/${expiring}`);

      expect(await fsSystem.service.sweepExpired()).toEqual([expiring]);
      expect(existsSync(join(dir, expiring))).toBe(false);
      expect(existsSync(join(dir, live, 'result.json'))).toBe(true);
      expect(await fsSystem.service.sweepExpired()).toEqual([]);
    } finally {
      await fsServer.close();
      await fsSystem.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('slow clients', () => {
  /** Opens a connection, sends `head` and never more; resolves with how long the server kept it open. */
  function heldFor(url: string, head: string): Promise<{ ms: number; answer: string }> {
    const { port } = new URL(url);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      let answer = '';
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(head));
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.once('error', reject);
      socket.once('close', () => resolve({ ms: Date.now() - started, answer }));
    });
  }

  it('cuts off a client that sends partial headers or a partial body within the configured timeouts', async () => {
    const strict = await startApi(system, {
      apiKeys: [KEYS.alpha],
      headersTimeoutMs: 400,
      bodyTimeoutMs: 800,
      timeoutCheckIntervalMs: 100,
      logger: pino({ level: 'silent' }),
    });
    try {
      const headers = await heldFor(strict.url, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      expect(headers.answer).toMatch(/^HTTP\/1\.1 408/);
      const body = await heldFor(
        strict.url,
        `POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEYS.alpha}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"kind":`,
      );
      expect(body.answer).toMatch(/^HTTP\/1\.1 408/);
      // Within the timeout plus Node's check interval (and scheduling slack on a loaded machine).
      expect(headers.ms).toBeLessThan(400 + 100 + 3000);
      expect(body.ms).toBeLessThan(800 + 100 + 3000);
    } finally {
      await strict.close();
    }
  });
});

describe('rate limit', () => {
  it('limits requests per key and minute; other keys and /health are not affected', async () => {
    const limited = await startApi(system, { apiKeys: [KEYS.alpha, KEYS.beta], rateLimitPerMinute: 5, logger: pino({ level: 'silent' }) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await call(limited.url, 'GET', '/v1/workers', { headers: as(KEYS.alpha) })).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      expect((await call(limited.url, 'GET', '/v1/workers', { headers: as(KEYS.beta) })).status).toBe(200);
      for (let i = 0; i < 8; i++) expect((await call(limited.url, 'GET', '/health')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('sign-in rate limit', () => {
  it('allows 10 sign-ins per minute and client address, right or wrong key, below the general limit; other routes go on', async () => {
    const limited = await startApi(system, { apiKeys: [KEYS.alpha, KEYS.beta], logger: pino({ level: 'silent' }) });
    try {
      const guesses: number[] = [];
      for (let i = 0; i < 10; i++) guesses.push((await postJson(limited.url, '/v1/session', { key: `guess-${i}` })).status);
      expect(guesses).toEqual(Array(10).fill(401));
      // The eleventh attempt is refused before the key is looked at, even the right one.
      const blocked = await postJson(limited.url, '/v1/session', { key: KEYS.alpha });
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers.get('retry-after-signin'))).toBeGreaterThan(0);
      expect((await call(limited.url, 'GET', '/v1/session')).status).toBe(200);
      expect((await call(limited.url, 'GET', '/v1/workers', { headers: as(KEYS.alpha) })).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  it('is a setting (signInRatePerMinute; LANDSCAPE_SIGNIN_RATE_LIMIT), also when the general limit is off', async () => {
    const limited = await startApi(system, { apiKeys: [KEYS.alpha], rateLimitPerMinute: 0, signInRatePerMinute: 2, logger: pino({ level: 'silent' }) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await postJson(limited.url, '/v1/session', { key: KEYS.alpha })).status);
      expect(statuses).toEqual([200, 200, 429]);
      expect(apiSettingsFromEnv({ LANDSCAPE_SIGNIN_RATE_LIMIT: '3' }).signInRatePerMinute).toBe(3);
    } finally {
      await limited.close();
    }
  });
});

describe('safe defaults', () => {
  it('binds to 127.0.0.1 without keys unless HOST says otherwise, and everywhere with keys', () => {
    expect(listenAddressFromEnv({ apiKeys: [], adminKeys: [] }, {})).toEqual({ port: 8080, host: '127.0.0.1' });
    expect(listenAddressFromEnv({ apiKeys: ['k'], adminKeys: [] }, { PORT: '9000' })).toEqual({ port: 9000, host: '0.0.0.0' });
    expect(listenAddressFromEnv({ apiKeys: [], adminKeys: [] }, { HOST: '0.0.0.0' }).host).toBe('0.0.0.0');
  });

  it('the compose file requires API keys and a Redis password', () => {
    const compose = readFileSync(join(__dirname, '../../infra/docker-compose.yml'), 'utf8');
    // `${VAR:?message}` makes compose refuse to start when VAR is unset or empty.
    expect(compose).toMatch(/^ {6}LANDSCAPE_API_KEYS: \$\{LANDSCAPE_API_KEYS:\?/m);
    expect(compose).not.toMatch(/LANDSCAPE_API_KEYS:-/);
    const redisUrls = compose.match(/^ {6}REDIS_URL: .*$/gm) ?? [];
    expect(redisUrls).toHaveLength(3);
    for (const line of redisUrls) expect(line).toContain('redis://:${REDIS_PASSWORD:?');
  });

  it('works with a Redis that requires a password given in REDIS_URL', async () => {
    const redis = await RedisServer.start({ password: 'pa55:w0rd@x' });
    const secured = await startApi({ redisUrl: redis.url, prefix: 'pw', cacheDir: join(redis.dir, 'cache') });
    const wrong = createJobSystem({ redisUrl: redis.url.replace('pa55', 'nope'), prefix: 'pw', cacheDir: join(redis.dir, 'cache2') });
    try {
      expect((await call(secured.url, 'GET', '/health')).json.redis.ok).toBe(true);
      const data = await call(secured.url, 'POST', '/v1/artifacts?kind=data&filename=d.json', {
        body: '{}',
        headers: { 'content-type': 'application/octet-stream' },
      });
      expect(data.status).toBe(201);
      await expect(wrong.redis.ping()).rejects.toThrow(/WRONGPASS|NOAUTH/);
    } finally {
      wrong.redis.disconnect();
      await secured.close();
      await redis.destroy();
    }
  });
});
