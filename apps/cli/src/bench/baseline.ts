import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { report } from './measure';

/**
 * The fallback when no python3 imports torch (see pytorch.ts): the reference surfaces scripted in Python with
 * numpy (float32, one thread, apps/cli/bench-baselines/numpy_surface.py). Skipped, with a line saying so, without
 * python3/numpy.
 */
export function benchNumpyBaseline(steps: number): void {
  const script = join(__dirname, '..', '..', 'bench-baselines', 'numpy_surface.py');
  const run = spawnSync('python3', [script, String(steps)], {
    encoding: 'utf8',
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    timeout: 600_000,
  });
  if (run.status !== 0) {
    report({ case: 'surface-baseline', skipped: (run.error?.message ?? run.stderr.trim().split('\n').pop() ?? 'python3 failed').slice(0, 200) });
    return;
  }
  process.stdout.write(run.stdout);
}
