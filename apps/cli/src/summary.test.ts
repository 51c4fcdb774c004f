import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jobSummary } from './summary';

/** The lines a person reads at the end of a run on a terminal. */
const out = mkdtempSync(join(tmpdir(), 'landscape-summary-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));
writeFileSync(join(out, 'result.json'), '{}');
writeFileSync(join(out, 'density.svg'), '');

describe('jobSummary', () => {
  it('hessian: the eigenvalues, the trace with its standard error, the files', () => {
    const result = {
      eigenvalues: { top: [5.27124, 3.871], bottom: [-0.0077912] },
      trace: { method: 'hutchinson', value: 19.04, stderr: 1.0712, samples: 60 },
      density: { runs: 8, steps: 60 },
      timings: { totalSeconds: 7.61 },
    };
    expect(jobSummary('hessian', result, out, join(out, 'landscape.log')).split('\n')).toEqual([
      'hessian finished in 7.6 s',
      '  top eigenvalues     5.27, 3.87',
      '  bottom eigenvalues  −0.00779',
      '  trace               19 ± 1.07 (hutchinson, 60 samples)',
      '  spectral density    density.svg (8 SLQ runs × 60 steps)',
      `  files               ${out}: density.svg, result.json`,
      `  log                 ${join(out, 'landscape.log')}`,
      '',
    ]);
  });

  it('surface: the minimum loss and where it is, the loss at the origin', () => {
    const result = {
      kind: 'surface',
      x: [-1, 0, 1],
      y: [0, 0.5],
      loss: [
        [3, 2, 0.5],
        [null, 1, 'NaN'],
      ],
      accuracy: [
        [null, null, null],
        [null, null, null],
      ],
      points: 6,
      pointsComputed: 5,
    };
    const lines = jobSummary('surface', result, out).split('\n');
    expect(lines.slice(1, 4)).toEqual(['  minimum loss        0.5 at (x, y) = (1, 0)', '  loss at the origin  2', '  points              5/6 computed']);
  });
});
