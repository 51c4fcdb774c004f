import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { ApiResponseOptions } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { ARTIFACT_KINDS, JOB_STATUSES, specKinds } from '@landscape/jobs';

const ISSUE_SCHEMA: SchemaObject = {
  type: 'object',
  properties: { field: { type: 'string', example: 'grid.x' }, reason: { type: 'string', example: 'must be [min, max, steps] with min < max' } },
  required: ['field', 'reason'],
};

export const ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  properties: {
    statusCode: { type: 'integer', example: 400 },
    error: { type: 'string', example: 'Bad Request' },
    message: { type: 'string' },
    issues: { type: 'array', items: ISSUE_SCHEMA, description: 'Only on 400: one entry per offending field.' },
    requestId: { type: 'string' },
  },
  required: ['statusCode', 'error', 'message'],
};

const error = (status: number, description: string): ApiResponseOptions => ({ status, description, schema: ERROR_SCHEMA });

export const ERROR_RESPONSES = {
  badRequest: error(400, 'Invalid input; `issues` names every offending field.'),
  unauthorized: error(401, 'Missing or wrong API key (only when the server has LANDSCAPE_API_KEYS).'),
  notFound: error(404, 'No such job, file or artifact.'),
  tooLarge: error(413, 'Body over the limit (LANDSCAPE_MAX_BODY_BYTES, LANDSCAPE_ARTIFACT_MAX_BYTES).'),
};

const ARTIFACT_REF = 'an artifact id from POST /v1/artifacts (sha256:<64 hex>)';

/**
 * The job spec, described for humans (the kinds and their fields are in docs/job-spec.md); the server validates
 * it with the one zod schema of @landscape/core, whose kinds are listed here from the schema itself.
 */
export const JOB_SPEC_SCHEMA: SchemaObject = {
  type: 'object',
  description: 'A job spec (docs/job-spec.md). Every model/data/weight-set/trajectory ref is ' + ARTIFACT_REF + '.',
  required: ['kind', 'model', 'data'],
  properties: {
    kind: { type: 'string', enum: specKinds() },
    model: { description: ARTIFACT_REF + ' (train jobs: or a built-in architecture object)' },
    data: { description: ARTIFACT_REF + ', {path, format?, target?, y?, keys?, scale?, subset?} or {synthetic, n, seed?, classes?, noise?, shape?}' },
    loss: { type: 'string', example: 'sparse_categorical_crossentropy' },
    to: { type: 'string', description: 'line only: the second model of an interpolation (' + ARTIFACT_REF + ')' },
    directions: {
      type: 'object',
      description: 'x (and y for surfaces): {seed} | {file: weight-set artifact} | {model: model artifact}; normalization, bias, orthogonalize',
    },
    grid: { type: 'object', description: 'x (and y): [min, max, steps]' },
    tiles: { type: 'object', properties: { x: { type: 'integer' }, y: { type: 'integer' } } },
    trajectory: { description: 'trajectory jobs: a trajectory artifact, or weight-set artifacts in order' },
  },
  example: {
    kind: 'surface',
    model: 'sha256:…',
    data: 'sha256:…',
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { seed: 1 }, y: { seed: 2 } },
    grid: { x: [-1, 1, 21], y: [-1, 1, 21] },
  },
};

export const JOB_VIEW_SCHEMA: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    kind: { type: 'string', enum: specKinds() },
    status: { type: 'string', enum: [...JOB_STATUSES] },
    progress: {
      type: 'object',
      properties: { tilesDone: { type: 'integer' }, tilesTotal: { type: 'integer' }, pointsDone: { type: 'integer' }, pointsTotal: { type: 'integer' } },
    },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    etaSeconds: { type: 'number', description: 'While running, from the points done so far.' },
    error: { type: 'string', description: 'Why the job failed.' },
    workers: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'string' }, host: { type: 'string' }, backend: { type: 'string' }, tiles: { type: 'integer' } } },
    },
    tiles: { type: 'integer', description: 'POST only: number of tiles (queue jobs).' },
    points: { type: 'integer', description: 'POST only: number of grid points.' },
  },
  required: ['id', 'kind', 'status', 'progress', 'createdAt', 'workers'],
};

export const ARTIFACT_SCHEMA: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string', example: 'sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08' },
    kind: { type: 'string', enum: [...ARTIFACT_KINDS] },
    size: { type: 'integer' },
    filename: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
  required: ['id', 'kind', 'size', 'createdAt'],
};

/** The OpenAPI document at /docs-json and Swagger UI at /docs. */
export function setupOpenApi(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Loss landscape API')
    .setDescription(
      'Submit loss-landscape jobs (lines, surfaces) that a pool of workers computes tile by tile. Upload models, data and weight sets first (POST /v1/artifacts), then submit a spec that names them by artifact id.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'One of LANDSCAPE_API_KEYS (only when the server sets it).' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), { jsonDocumentUrl: 'docs-json' });
}
