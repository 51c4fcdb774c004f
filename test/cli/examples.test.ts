import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli';

const EXAMPLES = join(__dirname, '..', '..', 'examples');

describe('examples/ run as documented', () => {
  const outs: string[] = [];
  afterAll(() => outs.forEach((out) => rmSync(out, { recursive: true, force: true })));

  it.each(readdirSync(EXAMPLES).filter((f) => f.endsWith('.job.json')))('%s', (file) => {
    const out = mkdtempSync(join(tmpdir(), 'landscape-example-'));
    outs.push(out);
    const spec = JSON.parse(readFileSync(join(EXAMPLES, file), 'utf8'));
    const result = runCli(['run', join(EXAMPLES, file), '--out', out], { LOG_LEVEL: 'warn' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const json = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8'));
    expect(json.kind).toBe(spec.kind);
    if (json.points !== undefined) expect(json.pointsComputed).toBe(json.points);
    expect(readdirSync(out).length).toBeGreaterThan(1); // plots and exports beside result.json
  });
});
