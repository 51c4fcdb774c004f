import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type ApiApp, type ApiConfig } from '@landscape/api';
import type { JobSystem, JobSystemOptions } from '@landscape/jobs';
import pino from 'pino';
import { RedisServer } from '../harness/redis';
import { CLI } from '../support/cli';

export interface TestApi {
  url: string;
  api: ApiApp;
  system: JobSystem;
  close(): Promise<void>;
}

/** A logger that keeps warnings and errors (a 500 would show up in the test output). */
export const quietLogger = pino({ level: process.env.API_TEST_LOG ?? 'error' });

/** The API in this process on a free port, over the given job system or a new one. */
export async function startApi(jobs: ApiConfig['jobs'], options: Omit<ApiConfig, 'jobs'> = {}): Promise<TestApi> {
  const api = await createApp({ jobs, logger: quietLogger, ...options });
  const url = await api.listen(0, '127.0.0.1');
  return { url, api, system: api.system, close: () => api.close() };
}

/** A private Redis plus a job system on it (artifacts and results in Redis), for tests of the HTTP layer. */
export async function startRedisSystem(options: JobSystemOptions = {}): Promise<{ redis: RedisServer; jobs: JobSystemOptions; close(): Promise<void> }> {
  const redis = await RedisServer.start();
  const tmp = mkdtempSync(join(tmpdir(), 'landscape-api-'));
  return {
    redis,
    jobs: { redisUrl: redis.url, prefix: 'apitest', cacheDir: join(tmp, 'cache'), artifacts: { maxBytes: 256 * 1024 }, ...options },
    async close() {
      await redis.destroy();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function call(
  url: string,
  method: string,
  path: string,
  init: { body?: RequestInit['body']; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<Answer> {
  const response = await fetch(`${url}${path}`, { method, body: init.body, headers: init.headers, ...(init.signal ? { signal: init.signal } : {}) });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

export const postJson = (url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Answer> =>
  call(url, 'POST', path, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

/**
 * Runs the built `landscape` CLI without blocking this process (the API under test runs in it, so a
 * synchronous spawn would deadlock).
 */
export function runCliAsync(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  timeoutMs = 120_000,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`landscape ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
