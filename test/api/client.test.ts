import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApiClient, ClientError, uploadSpecRefs } from '@landscape/cli/dist/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, startApi, startRedisSystem, type TestApi } from './support';

/** The CLI's upload step against a real API: which refs become which artifacts. */
const M1 = join(REFERENCE_DIR, 'm1_mlp');
const sha = (path: string): string => `sha256:${createHash('sha256').update(readFileSync(path)).digest('hex')}`;

let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let server: TestApi;
let client: ApiClient;

beforeAll(async () => {
  backing = await startRedisSystem();
  server = await startApi(backing.jobs, { maxArtifactBytes: 1024 * 1024 });
  client = new ApiClient({ api: server.url });
});

afterAll(async () => {
  await server?.close();
  await backing?.close();
});

describe('uploadSpecRefs', () => {
  it('uploads each local file once, as the right kind, and rewrites only file refs', async () => {
    const seedDirection = { seed: 7 };
    const spec = {
      kind: 'surface',
      model: 'model_trained',
      data: { path: 'dataset.json', format: 'json' },
      loss: 'sparse_categorical_crossentropy',
      directions: { x: { file: 'direction_d1_raw.json' }, y: { model: 'model_init/model.json' } },
      grid: { x: [-1, 1, 3], y: [-1, 1, 3] },
    };
    const rewritten = (await uploadSpecRefs(client, spec, M1)) as typeof spec & { directions: { x: { file: string }; y: { model: string } } };
    expect(rewritten.data).toEqual({ path: sha(join(M1, 'dataset.json')), format: 'json' });
    expect(rewritten.directions.x.file).toBe(sha(join(M1, 'direction_d1_raw.json')));
    expect(rewritten.model).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rewritten.directions.y.model).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(rewritten.directions.y.model).not.toBe(rewritten.model);
    expect(rewritten.grid).toEqual(spec.grid);
    expect(spec.model).toBe('model_trained'); // the input is not modified

    const kinds = await Promise.all(
      [rewritten.model, rewritten.data.path, rewritten.directions.x.file].map(async (id) => (await call(server.url, 'GET', `/v1/artifacts/${id}`)).json),
    );
    expect(kinds.map((info) => info.kind)).toEqual(['model', 'data', 'weights']);
    expect(kinds[1].filename).toBe('dataset.json');

    // Already-uploaded refs stay as they are; a seed direction has nothing to upload.
    const again = await uploadSpecRefs(client, { ...rewritten, directions: { x: { file: rewritten.directions.x.file }, y: seedDirection } }, '/nonexistent');
    expect(again).toEqual({ ...rewritten, directions: { x: { file: rewritten.directions.x.file }, y: seedDirection } });
  });

  it('uploads a trajectory given as weight-set files', async () => {
    const spec = {
      kind: 'trajectory',
      model: 'model_trained',
      data: 'dataset.json',
      loss: 'sparse_categorical_crossentropy',
      trajectory: ['weights_init.json', 'weights_trained.json', sha(join(M1, 'weights_init.json'))],
      // Below half of the 3 checkpoints (checked when the spec is validated).
      neighbors: 1,
    };
    const rewritten = (await uploadSpecRefs(client, spec, M1)) as typeof spec;
    expect(rewritten.trajectory).toEqual([sha(join(M1, 'weights_init.json')), sha(join(M1, 'weights_trained.json')), sha(join(M1, 'weights_init.json'))]);
    expect((await call(server.url, 'GET', `/v1/artifacts/${rewritten.trajectory[1]}`)).json.kind).toBe('weights');
  });

  it('names the field of a file that is missing, and refuses an invalid spec before uploading', async () => {
    const spec = { kind: 'line', model: 'model_trained', to: 'model_nowhere', data: 'dataset.json', loss: 'mse', grid: { x: [0, 1, 3] } };
    const missing = await uploadSpecRefs(client, spec, M1).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(ClientError);
    expect((missing as Error).message).toMatch(/^to: model file not found/);
    const invalid = await uploadSpecRefs(client, { ...spec, grid: { x: [1, 0, 3] } }, M1).catch((error: unknown) => error);
    expect((invalid as Error).message).toMatch(/^grid\.x: /);
  });
});
