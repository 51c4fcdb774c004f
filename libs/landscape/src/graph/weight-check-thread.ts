import { isInputError } from '../errors';
import type { WeightLayout } from '../weights';
import type { ManifestEntry } from './bind';
import { decodeWeightBytes } from './decode';

/** What the calling thread sends: the weight files in manifest order, and the manifest and layout they must fit. */
export interface WeightCheckTask {
  files: Uint8Array[];
  manifest: ManifestEntry[];
  layout: WeightLayout;
  source: string;
}

/** An InputError does not survive the thread boundary as one (a structured clone keeps only name and message). */
export type WeightCheckOutcome = { ok: true } | { ok: false; message: string };

/**
 * A piscina thread that decodes weight bytes and drops the values: the check an upload makes, off the API's
 * event loop. It imports the host decoder only, so no tfjs module (let alone a backend) is loaded here.
 */
export default function checkWeights({ files, manifest, layout, source }: WeightCheckTask): WeightCheckOutcome {
  try {
    decodeWeightBytes(Buffer.concat(files), manifest, layout, source);
    return { ok: true };
  } catch (error) {
    if (isInputError(error)) return { ok: false, message: error.message };
    throw error;
  }
}
