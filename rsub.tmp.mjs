import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
const core = await import('./libs/landscape/dist/index.js');
await core.selectBackend('wasm');
const dir = mkdtempSync(join(tmpdir(), 'rp-'));
const built = core.buildModel(core.architectureSchema.parse({ type: 'resnet', depth: 20, width: 16, input: [32, 32, 3], outputs: 10 }), 1);
core.saveModel(join(dir, 'model'), built);
const loaded = core.loadModel(join(dir, 'model'));
const n = Number(process.argv[2] ?? 1000);
const data = core.syntheticDataset({ synthetic: 'images', seed: 3, classes: 10, shape: [32, 32, 3], n });
const setup = { model: loaded.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 1024 };
const ev = new core.Evaluator(setup);
const d1 = core.randomDirection(loaded.description.layout, 1).map((v) => v * 1e-3), d2 = core.randomDirection(loaded.description.layout, 2).map((v) => v * 1e-3);
const plan = { origin: loaded.weights, directions: [d1, d2] };
const w = (a, b) => loaded.weights.map((t, i) => t + a * d1[i] + b * d2[i]);
const cpu = (f) => { const c0 = process.cpuUsage(); const t = performance.now(); const r = f(); const c = process.cpuUsage(c0); return [(c.user + c.system) / 1000, performance.now() - t, r.loss]; };
console.log('first shared', cpu(() => ev.evaluateAt(plan, [0.1, 0.2])).map((v) => v.toFixed(3)).join(' '));
cpu(() => ev.evaluate(w(0.1, 0.2)));
for (let r = 0; r < 4; r++) {
  const s = cpu(() => ev.evaluateAt(plan, [0.3, -0.1 * r])), p = cpu(() => ev.evaluate(w(0.3, -0.1 * r)));
  console.log('shared cpu/wall', s[0].toFixed(0), s[1].toFixed(0), 'plain', p[0].toFixed(0), p[1].toFixed(0), 'loss', s[2], p[2]);
}
