import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError, type RefResolver } from '@landscape/core';
import { artifactId, hexOf, isArtifactId, safeFilename, type ArtifactKind, type ArtifactMeta, type ArtifactStore } from './artifact-store';
import { decodeModelBundle, encodeModelBundle } from './model-bundle';

/** Every artifact id in a spec with its dotted field path (generic over job kinds: ids are recognisable strings). */
export function artifactRefs(spec: unknown, path: string[] = []): { id: string; field: string }[] {
  if (isArtifactId(spec)) return [{ id: spec, field: path.join('.') || '(spec)' }];
  if (Array.isArray(spec)) return spec.flatMap((item, i) => artifactRefs(item, [...path, String(i)]));
  if (spec && typeof spec === 'object') return Object.entries(spec).flatMap(([key, value]) => artifactRefs(value, [...path, key]));
  return [];
}

/**
 * The kind of artifact a spec field takes, from its dotted path: models (`model`, `to`, `directions.x.model`),
 * data (`data`, `data.path`, `data.y`: an npy file pair), weight sets (`directions.y.file`, each file of a `trajectory` list) and trajectory
 * files (`trajectory`). Undefined for a field that names no artifact.
 */
export function expectedKind(field: string): ArtifactKind | undefined {
  if (field === 'model' || field === 'to' || /^directions\.[xy]\.model$/.test(field)) return 'model';
  if (field === 'data' || field === 'data.path' || field === 'data.y') return 'data';
  if (/^directions\.[xy]\.file$/.test(field) || /^trajectory\.\d+$/.test(field)) return 'weights';
  if (field === 'trajectory') return 'trajectory';
  return undefined;
}

/** What a job knows about each of its inputs: the submitter's kind and file name, by artifact id. */
export type JobInputs = Record<string, ArtifactMeta>;

/**
 * Every artifact, a model directory too, sits under the name it was uploaded with: figures name inputs by the
 * file name of their local path (refName), so a distributed job names them as the embedded run does.
 */
function fileNameOf(meta: ArtifactMeta): string {
  return safeFilename(meta.filename) ?? (meta.kind === 'data' ? 'data.json' : meta.kind === 'model' ? 'model' : `${meta.kind}.json`);
}

/** Size, inode and modification time of every file at `path` (a model directory's files): unchanged since it was verified, or not. */
function signature(path: string): string | undefined {
  try {
    const stats = statSync(path);
    const files = stats.isDirectory() ? readdirSync(path).sort() : [''];
    return files
      .map((name) => {
        const file = name ? statSync(join(path, name)) : stats;
        return `${name}:${file.ino}:${file.size}:${file.mtimeMs}`;
      })
      .join('|');
  } catch {
    return undefined;
  }
}

/**
 * A process-local copy of artifacts by hash, laid out as `named/<hex>-<kind>-<name>/<name>`: a model bundle becomes
 * a directory loadModel can read, anything else one file, both under the uploader's file name. Downloads are checked against the id and published with an
 * atomic rename, so concurrent processes sharing the directory never see half a copy. Nothing on disk is
 * trusted: an entry is hashed again before use (unless this process verified it and its files have not changed
 * since), and one whose bytes do not match its id is discarded and downloaded again.
 */
export class ArtifactCache {
  private readonly verified = new Map<string, string>();
  private readonly pending = new Map<string, Promise<void>>();
  /** Entries found on disk whose content did not match their id (each was replaced by a fresh download). */
  discarded = 0;

  constructor(
    private readonly store: ArtifactStore,
    readonly dir: string,
  ) {
    // `named/`: entries laid out under their upload names; copies an older version left in `dir` are not read.
    mkdirSync(join(dir, 'named'), { recursive: true });
  }

  /** Local path of an artifact (a directory for models), downloading it if needed. `meta` defaults to the earliest upload's. */
  async ensure(id: string, field = 'ref', meta?: ArtifactMeta): Promise<string> {
    const known = meta ?? (await this.store.info(id));
    if (!known) throw new InputError(`artifact ${id} does not exist (upload it first)`, field);
    const entry = join(this.dir, 'named', `${hexOf(id)}-${known.kind}-${fileNameOf(known)}`);
    const path = join(entry, fileNameOf(known));
    if (this.intact(id, entry, known)) return path;
    // One download per entry at a time in this process; concurrent callers share it.
    let promise = this.pending.get(entry);
    if (!promise) {
      promise = this.download(id, field, entry, known).finally(() => this.pending.delete(entry));
      this.pending.set(entry, promise);
    }
    await promise;
    return path;
  }

  /** Fetches every artifact of a spec and returns a resolver for prepare(); anything else is refused by field. */
  async resolverFor(spec: unknown, inputs: JobInputs = {}): Promise<{ resolve: RefResolver; paths: Record<string, string> }> {
    const paths: Record<string, string> = {};
    for (const { id, field } of artifactRefs(spec)) paths[id] = await this.ensure(id, field, inputs[id]);
    return { resolve: resolverFromPaths(paths), paths };
  }

  /** True when the entry exists and its content hashes to the id; a mismatching entry is removed. */
  private intact(id: string, entry: string, meta: ArtifactMeta): boolean {
    const path = join(entry, fileNameOf(meta));
    const before = signature(path);
    if (before === undefined) return false;
    if (this.verified.get(entry) === before) return true;
    let bytes: Buffer | undefined;
    try {
      if (meta.kind === 'model') {
        const files: Record<string, Buffer> = Object.create(null) as Record<string, Buffer>;
        for (const name of readdirSync(path)) files[name] = readFileSync(join(path, name));
        bytes = encodeModelBundle(files);
      } else {
        bytes = readFileSync(path);
      }
    } catch {
      bytes = undefined;
    }
    if (bytes && artifactId(bytes) === id) {
      this.verified.set(entry, before);
      return true;
    }
    this.discarded++;
    this.verified.delete(entry);
    rmSync(entry, { recursive: true, force: true });
    return false;
  }

  private async download(id: string, field: string, entry: string, meta: ArtifactMeta): Promise<void> {
    const bytes = await this.store.get(id);
    if (!bytes) throw new InputError(`artifact ${id} does not exist (upload it first)`, field);
    if (artifactId(bytes) !== id) throw new InputError(`artifact ${id} is corrupted: its bytes do not match its id`, field);
    const temp = join(this.dir, 'named', `.tmp-${hexOf(id)}-${randomBytes(6).toString('hex')}`);
    mkdirSync(temp, { recursive: true });
    try {
      if (meta.kind === 'model') {
        const modelDir = join(temp, fileNameOf(meta));
        mkdirSync(modelDir);
        for (const [name, content] of Object.entries(decodeModelBundle(bytes))) writeFileSync(join(modelDir, name), content);
      } else {
        writeFileSync(join(temp, fileNameOf(meta)), bytes);
      }
      try {
        renameSync(temp, entry);
      } catch (error) {
        // Another process published the same entry first; it must pass the same check as ours would.
        if (!this.intact(id, entry, meta)) throw error;
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    const published = signature(join(entry, fileNameOf(meta)));
    if (published !== undefined) this.verified.set(entry, published);
  }

  /** Removes the local copies of an artifact (the next ensure downloads again). */
  evict(id: string): void {
    const hex = hexOf(id);
    const named = join(this.dir, 'named');
    for (const name of readdirSync(named)) {
      if (!name.startsWith(`${hex}-`)) continue;
      this.verified.delete(join(named, name));
      rmSync(join(named, name), { recursive: true, force: true });
    }
  }
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
