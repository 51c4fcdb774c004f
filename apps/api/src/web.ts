import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { ForbiddenException } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { JobSystem } from '@landscape/jobs';
import type { Logger } from 'pino';
import type { AuthenticatedRequest } from './auth';
import { sendBytes } from './respond';
import { CSP } from './security';

/** Where the BullMQ dashboard lives (behind the same auth as every route, for admin keys). */
export const QUEUE_DASHBOARD_PATH = '/admin/queues';

/** The web app's built files (apps/web/dist, from `npm run build`); undefined when it was not built. */
function webAppDir(): string | undefined {
  try {
    const dir = join(dirname(require.resolve('@landscape/web/package.json')), 'dist');
    return existsSync(join(dir, 'index.html')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

const WEB_APP_PAGES = new Set(['/', '/index.html']);

/**
 * What a browser fetches before it has signed in: the app's page and its static assets (no data: the app asks
 * GET /v1/session first and shows the sign-in page) and the sign-in route itself.
 */
export function isPublicPath(method: string, path: string): boolean {
  if (path === '/v1/session') return true;
  return (method === 'GET' || method === 'HEAD') && (WEB_APP_PAGES.has(path) || path.startsWith('/assets/'));
}

/**
 * bull-board's page links Google Fonts; the copy it renders here does not (nothing from a CDN at run time: the
 * dashboard falls back to system fonts). Derived from the installed template, so its asset names always match.
 */
function offlineDashboardViews(): string {
  const ui = dirname(require.resolve('@bull-board/ui/package.json'));
  const { version } = JSON.parse(readFileSync(join(ui, 'package.json'), 'utf8')) as { version: string };
  const dir = join(tmpdir(), `landscape-bull-board-${version}`);
  const page = readFileSync(join(ui, 'dist', 'index.ejs'), 'utf8').replace(/<link[^>]*fonts\.googleapis\.com[^>]*>\s*/g, '');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.ejs'), page);
  return dir;
}

/** The web app at `/` (hash routes, so one page) and the BullMQ dashboard, read-only: its actions have no CSRF token. */
export function mountBrowserApps(app: NestExpressApplication, system: JobSystem, logger: Logger): void {
  const dir = webAppDir();
  if (dir) {
    const page = readFileSync(join(dir, 'index.html'));
    // Asset names carry a content hash: cache them for good; the page itself is always revalidated.
    app.useStaticAssets(join(dir, 'assets'), { prefix: '/assets/', index: false, immutable: true, maxAge: '365d', fallthrough: true });
    app.use((req: IncomingMessage, res: ServerResponse, next: () => void) => {
      const path = (req.url ?? '/').split('?')[0]!;
      if ((req.method !== 'GET' && req.method !== 'HEAD') || !WEB_APP_PAGES.has(path)) return next();
      sendBytes(res, page, 'text/html; charset=utf-8', {
        'cache-control': 'no-cache',
        'x-frame-options': 'DENY',
        'x-content-type-options': 'nosniff',
        'content-security-policy': CSP.webApp,
      });
    });
  } else {
    logger.warn('the web app is not built (apps/web/dist): `npm run build` builds it; the API runs without it');
  }
  const board = new ExpressAdapter();
  board.setBasePath(QUEUE_DASHBOARD_PATH);
  createBullBoard({
    queues: [system.queue.units, system.queue.aggregates].map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
    serverAdapter: board,
  });
  board.setViewsPath(offlineDashboardViews());
  // The dashboard shows every owner's queue jobs: admin keys only (everyone without keys, where all are admins).
  const adminOnly = (req: AuthenticatedRequest, _res: ServerResponse, next: (error?: unknown) => void): void =>
    next(req.principal?.admin ? undefined : new ForbiddenException('the queue dashboard needs an admin key'));
  app.use(QUEUE_DASHBOARD_PATH, adminOnly, board.getRouter());
}
