import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { HessianOperator, loadDatasetFile, loadModel, randomDirection, selectBackend } from '@landscape/core';
import { machine } from './core';
import { report } from './measure';
import { syntheticCase } from './pytorch';

/**
 * Where a Hessian-vector product's time goes, by kernel (tf.profile) on the pytorch suite's 784-input MLP and small
 * CNN, wasm: one line per kernel name with its milliseconds per product (per input-shape signature the minimum over
 * `products` profiled products, which filters a shared machine's noise) and its call count.
 */
export async function benchHvpProfile(products = 4): Promise<void> {
  await selectBackend('wasm');
  const root = mkdtempSync(join(tmpdir(), 'landscape-bench-profile-'));
  try {
    for (const name of ['mlp784', 'cnn16']) {
      const c = syntheticCase(root, name);
      const loaded = loadModel(join(c.dir, c.refs.model));
      const data = loadDatasetFile(join(c.dir, c.refs.data));
      const hessian = new HessianOperator(
        { model: loaded.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 1024 },
        loaded.weights,
      );
      const v = randomDirection(loaded.description.layout, 1);
      hessian.hvp(v);
      const best = new Map<string, { kernel: string; ms: number; calls: number }>();
      let kernelsPerProduct = 0;
      for (let run = 0; run < products; run++) {
        const info = await tf.profile(() => void hessian.hvp(v));
        kernelsPerProduct = info.kernels.length;
        const signatures = new Map<string, { kernel: string; ms: number; calls: number }>();
        for (const kernel of info.kernels) {
          const key = `${kernel.name} ${JSON.stringify(kernel.inputShapes)}`;
          const entry = signatures.get(key) ?? { kernel: kernel.name, ms: 0, calls: 0 };
          const ms = await kernel.kernelTimeMs;
          entry.ms += typeof ms === 'number' ? ms : 0;
          entry.calls++;
          signatures.set(key, entry);
        }
        for (const [key, entry] of signatures) if (!best.has(key) || entry.ms < best.get(key)!.ms) best.set(key, entry);
      }
      hessian.dispose();
      const byKernel = new Map<string, { ms: number; calls: number }>();
      for (const { kernel, ms, calls } of best.values()) {
        const entry = byKernel.get(kernel) ?? { ms: 0, calls: 0 };
        byKernel.set(kernel, { ms: entry.ms + ms, calls: entry.calls + calls });
      }
      const total = [...byKernel.values()].reduce((sum, entry) => sum + entry.ms, 0);
      for (const [kernel, { ms, calls }] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms)) {
        report({ case: 'hvp-profile', model: name, kernel, ms, calls, share: ms / total, kernelsPerProduct, products, ...machine() });
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
