import { Controller, Get, Inject } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { WorkerRegistry } from '@landscape/jobs';
import { ERROR_RESPONSES } from './openapi';
import { WORKER_REGISTRY } from './tokens';

@ApiTags('workers')
@ApiBearerAuth()
@ApiResponse(ERROR_RESPONSES.unauthorized)
@Controller('v1/workers')
export class WorkersController {
  constructor(@Inject(WORKER_REGISTRY) private readonly workers: WorkerRegistry) {}

  @Get()
  @ApiOperation({ summary: 'Live workers (those whose heartbeat has not expired)' })
  @ApiOkResponse({
    schema: {
      type: 'object',
      properties: {
        items: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              host: { type: 'string' },
              pid: { type: 'integer' },
              backend: { type: 'string' },
              device: { type: 'string' },
              concurrency: { type: 'integer' },
              unitsDone: { type: 'integer' },
              lastHeartbeat: { type: 'string', format: 'date-time' },
            },
          },
        },
      },
    },
  })
  async list(): Promise<{ items: unknown[] }> {
    return { items: await this.workers.list() };
  }
}
