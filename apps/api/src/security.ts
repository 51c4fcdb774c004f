import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadRequestException } from '@nestjs/common';

/**
 * Content-Security-Policy by what is served. The API's own answers are data (JSON, downloads) and load
 * nothing; Swagger UI loads its own scripts and styles; a job's HTML and SVG files are the job's output, so they
 * run sandboxed (an opaque origin without the API's cookies or storage) with only the inline code they carry.
 * A route that serves something else (e.g. a web app at /) sets its own policy: `script-src 'self'`.
 */
export const CSP = {
  api: "default-src 'none'; frame-ancestors 'none'",
  docs: "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
  resultHtml: "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; sandbox allow-scripts",
  resultSvg: "default-src 'none'; style-src 'unsafe-inline'; sandbox",
  /** The web app at `/`: its own bundled scripts only; plotly sets inline styles and draws into data:/blob: images. */
  webApp:
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; frame-src 'self'; frame-ancestors 'none'",
} as const;

/** The policy of a job's result file, by its content type (undefined: the API default stays). */
export function resultFilePolicy(contentType: string): string | undefined {
  if (contentType.startsWith('text/html')) return CSP.resultHtml;
  if (contentType.startsWith('image/svg')) return CSP.resultSvg;
  return undefined;
}

/**
 * Headers on every answer: no MIME sniffing (a stored file is only ever what its content type says), no
 * referrer, and the default CSP for the path (`policies` maps path prefixes to policies, longest first).
 */
export function securityHeaders(policies: Record<string, string> = { '/docs': CSP.docs }) {
  const prefixes = Object.keys(policies).sort((a, b) => b.length - a.length);
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const path = (req.url ?? '/').split('?')[0]!;
    const prefix = prefixes.find((candidate) => path === candidate || path.startsWith(`${candidate.replace(/\/$/, '')}/`) || candidate === '/');
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('content-security-policy', prefix ? policies[prefix]! : CSP.api);
    next();
  };
}

/**
 * The deepest nesting of arrays/objects in JSON text, read without parsing (strings skipped), stopping as soon
 * as it passes `max`: a body nested 150,000 levels deep is refused before any recursive code sees it.
 */
export function jsonDepthExceeds(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    if (inString) {
      if (byte === 0x5c)
        i++; // backslash: skip the escaped character
      else if (byte === 0x22) inString = false;
    } else if (byte === 0x22) {
      inString = true;
    } else if (byte === 0x5b || byte === 0x7b) {
      if (++depth > max) return true;
    } else if (byte === 0x5d || byte === 0x7d) {
      depth--;
    }
  }
  return false;
}

/** body-parser `verify` hook: a 400 (naming the body) for JSON nested deeper than `max`. */
export function limitJsonDepth(max: number) {
  return (_req: IncomingMessage, _res: ServerResponse, body: Buffer): void => {
    if (jsonDepthExceeds(body, max)) {
      throw new BadRequestException({
        message: `(body): JSON nested deeper than ${max} levels`,
        issues: [{ field: '(body)', reason: `JSON nested deeper than ${max} levels` }],
      });
    }
  };
}
