import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
const core = await import('./libs/landscape/dist/index.js');
const tf = await import('@tensorflow/tfjs-core');
const { HessianOperator } = await import('./libs/landscape/dist/hessian/hvp.js');
const { syntheticCase } = await import('./apps/cli/dist/bench/pytorch.js');
await core.selectBackend('wasm');
const name = process.argv[2] ?? 'mlp784';
const c = syntheticCase(mkdtempSync(join(tmpdir(), 'hvpt-')), name);
const loaded = core.loadModel(resolve(c.dir, c.refs.model));
const data = core.loadDatasetFile(resolve(c.dir, c.refs.data));
const setup = { model: loaded.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 1024 };
const op = new HessianOperator(setup, loaded.weights, { firstLayers: process.argv[3] ?? 'factored' });
const v = core.randomDirection(loaded.description.layout, 1);
op.hvp(v);
const best = new Map();
for (let r = 0; r < 4; r++) {
  const p = await tf.profile(() => { op.hvp(v); });
  const per = new Map();
  for (const k of p.kernels) { const key = k.name + ' ' + JSON.stringify(k.inputShapes); const e = per.get(key) ?? { ms: 0, n: 0 }; e.ms += k.kernelTimeMs; e.n++; per.set(key, e); }
  for (const [key, e] of per) { const b = best.get(key); if (!b || e.ms < b.ms) best.set(key, e); }
}
const rows = [...best].sort((a, b) => b[1].ms - a[1].ms);
let total = 0; for (const [, e] of rows) total += e.ms;
console.log('total', total.toFixed(1));
for (const [k, e] of rows.slice(0, 25)) console.log(e.ms.toFixed(2).padStart(8), String(e.n).padStart(3), k);
