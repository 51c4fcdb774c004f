import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendInfo } from './backend';
import type { DataProvenance } from './data';
import type { EvaluationSetup } from './evaluate';
import type { ExecutionRecord } from './handler';
import { layoutSize } from './weights';
import type { LossName, OutputKind } from './losses';
import type { DirectionRecord } from './prepare';
import type { PointsPerPassSummary } from './multipoint';
import type { EvaluationRecord } from './evaluate';
import type { GridValues } from './tiles';

export const PACKAGE_VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** What every result records so it can be reproduced and compared (seeds live in `directions[].source`). */
export interface Provenance {
  version: string;
  backend: string;
  backendDetail: BackendInfo;
  threads: number;
  dtype: 'float32';
  model: { ref: string; name: string; parameters: number };
  data: DataProvenance & { n: number };
  lossFunction: LossName;
  output: OutputKind;
  batchSize: number;
  timings: Timings;
  /** Distributed runs: the workers that computed units, and how many each. */
  workers?: { id: string; host: string; backend: string; units: number }[];
}

export interface Timings {
  startedAt: string;
  finishedAt: string;
  prepareSeconds: number;
  evaluateSeconds: number;
  totalSeconds: number;
  /** Kinds that evaluate grid points. */
  pointsPerSecond?: number;
}

/**
 * The provenance block of a result computed with `setup` on the model `modelRef`: shared by every kind that
 * evaluates a model, so all results record the same facts the same way. `points` gives the throughput figure.
 */
export function evaluationProvenance(modelRef: string, modelName: string, setup: EvaluationSetup, execution: ExecutionRecord, points?: number): Provenance {
  const finishedAt = new Date();
  return {
    version: PACKAGE_VERSION,
    backend: execution.backend.name,
    backendDetail: execution.backend,
    threads: execution.threads,
    ...(execution.workers ? { workers: execution.workers } : {}),
    dtype: 'float32',
    model: { ref: modelRef, name: modelName, parameters: layoutSize(setup.model.layout) },
    data: { ...setup.data.provenance, n: setup.data.n },
    lossFunction: setup.loss,
    output: setup.output,
    batchSize: setup.batchSize,
    timings: {
      startedAt: execution.startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      prepareSeconds: execution.prepareSeconds,
      evaluateSeconds: execution.evaluateSeconds,
      totalSeconds: (finishedAt.getTime() - execution.startedAt.getTime()) / 1000,
      ...(points !== undefined ? { pointsPerSecond: points / execution.evaluateSeconds } : {}),
    },
  };
}

export interface LandscapeResult extends Provenance {
  kind: 'line' | 'surface';
  label?: string;
  x: number[];
  y?: number[];
  /** Lines: one value per x. Surfaces: [iy][ix] (row = y). null = not computed. */
  loss: (number | null)[] | GridValues;
  accuracy: (number | null)[] | GridValues;
  directions: DirectionRecord[];
  normalization: string;
  bias: string;
  points: number;
  pointsComputed: number;
  /**
   * How line and surface jobs evaluated the points: whether layers' work was shared between them (subspace.ts),
   * which batch normalizations were folded into the layer before them in passes of one point (graph/fold.ts), and
   * how many points each pass over the data held (multipoint.ts).
   */
  evaluation?: EvaluationRecord & { pointsPerPass?: PointsPerPassSummary };
}

/** Where a result holds NaN or ±Infinity: counts by field path (array positions left out), and a warning. */
export interface NonFiniteSummary {
  count: number;
  fields: Record<string, number>;
  warning: string;
}

export function nonFiniteSummary(value: unknown): NonFiniteSummary | undefined {
  const fields: Record<string, number> = {};
  const walk = (node: unknown, path: string): void => {
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) fields[path || '(value)'] = (fields[path || '(value)'] ?? 0) + 1;
    } else if (Array.isArray(node) || (ArrayBuffer.isView(node) && !(node instanceof DataView))) {
      for (const item of node as ArrayLike<unknown> & Iterable<unknown>) walk(item, path);
    } else if (node && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) walk(item, path ? `${path}.${key}` : key);
    }
  };
  walk(value, '');
  const count = Object.values(fields).reduce((a, b) => a + b, 0);
  if (count === 0) return undefined;
  const where = Object.entries(fields)
    .map(([field, n]) => `${field} (${n})`)
    .join(', ');
  return { count, fields, warning: `${count} values are NaN or ±Infinity: ${where}; the loss diverges or overflows there` };
}

/**
 * JSON with NaN and ±Infinity kept as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers). A
 * result object holding any gets a `nonFinite` summary, so a run that diverged cannot pass for a clean one.
 */
export function stringifyResult(value: unknown): string {
  const summary = value && typeof value === 'object' && !Array.isArray(value) ? nonFiniteSummary(value) : undefined;
  const document = summary ? { ...(value as object), nonFinite: summary } : value;
  return JSON.stringify(document, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
}
