import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UnauthorizedException } from '@nestjs/common';

/** Paths reachable without a key: liveness/readiness probes carry no credentials. */
const OPEN_PATHS = new Set(['/health']);

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * The key among `keys` that `given` is, as its SHA-256 digest (hex), or undefined. Keys are compared as digests
 * with timingSafeEqual, every key checked (no early exit), so timing does not reveal which key came close.
 */
export function keyMatcher(keys: readonly string[]): (given: string) => string | undefined {
  const digests = keys.map(digest);
  return (given) => {
    const candidate = digest(given);
    let match: Buffer | undefined;
    for (const key of digests) if (timingSafeEqual(key, candidate)) match = key;
    return match?.toString('hex');
  };
}

/**
 * Express middleware run before any body is read, so unauthenticated clients cannot make the server buffer
 * uploads.
 */
export function bearerAuth(keys: readonly string[]): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const match = keyMatcher(keys);
  return (req, _res, next) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (keys.length === 0 || OPEN_PATHS.has(path)) return next();
    const header = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!bearer) return next(new UnauthorizedException('missing "Authorization: Bearer <key>" header'));
    next(match(bearer[1]!) ? undefined : new UnauthorizedException('invalid API key'));
  };
}
