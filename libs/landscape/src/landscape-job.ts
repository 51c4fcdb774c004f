import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from './backend';
import type { Grid } from './grid';
import { Evaluator, evaluateTile } from './evaluate';
import type { JobHandler, UnitRef } from './handler';
import { writeLandscapeOutputs } from './output';
import { pointsPerPassSummary } from './multipoint';
import { PlannedPreparation, prepareLandscape, type PreparedLandscape } from './prepare';
import { stringifyResult } from './result';
import { landscapeResult } from './run';
import type { CurvatureSpec, LineSpec, SurfaceSpec } from './spec';
import { assembleTiles, defaultTileSize, planTiles, tilePoints, type Tile, type TileResult } from './tiles';

/** Tiles depend on the spec alone, so every process (CLI, API, any worker) derives the same ones. */
export function landscapeTiles(spec: LineSpec | SurfaceSpec | CurvatureSpec, grid: Grid): Tile[] {
  return planTiles(grid, spec.tiles ?? defaultTileSize(grid, 16));
}

/** One unit per tile, its work the tile's points. */
export function tileUnits(tiles: readonly Tile[]): UnitRef[] {
  return tiles.map((tile) => ({ id: tile.id, work: tilePoints(tile) }));
}

/** Per process, one evaluator per prepared landscape: data is uploaded once and reused by every tile. */
const evaluators = new WeakMap<PreparedLandscape, Evaluator>();

const landscapes = new PlannedPreparation<LineSpec | SurfaceSpec, PreparedLandscape>(prepareLandscape);

export const landscapeHandler: JobHandler<LineSpec | SurfaceSpec, PreparedLandscape, TileResult> = {
  workUnit: 'points',
  // Preparing a landscape is plain JavaScript (files, directions); its evaluator (tfjs) starts with the first unit.
  plan: (spec, resolve) => tileUnits(landscapeTiles(spec, landscapes.plan(spec, resolve).plan.grid)),
  prepare: (spec, resolve) => landscapes.prepare(spec, resolve),
  async runUnit(spec, prepared, unitId, context) {
    const tile = landscapeTiles(spec, prepared.plan.grid).find((t) => t.id === unitId);
    if (!tile) throw new Error(`no tile ${unitId} in this job`);
    await selectBackend(context.backend);
    let evaluator = evaluators.get(prepared);
    if (!evaluator) {
      evaluator = new Evaluator(prepared.setup);
      evaluators.set(prepared, evaluator);
    }
    return evaluateTile(evaluator, prepared.plan, tile, context.onWork);
  },
  async assemble(spec, prepared, results, execution, outDir) {
    const surface = assembleTiles(prepared.plan.grid, landscapeTiles(spec, prepared.plan.grid), results.values());
    const records = [...results.values()].flatMap((r) => (r.pointsPerPass ? [r.pointsPerPass] : []));
    const result = landscapeResult(spec, prepared, surface, execution, pointsPerPassSummary(records));
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    await writeLandscapeOutputs(result, outDir);
    return result;
  },
  release(prepared) {
    evaluators.get(prepared)?.dispose();
    evaluators.delete(prepared);
  },
};
