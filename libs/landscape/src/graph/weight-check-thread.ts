import { move, transferableSymbol, valueSymbol } from 'piscina';
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

/** The files come back (moved, as they came); an InputError is sent as its message (a clone would lose its class). */
export interface WeightCheckOutcome {
  files: Uint8Array[];
  error?: string;
}

/**
 * A piscina thread that decodes weight bytes and drops the values: the check an upload makes, off the API's
 * event loop. It imports the host decoder only, so no tfjs module (let alone a backend) is loaded here.
 */
export default function checkWeights({ files, manifest, layout, source }: WeightCheckTask): unknown {
  let error: string | undefined;
  try {
    decodeWeightBytes(Buffer.concat(files), manifest, layout, source);
  } catch (thrown) {
    if (!isInputError(thrown)) throw thrown;
    error = thrown.message;
  }
  const outcome: WeightCheckOutcome = { files, ...(error === undefined ? {} : { error }) };
  return move({ [transferableSymbol]: files.map((file) => file.buffer), [valueSymbol]: outcome });
}
