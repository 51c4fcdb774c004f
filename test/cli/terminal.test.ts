import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatValue } from '@landscape/core';
import { CLI, runCli } from '../support/cli';
import { REFERENCE_DIR } from '../support/fixtures';

/** On a terminal: a progress bar and a human summary, JSON logs in a file. Piped: JSON logs on stderr, as before. */
const hasScript = spawnSync('script', ['--version']).status === 0;
const tmp = mkdtempSync(join(tmpdir(), 'landscape-tty-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const M1 = join(REFERENCE_DIR, 'm1_mlp');
const specFile = join(tmp, 'line.job.json');
writeFileSync(
  specFile,
  JSON.stringify({
    kind: 'line',
    model: join(M1, 'model_init'),
    to: join(M1, 'model_trained'),
    data: join(M1, 'dataset.json'),
    loss: 'sparse_categorical_crossentropy',
    backend: 'cpu',
    grid: { x: [-0.5, 1.5, 9] },
  }),
);
const lowest = (out: string): number => Math.min(...(JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as { loss: number[] }).loss);
const jsonLines = (text: string): string[] => text.split(/\r?\n/).filter((line) => line.trimStart().startsWith('{"level"'));

describe('landscape run on a terminal', () => {
  it.skipIf(!hasScript)('shows the bar and a summary, and writes the JSON logs to landscape.log', () => {
    const out = join(tmp, 'tty');
    // util-linux `script` runs the command on a pseudo-terminal and copies what it prints.
    const screen = execFileSync('script', ['-qec', `${process.execPath} ${CLI} run ${specFile} --out ${out}`, '/dev/null'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(screen).toMatch(/line █+ 9\/9 points/);
    expect(screen).toContain('line finished in');
    expect(screen).toContain(`minimum loss        ${formatValue(lowest(out))} at x = `);
    expect(screen).toContain(`files               ${out}: landscape.log, line.h5, line.svg, result.csv, result.json`);
    expect(screen).toContain(`log                 ${join(out, 'landscape.log')}`);
    expect(jsonLines(screen)).toEqual([]);
    expect(screen.split(/\r?\n/).filter((line) => /9\/9 points/.test(line))).toHaveLength(1);
    const logged = jsonLines(readFileSync(join(out, 'landscape.log'), 'utf8')).map((line) => JSON.parse(line) as { msg: string });
    expect(logged.map((entry) => entry.msg)).toContain('job finished');
  });

  it('without a terminal keeps JSON logs on stderr and prints only the output directory on stdout', () => {
    const out = join(tmp, 'piped');
    const run = runCli(['run', specFile, '--out', out]);
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${out}\n`);
    const logged = jsonLines(run.stderr).map((line) => JSON.parse(line) as { msg: string });
    expect(logged.map((entry) => entry.msg)).toContain('job finished');
    expect(run.stderr).not.toContain('minimum loss');
    expect(existsSync(join(out, 'landscape.log'))).toBe(false);
  });
});
