import { InputError, describeModel, weightsFromBytes, type ModelJson } from '@landscape/core';
import { decodeModelBundle, encodeModelBundle } from '@landscape/jobs';

/** One part of a multipart upload as multer's memory storage hands it over. */
export interface UploadedPart {
  fieldname: string;
  originalname: string;
  size: number;
  buffer: Buffer;
}

/**
 * Checks that a model's files load the way a worker will load them: model.json parses and describes a supported
 * model, every weight file its manifest lists is there (and nothing else), and the weight bytes fit the manifest.
 * A broken model is then a 400 at upload time instead of a failed job later.
 */
export function checkModelFiles(files: Record<string, Buffer>): void {
  const json = files['model.json'];
  if (!json) throw new InputError('a model upload needs a part named model.json (plus its weight files)', 'files');
  let modelJson: ModelJson;
  try {
    modelJson = JSON.parse(json.toString('utf8')) as ModelJson;
  } catch (error) {
    throw new InputError(`model.json is not JSON: ${(error as Error).message}`, 'files');
  }
  if (typeof modelJson !== 'object' || modelJson === null || !Array.isArray(modelJson.weightsManifest)) {
    throw new InputError('model.json has no weightsManifest list', 'files');
  }
  const description = describeModel(modelJson, 'model.json');
  const listed = modelJson.weightsManifest.flatMap((group) => (Array.isArray(group?.paths) ? group.paths : []));
  const missing = listed.filter((name) => typeof name !== 'string' || !files[name]);
  if (missing.length) throw new InputError(`weight files listed in model.json but not uploaded: ${missing.join(', ')}`, 'files');
  const extra = Object.keys(files).filter((name) => name !== 'model.json' && !listed.includes(name));
  if (extra.length) throw new InputError(`files not listed in model.json's weightsManifest: ${extra.join(', ')}`, 'files');
  weightsFromBytes(Buffer.concat(listed.map((name) => files[name]!)), description, 'model.json');
}

/** Multipart parts (one per file, named by their file names) → a validated model bundle. */
export function modelBundleFromParts(parts: readonly UploadedPart[]): Buffer {
  // No prototype: a part named __proto__ must stay an ordinary (and then rejected) file name.
  const files: Record<string, Buffer> = Object.create(null) as Record<string, Buffer>;
  for (const part of parts) {
    if (Object.hasOwn(files, part.originalname)) throw new InputError(`file '${part.originalname}' was uploaded twice`, 'files');
    files[part.originalname] = part.buffer;
  }
  checkModelFiles(files);
  return encodeModelBundle(files);
}

/** A model sent as a ready bundle (raw body): decoded and checked like a multipart upload. */
export function checkModelBundle(bytes: Buffer): void {
  checkModelFiles(decodeModelBundle(bytes));
}
