import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { ApiResponseOptions } from '@nestjs/swagger';
import type { SchemaObject } from '@nestjs/swagger/dist/interfaces/open-api-spec.interface';
import { jobSpecOpenApiSchema, specKinds } from '@landscape/core';
import { ARTIFACT_KINDS, JOB_STATUSES } from '@landscape/jobs';

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

/** Generated from the one zod schema of @landscape/core (the server validates with that schema itself). */
export const JOB_SPEC_SCHEMA = jobSpecOpenApiSchema() as SchemaObject;

export const JOB_VIEW_SCHEMA: SchemaObject = {
  type: 'object',
  properties: {
    id: { type: 'string', format: 'uuid' },
    kind: { type: 'string', enum: specKinds() },
    status: { type: 'string', enum: [...JOB_STATUSES] },
    waitingFor: { type: 'string', enum: ['workers'], description: 'Set while an active job has no live worker to run it.' },
    owner: { type: 'string', description: 'Key id of the submitter (never the key itself).' },
    progress: {
      type: 'object',
      properties: { unitsDone: { type: 'integer' }, unitsTotal: { type: 'integer' }, pointsDone: { type: 'integer' }, pointsTotal: { type: 'integer' } },
    },
    createdAt: { type: 'string', format: 'date-time' },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    etaSeconds: { type: 'number', description: 'While running, from the points done so far.' },
    error: { type: 'string', description: 'Why the job failed.' },
    result: {
      type: 'object',
      description: 'Completed jobs: the SHA-256 of result.json, and where the result holds NaN or ±Infinity.',
      properties: {
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        nonFinite: {
          type: 'object',
          properties: {
            count: { type: 'integer', description: 'Non-finite numbers in result.json.' },
            fields: { type: 'object', additionalProperties: { type: 'integer' }, description: 'Count per result field.' },
            warning: { type: 'string' },
          },
          required: ['count', 'fields', 'warning'],
        },
      },
      required: ['sha256'],
    },
    workers: {
      type: 'array',
      items: { type: 'object', properties: { id: { type: 'string' }, host: { type: 'string' }, backend: { type: 'string' }, units: { type: 'integer' } } },
    },
    units: { type: 'integer', description: 'POST only: number of units (queue jobs).' },
    points: { type: 'integer', description: 'POST only: number of grid points.' },
  },
  required: ['id', 'kind', 'status', 'owner', 'progress', 'createdAt', 'workers'],
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
      'Submit loss-landscape jobs (lines, surfaces, Hessian spectra, curvature maps, training runs, trajectory embeddings) that a pool of workers computes unit by unit. Upload models, data and weight sets first (POST /v1/artifacts), then submit a spec that names them by artifact id.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'One of LANDSCAPE_API_KEYS (only when the server sets it).' })
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config), { jsonDocumentUrl: 'docs-json' });
}
