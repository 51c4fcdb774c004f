import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { refName, resolveModelJsonPath, validateJobSpec, type ModelJson } from '@landscape/core';
import { expectedKind } from '@landscape/jobs/dist/embedded';
import { ClientError, type ApiClient } from './http';

export type ArtifactKind = 'model' | 'data' | 'weights' | 'trajectory';

export interface ArtifactInfo {
  id: string;
  kind: ArtifactKind;
  size: number;
  filename?: string;
  createdAt: string;
}

const ARTIFACT_ID = /^sha256:[0-9a-f]{64}$/;

function fileBytes(path: string, field: string): Buffer {
  if (!existsSync(path) || !statSync(path).isFile()) throw new ClientError(`file not found: ${path}`, field);
  return readFileSync(path);
}

/** A model directory (or its model.json) as the files of one upload: model.json plus every weight file it lists. */
export function modelFiles(path: string, field: string): Map<string, Buffer> {
  const jsonPath = resolveModelJsonPath(path);
  if (!existsSync(jsonPath)) throw new ClientError(`model file not found: ${jsonPath} (give the model directory or its model.json)`, field);
  const json = fileBytes(jsonPath, field);
  let manifest: ModelJson['weightsManifest'];
  try {
    manifest = (JSON.parse(json.toString('utf8')) as ModelJson).weightsManifest;
  } catch (error) {
    throw new ClientError(`cannot parse ${jsonPath}: ${(error as Error).message}`, field);
  }
  if (!Array.isArray(manifest)) throw new ClientError(`${jsonPath} has no weightsManifest`, field);
  const files = new Map<string, Buffer>([['model.json', json]]);
  for (const group of manifest) {
    for (const name of Array.isArray(group?.paths) ? group.paths : []) {
      // Weight files travel under their manifest names; a nested path would not survive multipart (basename only).
      if (typeof name !== 'string' || basename(name) !== name || name === 'model.json') {
        throw new ClientError(`${jsonPath}: weight path ${JSON.stringify(name)} must be a plain file name next to model.json`, field);
      }
      files.set(name, fileBytes(join(dirname(jsonPath), name), field));
    }
  }
  return files;
}

/** `name`: what figures call the model (refName of its local path), recorded as the artifact's file name. */
export async function uploadModel(client: ApiClient, files: ReadonlyMap<string, Buffer>, name?: string): Promise<ArtifactInfo> {
  const form = new FormData();
  for (const [file, bytes] of files) form.append('files', new Blob([bytes]), file);
  const query = new URLSearchParams({ kind: 'model', ...(name ? { filename: name } : {}) });
  const response = await client.request('POST', `/v1/artifacts?${query}`, { body: form });
  return (await response.json()) as ArtifactInfo;
}

export async function uploadFile(client: ApiClient, kind: Exclude<ArtifactKind, 'model'>, bytes: Buffer, filename: string): Promise<ArtifactInfo> {
  const query = new URLSearchParams({ kind, filename });
  const response = await client.request('POST', `/v1/artifacts?${query}`, { body: bytes, headers: { 'content-type': 'application/octet-stream' } });
  return (await response.json()) as ArtifactInfo;
}

function setAt(spec: Record<string, unknown>, path: readonly (string | number)[], value: string): void {
  let node = spec as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1]!] = value;
}

/**
 * Every local file a spec names: each string at a field that takes an artifact (the same rule the server checks
 * kinds by: `expectedKind` of @landscape/jobs), with the kind of artifact it becomes. Artifact ids stay as they are.
 */
function localRefs(spec: unknown, path: (string | number)[] = []): { path: (string | number)[]; kind: ArtifactKind; ref: string }[] {
  if (typeof spec === 'string') {
    const kind = expectedKind(path.join('.'));
    return kind && !ARTIFACT_ID.test(spec) ? [{ path, kind, ref: spec }] : [];
  }
  if (Array.isArray(spec)) return spec.flatMap((item, i) => localRefs(item, [...path, i]));
  if (spec && typeof spec === 'object') return Object.entries(spec).flatMap(([key, value]) => localRefs(value, [...path, key]));
  return [];
}

/**
 * Validates the spec, uploads every local file it names (each distinct file once) and returns a copy whose refs
 * are artifact ids. Refs that already are artifact ids are kept. Relative paths resolve against `baseDir`.
 */
export async function uploadSpecRefs(client: ApiClient, input: unknown, baseDir: string): Promise<Record<string, unknown>> {
  const checked = validateJobSpec(input);
  if (!checked.ok) throw new ClientError(checked.issues.map((issue) => `${issue.field}: ${issue.reason}`).join('; '));
  // Rewrite the spec as written (not the parsed one with defaults filled in), so the server applies its defaults.
  const spec = structuredClone(input) as Record<string, unknown>;
  const uploaded = new Map<string, string>();
  for (const { path, kind, ref } of localRefs(spec)) {
    const field = path.join('.');
    const local = isAbsolute(ref) ? ref : resolve(baseDir, ref);
    const key = `${kind}:${local}`;
    let id = uploaded.get(key);
    if (!id) {
      const info =
        kind === 'model'
          ? await uploadModel(client, modelFiles(local, field), refName(local))
          : await uploadFile(client, kind, fileBytes(local, field), basename(local));
      id = info.id;
      uploaded.set(key, id);
    }
    setAt(spec, path, id);
  }
  return spec;
}
