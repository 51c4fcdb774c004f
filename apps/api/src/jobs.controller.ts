import type { IncomingMessage, ServerResponse } from 'node:http';
import { Body, ConflictException, Controller, Delete, Get, Headers, HttpCode, Inject, NotFoundException, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiHeader, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { JOB_STATUSES, type JobList, type JobService, type JobView, type ResultFile } from '@landscape/jobs';
import { Caller, type Principal } from './auth';
import { badParameter, checkFileName, checkJobId, queryEnum, queryInt } from './params';
import { sendFile, sendJson } from './respond';
import { resultFilePolicy } from './security';
import type { Logger } from 'pino';
import type { RequestWithDeadline } from './timeout';
import { ERROR_RESPONSES, JOB_SPEC_SCHEMA, JOB_VIEW_SCHEMA } from './openapi';
import { JOB_SERVICE } from './tokens';

@ApiTags('jobs')
@ApiBearerAuth()
@ApiResponse(ERROR_RESPONSES.unauthorized)
@Controller('v1/jobs')
export class JobsController {
  constructor(@Inject(JOB_SERVICE) private readonly jobs: JobService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Submit a job',
    description: 'The body is a job spec (docs/job-spec.md); model, data and direction refs are artifact ids from POST /v1/artifacts.',
  })
  @ApiBody({ schema: JOB_SPEC_SCHEMA })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Any string up to 200 characters: a retried submit with the same key (and API key) answers the job the first created.',
  })
  @ApiResponse({ status: 202, description: 'Accepted: the job is queued.', schema: JOB_VIEW_SCHEMA })
  @ApiResponse(ERROR_RESPONSES.badRequest)
  @ApiResponse({ status: 409, description: 'The Idempotency-Key was used with another spec, or its first request is still in progress.' })
  @ApiResponse(ERROR_RESPONSES.tooLarge)
  async submit(
    @Body() body: unknown,
    @Caller() caller: Principal,
    @Headers('idempotency-key') idempotencyKey: unknown,
    @Req() req: RequestWithDeadline & { log?: Logger },
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<JobView & { units: number; points: number }> {
    if (idempotencyKey !== undefined && (typeof idempotencyKey !== 'string' || idempotencyKey.length < 1 || idempotencyKey.length > 200))
      throw badParameter('Idempotency-Key', 'must be one header of 1 to 200 characters');
    const submitted = this.jobs.submit(body, {
      owner: caller.owner,
      admin: caller.admin,
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(req.deadline ? { signal: req.deadline } : {}),
    });
    // Once the client got its 503 nobody awaits this answer any more: say how the abandoned submission ended.
    req.deadline?.addEventListener('abort', () => {
      submitted.then(
        (job) => req.log?.warn({ jobId: job.id }, 'abandoned submission ended: job created'),
        (error: unknown) => req.log?.warn({ reason: (error as Error).message }, 'abandoned submission ended: no job created'),
      );
    });
    const view = await submitted;
    res.setHeader('location', `/v1/jobs/${view.id}`);
    return { ...view, units: view.progress.unitsTotal, points: view.progress.pointsTotal };
  }

  @Get()
  @ApiOperation({ summary: 'List jobs, newest first' })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 200, default: 20 } })
  @ApiQuery({ name: 'status', required: false, enum: JOB_STATUSES })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: { items: { type: 'array', items: JOB_VIEW_SCHEMA }, total: { type: 'integer' }, offset: { type: 'integer' }, limit: { type: 'integer' } },
    },
  })
  @ApiResponse(ERROR_RESPONSES.badRequest)
  async list(
    @Caller() caller: Principal,
    @Query('offset') offset: unknown,
    @Query('limit') limit: unknown,
    @Query('status') status: unknown,
  ): Promise<JobList> {
    const filter = queryEnum(status, 'status', JOB_STATUSES);
    return this.jobs.list(
      {
        offset: queryInt(offset, 'offset', 0, 0, 1_000_000_000),
        limit: queryInt(limit, 'limit', 20, 1, 200),
        ...(filter ? { status: filter } : {}),
      },
      caller,
    );
  }

  @Get(':id')
  @ApiOperation({ summary: 'Status, progress, timestamps, ETA, error and workers of one job' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ schema: JOB_VIEW_SCHEMA })
  @ApiResponse(ERROR_RESPONSES.notFound)
  async get(@Caller() caller: Principal, @Param('id') id: string): Promise<JobView> {
    return found(await this.jobs.get(checkJobId(id), caller), `no job ${id}`);
  }

  @Get(':id/result')
  @ApiOperation({ summary: 'result.json of a completed job' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ description: 'The result document (as written by `landscape run`).', schema: { type: 'object' } })
  @ApiResponse(ERROR_RESPONSES.notFound)
  @ApiResponse({ status: 409, description: 'The job has not completed.' })
  async result(@Caller() caller: Principal, @Param('id') id: string, @Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
    const view = found(await this.jobs.get(checkJobId(id), caller), `no job ${id}`);
    if (view.status !== 'completed') throw new ConflictException(`job ${id} is ${view.status}; its result exists once it is completed`);
    // The stored bytes as written (NaN/Infinity kept as strings, as in `landscape run`'s result.json).
    sendFile(req, res, found(await this.jobs.file(id, 'result.json', caller), `job ${id} has no result.json`));
  }

  @Get(':id/files')
  @ApiOperation({ summary: 'Names and sizes of the files a completed job wrote (result.json, plots, exports)' })
  @ApiParam({ name: 'id' })
  @ApiResponse(ERROR_RESPONSES.notFound)
  async files(@Caller() caller: Principal, @Param('id') id: string): Promise<{ items: ResultFile[] }> {
    return { items: found(await this.jobs.files(checkJobId(id), caller), `no job ${id}`) };
  }

  @Get(':id/files/:name')
  @ApiOperation({ summary: 'Download one file of a completed job' })
  @ApiParam({ name: 'id' })
  @ApiParam({ name: 'name', example: 'result.json' })
  @ApiOkResponse({ description: 'The file, with a content type from its extension, its SHA-256 as ETag and Digest, and a sandboxing CSP for HTML and SVG.' })
  @ApiResponse(ERROR_RESPONSES.notFound)
  async file(
    @Caller() caller: Principal,
    @Param('id') id: string,
    @Param('name') name: string,
    @Req() req: IncomingMessage,
    @Res() res: ServerResponse,
  ): Promise<void> {
    const file = found(await this.jobs.file(checkJobId(id), checkFileName(name), caller), `job ${id} has no file ${name}`);
    const policy = resultFilePolicy(file.contentType);
    sendFile(req, res, file, policy ? { 'content-security-policy': policy } : {});
  }

  @Delete(':id')
  @ApiOperation({
    summary: 'Cancel a job (queued units are dropped, running ones stop at the next point); with ?purge=true also delete it and its files',
  })
  @ApiParam({ name: 'id' })
  @ApiQuery({ name: 'purge', required: false, enum: ['true', 'false'] })
  @ApiOkResponse({ schema: JOB_VIEW_SCHEMA })
  @ApiResponse({ status: 204, description: 'Deleted (purge=true).' })
  @ApiResponse(ERROR_RESPONSES.notFound)
  async cancel(@Caller() caller: Principal, @Param('id') id: string, @Query('purge') rawPurge: unknown, @Res() res: ServerResponse): Promise<void> {
    const purge = queryEnum(rawPurge, 'purge', ['true', 'false', '1', '0']);
    if (purge === 'true' || purge === '1') {
      if (!(await this.jobs.remove(checkJobId(id), caller))) throw new NotFoundException(`no job ${id}`);
      res.statusCode = 204;
      res.end();
      return;
    }
    sendJson(res, found(await this.jobs.cancel(checkJobId(id), caller), `no job ${id}`));
  }
}

function found<T>(value: T | null | undefined, message: string): T {
  if (value === null || value === undefined) throw new NotFoundException(message);
  return value;
}
