import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { landscapeHandler, parseJobSpec, runEmbedded, type SurfaceSpec } from '@landscape/core';
import { ApiClient, uploadSpecRefs, type JobView } from '../client';
import { machine, REFERENCE_DIR } from './core';
import { report } from './measure';

const REPO = join(__dirname, '..', '..', '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function start(command: string, args: string[], env: Record<string, string>): ChildProcess {
  return spawn(command, args, { cwd: REPO, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: 'ignore' });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
  });
}

/**
 * The reference CNN surface, embedded (1 and 2 threads) against the API with 1 and 2 worker processes on this
 * machine, all on wasm. A private redis-server on a free port is started and removed. The queue's overhead is the
 * fraction of the distributed wall time not spent evaluating, taking the single-thread embedded evaluation time
 * (divided among the workers) as the evaluation work.
 */
export async function benchDistributed(steps: number): Promise<void> {
  const specInput = {
    kind: 'surface',
    model: 'model_trained',
    data: 'dataset.json',
    loss: 'sparse_categorical_crossentropy',
    directions: { x: { file: 'direction_d1_raw.json' }, y: { file: 'direction_d2_raw.json' } },
    grid: { x: [-1, 1, steps], y: [-1, 1, steps] },
    backend: 'wasm',
  };
  const baseDir = join(REFERENCE_DIR, 'm2_cnn');
  const spec = parseJobSpec(specInput) as SurfaceSpec;
  const points = steps * steps;
  const out = mkdtempSync(join(tmpdir(), 'landscape-bench-'));
  const embedded: Record<number, number> = {};
  for (const threads of [1, 2]) {
    const started = performance.now();
    const result = (await runEmbedded(landscapeHandler, { ...spec, threads }, (ref) => join(baseDir, ref), join(out, `embedded-${threads}`), {
      threads,
      backend: 'wasm',
    })) as {
      timings: { evaluateSeconds: number };
    };
    const wall = (performance.now() - started) / 1000;
    embedded[threads] = result.timings.evaluateSeconds;
    report({
      case: 'distributed',
      model: 'm2_cnn',
      mode: 'embedded',
      threads,
      points,
      wallSeconds: wall,
      evaluateSeconds: result.timings.evaluateSeconds,
      ...machine(),
    });
  }

  const redisDir = mkdtempSync(join(tmpdir(), 'landscape-bench-redis-'));
  const redisPort = await freePort();
  const redis = start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'], {});
  const apiPort = await freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const api = start(process.execPath, [join(REPO, 'apps', 'api', 'dist', 'main.js')], { PORT: String(apiPort), REDIS_URL: redisUrl, LANDSCAPE_API_KEYS: '' });
  const client = new ApiClient({ api: `http://127.0.0.1:${apiPort}`, key: '' });
  const workers: ChildProcess[] = [];
  try {
    await until('the API', 30_000, async () => (await client.request('GET', '/health')).ok);
    const submitted = await uploadSpecRefs(client, specInput, baseDir);
    for (const count of [1, 2]) {
      while (workers.length < count)
        workers.push(
          start(process.execPath, [join(REPO, 'apps', 'worker', 'dist', 'main.js')], {
            REDIS_URL: redisUrl,
            WORKER_CONCURRENCY: '1',
            LANDSCAPE_BACKEND: 'wasm',
          }),
        );
      await until(`${count} workers`, 30_000, async () => (await client.json<{ items: unknown[] }>('GET', '/v1/workers')).items.length >= count);
      const started = performance.now();
      const { id } = await client.json<{ id: string }>('POST', '/v1/jobs', submitted);
      let job: JobView | undefined;
      await until('the job', 600_000, async () => {
        job = await client.json<JobView>('GET', `/v1/jobs/${id}`);
        return ['completed', 'failed', 'cancelled'].includes(job.status);
      });
      const wall = (performance.now() - started) / 1000;
      if (job!.status !== 'completed') throw new Error(`benchmark job ${job!.status}: ${job!.error ?? ''}`);
      const ideal = embedded[1]! / count;
      report({
        case: 'distributed',
        model: 'm2_cnn',
        mode: 'api+workers',
        workers: count,
        points,
        units: job!.progress.unitsTotal,
        wallSeconds: wall,
        overheadFraction: Math.max(0, 1 - ideal / wall),
        ...machine(),
      });
    }
  } finally {
    await Promise.all([...workers.map(stop), stop(api)]);
    await stop(redis);
    rmSync(redisDir, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
}
