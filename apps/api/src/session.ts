import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ForbiddenException, UnauthorizedException } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { FULL_ACCESS } from '@landscape/jobs';
import { bearerAuth, hasKeys, type AuthenticatedRequest, type KeySet, type Principal } from './auth';

/** Browser sign-in: a random session id in an HttpOnly, SameSite=Strict cookie; the key itself never leaves the server. */
export const SESSION_COOKIE = 'landscape_session';
export const CSRF_HEADER = 'x-csrf-token';
export const SESSION_TTL_SECONDS = 12 * 3600;

export interface Session {
  /** Every write made with the cookie must send it back in the x-csrf-token header (synchronizer token). */
  csrfToken: string;
  /** Who signed in: the key id (never the key) and whether it is an admin key. */
  principal: Principal;
  createdAt: string;
}

/** A request the session cookie authenticated (set by browserAuth). */
export type SessionRequest = IncomingMessage & { session?: Session };

const token = (): string => randomBytes(32).toString('base64url');
const idDigest = (id: string): string => createHash('sha256').update(id).digest('hex');

/**
 * Sessions in the job system's Redis (so every API replica knows them), under the digest of their id: a Redis
 * dump does not reveal usable cookies. They expire after SESSION_TTL_SECONDS.
 */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly ttlSeconds = SESSION_TTL_SECONDS,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:session:${idDigest(id)}`;
  }

  async create(principal: Principal): Promise<{ id: string; session: Session }> {
    const id = token();
    const session: Session = { csrfToken: token(), principal, createdAt: new Date().toISOString() };
    await this.redis.set(this.key(id), JSON.stringify(session), 'EX', this.ttlSeconds);
    return { id, session };
  }

  async get(id: string): Promise<Session | undefined> {
    const stored = await this.redis.get(this.key(id));
    return stored ? (JSON.parse(stored) as Session) : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }
}

export function sessionIdOf(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE && value.length) return value.join('=');
  }
  return undefined;
}

/** Secure when the browser reached us over TLS (directly or through a proxy that says so). */
const overTls = (req: IncomingMessage): boolean => (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';

export function setSessionCookie(req: IncomingMessage, res: ServerResponse, id: string, maxAgeSeconds: number): void {
  const secure = overTls(req) ? '; Secure' : '';
  res.setHeader('set-cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure}`);
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function sameToken(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Authentication for every route when keys are set: a Bearer header (scripts) as before, or else the session
 * cookie (browsers), whose writes also need the session's CSRF token. Either names the caller (`req.principal`),
 * so a browser sees exactly what its key sees. `isPublic` names what needs neither
 * (the sign-in route, the web app's static files); /health stays open through bearerAuth.
 */
export function browserAuth(
  keySet: KeySet,
  sessions: SessionStore,
  isPublic: (method: string, path: string) => boolean,
): (req: AuthenticatedRequest, res: ServerResponse, next: (error?: unknown) => void) => void {
  const bearer = bearerAuth(keySet);
  const open = !hasKeys(keySet);
  return (req, res, next) => {
    if (open) {
      req.principal = FULL_ACCESS;
      return next();
    }
    if (isPublic(req.method ?? 'GET', (req.url ?? '/').split('?')[0]!)) return next();
    const id = sessionIdOf(req);
    if (req.headers.authorization !== undefined || id === undefined) return bearer(req, res, next);
    sessions.get(id).then((session) => {
      if (!session) return next(new UnauthorizedException('the session has expired or was signed out; sign in again'));
      if (WRITES.has(req.method ?? '') && !sameToken(req.headers[CSRF_HEADER], session.csrfToken)) {
        return next(new ForbiddenException(`a write with the session cookie needs the ${CSRF_HEADER} header that GET /v1/session gives`));
      }
      (req as SessionRequest).session = session;
      req.principal = session.principal;
      next();
    }, next);
  };
}
