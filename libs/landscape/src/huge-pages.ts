import { readFileSync } from 'node:fs';

/**
 * Transparent huge pages for wasm's memory. tfjs' wasm heap grows to tens or hundreds of MB on the first passes
 * (a Hessian-vector product's tape, a CNN's activations), and every 4 KiB page is faulted in on first touch. On
 * this project's VM a first touch costs ~13 µs a page (300 MB: 1.0 s), against ~0.2 ms a 2 MiB huge page (300 MB:
 * 0.03 s once the host backs it), so a fresh process' first product spent ~110 ms in page faults. Linux' default
 * THP mode (`madvise`) gives huge pages only to ranges advised with MADV_HUGEPAGE: this advises wasm's whole
 * 4 GiB address space, which V8 reserves at the memory's base and grows the memory inside, so later growth is
 * covered too. Only a hint: where THP is off, not Linux, or the reservation is not as expected, nothing changes.
 */

const MADV_HUGEPAGE = 14;
/** A wasm32 memory's largest size. */
const WASM32_BYTES = 2n ** 32n;

/** Advises the wasm memory whose buffer `heap` views; returns what happened, for the backend record. */
export function adviseHugePages(heap: Uint8Array): string {
  if (process.platform !== 'linux') return 'huge pages: not Linux';
  let koffi: typeof import('koffi');
  try {
    koffi = require('koffi') as typeof import('koffi');
  } catch {
    return 'huge pages: koffi did not load';
  }
  const base = koffi.address(heap);
  if (!reservedAnonymous(base, base + WASM32_BYTES)) return 'huge pages: wasm memory is not one anonymous 4 GiB reservation';
  try {
    const madvise = koffi.load('libc.so.6').func('int madvise(uintptr_t addr, size_t length, int advice)') as (
      address: bigint,
      length: bigint,
      advice: number,
    ) => number;
    return madvise(base, WASM32_BYTES, MADV_HUGEPAGE) === 0 ? 'huge pages advised' : `huge pages: madvise failed (errno ${koffi.errno()})`;
  } catch (error) {
    return `huge pages: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** Whether [start, end) is covered by contiguous anonymous mappings (/proc/self/maps), so the advice reaches nothing else. */
function reservedAnonymous(start: bigint, end: bigint): boolean {
  let covered = start;
  for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
    const [range, , , , inode, path] = line.split(/\s+/);
    if (!range) continue;
    const [from, to] = range.split('-').map((hex) => BigInt(`0x${hex}`)) as [bigint, bigint];
    if (to <= covered || from > covered) continue;
    if (inode !== '0' || path) return false;
    covered = to;
    if (covered >= end) return true;
  }
  return false;
}
