import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, safeFileName } from '@landscape/core';
import type { Redis } from 'ioredis';
import { decodeModelBundle, looksLikeModelBundle } from './model-bundle';
import { withScripts } from './scripts';

/**
 * Uploaded inputs (models, datasets, weight sets, trajectories). The bytes are stored once, addressed by their
 * SHA-256 (job specs refer to them as `sha256:<hex>`, and a worker can verify what it downloaded); the metadata
 * (kind, file name, time) is kept per uploader, so the same bytes uploaded by two keys, or as two kinds, keep
 * what each said about them.
 */
export const ARTIFACT_KINDS = ['model', 'data', 'weights', 'trajectory'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

/** The owner of uploads and jobs made without a key (an open API, tests, the embedded system). */
export const OPEN_OWNER = 'open';

export interface ArtifactMeta {
  kind: ArtifactKind;
  /** Original file name; its extension tells loaders the format (e.g. `.csv`). */
  filename?: string;
}

export interface ArtifactInfo extends ArtifactMeta {
  id: string;
  size: number;
  createdAt: string;
}

export interface ArtifactStore {
  /** Stores the bytes (once) and `owner`'s metadata for them. */
  put(bytes: Buffer, meta: ArtifactMeta, owner?: string): Promise<ArtifactInfo>;
  get(id: string): Promise<Buffer | null>;
  /** `owner`'s upload of the artifact; without an owner, the earliest upload of anyone. */
  info(id: string, owner?: string): Promise<ArtifactInfo | null>;
  /** Drops `owner`'s upload (every upload, without an owner); the bytes go with the last one. False when there was none. */
  remove(id: string, owner?: string): Promise<boolean>;
}

/** An upload over the configured size limit (the API answers 413). */
export class ArtifactTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`artifact of ${size} bytes exceeds the limit of ${maxBytes} bytes`);
    this.name = 'ArtifactTooLargeError';
  }
}

const ID_PATTERN = /^sha256:([0-9a-f]{64})$/;
const OWNER_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isArtifactId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export function artifactId(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** artifactId of large bytes in slices, letting other work run in between (an API answers /health meanwhile). */
export async function artifactIdYielding(bytes: Uint8Array, sliceBytes = 8 * 1024 * 1024): Promise<string> {
  const hash = createHash('sha256');
  for (let offset = 0; offset < bytes.length; offset += sliceBytes) {
    hash.update(bytes.subarray(offset, offset + sliceBytes));
    if (offset + sliceBytes < bytes.length) await new Promise((resolve) => setImmediate(resolve));
  }
  return `sha256:${hash.digest('hex')}`;
}

export function hexOf(id: string): string {
  const match = ID_PATTERN.exec(id);
  if (!match) throw new InputError(`'${id}' is not an artifact id (expected sha256:<64 hex digits>)`);
  return match[1]!;
}

function checkOwner(owner: string): string {
  if (!OWNER_PATTERN.test(owner)) throw new Error(`owner id '${owner}' must match ${OWNER_PATTERN}`);
  return owner;
}

/** Keeps only a plain file name (no directories, no control characters): the core's rule for input names. */
export const safeFilename = safeFileName;

async function checkUpload(bytes: Buffer, meta: ArtifactMeta, maxBytes: number): Promise<ArtifactInfo> {
  if (bytes.length > maxBytes) throw new ArtifactTooLargeError(bytes.length, maxBytes);
  if (!(ARTIFACT_KINDS as readonly string[]).includes(meta.kind)) {
    throw new InputError(`must be one of ${ARTIFACT_KINDS.join(', ')} (got ${JSON.stringify(meta.kind)})`, 'kind');
  }
  // A model must be a bundle so that workers can rebuild the directory loadModel reads. Small ones are decoded
  // here; a large one is only checked for the bundle framing (decoding hundreds of MB would stall the process,
  // and the API has checked every file of it already).
  if (meta.kind === 'model' && (bytes.length <= 1024 * 1024 || !looksLikeModelBundle(bytes))) decodeModelBundle(bytes);
  const filename = safeFilename(meta.filename);
  return { id: await artifactIdYielding(bytes), kind: meta.kind, size: bytes.length, ...(filename ? { filename } : {}), createdAt: new Date().toISOString() };
}

/** The same owner uploading the same bytes with the same kind and name again changes nothing (the first time stays). */
function sameUpload(existing: ArtifactInfo | null, info: ArtifactInfo): existing is ArtifactInfo {
  return existing !== null && existing.kind === info.kind && existing.filename === info.filename;
}

function earliest(infos: ArtifactInfo[]): ArtifactInfo | null {
  return infos.sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0] ?? null;
}

/** Values are split into chunks because a Redis string holds at most 512 MB and big values stall the server. */
export class RedisArtifactStore implements ArtifactStore {
  private readonly redis: Redis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    private readonly maxBytes: number,
    private readonly chunkBytes = 4 * 1024 * 1024,
  ) {
    // Publishing and removal are one step each (scripts), so a concurrent upload and delete of the same
    // content cannot leave an upload without its bytes or bytes without an upload.
    this.redis = withScripts(redis);
  }

  private key(id: string, part: 'uploads' | 'data'): string {
    return `${this.prefix}:artifact:${hexOf(id)}:${part}`;
  }

  async put(bytes: Buffer, meta: ArtifactMeta, owner = OPEN_OWNER): Promise<ArtifactInfo> {
    const info = await checkUpload(bytes, meta, this.maxBytes);
    const existing = await this.info(info.id, checkOwner(owner));
    if (sameUpload(existing, info) && (await this.redis.exists(this.key(info.id, 'data')))) return existing;
    const keys = [this.key(info.id, 'data'), this.key(info.id, 'uploads')];
    // Skip sending the bytes when they are there already; if they vanish meanwhile (a delete), send them after all.
    for (const send of (await this.redis.exists(keys[0]!)) ? [false, true] : [true]) {
      const temp = `${this.prefix}:artifact:upload:${randomBytes(8).toString('hex')}`;
      if (send)
        for (let offset = 0; offset < bytes.length; offset += this.chunkBytes) await this.redis.rpush(temp, bytes.subarray(offset, offset + this.chunkBytes));
      if (!send || bytes.length === 0) await this.redis.rpush(temp, Buffer.alloc(0));
      if ((await this.redis.landscapePublishArtifact(temp, keys[0]!, keys[1]!, owner, JSON.stringify(info), send ? 'bytes' : 'none')) === 1) return info;
      await this.redis.del(temp);
    }
    throw new Error(`artifact ${info.id} could not be stored`);
  }

  async get(id: string): Promise<Buffer | null> {
    if (!isArtifactId(id)) return null;
    const chunks = await this.redis.lrangeBuffer(this.key(id, 'data'), 0, -1);
    return chunks.length ? Buffer.concat(chunks) : null;
  }

  async info(id: string, owner?: string): Promise<ArtifactInfo | null> {
    if (!isArtifactId(id)) return null;
    if (owner !== undefined) {
      const raw = await this.redis.hget(this.key(id, 'uploads'), owner);
      return raw ? (JSON.parse(raw) as ArtifactInfo) : null;
    }
    const all = await this.redis.hvals(this.key(id, 'uploads'));
    return earliest(all.map((raw) => JSON.parse(raw) as ArtifactInfo));
  }

  async remove(id: string, owner?: string): Promise<boolean> {
    if (!isArtifactId(id)) return false;
    return (await this.redis.landscapeRemoveArtifact(this.key(id, 'data'), this.key(id, 'uploads'), owner ?? '')) === 1;
  }
}

/**
 * A directory shared by the API and every worker (NFS, a volume): `<hex>` holds the bytes, `<hex>.uploads/`
 * one `<owner>.json` per upload.
 */
export class FsArtifactStore implements ArtifactStore {
  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  private path(id: string, suffix = ''): string {
    return join(this.dir, `${hexOf(id)}${suffix}`);
  }

  async put(bytes: Buffer, meta: ArtifactMeta, owner = OPEN_OWNER): Promise<ArtifactInfo> {
    const info = await checkUpload(bytes, meta, this.maxBytes);
    const existing = await this.info(info.id, checkOwner(owner));
    if (sameUpload(existing, info) && (await stat(this.path(info.id)).catch(() => null))) return existing;
    const uploads = this.path(info.id, '.uploads');
    await mkdir(uploads, { recursive: true });
    const temp = join(this.dir, `.upload-${randomBytes(8).toString('hex')}`);
    if (!(await stat(this.path(info.id)).catch(() => null))) {
      await writeFile(temp, bytes);
      await rename(temp, this.path(info.id));
    }
    await writeFile(`${temp}.json`, JSON.stringify(info));
    await rename(`${temp}.json`, join(uploads, `${owner}.json`));
    return info;
  }

  async get(id: string): Promise<Buffer | null> {
    if (!isArtifactId(id)) return null;
    return readFile(this.path(id)).catch(() => null);
  }

  async info(id: string, owner?: string): Promise<ArtifactInfo | null> {
    if (!isArtifactId(id) || (owner !== undefined && !OWNER_PATTERN.test(owner))) return null;
    const uploads = this.path(id, '.uploads');
    const names = owner !== undefined ? [`${owner}.json`] : await readdir(uploads).catch(() => [] as string[]);
    const infos = await Promise.all(
      names.map((name) =>
        readFile(join(uploads, name), 'utf8').then(
          (raw) => JSON.parse(raw) as ArtifactInfo,
          () => null,
        ),
      ),
    );
    return earliest(infos.filter((info): info is ArtifactInfo => info !== null));
  }

  async remove(id: string, owner?: string): Promise<boolean> {
    if (!isArtifactId(id) || (owner !== undefined && !OWNER_PATTERN.test(owner))) return false;
    const uploads = this.path(id, '.uploads');
    const names = owner !== undefined ? [`${owner}.json`] : await readdir(uploads).catch(() => [] as string[]);
    const outcomes = await Promise.all(
      names.map((name) =>
        rm(join(uploads, name)).then(
          () => true,
          () => false,
        ),
      ),
    );
    const removed = outcomes.includes(true);
    // rmdir fails while another upload is recorded, which keeps the bytes.
    if (
      removed &&
      (await rmdir(uploads).then(
        () => true,
        () => false,
      ))
    )
      await rm(this.path(id), { force: true });
    return removed;
  }
}
