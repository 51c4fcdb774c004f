import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InputError, resolveModelJsonPath, type ModelJson } from '@landscape/core';

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

/** Bytes base64-encoded per slice: a multiple of 3, so the slices' texts join to the text of the whole. */
const BASE64_SLICE = 3 * 1024 * 1024;

/**
 * The bytes of JSON.stringify({format, files: {name: base64}}), written into one buffer: base64 needs no JSON
 * escaping, and a model of hundreds of MB is not copied through one giant string. Yields after every slice.
 */
function* writeModelBundle(files: Record<string, Buffer>): Generator<void, Buffer> {
  const names = Object.keys(files).sort();
  names.forEach(checkBundleName);
  if (!names.includes('model.json')) throw new InputError('a model bundle needs a model.json', 'model');
  const head = `{"format":${JSON.stringify(MODEL_BUNDLE_FORMAT)},"files":{`;
  const keys = names.map((name, i) => `${i ? ',' : ''}${JSON.stringify(name)}:"`);
  const length = names.reduce((sum, name, i) => sum + Buffer.byteLength(keys[i]!) + 4 * Math.ceil(files[name]!.length / 3) + 1, Buffer.byteLength(head) + 2);
  const out = Buffer.allocUnsafe(length);
  let at = out.write(head);
  for (const [i, name] of names.entries()) {
    at += out.write(keys[i]!, at);
    const bytes = files[name]!;
    for (let start = 0; start < bytes.length; start += BASE64_SLICE) {
      at += out.write(bytes.subarray(start, start + BASE64_SLICE).toString('base64'), at, 'latin1');
      yield;
    }
    at += out.write('"', at);
  }
  at += out.write('}}', at);
  if (at !== length) throw new Error(`model bundle: wrote ${at} bytes of ${length}`);
  return out;
}

export function encodeModelBundle(files: Record<string, Buffer>): Buffer {
  const writer = writeModelBundle(files);
  for (;;) {
    const step = writer.next();
    if (step.done) return step.value;
  }
}

/** encodeModelBundle for a server: the event loop turns between slices, so other requests are answered meanwhile. */
export async function encodeModelBundleYielding(files: Record<string, Buffer>): Promise<Buffer> {
  const writer = writeModelBundle(files);
  for (;;) {
    const step = writer.next();
    if (step.done) return step.value;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** Whether bytes start like a model bundle: the cheap check a store makes (loaders decode and check it fully). */
export function looksLikeModelBundle(bytes: Buffer): boolean {
  const head = `{"format":${JSON.stringify(MODEL_BUNDLE_FORMAT)},"files":{`;
  return bytes.subarray(0, head.length).toString('latin1') === head && bytes.subarray(-2).toString('latin1') === '}}';
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
