import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Post,
  Req,
  Res,
  UnauthorizedException,
  UnsupportedMediaTypeException,
} from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { hasKeys, keyMatcher, type Principal } from './auth';
import type { ApiSettings } from './config';
import { ERROR_RESPONSES } from './openapi';
import { SESSION_STORE, API_SETTINGS } from './tokens';
import { sessionIdOf, setSessionCookie, type SessionStore } from './session';

export interface SessionState {
  /** The server has API keys (LANDSCAPE_API_KEYS). */
  authRequired: boolean;
  authenticated: boolean;
  /** With a session cookie: send it as `x-csrf-token` on every write. */
  csrfToken?: string;
}

const SESSION_SCHEMA = {
  type: 'object',
  properties: { authRequired: { type: 'boolean' }, authenticated: { type: 'boolean' }, csrfToken: { type: 'string' } },
};

/** Browser sign-in with an API key (the web app's sign-in page); scripts keep sending the Bearer header instead. */
@ApiTags('session')
@Controller('v1/session')
export class SessionController {
  private readonly match: (key: string) => Principal | undefined;

  constructor(
    @Inject(SESSION_STORE) private readonly sessions: SessionStore,
    @Inject(API_SETTINGS) private readonly settings: ApiSettings,
  ) {
    this.match = keyMatcher({ keys: settings.apiKeys, adminKeys: settings.adminKeys });
  }

  private get authRequired(): boolean {
    return hasKeys({ keys: this.settings.apiKeys, adminKeys: this.settings.adminKeys });
  }

  @Get()
  @ApiOperation({ summary: 'Whether this client is signed in (never needs a key); with a session cookie, its CSRF token' })
  @ApiOkResponse({ schema: SESSION_SCHEMA })
  async state(@Req() req: IncomingMessage): Promise<SessionState> {
    if (!this.authRequired) return { authRequired: false, authenticated: true };
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (bearer) return { authRequired: true, authenticated: this.match(bearer[1]!) !== undefined };
    const id = sessionIdOf(req);
    const session = id ? await this.sessions.get(id) : undefined;
    return session ? { authRequired: true, authenticated: true, csrfToken: session.csrfToken } : { authRequired: true, authenticated: false };
  }

  @Post()
  @HttpCode(200)
  @ApiOperation({ summary: 'Sign in with an API key: sets the HttpOnly, SameSite=Strict session cookie' })
  @ApiBody({ schema: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] } })
  @ApiOkResponse({ schema: SESSION_SCHEMA })
  @ApiResponse(ERROR_RESPONSES.badRequest)
  @ApiResponse(ERROR_RESPONSES.unauthorized)
  @ApiResponse({ status: 415, description: 'The body is not sent as application/json.' })
  async signIn(@Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse, @Body() body: unknown): Promise<SessionState> {
    // A cross-site page cannot send JSON without a CORS preflight (which this API never grants): no login CSRF.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new UnsupportedMediaTypeException('send {"key": "…"} as application/json');
    const key = (body as { key?: unknown } | undefined)?.key;
    if (typeof key !== 'string' || key.length === 0) {
      throw new BadRequestException({ message: 'key: must be a non-empty string', issues: [{ field: 'key', reason: 'must be a non-empty string' }] });
    }
    if (!this.authRequired) return { authRequired: false, authenticated: true };
    const principal = this.match(key);
    if (!principal) throw new UnauthorizedException('invalid API key');
    const { id, session } = await this.sessions.create(principal);
    setSessionCookie(req, res, id, this.sessions.ttlSeconds);
    return { authRequired: true, authenticated: true, csrfToken: session.csrfToken };
  }

  @Delete()
  @HttpCode(204)
  @ApiOperation({ summary: 'Sign out: ends the session and clears its cookie' })
  async signOut(@Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse): Promise<void> {
    const id = sessionIdOf(req);
    if (id) await this.sessions.delete(id);
    setSessionCookie(req, res, '', 0);
  }
}
