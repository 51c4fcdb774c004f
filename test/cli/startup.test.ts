import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';
import { REFERENCE_DIR } from '../support/fixtures';

/**
 * Embedded runs start fast: loading Redis and BullMQ (what only the API client and workers need) cost about
 * 0.2 s of start-up and doubled a small surface's wall time. A preload script records every module the process
 * loaded, and a real `landscape run` must have loaded neither.
 */
const tmp = mkdtempSync(join(tmpdir(), 'landscape-startup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('landscape run', () => {
  it('loads no Redis or BullMQ module for an embedded job', () => {
    const loaded = join(tmp, 'modules.json');
    const preload = join(tmp, 'record-modules.js');
    writeFileSync(
      preload,
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(Object.keys(require.cache))));\n`,
    );
    const M1 = join(REFERENCE_DIR, 'm1_mlp');
    const spec = join(tmp, 'line.job.json');
    writeFileSync(
      spec,
      JSON.stringify({
        kind: 'line',
        model: join(M1, 'model_init'),
        to: join(M1, 'model_trained'),
        data: join(M1, 'dataset.json'),
        loss: 'sparse_categorical_crossentropy',
        grid: { x: [0, 1, 3] },
      }),
    );
    const run = runCli(['run', spec, '--out', join(tmp, 'out'), '--threads', '1', '--backend', 'cpu'], { NODE_OPTIONS: `--require ${preload}` });
    expect(run.status).toBe(0);
    const modules = JSON.parse(readFileSync(loaded, 'utf8')) as string[];
    expect(modules.some((path) => path.includes('@landscape') || path.includes('/libs/landscape/'))).toBe(true);
    expect(modules.filter((path) => /[\\/]node_modules[\\/](ioredis|bullmq)[\\/]/.test(path))).toEqual([]);
  });
});
