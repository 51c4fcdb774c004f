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
  type TileResult,
  type TrajectorySpec,
} from '@landscape/core';
import {
  distancesFromGram,
  embeddingGrid,
  fitPca,
  pcaInverseTransform,
  trajectoryHandler,
  type EmbeddingResult,
  type PreparedTrajectory,
} from '@landscape/metrics';
import { machine, REFERENCE_DIR } from './core';
import { report } from './measure';

/**
 * Subspace evaluation (shared first-layer terms, forced with 'always') against the plain path (every layer at
 * every point), timed in alternating rounds on the same points of a 21×21 surface, medians: the ratio is what to
 * read on a loaded machine. `auto` says whether the rule would share. The first round's shared timing includes
 * building the cache. Then a PCA trajectory map of the 784-input MLP: one grid unit of the trajectory job (its plane
 * shared as a surface's, as `auto` decides) against the same points as parameter vectors (the plain path).
 * Run: node apps/cli/dist/bench/subspace.js [backend] [points] [rounds] [surface|trajectory|all].
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
export function wideMlpCase(): SubspaceCase & { model: ReturnType<typeof buildModel> } {
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
    model,
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

const secondsOf = async (run: () => unknown): Promise<number> => {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1000;
};

/**
 * A `pca` map of the 784-input MLP over a seeded random walk of 10 checkpoints, its grid one unit of `points`
 * points: the trajectory job's unit (shared where `auto` allows) against the old path, the same points built as
 * parameter vectors by the PCA's inverse and evaluated one by one. Medians of alternating rounds.
 */
async function trajectoryCase(backend: BackendChoice, used: string, points: number, rounds: number): Promise<void> {
  const { model, setup, plan } = wideMlpCase();
  const checkpoints = [plan.origin];
  for (let i = 1; i < 10; i++) checkpoints.push(combine(checkpoints[i - 1]!, [0.1], [randomDirection(model.description.layout, 10 + i)]));
  const pca = fitPca(checkpoints);
  const prepared: PreparedTrajectory = { setup, model, checkpoints, pca, pcaSeconds: 0, distances: distancesFromGram(pca.centredGram, checkpoints.length) };
  const nx = Math.ceil(Math.sqrt(points));
  const ny = Math.ceil(points / nx);
  const spec = parseJobSpec({
    kind: 'trajectory',
    model: 'model',
    data: 'data',
    loss: setup.loss,
    trajectory: 'trajectory',
    methods: ['pca'],
    neighbors: 2,
    grid: { steps: [nx, ny] },
    tiles: { x: nx, y: ny },
  }) as TrajectorySpec;
  const embedding = (await trajectoryHandler.runUnit(spec, prepared, 'embed:pca', { backend, inputs: new Map() })) as EmbeddingResult;
  const inputs = new Map([['embed:pca', embedding]]);
  const grid = embeddingGrid(embedding.coords, spec.grid.steps, spec.grid.margin);
  const gridPoints = grid.y.flatMap((y) => grid.x.map((x) => [x, y]));
  const plainEvaluator = new Evaluator(setup);
  plainEvaluator.evaluate(plan.origin);
  const plain: number[] = [];
  const shared: number[] = [];
  let sharedLoss: number[] = [];
  let plainLoss: number[] = [];
  for (let round = 0; round < rounds; round++) {
    plain.push(await secondsOf(() => (plainLoss = gridPoints.map((point) => plainEvaluator.evaluate(pcaInverseTransform(pca, [point])[0]!).loss))));
    shared.push(
      await secondsOf(async () => (sharedLoss = ((await trajectoryHandler.runUnit(spec, prepared, 'pca:r0c0', { backend, inputs })) as TileResult).loss)),
    );
  }
  plainEvaluator.dispose();
  trajectoryHandler.release?.(prepared);
  const auto = evaluationSubspace(setup, 2);
  const maxRelative = Math.max(...sharedLoss.map((loss, i) => Math.abs(loss - plainLoss[i]!) / Math.abs(plainLoss[i]!)));
  report({
    case: 'subspace-trajectory-pca',
    model: 'mlp784',
    backend: used,
    points: gridPoints.length,
    rounds,
    samples: setup.data.n,
    layers: auto.layers,
    auto: auto.used,
    plainPointsPerSecond: gridPoints.length / median(plain),
    sharedPointsPerSecond: gridPoints.length / median(shared),
    ratio: median(plain) / median(shared),
    maxRelativeDifference: maxRelative,
    ...machine(),
  });
}

async function main(backend: BackendChoice, points: number, rounds: number, which: string): Promise<void> {
  const used = (await selectBackend(backend)).name;
  if (which !== 'surface') await trajectoryCase(backend, used, points, rounds);
  if (which === 'trajectory') return;
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

if (require.main === module)
  void main((process.argv[2] ?? 'auto') as BackendChoice, Number(process.argv[3] ?? 42), Number(process.argv[4] ?? 3), process.argv[5] ?? 'all');
