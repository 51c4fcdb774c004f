import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { safeFilename } from './artifacts';

/** The files a finished job produced (result.json, plots, exports). */
export interface ResultFile {
  name: string;
  size: number;
}

export interface ResultStore {
  put(jobId: string, name: string, bytes: Buffer): Promise<void>;
  get(jobId: string, name: string): Promise<Buffer | null>;
  list(jobId: string): Promise<ResultFile[]>;
  remove(jobId: string): Promise<void>;
}

function checkName(name: string): string {
  const safe = safeFilename(name);
  if (!safe || safe !== name) throw new Error(`result file name '${name}' must be a plain file name`);
  return name;
}

export class RedisResultStore implements ResultStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(jobId: string): string {
    return `${this.prefix}:job:${jobId}:files`;
  }

  async put(jobId: string, name: string, bytes: Buffer): Promise<void> {
    await this.redis.hset(this.key(jobId), checkName(name), bytes);
  }

  async get(jobId: string, name: string): Promise<Buffer | null> {
    return this.redis.hgetBuffer(this.key(jobId), name);
  }

  async list(jobId: string): Promise<ResultFile[]> {
    const names = (await this.redis.hkeys(this.key(jobId))).sort();
    const sizes = await Promise.all(names.map((name) => this.redis.hstrlen(this.key(jobId), name)));
    return names.map((name, i) => ({ name, size: sizes[i]! }));
  }

  async remove(jobId: string): Promise<void> {
    await this.redis.del(this.key(jobId));
  }
}

/** `<dir>/<jobId>/<name>`: a directory shared by API and workers. */
export class FsResultStore implements ResultStore {
  constructor(private readonly dir: string) {}

  async put(jobId: string, name: string, bytes: Buffer): Promise<void> {
    await mkdir(join(this.dir, checkName(jobId)), { recursive: true });
    await writeFile(join(this.dir, jobId, checkName(name)), bytes);
  }

  async get(jobId: string, name: string): Promise<Buffer | null> {
    if (safeFilename(jobId) !== jobId || safeFilename(name) !== name) return null;
    return readFile(join(this.dir, jobId, name)).catch(() => null);
  }

  async list(jobId: string): Promise<ResultFile[]> {
    if (safeFilename(jobId) !== jobId) return [];
    const names = await readdir(join(this.dir, jobId)).catch(() => [] as string[]);
    const files = await Promise.all(names.sort().map(async (name) => ({ name, size: (await stat(join(this.dir, jobId, name))).size })));
    return files;
  }

  async remove(jobId: string): Promise<void> {
    if (safeFilename(jobId) === jobId) await rm(join(this.dir, jobId), { recursive: true, force: true });
  }
}

const CONTENT_TYPES: Record<string, string> = {
  json: 'application/json',
  html: 'text/html; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
  csv: 'text/csv; charset=utf-8',
  txt: 'text/plain; charset=utf-8',
  h5: 'application/x-hdf5',
  vtk: 'application/octet-stream',
};

export function contentTypeOf(name: string): string {
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}
