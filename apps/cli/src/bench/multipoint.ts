import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { coefficientsAt, combine, Evaluator, parseJobSpec, prepareLandscape, selectBackend, type BackendChoice, type SurfaceSpec } from '@landscape/core';
import { machine } from './core';
import { report } from './measure';
import { syntheticCase } from './pytorch';
import { median, referenceCase, wideMlpCase, type SubspaceCase } from './subspace';

/**
 * Several points per pass (K forced with `pointsPerPass`) against one point per pass (the plain path), in-process,
 * the same 64 points of a 21×21 surface each way, alternating over rounds, medians; and what the automatic
 * choice picks. Run: node apps/cli/dist/bench/multipoint.js [backend] [rounds] [K list].
 */
function tinyCase(root: string): SubspaceCase {
  const c = syntheticCase(root, 'tiny');
  const spec = parseJobSpec({
    kind: 'surface',
    model: c.refs.model,
    data: c.refs.data,
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { file: c.refs.d1 }, y: { file: c.refs.d2 } },
    grid: { x: [-1, 1, 21], y: [-1, 1, 21] },
  }) as SurfaceSpec;
  const prepared = prepareLandscape(spec, (ref) => join(c.dir, ref));
  return { name: 'tiny', setup: prepared.setup, plan: prepared.plan };
}

const POINTS = 64;

async function main(backend: BackendChoice, rounds: number, sizes: number[]): Promise<void> {
  const used = (await selectBackend(backend)).name;
  const root = mkdtempSync(join(tmpdir(), 'landscape-bench-multipoint-'));
  try {
    for (const { name, setup, plan } of [tinyCase(root), referenceCase('m1_mlp'), referenceCase('m2_cnn'), wideMlpCase()]) {
      const points = Array.from({ length: POINTS }, (_, i) => coefficientsAt(plan.grid, i % 21, Math.floor(i / 21)));
      const evaluators = sizes.map((k) => new Evaluator({ ...setup, pointsPerPass: k }));
      const plain = new Evaluator(setup);
      evaluators.forEach((evaluator) => evaluator.evaluatePoints(plan, points));
      const rates: number[][] = [[], ...sizes.map(() => [])];
      for (let round = 0; round < rounds; round++) {
        let start = performance.now();
        for (const c of points) plain.evaluate(combine(plan.origin, c, plan.directions));
        rates[0]!.push(POINTS / ((performance.now() - start) / 1000));
        evaluators.forEach((evaluator, j) => {
          start = performance.now();
          evaluator.evaluatePoints(plan, points);
          rates[j + 1]!.push(POINTS / ((performance.now() - start) / 1000));
        });
      }
      [plain, ...evaluators].forEach((evaluator) => evaluator.dispose());
      // The automatic choice on a fresh evaluator, over a 21×21 surface's points (what a unit of 441 would see).
      const auto = new Evaluator({ ...setup, pointsPerPass: 'auto' });
      const all = Array.from({ length: 441 }, (_, i) => coefficientsAt(plan.grid, i % 21, Math.floor(i / 21)));
      auto.evaluatePoints(plan, all);
      const record = auto.pointsPerPass(plan);
      auto.dispose();
      report({
        case: 'multipoint-surface',
        model: name,
        backend: used,
        samples: setup.data.n,
        rounds,
        plainPointsPerSecond: median(rates[0]!),
        pointsPerSecond: Object.fromEntries(sizes.map((k, j) => [k, median(rates[j + 1]!)])),
        auto: record,
        ...machine(),
      });
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const sizes = (process.argv[4] ?? '2,4,8,16,32').split(',').map(Number);
  void main((process.argv[2] ?? 'wasm') as BackendChoice, Number(process.argv[3] ?? 5), sizes);
}
