import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateJobSpec, withSpecReference } from '@landscape/core';
import { call, startApi, startRedisSystem, type TestApi } from '../api/support';

/**
 * The OpenAPI document's job spec and docs/job-spec.md's field reference are generated from the zod schema:
 * the served document accepts every example in examples/ and in the docs (as zod does), refuses what zod
 * refuses for a missing or unknown field, and the docs' generated section is what the schema gives now.
 */
const ROOT = join(__dirname, '..', '..');
const EXAMPLES = join(ROOT, 'examples');
const DOC = join(ROOT, 'docs', 'job-spec.md');

/** OpenAPI 3.0 writes exclusive bounds the draft-04 way (`minimum` + `exclusiveMinimum: true`); Ajv reads draft-07. */
function draft7(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(draft7);
  if (!node || typeof node !== 'object') return node;
  const out = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, draft7(value)])) as Record<string, unknown>;
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (out[flag] === true) {
      out[flag] = out[bound];
      delete out[bound];
    } else if (out[flag] === false) delete out[flag];
  }
  return out;
}

function docExamples(): unknown[] {
  const text = readFileSync(DOC, 'utf8');
  return [...text.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]!) as unknown);
}

describe('generated job spec schema', () => {
  let redis: Awaited<ReturnType<typeof startRedisSystem>>;
  let api: TestApi;
  let validate: (spec: unknown) => boolean;

  beforeAll(async () => {
    redis = await startRedisSystem();
    api = await startApi(redis.jobs);
    // Let the job system finish connecting before the suite closes it again.
    await api.system.queue.counts();
    const doc = await call(api.url, 'GET', '/docs-json');
    expect(doc.status).toBe(200);
    const schema = doc.json.paths['/v1/jobs'].post.requestBody.content['application/json'].schema;
    // OpenAPI 3.0 schema objects are JSON Schema plus a few keywords Ajv does not know (example, nullable).
    const ajv = new Ajv({ strict: false, allErrors: true });
    validate = ajv.compile(draft7(schema) as object);
  });
  afterAll(async () => {
    await api?.close();
    await redis?.close();
  });

  it('accepts every example of examples/ and docs/job-spec.md, like zod', () => {
    const examples = [
      ...readdirSync(EXAMPLES)
        .filter((name) => name.endsWith('.job.json'))
        .map((name) => JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as unknown),
      ...docExamples(),
    ];
    expect(examples.length).toBeGreaterThanOrEqual(12);
    const kinds = new Set(examples.map((example) => (example as { kind: string }).kind));
    expect([...kinds].sort()).toEqual(['curvature', 'hessian', 'line', 'surface', 'train', 'trajectory']);
    for (const example of examples) {
      expect(validateJobSpec(example).ok, JSON.stringify(example)).toBe(true);
      expect(validate(example), JSON.stringify(example)).toBe(true);
    }
  });

  it('refuses a spec without a required field, with an unknown field or a wrong type, like zod', () => {
    const surface = JSON.parse(readFileSync(join(EXAMPLES, 'surface-mlp.job.json'), 'utf8')) as Record<string, unknown>;
    const { loss: _loss, ...withoutLoss } = surface;
    const hessian = JSON.parse(readFileSync(join(EXAMPLES, 'hessian-mlp.job.json'), 'utf8')) as Record<string, unknown>;
    for (const bad of [
      withoutLoss,
      { ...surface, typo: 1 },
      { ...surface, loss: 'hinge' },
      { ...surface, grid: { x: [-1, 1, 'many'], y: [-1, 1, 3] } },
      { ...hessian, top: { k: 0 } },
    ]) {
      expect(validateJobSpec(bad).ok, JSON.stringify(bad)).toBe(false);
      expect(validate(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it("docs/job-spec.md's field reference is the one the schema generates (npm run docs)", () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(withSpecReference(doc)).toBe(doc);
  });
});
