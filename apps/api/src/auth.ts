import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createParamDecorator, UnauthorizedException, type ExecutionContext } from '@nestjs/common';
import { FULL_ACCESS, type Access } from '@landscape/jobs';

/** Paths reachable without a key: liveness/readiness probes carry no credentials. */
const OPEN_PATHS = new Set(['/health']);

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The stable, non-secret id of a key: the first 16 hex digits of its SHA-256. Jobs and uploads record it as
 * their owner; the key itself is never stored or logged.
 */
export function keyIdOf(key: string): string {
  return digest(key).toString('hex').slice(0, 16);
}

/** The request's caller, as bearerAuth found it (the open owner with full access when the API has no keys). */
export type Principal = Access;

export type AuthenticatedRequest = IncomingMessage & { principal?: Principal };

export interface KeySet {
  /** Keys that see their own jobs and artifacts. */
  keys: readonly string[];
  /** Keys that see and manage everyone's. */
  adminKeys: readonly string[];
}

/** Whether the API has keys at all (without any, every caller is the open owner with full access). */
export const hasKeys = ({ keys, adminKeys }: KeySet): boolean => keys.length + adminKeys.length > 0;

/**
 * The caller a key is, or undefined for no known key. Keys are compared as SHA-256 digests with timingSafeEqual,
 * every key checked (no early exit), so timing does not reveal which key came close; an admin entry wins.
 */
export function keyMatcher({ keys, adminKeys }: KeySet): (given: string) => Principal | undefined {
  const known = [...keys.map((key) => ({ key, admin: false })), ...adminKeys.map((key) => ({ key, admin: true }))].map(({ key, admin }) => ({
    digest: digest(key),
    principal: { owner: keyIdOf(key), admin },
  }));
  return (given) => {
    const candidate = digest(given);
    let found: Principal | undefined;
    for (const entry of known) if (timingSafeEqual(entry.digest, candidate) && (!found || entry.principal.admin)) found = entry.principal;
    return found;
  };
}

/**
 * Express middleware run before any body is read, so unauthenticated clients cannot make the server buffer
 * uploads. Sets `req.principal` (and keeps one an earlier authenticator, e.g. a browser session, set).
 */
export function bearerAuth(keySet: KeySet): (req: AuthenticatedRequest, res: ServerResponse, next: (error?: unknown) => void) => void {
  const match = keyMatcher(keySet);
  const open = !hasKeys(keySet);
  return (req, _res, next) => {
    if (req.principal) return next();
    if (open) {
      req.principal = FULL_ACCESS;
      return next();
    }
    const path = (req.url ?? '/').split('?')[0]!;
    if (OPEN_PATHS.has(path)) return next();
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!bearer) return next(new UnauthorizedException('missing "Authorization: Bearer <key>" header'));
    const found = match(bearer[1]!);
    if (!found) return next(new UnauthorizedException('invalid API key'));
    req.principal = found;
    next();
  };
}

/** The caller of a route handler (`@Caller() caller: Principal`). */
export const Caller = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new UnauthorizedException('not authenticated');
  return principal;
});
