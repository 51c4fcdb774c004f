import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Module, PayloadTooLargeException, type DynamicModule, type INestApplication, type Provider } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter, MulterModule, type NestExpressApplication } from '@nestjs/platform-express';
import { ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import { createJobSystem, createLogger, OPEN_OWNER, type JobSystem, type JobSystemOptions } from '@landscape/jobs';
import type { Logger } from 'pino';
import { ArtifactsController, isMultipart } from './artifacts.controller';
import type { AuthenticatedRequest } from './auth';
import { DEFAULT_SETTINGS, type ApiSettings } from './config';
import { ApiExceptionFilter } from './errors';
import { HealthController, type ReadinessCheck } from './health.controller';
import { JobsController } from './jobs.controller';
import { PinoNestLogger, requestLogger } from './logging';
import { setupOpenApi } from './openapi';
import { CSP, limitJsonDepth, securityHeaders } from './security';
import { SessionController } from './session.controller';
import { browserAuth, SessionStore } from './session';
import { RequestTimeoutInterceptor, withTimeout } from './timeout';
import { API_SETTINGS, ARTIFACT_STORE, JOB_SERVICE, READINESS, SESSION_STORE, WORKER_REGISTRY } from './tokens';
import { ValidateController } from './validate.controller';
import { isPublicPath, mountBrowserApps, QUEUE_DASHBOARD_PATH } from './web';
import { WorkersController } from './workers.controller';

export interface ApiConfig extends Partial<ApiSettings> {
  /**
   * The job system: its configuration (the app creates it and closes it with itself) or a system created by the
   * caller (which keeps owning it).
   */
  jobs: JobSystemOptions | JobSystem;
  logger?: Logger;
}

export interface ApiApp {
  app: INestApplication;
  system: JobSystem;
  logger: Logger;
  /** Starts listening (port 0 = any free port) and returns the base URL. */
  listen(port: number, host?: string): Promise<string>;
  close(): Promise<void>;
}

/** Rate limits count per key; without keys, per client address (everyone is the open owner then). */
function rateLimitTracker(req: Record<string, unknown>): string {
  const principal = (req as unknown as AuthenticatedRequest).principal;
  return principal && principal.owner !== OPEN_OWNER ? `key:${principal.owner}` : `ip:${String(req.ip)}`;
}

@Module({})
class ApiModule {
  static forRoot(system: JobSystem, settings: Required<ApiSettings>, ready: ReadinessCheck, sessions: SessionStore): DynamicModule {
    const limited = settings.rateLimitPerMinute > 0;
    const signInLimited = settings.signInRatePerMinute > 0;
    const rateLimit: Provider[] = limited || signInLimited ? [{ provide: APP_GUARD, useClass: ThrottlerGuard }] : [];
    return {
      module: ApiModule,
      // Multipart model uploads: in memory (they go to the artifact store next), each part within the artifact limit.
      imports: [
        MulterModule.register({
          limits: { fileSize: settings.maxArtifactBytes, files: settings.maxModelFiles, fields: 16, parts: settings.maxModelFiles + 16 },
        }),
        ThrottlerModule.forRoot({
          throttlers: [
            { name: 'default', ttl: 60_000, limit: Math.max(1, settings.rateLimitPerMinute), skipIf: () => !limited },
            // Sign-in is where keys get guessed: counted per client address, on top of the general limit.
            {
              name: 'signIn',
              ttl: 60_000,
              limit: Math.max(1, settings.signInRatePerMinute),
              getTracker: (req) => `ip:${String(req.ip)}`,
              skipIf: (context) => !signInLimited || context.getHandler() !== SessionController.prototype.signIn,
            },
          ],
          getTracker: rateLimitTracker,
        }),
      ],
      controllers: [ValidateController, JobsController, ArtifactsController, WorkersController, HealthController, SessionController],
      providers: [
        ...rateLimit,
        { provide: JOB_SERVICE, useValue: system.service },
        { provide: ARTIFACT_STORE, useValue: system.artifacts },
        { provide: WORKER_REGISTRY, useValue: system.workers },
        { provide: API_SETTINGS, useValue: settings },
        { provide: READINESS, useValue: ready },
        { provide: SESSION_STORE, useValue: sessions },
      ],
    };
  }
}

function isJobSystem(value: JobSystemOptions | JobSystem): value is JobSystem {
  return typeof (value as JobSystem).service === 'object' && typeof (value as JobSystem).close === 'function';
}

/** Rejects a multipart upload by its declared length before reading it (multipart framing gets 1 MiB of slack). */
function multipartLengthLimit(maxBytes: number) {
  return (req: IncomingMessage, _res: ServerResponse, next: (error?: unknown) => void): void => {
    const length = Number(req.headers['content-length']);
    if (isMultipart(req) && Number.isFinite(length) && length > maxBytes + 1024 * 1024) {
      return next(new PayloadTooLargeException(`upload of ${length} bytes exceeds the limit of ${maxBytes} bytes`));
    }
    next();
  };
}

const pathOf = (req: IncomingMessage): string => (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');

/**
 * Express under Nest, on a Node server that cuts off slow clients: headers must arrive within
 * `headersTimeoutMs`, the whole request within `bodyTimeoutMs`, and idle keep-alive connections close after
 * `keepAliveTimeoutMs` (Node checks every `timeoutCheckIntervalMs`).
 */
class TimedExpressAdapter extends ExpressAdapter {
  constructor(private readonly timeouts: Pick<ApiSettings, 'headersTimeoutMs' | 'bodyTimeoutMs' | 'keepAliveTimeoutMs' | 'timeoutCheckIntervalMs'>) {
    super();
  }

  override initHttpServer(): void {
    const server = createServer(
      {
        headersTimeout: Math.min(this.timeouts.headersTimeoutMs, this.timeouts.bodyTimeoutMs),
        requestTimeout: this.timeouts.bodyTimeoutMs,
        connectionsCheckingInterval: this.timeouts.timeoutCheckIntervalMs,
      },
      this.getInstance(),
    );
    server.keepAliveTimeout = this.timeouts.keepAliveTimeoutMs;
    this.setHttpServer(server);
  }
}

/** Routes whose body is JSON (job specs, the spec check, sign-in). */
const JSON_PATHS = new Set(['/v1/jobs', '/v1/jobs/validate', '/v1/session']);

/** How often the API removes jobs past the result TTL, with their result files (listings sweep too). */
const RETENTION_SWEEP_MS = 60_000;

/** Builds the HTTP API around a job system (not listening yet: call listen). */
export async function createApp(config: ApiConfig): Promise<ApiApp> {
  const logger = config.logger ?? createLogger({ level: process.env.LOG_LEVEL ?? 'info', base: { app: 'landscape-api' } });
  const owned = !isJobSystem(config.jobs);
  const system = isJobSystem(config.jobs) ? config.jobs : createJobSystem(config.jobs);
  try {
    const { jobs: _jobs, logger: _logger, ...given } = config;
    const defined = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined)) as Partial<ApiSettings>;
    const settings: Required<ApiSettings> = { ...DEFAULT_SETTINGS, maxArtifactBytes: system.config.artifacts.maxBytes, ...defined };
    // The ping gets less time than a request, so /health reports an outage itself instead of timing out.
    const pingTimeoutMs = Math.min(2000, Math.ceil(settings.requestTimeoutMs / 2));
    const ready = async (): Promise<void> => void (await withTimeout(system.redis.ping(), pingTimeoutMs));
    const sessions = new SessionStore(system.redis, system.config.prefix);
    const app = await NestFactory.create<NestExpressApplication>(ApiModule.forRoot(system, settings, ready, sessions), new TimedExpressAdapter(settings), {
      bodyParser: false,
      logger: new PinoNestLogger(logger),
      abortOnError: false,
    });
    app.useGlobalFilters(new ApiExceptionFilter(logger));
    app.useGlobalInterceptors(new RequestTimeoutInterceptor(settings.requestTimeoutMs));
    const express = app.getHttpAdapter().getInstance() as { disable(name: string): void };
    express.disable('x-powered-by');
    // Order matters: request id + log first, then auth (before any body is read), then the web app and the body parsers.
    app.use(requestLogger(logger));
    app.use(securityHeaders({ '/docs': CSP.docs, [QUEUE_DASHBOARD_PATH]: CSP.docs }));
    app.use(browserAuth({ keys: settings.apiKeys, adminKeys: settings.adminKeys }, sessions, isPublicPath));
    mountBrowserApps(app, system, logger);
    app.use('/v1/artifacts', multipartLengthLimit(settings.maxArtifactBytes));
    // Raw uploads: any content type but multipart (multer takes those in the route).
    app.useBodyParser('raw', { type: (req: IncomingMessage) => pathOf(req) === '/v1/artifacts' && !isMultipart(req), limit: settings.maxArtifactBytes });
    // Job specs are JSON whatever the content type says (curl -d sends form encoding by default).
    app.useBodyParser('json', {
      type: (req: IncomingMessage) => JSON_PATHS.has(pathOf(req)),
      limit: settings.maxBodyBytes,
      verify: limitJsonDepth(settings.maxJsonDepth),
    });
    setupOpenApi(app);
    const sweep = setInterval(
      () => void system.service.sweepExpired().catch((error: Error) => logger.warn({ err: error.message }, 'retention sweep failed')),
      RETENTION_SWEEP_MS,
    ).unref();
    let closed = false;
    return {
      app,
      system,
      logger,
      async listen(port, host = '127.0.0.1') {
        await app.listen(port, host);
        const address = app.getHttpServer().address() as AddressInfo;
        const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
        return `http://${shownHost}:${address.port}`;
      },
      async close() {
        if (closed) return;
        closed = true;
        clearInterval(sweep);
        await app.close();
        if (owned) await system.close();
      },
    };
  } catch (error) {
    if (owned) await system.close();
    throw error;
  }
}
