import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { formatValue, landscapeData, type CurvatureResult, type HessianResult, type JobSpec, type LandscapeResult } from '@landscape/core';
import type { TrainResult, TrajectoryResult } from '@landscape/metrics';

/**
 * The few lines a person wants at the end of a run on a terminal, per job kind (result.json has everything).
 * One entry per kind: a new kind adds one line here.
 */
const SUMMARIES: { [K in JobSpec['kind']]: (result: never) => string[] } = {
  line: (result: LandscapeResult) => landscapeSummary(result),
  surface: (result: LandscapeResult) => landscapeSummary(result),
  hessian: (result: HessianResult) => {
    const lines: string[] = [];
    if (result.eigenvalues.top) lines.push(`top eigenvalues     ${list(result.eigenvalues.top)}`);
    if (result.eigenvalues.bottom) lines.push(`bottom eigenvalues  ${list(result.eigenvalues.bottom)}`);
    if (result.eigenvalues.all)
      lines.push(`eigenvalues         ${result.eigenvalues.all.length}, from ${v(result.eigenvalues.all[0]!)} to ${v(result.eigenvalues.all.at(-1)!)}`);
    if (result.trace)
      lines.push(`trace               ${v(result.trace.value)} ± ${v(result.trace.stderr)} (${result.trace.method}, ${result.trace.samples} samples)`);
    if (result.density) lines.push(`spectral density    density.svg (${result.density.runs} SLQ runs × ${result.density.steps} steps)`);
    return lines;
  },
  curvature: (result: CurvatureResult) => {
    const extent = (grid: CurvatureResult['lambdaMax']): string => {
      const values = grid.flat().filter((x): x is number => x !== null && Number.isFinite(x));
      return values.length ? `${v(Math.min(...values))} … ${v(Math.max(...values))}` : 'none computed';
    };
    return [
      `λmax                ${extent(result.lambdaMax)}`,
      `λmin                ${extent(result.lambdaMin)}`,
      `|λmin/λmax|         ${extent(result.ratio)}`,
      ...(result.unconverged ? [`unconverged points  ${result.unconverged}`] : []),
    ];
  },
  train: (result: TrainResult) => [
    `final train loss    ${v(result.finalLoss)} after ${result.steps.at(-1)} steps (initial ${v(result.losses[0]!)})`,
    `checkpoints         ${result.points} in ${result.files.trajectory}; final model ${result.files.model}`,
  ],
  trajectory: (result: TrajectoryResult) => [
    `checkpoints         ${result.checkpoints}`,
    ...Object.entries(result.methods).map(
      ([method, m]) =>
        `${method.padEnd(20)}trustworthiness ${m.trustworthiness.toFixed(3)} · continuity ${m.continuity.toFixed(3)} · relative loss error ${m.relativeLossError === null ? '–' : v(m.relativeLossError)}`,
    ),
    `report              ${result.files.report}`,
  ],
};

const v = (value: number): string => formatValue(value);
const list = (values: number[]): string => values.map(v).join(', ');

function landscapeSummary(result: LandscapeResult): string[] {
  const data = landscapeData(result);
  let best: { loss: number; ix: number; iy: number } | undefined;
  data.loss.forEach((row, iy) =>
    row.forEach((loss, ix) => {
      if (loss !== null && Number.isFinite(loss) && (!best || loss < best.loss)) best = { loss, ix, iy };
    }),
  );
  const where = (ix: number, iy: number): string => (data.kind === 'line' ? `x = ${v(data.x[ix]!)}` : `(x, y) = (${v(data.x[ix]!)}, ${v(data.y[iy]!)})`);
  const ix0 = data.x.findIndex((x) => Math.abs(x) < 1e-12);
  const iy0 = data.kind === 'line' ? 0 : data.y.findIndex((y) => Math.abs(y) < 1e-12);
  const origin = ix0 >= 0 && iy0 >= 0 ? data.loss[iy0]![ix0] : null;
  return [
    best ? `minimum loss        ${v(best.loss)} at ${where(best.ix, best.iy)}` : 'minimum loss        no finite loss was computed',
    ...(origin !== null && origin !== undefined ? [`loss at the origin  ${v(origin)}`] : []),
    `points              ${result.pointsComputed}/${result.points} computed`,
  ];
}

/** The summary of a finished job: its kind's lines, then the output directory and its files. */
export function jobSummary(kind: JobSpec['kind'], result: unknown, out: string, logFile?: string): string {
  const lines = (SUMMARIES[kind] as (result: unknown) => string[])(result);
  const files = readdirSync(out).sort();
  const seconds = (result as { timings?: { totalSeconds?: number } }).timings?.totalSeconds;
  return [
    `${kind} finished${seconds !== undefined ? ` in ${seconds.toFixed(1)} s` : ''}`,
    ...lines.map((line) => `  ${line}`),
    `  files               ${out}: ${files.join(', ')}`,
    ...(logFile ? [`  log                 ${logFile}`] : []),
    '',
  ].join('\n');
}

/** Where the JSON logs of a run on a terminal go (they would garble the progress bar): next to its outputs. */
export function terminalLogFile(out: string): string {
  return join(out, 'landscape.log');
}
