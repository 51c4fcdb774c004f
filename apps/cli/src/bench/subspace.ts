import { join } from 'node:path';
import {
  buildModel,
  coefficientsAt,
  combine,
  createRng,
  Evaluator,
  evaluationSubspace,
  linspace,
  parseJobSpec,
  prepareLandscape,
  randomDirection,
  selectBackend,
  type BackendChoice,
  type EvaluationSetup,
  type LandscapePlan,
  type SurfaceSpec,
} from '@landscape/core';
import { machine, REFERENCE_DIR } from './core';
import { report } from './measure';

/**
 * Subspace evaluation (shared first-layer terms, forced with 'always') against the plain path (every layer at
 * every point), timed in alternating rounds on the same points of a 21×21 surface, medians: the ratio is what to
 * read on a loaded machine. `auto` says whether the rule would share. The first round's shared timing includes
 * building the cache. Run: node apps/cli/dist/bench/subspace.js [backend] [points] [rounds].
 */
export interface SubspaceCase {
  name: string;
  setup: EvaluationSetup;
  plan: LandscapePlan;
}

const GRID = { x: linspace([-1, 1, 21]), y: linspace([-1, 1, 21]) };

const RAW_DIRECTIONS = { x: { file: 'direction_d1_raw.json' }, y: { file: 'direction_d2_raw.json' } };

export function referenceCase(model: 'm1_mlp' | 'm2_cnn'): SubspaceCase {
  const surface = { model: 'model_trained', data: 'dataset.json', directions: RAW_DIRECTIONS, grid: { x: [-1, 1, 21], y: [-1, 1, 21] } };
  const spec = parseJobSpec({ kind: 'surface', loss: 'sparse_categorical_crossentropy', ...surface }) as SurfaceSpec;
  const prepared = prepareLandscape(spec, (ref) => join(REFERENCE_DIR, model, ref));
  return { name: model, setup: prepared.setup, plan: prepared.plan };
}

/** 784 → 128 → 64 → 10 (109,386 parameters) on 2,000 seeded samples. */
export function wideMlpCase(): SubspaceCase {
  const hidden = [128, 64].map((units) => ({ units, activation: 'relu' as const }));
  const model = buildModel({ type: 'mlp', input: [784], hidden, outputs: 10 }, 1);
  const n = 2000;
  const rng = createRng(2);
  const data = {
    n,
    sampleShape: [784],
    x: Float32Array.from({ length: n * 784 }, () => rng.uniform()),
    targets: { kind: 'labels' as const, labels: Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * 10)) },
    provenance: { source: 'seeded', total: n },
  };
  const { layout } = model.description;
  return {
    name: 'mlp784',
    setup: { model: model.description, data, loss: 'sparse_categorical_crossentropy', output: 'logits', batchSize: 500 },
    plan: { origin: model.weights, directions: [randomDirection(layout, 3), randomDirection(layout, 4)], grid: GRID },
  };
}

function pointsPerSecond(count: number, evaluate: (coefficients: number[]) => void): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) evaluate(coefficientsAt(GRID, i % 21, Math.floor(i / 21) % 21));
  return count / ((performance.now() - start) / 1000);
}

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function main(backend: BackendChoice, points: number, rounds: number): Promise<void> {
  const used = (await selectBackend(backend)).name;
  for (const { name, setup, plan } of [referenceCase('m1_mlp'), referenceCase('m2_cnn'), wideMlpCase()]) {
    const evaluator = new Evaluator({ ...setup, subspace: 'always' });
    const weights = new Float64Array(plan.origin.length);
    evaluator.evaluate(plan.origin);
    const plain: number[] = [];
    const shared: number[] = [];
    for (let round = 0; round < rounds; round++) {
      plain.push(pointsPerSecond(points, (c) => evaluator.evaluate(combine(plan.origin, c, plan.directions, weights))));
      shared.push(pointsPerSecond(points, (c) => evaluator.evaluateAt(plan, c)));
    }
    evaluator.dispose();
    const auto = evaluationSubspace(setup, plan.directions.length);
    report({
      case: 'subspace-surface',
      model: name,
      backend: used,
      points,
      rounds,
      samples: setup.data.n,
      layers: auto.layers,
      auto: auto.used,
      plainPointsPerSecond: median(plain),
      sharedPointsPerSecond: median(shared),
      ratio: median(shared) / median(plain),
      ...machine(),
    });
  }
}

if (require.main === module) void main((process.argv[2] ?? 'auto') as BackendChoice, Number(process.argv[3] ?? 42), Number(process.argv[4] ?? 3));
