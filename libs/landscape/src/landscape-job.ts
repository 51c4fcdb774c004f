import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from './backend';
import { Evaluator, evaluateTile } from './evaluate';
import type { JobHandler } from './handler';
import { writeLandscapeOutputs } from './output';
import { prepareLandscape, type PreparedLandscape } from './prepare';
import { stringifyResult } from './result';
import { evaluateLandscape, landscapeResult } from './run';
import type { LineSpec, SurfaceSpec } from './spec';
import { assembleTiles, defaultTileSize, planTiles, tilePoints, type Tile, type TileResult } from './tiles';

/** Tiles depend on the spec alone, so every process (CLI, API, any worker) derives the same ones. */
export function landscapeTiles(spec: LineSpec | SurfaceSpec, prepared: PreparedLandscape): Tile[] {
  return planTiles(prepared.plan.grid, spec.tiles ?? defaultTileSize(prepared.plan.grid, 16));
}

/** Per process, one evaluator per prepared landscape: data is uploaded once and reused by every tile. */
const evaluators = new WeakMap<PreparedLandscape, Evaluator>();

export const landscapeHandler: JobHandler<LineSpec | SurfaceSpec, PreparedLandscape, TileResult> = {
  kind: 'surface',
  prepare: (spec, resolve) => prepareLandscape(spec, resolve),
  units: (spec, prepared) => landscapeTiles(spec, prepared).map((tile) => ({ id: tile.id, work: tilePoints(tile) })),
  async runUnit(spec, prepared, unitId, context) {
    const tile = landscapeTiles(spec, prepared).find((t) => t.id === unitId);
    if (!tile) throw new Error(`no tile ${unitId} in this job`);
    await selectBackend(context.backend);
    let evaluator = evaluators.get(prepared);
    if (!evaluator) {
      evaluator = new Evaluator(prepared.setup);
      evaluators.set(prepared, evaluator);
    }
    return evaluateTile(evaluator, prepared.plan, tile, context.onWork);
  },
  async runAllEmbedded(spec, prepared, options) {
    const evaluated = await evaluateLandscape(prepared, landscapeTiles(spec, prepared), options);
    return {
      results: new Map(evaluated.results.map((result) => [result.tileId, result])),
      execution: {
        startedAt: new Date(),
        prepareSeconds: 0,
        evaluateSeconds: evaluated.evaluateSeconds,
        backend: evaluated.backend,
        threads: evaluated.threads,
      },
    };
  },
  async assemble(spec, prepared, results, execution, outDir) {
    const surface = assembleTiles(prepared.plan.grid, landscapeTiles(spec, prepared), results.values());
    const result = landscapeResult(spec, prepared, surface, execution);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    await writeLandscapeOutputs(result, outDir);
    return result;
  },
};

/** Frees the evaluator kept for a prepared landscape (workers call it when a job is done). */
export function releaseLandscape(prepared: PreparedLandscape): void {
  evaluators.get(prepared)?.dispose();
  evaluators.delete(prepared);
}
