import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis, Result } from 'ioredis';

/**
 * The job and artifact stores' Lua scripts, kept as .lua files in the package (libs/jobs/lua, beside src/ and dist/, so
 * both read them at the same relative path) and registered with ioredis' defineCommand: sent once with
 * SCRIPT LOAD, then called by hash (EVALSHA), reloaded by ioredis after a Redis restart.
 */
const LUA_DIR = join(__dirname, '..', 'lua');

const SCRIPTS = {
  landscapeTransition: { file: 'transition.lua', keys: 1 },
  landscapePutResult: { file: 'put-result.lua', keys: 5 },
  landscapeProgress: { file: 'progress.lua', keys: 2 },
  landscapePublishArtifact: { file: 'publish-artifact.lua', keys: 3 },
  landscapeRemoveArtifact: { file: 'remove-artifact.lua', keys: 2 },
} as const;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    landscapeTransition(job: string, to: string, allowed: string, stampField: string, now: string, error: string): Result<number, Context>;
    landscapePutResult(
      results: string,
      progress: string,
      workers: string,
      workerUnits: string,
      job: string,
      unitId: string,
      result: string,
      work: string,
      workerId: string,
      workerInfo: string,
      backend: string,
      now: string,
    ): Result<number, Context>;
    landscapeProgress(progress: string, results: string, unitId: string, done: string): Result<number, Context>;
    landscapePublishArtifact(temp: string, data: string, uploads: string, owner: string, info: string, sent: 'bytes' | 'none'): Result<number, Context>;
    landscapeRemoveArtifact(data: string, uploads: string, owner: string): Result<number, Context>;
  }
}

/** The connection with the scripts defined on it (idempotent). */
export function withScripts(redis: Redis): Redis {
  for (const [name, { file, keys }] of Object.entries(SCRIPTS)) {
    if (typeof (redis as unknown as Record<string, unknown>)[name] === 'function') continue;
    redis.defineCommand(name, { numberOfKeys: keys, lua: readFileSync(join(LUA_DIR, file), 'utf8') });
  }
  return redis;
}
