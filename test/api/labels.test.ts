import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAllWorkers } from '../harness/processes';
import { startCluster, type Cluster } from '../distributed/helpers';
import { REFERENCE_DIR } from '../support/fixtures';
import { runCliAsync, startApi, type TestApi } from './support';

/**
 * One job, run embedded (`landscape run`) and through the API and a worker (`landscape submit` → `fetch`): the
 * figures are the same files, byte for byte, and name the inputs by their file names, never by artifact hashes.
 */
const M1 = join(REFERENCE_DIR, 'm1_mlp');

describe('embedded and distributed figures are the same files', () => {
  let cluster: Cluster;
  let server: TestApi;
  let tmp: string;

  beforeAll(async () => {
    cluster = await startCluster();
    server = await startApi(cluster.system);
    await cluster.startWorker();
    tmp = mkdtempSync(join(tmpdir(), 'landscape-labels-'));
  });

  afterAll(async () => {
    await killAllWorkers();
    await server?.close();
    await cluster?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function bothWays(name: string, spec: Record<string, unknown>, files: string[]): Promise<{ embedded: string; distributed: string }[]> {
    const specFile = join(tmp, `${name}.job.json`);
    writeFileSync(specFile, JSON.stringify(spec));
    const embeddedDir = join(tmp, `${name}-embedded`);
    const run = await runCliAsync(['run', specFile, '--out', embeddedDir]);
    expect(run.status, run.stderr).toBe(0);
    const api = ['--api', server.url];
    const submitted = await runCliAsync(['submit', specFile, '--wait', '--interval', '200', ...api]);
    expect(submitted.status, submitted.stderr).toBe(0);
    const id = submitted.stdout.trim().split('\n').pop()!;
    const distributedDir = join(tmp, `${name}-distributed`);
    const fetched = await runCliAsync(['fetch', id, '--out', distributedDir, ...api]);
    expect(fetched.status, fetched.stderr).toBe(0);
    return files.map((file) => ({ embedded: readFileSync(join(embeddedDir, file), 'utf8'), distributed: readFileSync(join(distributedDir, file), 'utf8') }));
  }

  const rel = (path: string): string => relative(tmp, path);
  const common = (): Record<string, unknown> => ({ data: rel(join(M1, 'dataset.json')), loss: 'sparse_categorical_crossentropy', backend: 'wasm', threads: 1 });

  it('surface: contour.svg and surface.html', async () => {
    const spec = {
      kind: 'surface',
      model: rel(join(M1, 'model_trained')),
      ...common(),
      directions: { x: { file: rel(join(M1, 'direction_d1_raw.json')) }, y: { model: rel(join(M1, 'model_init', 'model.json')) }, normalization: 'filter' },
      grid: { x: [-1, 1, 7], y: [-0.5, 1.5, 6] },
    };
    const [contour, html] = await bothWays('surface', spec, ['contour.svg', 'surface.html']);
    expect(contour!.distributed).toBe(contour!.embedded);
    expect(html!.distributed).toBe(html!.embedded);
    const svg = contour!.embedded;
    expect(svg).toContain('>model_trained — loss surface<');
    expect(svg).toContain('>x: direction direction_d1_raw.json<');
    expect(svg).toContain('>y: towards model_init<');
    expect(svg).toContain('>model_init</text>'); // the marker at (0, 1)
    expect(svg).not.toMatch(/sha256/);
  });

  it('line: line.svg', async () => {
    const spec = {
      kind: 'line',
      label: 'reference MLP',
      model: rel(join(M1, 'model_init')),
      to: rel(join(M1, 'model_trained')),
      ...common(),
      grid: { x: [-0.5, 1.5, 9] },
    };
    const [line] = await bothWays('line', spec, ['line.svg']);
    expect(line!.distributed).toBe(line!.embedded);
    expect(line!.embedded).toContain('>reference MLP — loss along a line<');
    expect(line!.embedded).toContain('>α = 0 (model_init)<');
    expect(line!.embedded).toContain('>α = 1 (model_trained)<');
    expect(line!.embedded).not.toMatch(/sha256/);
  });
});
