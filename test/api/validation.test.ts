import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { architectureParameters, buildModel, checkLimits, DEFAULT_LIMITS, layoutSize, parseJobSpec } from '@landscape/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFERENCE_DIR } from '../support/fixtures';
import { call, postJson, startApi, startRedisSystem, type Answer, type TestApi } from './support';

/**
 * Everything the hostile run found that must be a 400 naming the field: sizes refused before anything is built,
 * server limits a client cannot raise, artifacts of the wrong kind, malformed model uploads, deep JSON.
 */
const M1 = join(REFERENCE_DIR, 'm1_mlp');
let backing: Awaited<ReturnType<typeof startRedisSystem>>;
let server: TestApi;
let ids: { model: string; data: string; weights: string; trajectory: string };

function upload(kind: string, file: string): Promise<Answer> {
  return call(server.url, 'POST', `/v1/artifacts?kind=${kind}&filename=${file}`, {
    body: readFileSync(join(M1, file)),
    headers: { 'content-type': 'application/octet-stream' },
  });
}

function modelForm(modelJson: unknown, weights = readFileSync(join(M1, 'model_trained', 'weights.bin'))): FormData {
  const form = new FormData();
  form.append('files', new Blob([JSON.stringify(modelJson)]), 'model.json');
  form.append('files', new Blob([weights]), 'weights.bin');
  return form;
}

function expect400(answer: Answer, field: string): void {
  expect(answer.status, answer.text.slice(0, 400)).toBe(400);
  expect(answer.json.issues.map((issue: { field: string }) => issue.field)).toContain(field);
}

beforeAll(async () => {
  backing = await startRedisSystem();
  server = await startApi(backing.jobs, { maxBodyBytes: 4 * 1024 * 1024 });
  const form = new FormData();
  for (const name of ['model.json', 'weights.bin']) form.append('files', new Blob([readFileSync(join(M1, 'model_trained', name))]), name);
  ids = {
    model: (await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: form })).json.id,
    data: (await upload('data', 'dataset.json')).json.id,
    weights: (await upload('weights', 'weights_init.json')).json.id,
    trajectory: (await upload('trajectory', 'trajectory.json')).json.id,
  };
});

afterAll(async () => {
  await server?.close();
  await backing?.close();
});

const surface = (): Record<string, unknown> => ({
  kind: 'surface',
  model: ids.model,
  data: ids.data,
  loss: 'sparse_categorical_crossentropy',
  directions: { x: { seed: 1 }, y: { seed: 2 } },
  grid: { x: [-1, 1, 5], y: [-1, 1, 5] },
});

describe('sizes are checked before anything is built', () => {
  it('refuses grids of 1e9, 5e9, 2^53 and 1e308 steps with a 400 on grid (the API used to build the axis and crash)', async () => {
    for (const steps of [1e9, 5e9, 2 ** 53, 1e308]) {
      expect400(await postJson(server.url, '/v1/jobs', { ...surface(), grid: { x: [-1, 1, steps], y: [-1, 1, 5] } }), 'grid');
      expect400(
        await postJson(server.url, '/v1/jobs', { kind: 'line', model: ids.model, to: ids.model, data: ids.data, loss: 'mse', grid: { x: [0, 1, steps] } }),
        'grid',
      );
    }
    // The API is still there, and a fitting grid is accepted.
    expect((await call(server.url, 'GET', '/health')).status).toBe(200);
    expect((await postJson(server.url, '/v1/jobs', surface())).status).toBe(202);
  });

  it('refuses a trajectory grid of [1e9, 2], a 1e10-parameter architecture, 10,000 × 10,000 density runs', async () => {
    const trajectory = { kind: 'trajectory', model: ids.model, data: ids.data, loss: 'sparse_categorical_crossentropy', trajectory: ids.trajectory };
    expect400(await postJson(server.url, '/v1/jobs', { ...trajectory, grid: { steps: [1e9, 2] } }), 'grid.steps');
    const huge = { type: 'mlp', input: [100_000], hidden: [{ units: 100_000 }], outputs: 10 };
    expect400(await postJson(server.url, '/v1/jobs', { kind: 'train', model: huge, data: ids.data, loss: 'sparse_categorical_crossentropy' }), 'model');
    expect400(
      await postJson(server.url, '/v1/jobs', {
        ...surface(),
        kind: 'hessian',
        directions: undefined,
        grid: undefined,
        density: { runs: 10_000, steps: 10_000 },
      }),
      'density',
    );
    expect400(await postJson(server.url, '/v1/jobs', { ...trajectory, autoencoder: { epochs: 100_000 } }), 'autoencoder.epochs');
  });

  it('refuses ranges that overflow to Infinity and 1e308 noise or learning rates', async () => {
    expect400(await postJson(server.url, '/v1/jobs', { ...surface(), grid: { x: [-1e308, 1e308, 3], y: [-1, 1, 3] } }), 'grid.x');
    const spirals = { synthetic: 'spirals', n: 100, noise: 1e308 };
    const train = {
      kind: 'train',
      model: { type: 'mlp', input: [2], hidden: [{ units: 4 }], outputs: 2 },
      data: spirals,
      loss: 'sparse_categorical_crossentropy',
    };
    expect400(await postJson(server.url, '/v1/jobs', train), 'data.noise');
    expect400(await postJson(server.url, '/v1/jobs', { ...train, data: { ...spirals, noise: 0.1 }, learningRate: 1e308 }), 'learningRate');
  });

  it('has no spec field for the point limit: `limits` is an unknown field, and the server limit holds', async () => {
    const answer = await postJson(server.url, '/v1/jobs', { ...surface(), limits: { maxPoints: 1e308 }, grid: { x: [-1, 1, 1e5], y: [-1, 1, 1e5] } });
    expect400(answer, 'limits');
    expect400(await postJson(server.url, '/v1/jobs', { ...surface(), grid: { x: [-1, 1, 201], y: [-1, 1, 201] } }), 'grid');
  });

  it('bounds the fan-out: tiles {x: 1, y: 1} on 100 × 100 is a 400 on tiles, not 10,000 queue jobs', async () => {
    const answer = await postJson(server.url, '/v1/jobs', { ...surface(), grid: { x: [-1, 1, 100], y: [-1, 1, 100] }, tiles: { x: 1, y: 1 } });
    expect400(answer, 'tiles');
    expect(answer.json.issues.map((issue: { reason: string }) => issue.reason).join(' ')).toMatch(/minimum of 16 points|limit of 1024 units/);
    // Tiles of 16 points on a 40 × 40 grid are 100 units: fine.
    expect((await postJson(server.url, '/v1/jobs', { ...surface(), grid: { x: [-1, 1, 40], y: [-1, 1, 40] }, tiles: { x: 16, y: 1 } })).status).toBe(202);
  });

  it('bounds the units of kinds without tiles too (a hessian trace in batches of one probe)', async () => {
    const hessian = { kind: 'hessian', model: ids.model, data: ids.data, loss: 'sparse_categorical_crossentropy', trace: { samples: 2000, batch: 1 } };
    const answer = await postJson(server.url, '/v1/jobs', hessian);
    expect400(answer, '(spec)');
    expect(answer.json.issues[0].reason).toMatch(/units of work exceed the limit of 1024/);
    expect((await postJson(server.url, '/v1/jobs', { ...hessian, trace: { samples: 2000, batch: 20 } })).status).toBe(202);
  });

  it('answers 400 for JSON nested 150,000 levels deep (and the API stays up)', async () => {
    for (const body of ['['.repeat(150_000) + ']'.repeat(150_000), '{"a":'.repeat(150_000) + '1' + '}'.repeat(150_000)]) {
      const answer = await call(server.url, 'POST', '/v1/jobs', { body, headers: { 'content-type': 'application/json' } });
      expect400(answer, '(body)');
    }
    expect((await call(server.url, 'GET', '/health')).status).toBe(200);
  });
});

describe('artifact references are checked against the kind their field takes', () => {
  it('answers 400 naming the field for a data id as the model, a model id as data, wrong-kind direction files', async () => {
    expect400(await postJson(server.url, '/v1/jobs', { ...surface(), model: ids.data }), 'model');
    expect400(await postJson(server.url, '/v1/jobs', { ...surface(), data: ids.model }), 'data');
    expect400(await postJson(server.url, '/v1/jobs', { ...surface(), directions: { x: { file: ids.data }, y: { seed: 1 } } }), 'directions.x.file');
    expect400(await postJson(server.url, '/v1/jobs', { ...surface(), directions: { x: { seed: 1 }, y: { model: ids.weights } } }), 'directions.y.model');
    const trajectory = { kind: 'trajectory', model: ids.model, data: ids.data, loss: 'sparse_categorical_crossentropy' };
    expect400(await postJson(server.url, '/v1/jobs', { ...trajectory, trajectory: ids.weights }), 'trajectory');
    expect400(await postJson(server.url, '/v1/jobs', { ...trajectory, trajectory: [ids.weights, ids.trajectory, ids.weights], neighbors: 1 }), 'trajectory.1');
    // The right kinds pass.
    expect((await postJson(server.url, '/v1/jobs', { ...surface(), directions: { x: { file: ids.weights }, y: { seed: 1 } } })).status).toBe(202);
  });

  it('answers 400 for a checkpoint interval beyond the steps and neighbours of half the checkpoints or more', async () => {
    const train = {
      kind: 'train',
      model: { type: 'mlp', input: [2], hidden: [{ units: 4 }], outputs: 2 },
      data: { synthetic: 'spirals', n: 64 },
      loss: 'sparse_categorical_crossentropy',
      epochs: 2,
      batchSize: 32,
    };
    // 2 epochs × 2 batches = 4 steps.
    expect400(await postJson(server.url, '/v1/jobs', { ...train, checkpointEvery: 5 }), 'checkpointEvery');
    expect((await postJson(server.url, '/v1/jobs', { ...train, checkpointEvery: 4 })).status).toBe(202);
    const trajectory = { kind: 'trajectory', model: ids.model, data: ids.data, loss: 'sparse_categorical_crossentropy' };
    const weights = [ids.weights, ids.weights, ids.weights, ids.weights];
    expect400(await postJson(server.url, '/v1/jobs', { ...trajectory, trajectory: weights, neighbors: 2 }), 'neighbors');
    expect400(await postJson(server.url, '/v1/jobs', { ...trajectory, trajectory: weights, neighbors: 1, umap: { nNeighbors: 4 } }), 'umap.nNeighbors');
  });
});

describe('malformed model uploads', () => {
  const original = JSON.parse(readFileSync(join(M1, 'model_trained', 'model.json'), 'utf8'));
  const layers = 'modelTopology.config.layers';
  const cases: { name: string; edit: (json: any) => void; field: string }[] = [
    { name: 'weightsManifest [null]', edit: (json) => (json.weightsManifest = [null]), field: 'model.json.weightsManifest.0' },
    { name: 'weightsManifest [{}]', edit: (json) => (json.weightsManifest = [{}]), field: 'model.json.weightsManifest.0.paths' },
    { name: 'weights [null]', edit: (json) => (json.weightsManifest[0].weights = [null]), field: 'model.json.weightsManifest.0.weights.0' },
    { name: 'a weight without a name', edit: (json) => delete json.weightsManifest[0].weights[1].name, field: 'model.json.weightsManifest.0.weights.1.name' },
    { name: 'shape "big"', edit: (json) => (json.weightsManifest[0].weights[0].shape = 'big'), field: 'model.json.weightsManifest.0.weights.0.shape' },
    { name: 'layers [null]', edit: (json) => (json.modelTopology.config.layers = [null]), field: `model.json.${layers}.0` },
    { name: 'a layer without a config', edit: (json) => delete json.modelTopology.config.layers[1].config, field: `model.json.${layers}.1.config` },
    {
      name: 'Reshape without target_shape',
      edit: (json) => json.modelTopology.config.layers.splice(1, 0, { class_name: 'Reshape', config: { name: 'reshape' } }),
      field: `model.json.${layers}.1.config.target_shape`,
    },
    { name: 'no modelTopology', edit: (json) => delete json.modelTopology, field: 'model.json.modelTopology' },
  ];
  for (const { name, edit, field } of cases) {
    it(`answers 400 on ${field} for ${name}`, async () => {
      const json = structuredClone(original);
      edit(json);
      expect400(await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: modelForm(json) }), field);
    });
  }

  it('answers 400 for a model.json nested 100,000 levels deep', async () => {
    const form = new FormData();
    // Within the test server's 256 KiB upload limit.
    form.append('files', new Blob([`{"modelTopology":${'['.repeat(100_000)}${']'.repeat(100_000)}}`]), 'model.json');
    expect400(await call(server.url, 'POST', '/v1/artifacts?kind=model', { body: form }), 'files');
  });
});

describe('limits are counted from the spec alone', () => {
  it('counts the parameters of built-in architectures as buildModel builds them', () => {
    // Independent count: the weights buildModel actually allocates (tfjs-layers' layout of the built model.json).
    const architectures = [
      { type: 'mlp' as const, input: [4], hidden: [{ units: 12, activation: 'tanh' as const }], outputs: 3 },
      { type: 'mlp' as const, input: [4, 4], hidden: [], outputs: 5 },
      {
        type: 'cnn' as const,
        input: [12, 12, 2] as [number, number, number],
        conv: [
          { filters: 3, kernel: 3, activation: 'relu' as const, pool: true },
          { filters: 4, kernel: 2, activation: 'relu' as const, pool: false },
        ],
        hidden: [{ units: 6, activation: 'relu' as const }],
        outputs: 2,
      },
      { type: 'resnet' as const, depth: 14, width: 4, input: [8, 8, 3] as [number, number, number], outputs: 5, skip: true },
      { type: 'resnet' as const, depth: 8, width: 3, input: [8, 8, 2] as [number, number, number], outputs: 4, skip: false },
      {
        type: 'mobilenet' as const,
        input: [8, 8, 3] as [number, number, number],
        stem: 4,
        blocks: [
          { filters: 6, strides: 1 as const },
          { filters: 8, strides: 2 as const },
        ],
        outputs: 3,
      },
    ];
    for (const architecture of architectures) {
      expect(architectureParameters(architecture)).toBe(layoutSize(buildModel(architecture, 1).description.layout));
    }
  });

  it('uses the caller’s limits (the CLI passes its --max-points)', () => {
    const spec = parseJobSpec({ kind: 'line', model: 'm', to: 'n', data: 'd', loss: 'mse', grid: { x: [0, 1, 50] } });
    expect(checkLimits(spec, { maxPoints: 49 })).toEqual([{ field: 'grid', reason: '50 points exceed the limit of 49' }]);
    expect(checkLimits(spec, DEFAULT_LIMITS)).toEqual([]);
  });
});
