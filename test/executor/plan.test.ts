import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * plan() is what the API runs for every submitted job: it reads and checks the inputs and lists the units,
 * and never touches tfjs (no backend, no tensor) nor fits an embedding. Run in a fresh process, so nothing
 * else has started a backend.
 */
const EXAMPLES = join(__dirname, '..', '..', 'examples');

describe('plan()', () => {
  it('plans every example without starting tfjs; trajectory embeddings are units the grids need', () => {
    const files = readdirSync(EXAMPLES).filter((name) => name.endsWith('.job.json'));
    const script = `
      const { readFileSync } = require('node:fs');
      const { join, resolve } = require('node:path');
      const tf = require('@tensorflow/tfjs-core');
      const { parseJobSpec } = require('@landscape/core');
      const { jobKinds } = require('@landscape/jobs');
      (async () => {
        const planned = {};
        for (const file of ${JSON.stringify(files)}) {
          const spec = parseJobSpec(JSON.parse(readFileSync(join(${JSON.stringify(EXAMPLES)}, file), 'utf8')));
          planned[file] = await jobKinds.get(spec.kind).plan(spec, (ref) => resolve(${JSON.stringify(EXAMPLES)}, ref));
        }
        const engine = tf.engine();
        process.stdout.write(JSON.stringify({ planned, backends: Object.keys(engine.registry), backend: engine.backendInstance ?? null, tensors: engine.state.numTensors }));
      })().catch((error) => { process.stderr.write(error.stack); process.exit(1); });`;
    const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', cwd: __dirname });
    expect(child.stderr).toBe('');
    const { planned, backends, backend, tensors } = JSON.parse(child.stdout) as {
      planned: Record<string, { id: string; work: number; needs?: string[] }[]>;
      backends: string[];
      backend: unknown;
      tensors: number;
    };
    expect({ backends, backend, tensors }).toEqual({ backends: [], backend: null, tensors: 0 });
    expect(Object.keys(planned).sort()).toEqual(files.sort());
    for (const units of Object.values(planned)) expect(units.length).toBeGreaterThan(0);

    const trajectory = planned['trajectory-m1.job.json']!;
    const embeddings = trajectory.filter((unit) => unit.id.startsWith('embed:')).map((unit) => unit.id);
    expect(embeddings.sort()).toEqual(['embed:autoencoder', 'embed:pca', 'embed:pca-directions', 'embed:umap']);
    for (const unit of trajectory) {
      const method = unit.id.slice(0, unit.id.lastIndexOf(':'));
      if (unit.id === 'checkpoints' || unit.id.startsWith('embed:')) expect(unit.needs).toBeUndefined();
      else expect(unit.needs).toEqual([`embed:${method}`]);
    }
    // A train job is one unit of all its optimizer steps.
    expect(planned['train-mlp.job.json']).toHaveLength(1);
  });
});
