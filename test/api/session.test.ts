import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, postJson, startApi, startRedisSystem, type TestApi } from './support';

/** Browser sessions over plain HTTP (the browser itself is in test/web): cookie, CSRF token, sign-out, the spec check. */
describe('browser sessions', () => {
  let backing: Awaited<ReturnType<typeof startRedisSystem>>;
  let open: TestApi;
  let keyed: TestApi;

  beforeAll(async () => {
    backing = await startRedisSystem();
    open = await startApi(backing.jobs);
    keyed = await startApi(open.system, { apiKeys: ['alpha-key', 'beta-key'], adminKeys: ['admin-key'] });
  });

  afterAll(async () => {
    await keyed?.close();
    await open?.close();
    await backing?.close();
  });

  const signIn = async (key: string) => {
    const answer = await postJson(keyed.url, '/v1/session', { key });
    const cookie = answer.headers.get('set-cookie');
    return { answer, cookie: cookie?.split(';')[0] };
  };

  it('opens a session for a valid key: a random id in the cookie, the CSRF token in the body', async () => {
    const { answer, cookie } = await signIn('beta-key');
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ authRequired: true, authenticated: true });
    expect(answer.headers.get('set-cookie')).toMatch(/^landscape_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
    expect(cookie).not.toContain('beta-key');
    const state = await call(keyed.url, 'GET', '/v1/session', { headers: { cookie: cookie! } });
    expect(state.json).toEqual({ authRequired: true, authenticated: true, csrfToken: answer.json.csrfToken });
    // Two sign-ins are two sessions with their own tokens.
    expect((await signIn('beta-key')).answer.json.csrfToken).not.toBe(answer.json.csrfToken);
  });

  it('refuses wrong keys, non-JSON sign-ins and unknown cookies', async () => {
    const wrong = await signIn('gamma-key');
    expect(wrong.answer.status).toBe(401);
    expect(wrong.cookie).toBeUndefined();
    // A cross-site form can post JSON-looking text/plain, never application/json: such a sign-in is refused.
    const form = await call(keyed.url, 'POST', '/v1/session', { body: JSON.stringify({ key: 'alpha-key' }), headers: { 'content-type': 'text/plain' } });
    expect(form.status).toBe(415);
    expect(form.headers.get('set-cookie')).toBeNull();
    expect((await postJson(keyed.url, '/v1/session', { key: 7 })).json.issues).toEqual([{ field: 'key', reason: 'must be a non-empty string' }]);
    expect((await call(keyed.url, 'GET', '/v1/session')).json).toEqual({ authRequired: true, authenticated: false });
    expect((await call(keyed.url, 'GET', '/v1/jobs', { headers: { cookie: 'landscape_session=forged' } })).status).toBe(401);
  });

  it('needs the CSRF token for cookie writes, not for reads or Bearer writes; sign-out ends the session', async () => {
    const { answer, cookie } = await signIn('alpha-key');
    const spec = { kind: 'line' };
    expect((await call(keyed.url, 'GET', '/v1/jobs', { headers: { cookie: cookie! } })).status).toBe(200);
    expect((await postJson(keyed.url, '/v1/jobs/validate', spec, { cookie: cookie! })).status).toBe(403);
    expect((await postJson(keyed.url, '/v1/jobs/validate', spec, { cookie: cookie!, 'x-csrf-token': 'x'.repeat(43) })).status).toBe(403);
    expect((await postJson(keyed.url, '/v1/jobs/validate', spec, { cookie: cookie!, 'x-csrf-token': answer.json.csrfToken })).status).toBe(200);
    expect((await postJson(keyed.url, '/v1/jobs/validate', spec, { authorization: 'Bearer alpha-key' })).status).toBe(200);

    const out = await call(keyed.url, 'DELETE', '/v1/session', { headers: { cookie: cookie! } });
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/^landscape_session=; .*Max-Age=0/);
    expect((await call(keyed.url, 'GET', '/v1/jobs', { headers: { cookie: cookie! } })).status).toBe(401);
  });

  it('acts as the key it signed in with: a session sees that key’s uploads and no other’s', async () => {
    const upload = await call(keyed.url, 'POST', '/v1/artifacts?kind=data&filename=d.json', {
      body: '{"x": [[1, 2]], "y": [0]}',
      headers: { authorization: 'Bearer alpha-key', 'content-type': 'application/octet-stream' },
    });
    expect(upload.status).toBe(201);
    const path = `/v1/artifacts/${upload.json.id}`;
    expect((await call(keyed.url, 'GET', path, { headers: { cookie: (await signIn('alpha-key')).cookie! } })).status).toBe(200);
    expect((await call(keyed.url, 'GET', path, { headers: { cookie: (await signIn('beta-key')).cookie! } })).status).toBe(404);
    expect((await call(keyed.url, 'GET', path, { headers: { cookie: (await signIn('admin-key')).cookie! } })).status).toBe(200);
  });

  it('serves the web app without a key, and nothing else', async () => {
    const page = await call(keyed.url, 'GET', '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(page.text)![1]!;
    expect((await call(keyed.url, 'GET', asset)).status).toBe(200);
    expect((await call(keyed.url, 'GET', '/assets/missing.js')).status).toBe(404);
    expect((await call(keyed.url, 'GET', '/admin/queues')).status).toBe(401);
    // The dashboard shows every owner's queue jobs: admin keys only, by Bearer header or by their session.
    expect((await call(keyed.url, 'GET', '/admin/queues', { headers: { authorization: 'Bearer alpha-key' } })).status).toBe(403);
    expect((await call(keyed.url, 'GET', '/admin/queues', { headers: { authorization: 'Bearer admin-key' } })).status).toBe(200);
    const admin = await signIn('admin-key');
    expect((await call(keyed.url, 'GET', '/admin/queues', { headers: { cookie: admin.cookie! } })).status).toBe(200);
    expect((await call(open.url, 'GET', '/v1/session')).json).toEqual({ authRequired: false, authenticated: true });
  });

  it('checks a spec with exactly the issues a submission gets', async () => {
    const spec = {
      kind: 'surface',
      model: 'm',
      data: 'd',
      loss: 'hinge',
      directions: { x: { seed: 1 }, y: { seed: -3 } },
      grid: { x: [1, 0, 5], y: [0, 1, 0] },
    };
    const checked = await postJson(open.url, '/v1/jobs/validate', spec);
    const submitted = await postJson(open.url, '/v1/jobs', spec);
    expect(checked.status).toBe(200);
    expect(submitted.status).toBe(400);
    expect(checked.json.valid).toBe(false);
    expect(checked.json.issues).toEqual(submitted.json.issues);
    expect(checked.json.issues.map((issue: { field: string }) => issue.field)).toEqual(
      expect.arrayContaining(['loss', 'directions.y.seed', 'grid.x', 'grid.y.2']),
    );
    const valid = await postJson(open.url, '/v1/jobs/validate', {
      ...spec,
      loss: 'mse',
      directions: { x: { seed: 1 }, y: { seed: 2 } },
      grid: { x: [0, 1, 5], y: [0, 1, 3] },
    });
    expect(valid.json).toMatchObject({ valid: true, issues: [], spec: { kind: 'surface', backend: 'auto', evaluation: { batchSize: 1024 } } });
  });
});
