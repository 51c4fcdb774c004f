import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UnauthorizedException } from '@nestjs/common';

/** Paths reachable without a key: liveness/readiness probes carry no credentials. */
const OPEN_PATHS = new Set(['/health']);

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Express middleware run before any body is read, so unauthenticated clients cannot make the server buffer
 * uploads. Keys are compared as SHA-256 digests with timingSafeEqual (equal lengths, no early exit).
 */
export function bearerAuth(keys: readonly string[]): (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
  const digests = keys.map(digest);
  return (req, _res, next) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (digests.length === 0 || OPEN_PATHS.has(path)) return next();
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return next(new UnauthorizedException('missing "Authorization: Bearer <key>" header'));
    const given = digest(match[1]!);
    // Check every key (no early exit) so timing does not reveal which key came close.
    let ok = false;
    for (const key of digests) ok = timingSafeEqual(key, given) || ok;
    next(ok ? undefined : new UnauthorizedException('invalid API key'));
  };
}
