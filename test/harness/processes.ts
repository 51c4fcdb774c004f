import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

/** A worker process (`node apps/worker/dist/main.js`) started by a test, with its JSON log lines. */
export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  /** Parsed pino lines (and raw lines that are not JSON). */
  logs: Record<string, unknown>[];
  /** Resolves with the first log line whose `msg` matches (and that passes `where`). */
  waitForLog(msg: string | RegExp, options?: { timeoutMs?: number; where?: (line: Record<string, unknown>) => boolean }): Promise<Record<string, unknown>>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const REPO = join(__dirname, '..', '..');
const WORKER_MAIN = join(REPO, 'apps', 'worker', 'dist', 'main.js');
const alive = new Set<ChildProcess>();
process.once('exit', () => alive.forEach((child) => child.kill('SIGKILL')));

export function spawnWorker(env: Record<string, string>): WorkerProcess {
  const child = spawn(process.execPath, [WORKER_MAIN], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  alive.add(child);
  const logs: Record<string, unknown>[] = [];
  const waiters: { test(line: Record<string, unknown>): boolean; resolve(line: Record<string, unknown>): void }[] = [];
  const onLine = (text: string): void => {
    if (!text.trim()) return;
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text, raw: true };
    }
    logs.push(line);
    for (const waiter of [...waiters]) {
      if (waiter.test(line)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      lines.forEach(onLine);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      alive.delete(child);
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid!,
    logs,
    exited,
    kill: (signal) => child.kill(signal),
    waitForLog(msg, options = {}) {
      const matches = (line: Record<string, unknown>): boolean =>
        typeof line.msg === 'string' && (typeof msg === 'string' ? line.msg === msg : msg.test(line.msg)) && (options.where?.(line) ?? true);
      const found = logs.find(matches);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(
            new Error(`worker ${child.pid}: no log '${String(msg)}' within ${options.timeoutMs ?? 30_000} ms; last lines: ${JSON.stringify(logs.slice(-5))}`),
          );
        }, options.timeoutMs ?? 30_000);
        const waiter = {
          test: matches,
          resolve: (line: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(line);
          },
        };
        waiters.push(waiter);
        void exited.then(({ code, signal }) => {
          if (waiters.includes(waiter)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            clearTimeout(timer);
            reject(new Error(`worker ${child.pid} exited (${code ?? signal}) before logging '${String(msg)}': ${JSON.stringify(logs.slice(-5))}`));
          }
        });
      });
    },
  };
}

/** SIGKILLs every worker this process started that is still alive. */
export async function killAllWorkers(): Promise<void> {
  await Promise.all(
    [...alive].map((child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}
