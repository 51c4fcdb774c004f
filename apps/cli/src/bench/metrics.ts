import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseJobSpec, runEmbedded, type BackendChoice } from '@landscape/core';
import { benchPca, type PcaBenchmark, type TrajectoryResult } from '@landscape/metrics';
import { jobKinds } from '@landscape/jobs/dist/embedded';
import { machine, REFERENCE_DIR } from './core';
import { medianSeconds, report } from './measure';

/** fitPca on a seeded synthetic trajectory (default 200 checkpoints × 100,000 parameters): median of the repeats. */
export function benchPcaFit(checkpoints = 200, parameters = 100_000, repeats = 3): void {
  const runs: PcaBenchmark[] = [];
  for (let i = 0; i < repeats; i++) runs.push(benchPca({ checkpoints, parameters }));
  runs.sort((a, b) => a.total - b.total);
  const median = runs[Math.floor(runs.length / 2)]!;
  report({ case: 'pca', ...median, seconds: median.total, repeats, ...machine() });
}

/**
 * Wall time of a whole `trajectory` job with every method on the reference M1 trajectory (40 checkpoints,
 * default settings: 21 × 21 grid per method), through the same path as `landscape run`.
 */
export async function benchTrajectoryJob(backend: BackendChoice, repeats = 3): Promise<void> {
  const dir = join(REFERENCE_DIR, 'm1_mlp');
  const spec = parseJobSpec({
    kind: 'trajectory',
    model: 'model_trained',
    data: 'dataset.json',
    loss: 'sparse_categorical_crossentropy',
    trajectory: 'trajectory.json',
    backend,
  });
  const out = mkdtempSync(join(tmpdir(), 'bench-trajectory-'));
  let last: TrajectoryResult | undefined;
  try {
    const seconds = await medianSeconds(repeats, async () => {
      last = (await runEmbedded(jobKinds, spec, (ref) => join(dir, ref), out, { threads: 1, backend })) as TrajectoryResult;
    });
    report({
      case: 'trajectory-job',
      model: 'm1_mlp',
      methods: Object.keys(last!.methods),
      checkpoints: last!.checkpoints,
      gridPoints: last!.points,
      backend: last!.backend,
      seconds,
      prepareSeconds: last!.timings.prepareSeconds,
      evaluateSeconds: last!.timings.evaluateSeconds,
      embeddingSeconds: last!.timings.embeddingSeconds,
      repeats,
      ...machine(),
    });
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
