import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendInfo } from './backend';
import type { DataProvenance } from './data';
import type { LossName, OutputKind } from './losses';
import type { DirectionRecord } from './prepare';
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
  /** Distributed runs: the workers that computed tiles. */
  workers?: { id: string; host: string; backend: string; tiles: number }[];
}

export interface Timings {
  startedAt: string;
  finishedAt: string;
  prepareSeconds: number;
  evaluateSeconds: number;
  totalSeconds: number;
  pointsPerSecond: number;
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
}

/** JSON with NaN and ±Infinity kept as the strings "NaN", "Infinity", "-Infinity" (JSON has no such numbers). */
export function stringifyResult(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v), 2);
}
