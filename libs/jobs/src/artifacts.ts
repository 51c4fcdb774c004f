import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError, resolveModelJsonPath, safeFileName, type ModelJson, type RefResolver } from '@landscape/core';
import type { Redis } from 'ioredis';

/**
 * Uploaded inputs (models, datasets, weight sets, trajectories), addressed by the SHA-256 of their stored bytes
 * so equal uploads share one entry and a worker can verify what it downloaded. Job specs refer to them as
 * `sha256:<hex>`.
 */
export const ARTIFACT_KINDS = ['model', 'data', 'weights', 'trajectory'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

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
  put(bytes: Buffer, meta: ArtifactMeta): Promise<ArtifactInfo>;
  get(id: string): Promise<Buffer | null>;
  info(id: string): Promise<ArtifactInfo | null>;
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

export function isArtifactId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}

export function artifactId(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

function hexOf(id: string): string {
  const match = ID_PATTERN.exec(id);
  if (!match) throw new InputError(`'${id}' is not an artifact id (expected sha256:<64 hex digits>)`);
  return match[1]!;
}

/** Keeps only a plain file name (no directories, no control characters): the core's rule for input names. */
export const safeFilename = safeFileName;

function makeInfo(bytes: Buffer, meta: ArtifactMeta): ArtifactInfo {
  const filename = safeFilename(meta.filename);
  return { id: artifactId(bytes), kind: meta.kind, size: bytes.length, ...(filename ? { filename } : {}), createdAt: new Date().toISOString() };
}

/** Values are split into chunks because a Redis string holds at most 512 MB and big values stall the server. */
export class RedisArtifactStore implements ArtifactStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly maxBytes: number,
    private readonly chunkBytes = 4 * 1024 * 1024,
  ) {}

  private key(id: string, part: 'meta' | 'data'): string {
    return `${this.prefix}:artifact:${hexOf(id)}:${part}`;
  }

  async put(bytes: Buffer, meta: ArtifactMeta): Promise<ArtifactInfo> {
    if (bytes.length > this.maxBytes) throw new ArtifactTooLargeError(bytes.length, this.maxBytes);
    checkKind(meta, bytes);
    const info = makeInfo(bytes, meta);
    const existing = await this.info(info.id);
    if (existing) return existing;
    // Chunks go to a temporary key that is renamed into place, and the meta key is written last: a reader
    // that sees meta always finds the complete bytes.
    const temp = `${this.prefix}:artifact:upload:${randomBytes(8).toString('hex')}`;
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < bytes.length; offset += this.chunkBytes) chunks.push(bytes.subarray(offset, offset + this.chunkBytes));
    if (chunks.length === 0) chunks.push(Buffer.alloc(0));
    for (const chunk of chunks) await this.redis.rpush(temp, chunk);
    await this.redis.multi().rename(temp, this.key(info.id, 'data')).set(this.key(info.id, 'meta'), JSON.stringify(info)).exec();
    return info;
  }

  async get(id: string): Promise<Buffer | null> {
    if (!isArtifactId(id) || !(await this.info(id))) return null;
    const chunks = await this.redis.lrangeBuffer(this.key(id, 'data'), 0, -1);
    return chunks.length ? Buffer.concat(chunks) : null;
  }

  async info(id: string): Promise<ArtifactInfo | null> {
    if (!isArtifactId(id)) return null;
    const raw = await this.redis.get(this.key(id, 'meta'));
    return raw ? (JSON.parse(raw) as ArtifactInfo) : null;
  }
}

/** A directory shared by the API and every worker (NFS, a volume): `<hex>` holds the bytes, `<hex>.json` the info. */
export class FsArtifactStore implements ArtifactStore {
  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  private path(id: string, suffix = ''): string {
    return join(this.dir, `${hexOf(id)}${suffix}`);
  }

  async put(bytes: Buffer, meta: ArtifactMeta): Promise<ArtifactInfo> {
    if (bytes.length > this.maxBytes) throw new ArtifactTooLargeError(bytes.length, this.maxBytes);
    checkKind(meta, bytes);
    const info = makeInfo(bytes, meta);
    const existing = await this.info(info.id);
    if (existing) return existing;
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `.upload-${randomBytes(8).toString('hex')}`);
    await writeFile(temp, bytes);
    await rename(temp, this.path(info.id));
    await writeFile(`${temp}.json`, JSON.stringify(info));
    await rename(`${temp}.json`, this.path(info.id, '.json'));
    return info;
  }

  async get(id: string): Promise<Buffer | null> {
    if (!isArtifactId(id) || !(await this.info(id))) return null;
    return readFile(this.path(id)).catch(() => null);
  }

  async info(id: string): Promise<ArtifactInfo | null> {
    if (!isArtifactId(id)) return null;
    try {
      return JSON.parse(await readFile(this.path(id, '.json'), 'utf8')) as ArtifactInfo;
    } catch {
      return null;
    }
  }
}

function checkKind(meta: ArtifactMeta, bytes: Buffer): void {
  if (!(ARTIFACT_KINDS as readonly string[]).includes(meta.kind)) {
    throw new InputError(`must be one of ${ARTIFACT_KINDS.join(', ')} (got ${JSON.stringify(meta.kind)})`, 'kind');
  }
  // A model must be a bundle so that workers can rebuild the directory loadModel reads.
  if (meta.kind === 'model') decodeModelBundle(bytes);
}

/**
 * A TensorFlow.js model directory (model.json + weight files) as one canonical byte string: names sorted, so
 * the same files always give the same bytes and therefore the same artifact id.
 */
export const MODEL_BUNDLE_FORMAT = 'landscape-model-bundle';

function checkBundleName(name: string): void {
  if (!name || name !== basename(name) || name === '.' || name === '..' || /[\\/\0]/.test(name)) {
    throw new InputError(`model bundle file name '${name}' must be a plain file name`, 'model');
  }
}

export function encodeModelBundle(files: Record<string, Buffer>): Buffer {
  const names = Object.keys(files).sort();
  names.forEach(checkBundleName);
  if (!names.includes('model.json')) throw new InputError('a model bundle needs a model.json', 'model');
  const encoded: Record<string, string> = {};
  for (const name of names) encoded[name] = files[name]!.toString('base64');
  return Buffer.from(JSON.stringify({ format: MODEL_BUNDLE_FORMAT, files: encoded }));
}

export function decodeModelBundle(bytes: Buffer): Record<string, Buffer> {
  let parsed: { format?: unknown; files?: unknown };
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as typeof parsed;
  } catch {
    throw new InputError(`not a model bundle (expected JSON with format '${MODEL_BUNDLE_FORMAT}')`, 'model');
  }
  if (parsed?.format !== MODEL_BUNDLE_FORMAT || typeof parsed.files !== 'object' || parsed.files === null) {
    throw new InputError(`not a model bundle (expected JSON with format '${MODEL_BUNDLE_FORMAT}')`, 'model');
  }
  // No prototype: a file named '__proto__' must be a file, not a prototype assignment.
  const files: Record<string, Buffer> = Object.create(null) as Record<string, Buffer>;
  for (const [name, value] of Object.entries(parsed.files as Record<string, unknown>)) {
    checkBundleName(name);
    if (typeof value !== 'string') throw new InputError(`model bundle file '${name}' is not base64 text`, 'model');
    files[name] = Buffer.from(value, 'base64');
  }
  if (!files['model.json']) throw new InputError('a model bundle needs a model.json', 'model');
  return files;
}

/** Reads a model directory (or its model.json) and the weight files its manifest names, ready for encodeModelBundle. */
export function readModelDirectory(path: string): Record<string, Buffer> {
  const jsonPath = resolveModelJsonPath(path);
  if (!existsSync(jsonPath)) throw new InputError(`model file not found: ${jsonPath}`);
  const json = readFileSync(jsonPath);
  let manifest: ModelJson['weightsManifest'];
  try {
    manifest = (JSON.parse(json.toString('utf8')) as ModelJson).weightsManifest ?? [];
  } catch (error) {
    throw new InputError(`cannot parse model ${jsonPath}: ${(error as Error).message}`);
  }
  const files: Record<string, Buffer> = { 'model.json': json };
  for (const file of manifest.flatMap((group) => group.paths)) {
    const weightPath = join(dirname(jsonPath), file);
    if (!existsSync(weightPath)) throw new InputError(`${jsonPath}: weight file not found: ${weightPath}`);
    files[file] = readFileSync(weightPath);
  }
  return files;
}

/** Every artifact id in a spec with its dotted field path (generic over job kinds: ids are recognisable strings). */
export function artifactRefs(spec: unknown, path: string[] = []): { id: string; field: string }[] {
  if (isArtifactId(spec)) return [{ id: spec, field: path.join('.') || '(spec)' }];
  if (Array.isArray(spec)) return spec.flatMap((item, i) => artifactRefs(item, [...path, String(i)]));
  if (spec && typeof spec === 'object') return Object.entries(spec).flatMap(([key, value]) => artifactRefs(value, [...path, key]));
  return [];
}

/**
 * A process-local copy of artifacts by hash: a model bundle becomes a directory loadModel can read, anything
 * else one file under its original name. Downloaded once per process (and kept across jobs), verified against
 * the id, published with an atomic rename so concurrent processes sharing the directory never see half a copy.
 */
export class ArtifactCache {
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly store: ArtifactStore,
    readonly dir: string,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** Local path of an artifact (a directory for models), downloading it if needed. */
  ensure(id: string, field = 'ref'): Promise<string> {
    let promise = this.pending.get(id);
    if (!promise) {
      promise = this.materialize(id, field);
      this.pending.set(id, promise);
      promise.catch(() => this.pending.delete(id));
    }
    return promise;
  }

  /** Fetches every artifact of a spec and returns a resolver for prepare(); anything else is refused by field. */
  async resolverFor(spec: unknown): Promise<{ resolve: RefResolver; paths: Record<string, string> }> {
    const paths: Record<string, string> = {};
    for (const { id, field } of artifactRefs(spec)) paths[id] = await this.ensure(id, field);
    return { resolve: resolverFromPaths(paths), paths };
  }

  private async materialize(id: string, field: string): Promise<string> {
    const hex = hexOf(id);
    const target = this.entryDir(hex);
    const marker = join(target, '.info.json');
    if (existsSync(marker)) return entryPath(target, JSON.parse(readFileSync(marker, 'utf8')) as ArtifactInfo);
    const info = await this.store.info(id);
    const bytes = info && (await this.store.get(id));
    if (!info || !bytes) throw new InputError(`artifact ${id} does not exist (upload it first)`, field);
    if (artifactId(bytes) !== id) throw new InputError(`artifact ${id} is corrupted: its bytes do not match its id`, field);
    const temp = join(this.dir, 'named', `.tmp-${hex}-${randomBytes(6).toString('hex')}`);
    mkdirSync(temp, { recursive: true });
    try {
      if (info.kind === 'model') {
        const modelDir = join(temp, fileNameOf(info));
        mkdirSync(modelDir);
        for (const [name, content] of Object.entries(decodeModelBundle(bytes))) writeFileSync(join(modelDir, name), content);
      } else {
        writeFileSync(join(temp, fileNameOf(info)), bytes);
      }
      writeFileSync(join(temp, '.info.json'), JSON.stringify(info));
      try {
        renameSync(temp, target);
      } catch (error) {
        // Another process published the same artifact first; its copy is identical.
        if (!existsSync(marker)) throw error;
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    return entryPath(target, info);
  }

  /** Removes the local copy (the next ensure downloads again). */
  evict(id: string): void {
    this.pending.delete(id);
    rmSync(this.entryDir(hexOf(id)), { recursive: true, force: true });
  }

  /** `named/`: entries laid out under their upload names; copies an older version left in `dir` are not read. */
  private entryDir(hex: string): string {
    return join(this.dir, 'named', hex);
  }
}

/**
 * Every artifact, a model directory too, sits under the name it was uploaded with: figures name inputs by the
 * file name of their local path (refName), so a distributed job names them as the embedded run does.
 */
function fileNameOf(info: ArtifactInfo): string {
  return safeFilename(info.filename) ?? (info.kind === 'data' ? 'data.json' : info.kind === 'model' ? 'model' : `${info.kind}.json`);
}

function entryPath(dir: string, info: ArtifactInfo): string {
  return join(dir, fileNameOf(info));
}

/** A RefResolver over already-downloaded artifacts; a reference that is not an artifact id names its field. */
export function resolverFromPaths(paths: Record<string, string>): RefResolver {
  return (ref, field) => {
    const path = paths[ref];
    if (path) return path;
    if (!isArtifactId(ref)) throw new InputError(`'${ref}' is not an artifact id: upload the file and use the returned 'sha256:…' id`, field);
    throw new InputError(`artifact ${ref} is not available`, field);
  };
}

/** Error messages name artifacts, not the cache directory they happen to sit in on this machine. */
export function withArtifactNames(message: string, paths: Record<string, string>): string {
  let text = message;
  for (const [id, path] of Object.entries(paths).sort((a, b) => b[1].length - a[1].length)) text = text.split(path).join(id);
  return text;
}
