import { writeFileSync } from 'node:fs';
import type * as Fflate from 'fflate';
import type { UnzipFile, ZippableFile } from 'fflate';
import { InputError } from '../errors';
import { rawBytes, streamFile, type ElementType, type RawArray } from './elements';
import { NpyDecoder, npyHeader, type NumericArray } from './npy';

/** fflate, loaded by the .npz reader and writer only (it is a few ms of every process's start-up otherwise). */
const fflate = (): typeof Fflate => require('fflate') as typeof Fflate;

/**
 * Reads the named arrays of an .npz archive (np.savez: stored entries; np.savez_compressed: deflate), streaming the
 * file through fflate's unzipper so each array is decoded as it inflates, never held as a whole compressed entry.
 */
export function readNpzArrays(path: string, keys: readonly string[]): Record<string, NumericArray> {
  const decoders = new Map<string, NpyDecoder>();
  const finished = new Set<string>();
  const seen: string[] = [];
  const { Unzip, UnzipInflate } = fflate();
  const unzip = new Unzip((file: UnzipFile) => {
    const key = file.name.replace(/\.npy$/, '');
    seen.push(key);
    if (!keys.includes(key) || decoders.has(key)) return;
    const decoder = new NpyDecoder(`${path}: ${file.name}`);
    decoders.set(key, decoder);
    file.ondata = (error, chunk, final) => {
      if (error) throw new InputError(`${path}: cannot inflate ${file.name}: ${error.message}`);
      decoder.push(chunk);
      if (!final) return;
      decoder.end();
      finished.add(key);
    };
    file.start();
  });
  unzip.register(UnzipInflate);
  try {
    // The unzipper keeps views of what it is given, so it gets its own copy of each (reused) read buffer.
    streamFile(path, { push: (chunk) => unzip.push(new Uint8Array(chunk)), end: () => unzip.push(new Uint8Array(0), true) });
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${path}: not a readable .npz archive (truncated, or not a zip file: ${(error as Error).message})`);
  }
  if (seen.length === 0) throw new InputError(`${path}: not an .npz archive (no zip entries found)`);
  const arrays: Record<string, NumericArray> = {};
  for (const key of keys) {
    const decoder = decoders.get(key);
    if (!decoder) throw new InputError(`${path}: no array named '${key}' (arrays: ${seen.join(', ') || 'none'})`);
    if (!finished.has(key)) throw new InputError(`${path}: the archive is truncated inside ${key}.npy`);
    arrays[key] = decoder.result!;
  }
  return arrays;
}

/**
 * Writes arrays as an .npz archive, stored (like np.savez) or deflated (like np.savez_compressed). Built in memory so
 * every entry's sizes are in its local header, as NumPy writes them (streamed zips put them after the data, which a
 * streaming reader must scan for).
 */
export function writeNpzFile(
  path: string,
  arrays: Record<string, { dtype: ElementType; shape: number[]; data: RawArray }>,
  options: { compress: boolean },
): void {
  const entries = Object.fromEntries(
    Object.entries(arrays).map(([name, { dtype, shape, data }]) => {
      const bytes = rawBytes(
        dtype,
        data,
        shape.reduce((a, b) => a * b, 1),
        `${path}: ${name}`,
      );
      const npy = new Uint8Array(Buffer.concat([npyHeader(dtype, shape), bytes]));
      const file: ZippableFile = [npy, { level: options.compress ? 6 : 0 }];
      return [`${name}.npy`, file];
    }),
  );
  writeFileSync(path, fflate().zipSync(entries));
}
