import { existsSync, readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend, type BackendInfo } from './backend';
import { adviseHugePages } from './huge-pages';

const THP_SETTING = '/sys/kernel/mm/transparent_hugepage/enabled';
/** Whether this kernel gives huge pages to advised ranges (its mode is `always` or `madvise`). */
const thpAvailable = process.platform === 'linux' && existsSync(THP_SETTING) && !readFileSync(THP_SETTING, 'utf8').includes('[never]');

describe('transparent huge pages for wasm memory', () => {
  let info: BackendInfo;
  beforeAll(async () => {
    info = await selectBackend('wasm');
  });

  it.runIf(thpAvailable)('advises the wasm memory when the kernel offers huge pages', () => {
    expect(info.memory).toBe('huge pages advised');
  });

  it('refuses a buffer that is not a whole 4 GiB anonymous reservation (nothing else is advised)', () => {
    const message = adviseHugePages(new Uint8Array(4096));
    expect(message).not.toBe('huge pages advised');
    if (process.platform === 'linux') expect(message).toBe('huge pages: wasm memory is not one anonymous 4 GiB reservation');
  });

  it('leaves wasm memory growing and computing correctly after the advice', () => {
    const n = 24 * 2 ** 20; // 96 MB of float32: several growths of wasm memory
    const [min, max, last] = tf.tidy(() => {
      const product = tf.mul(tf.fill([n], 0.5), tf.fill([n], 3));
      return [tf.min(product), tf.max(product), tf.slice(product, n - 1)].map((t) => t.dataSync()[0]!);
    });
    expect([min, max, last]).toEqual([1.5, 1.5, 1.5]);
  });
});
