import type { ServerResponse } from 'node:http';
import { Controller, Get, Inject, Res } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { sendJson } from './respond';
import { READINESS } from './tokens';

/** Readiness probe: resolves when the backing store answers, rejects when it does not (it bounds its own wait). */
export type ReadinessCheck = () => Promise<void>;

const HEALTH_SCHEMA = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    live: { type: 'boolean' },
    ready: { type: 'boolean' },
    redis: { type: 'object', properties: { ok: { type: 'boolean' }, latencyMs: { type: 'number' }, error: { type: 'string' } } },
    uptimeSeconds: { type: 'number' },
  },
};

@ApiTags('health')
@SkipThrottle()
@Controller('health')
export class HealthController {
  private readonly started = Date.now();

  constructor(@Inject(READINESS) private readonly ready: ReadinessCheck) {}

  @Get()
  @ApiOperation({ summary: 'Liveness and readiness (Redis ping); never needs an API key' })
  @ApiResponse({ status: 200, description: 'Ready.', schema: HEALTH_SCHEMA })
  @ApiResponse({ status: 503, description: 'Alive but not ready (Redis unreachable).', schema: HEALTH_SCHEMA })
  async health(@Res() res: ServerResponse): Promise<void> {
    const start = performance.now();
    let error: string | undefined;
    try {
      await this.ready();
    } catch (e) {
      error = (e as Error).message;
    }
    const redis = error ? { ok: false, error } : { ok: true, latencyMs: Number((performance.now() - start).toFixed(2)) };
    const body = { status: error ? 'unavailable' : 'ok', live: true, ready: !error, redis, uptimeSeconds: (Date.now() - this.started) / 1000 };
    sendJson(res, body, error ? 503 : 200);
  }
}
