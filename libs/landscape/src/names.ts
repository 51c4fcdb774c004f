import { basename } from 'node:path';

/**
 * The one rule for what a figure calls an input: the file name of the reference's resolved local path, made
 * safe (no directories, no control characters). Embedded, that path is the user's file; distributed, the
 * artifact cache stores every artifact under the file name it was uploaded with, so both paths give the same
 * name and the figures of both are the same bytes.
 */
export function safeFileName(name: string | undefined): string | undefined {
  if (!name) return undefined;
  const base = basename(name.replace(/\\/g, '/')).replace(/[^\w.+-]/g, '_');
  return base && base !== '.' && base !== '..' ? base.slice(0, 200) : undefined;
}

/** The display name of a model directory, its model.json, or any other input file (see safeFileName). */
export function refName(path: string): string {
  const trimmed = path.replace(/\\/g, '/').replace(/\/+(model\.json)?$/, '');
  return safeFileName(trimmed) ?? path;
}

/** Names tfjs and Keras give a model nobody named (`sequential_1`, `model_3`): they say nothing about the model. */
const GENERATED_MODEL_NAME = /^(sequential|model|functional)(_\d+)?$/i;

/**
 * What titles call a model: the name stored in its model.json when someone chose it, otherwise the name of its
 * file (directory) as above. A spec's `label`, where given, is used instead by the figures themselves.
 */
export function modelDisplayName(storedName: string, resolvedPath: string): string {
  return storedName && !GENERATED_MODEL_NAME.test(storedName) ? storedName : refName(resolvedPath);
}
