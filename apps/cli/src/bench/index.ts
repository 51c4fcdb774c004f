import { benchNumpyBaseline } from './baseline';
import { benchMatMul, benchSurface } from './core';
import { benchCurvature } from './curvature';
import { benchDataFormats } from './data';
import { benchDistributed } from './distributed';
import { benchPcaFit, benchTrajectoryJob } from './metrics';
import { benchHvpProfile } from './profile';
import type { BenchSuiteName } from './names';
import { benchPytorch, chooseLandscapeOpenBlasSetting } from './pytorch';
import { benchResnet } from './resnet';

/**
 * `landscape bench`: JSON lines of throughput figures. The machines are shared and noisy, so every figure is a
 * median of repeats and ratios should be compared within one run.
 */
export const BENCH_SUITES: Record<BenchSuiteName, (only: readonly string[]) => Promise<void>> = {
  async core() {
    await benchMatMul('wasm', [256, 512, 1024]);
    await benchMatMul('cpu', [256]);
    for (const model of ['m1_mlp', 'm2_cnn'] as const) {
      for (const threads of [1, 2]) await benchSurface(model, 'wasm', threads, 21);
      await benchSurface(model, 'cpu', 1, model === 'm2_cnn' ? 11 : 21);
    }
    benchNumpyBaseline(21);
  },
  async curvature() {
    for (const backend of ['wasm', 'cpu'] as const) await benchCurvature('m2_cnn', backend);
    await benchCurvature('m1_mlp', 'wasm');
  },
  async data() {
    benchDataFormats(10_000);
  },
  async distributed() {
    await benchDistributed(51);
  },
  async metrics() {
    benchPcaFit(200, 100_000);
    await benchTrajectoryJob('wasm');
  },
  /** Hessian-vector product time by kernel (docs/performance.md). */
  async 'hvp-profile'() {
    await benchHvpProfile();
  },
  /** Side by side with PyTorch; `only` picks cases (PYTORCH_CASES). */
  async pytorch(only) {
    await benchPytorch(only);
  },
  /** ResNet-20 surface points against tfjs-layers' predict (BENCH_RESNET_SAMPLES=1000,10000 for both sizes). */
  async resnet() {
    await benchResnet();
  },
};

/** Runs the named suites (all when none); `cases` (`--only`) selects PyTorch comparison cases and implies that suite. */
export async function runBench(suites: string[] = [], cases: string[] = []): Promise<void> {
  const selected = suites.length > 0 ? suites : cases.length > 0 ? ['pytorch'] : Object.keys(BENCH_SUITES);
  if (selected.includes('pytorch')) chooseLandscapeOpenBlasSetting();
  for (const [name, suite] of Object.entries(BENCH_SUITES)) if (selected.includes(name)) await suite(cases);
}
