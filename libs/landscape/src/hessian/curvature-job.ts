import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from '../backend';
import { UnitCancelled } from '../evaluate';
import { coefficientsAt, gridSize } from '../grid';
import type { ExecutionRecord, JobHandler } from '../handler';
import { PlannedPreparation, prepareLandscape, type DirectionRecord, type PreparedLandscape } from '../prepare';
import { evaluationProvenance, stringifyResult, type Provenance } from '../result';
import type { CurvatureSpec, SurfaceSpec } from '../spec';
import { landscapeTiles, tileUnits } from '../landscape-job';
import { emptyValues, tilePoints, type GridValues, type Tile } from '../tiles';
import { combine } from '../weights';
import { operatorFor, releaseOperator, type HessianOperator } from './hvp';
import { lanczos } from './lanczos';
import { deriveSeed } from './linalg';
import { heatmapSvg } from './plots';

/** Curvature at every point of one tile, row-major over the tile (y outer, x inner). */
export interface CurvatureTileResult {
  tileId: string;
  lambdaMax: number[];
  lambdaMin: number[];
  /** Lanczos steps (= Hessian-vector products) used at each point. */
  steps: number[];
  converged: boolean[];
}

export interface CurvatureResult extends Provenance {
  kind: 'curvature';
  label?: string;
  x: number[];
  y: number[];
  /** [iy][ix] (row = y); null = not computed. */
  lambdaMax: GridValues;
  lambdaMin: GridValues;
  /** |λmin / λmax| (Li et al. 2018): near 0 = locally convex, large = strongly non-convex. */
  ratio: GridValues;
  /** Points whose Lanczos run stopped at maxSteps before its tolerance. */
  unconverged: number;
  curvature: { tol: number; maxSteps: number; seed: number };
  directions: DirectionRecord[];
  normalization: string;
  bias: string;
  points: number;
  pointsComputed: number;
  hvps: number;
}

/** The grid, directions and tiles of a curvature job are exactly those of the same spec as a `surface`. */
function asSurface(spec: CurvatureSpec): SurfaceSpec {
  const { kind: _kind, curvature: _curvature, seed: _seed, ...surface } = spec;
  return { ...surface, kind: 'surface' };
}

/** λmax and λmin at every point of a tile: one Lanczos run (both ends of the spectrum) per point. */
export function curvatureTile(
  spec: CurvatureSpec,
  prepared: PreparedLandscape,
  hessian: HessianOperator,
  tile: Tile,
  onPoint?: (done: number) => boolean | void,
): CurvatureTileResult {
  const { plan } = prepared;
  const { nx } = gridSize(plan.grid);
  const result: CurvatureTileResult = { tileId: tile.id, lambdaMax: [], lambdaMin: [], steps: [], converged: [] };
  const weights = new Float64Array(plan.origin.length);
  for (let iy = tile.y0; iy < tile.y1; iy++) {
    for (let ix = tile.x0; ix < tile.x1; ix++) {
      hessian.setPoint(combine(plan.origin, coefficientsAt(plan.grid, ix, iy), plan.directions, weights));
      // Seeded per grid point, so the value at a point does not depend on the tiling.
      const run = lanczos(hessian.operator, {
        top: 1,
        bottom: 1,
        tol: spec.curvature.tol,
        maxSteps: spec.curvature.maxSteps,
        vectors: false,
        seed: deriveSeed(spec.seed, iy * nx + ix),
      });
      result.lambdaMax.push(run.top.eigenvalues[0]!);
      result.lambdaMin.push(run.bottom.eigenvalues[0]!);
      result.steps.push(run.iterations);
      result.converged.push(run.converged);
      if (onPoint?.(result.lambdaMax.length) === false) throw new UnitCancelled(tile.id);
    }
  }
  return result;
}

function place(grid: PreparedLandscape['plan']['grid'], tiles: readonly Tile[], results: Iterable<CurvatureTileResult>) {
  const byId = new Map(tiles.map((tile) => [tile.id, tile]));
  const lambdaMax = emptyValues(grid);
  const lambdaMin = emptyValues(grid);
  const ratio = emptyValues(grid);
  let pointsComputed = 0;
  let unconverged = 0;
  let hvps = 0;
  for (const result of results) {
    const tile = byId.get(result.tileId);
    if (!tile) throw new Error(`result for unknown tile ${result.tileId}`);
    if (result.lambdaMax.length !== tilePoints(tile)) throw new Error(`tile ${tile.id} has ${result.lambdaMax.length} values, expected ${tilePoints(tile)}`);
    let k = 0;
    for (let iy = tile.y0; iy < tile.y1; iy++) {
      for (let ix = tile.x0; ix < tile.x1; ix++, k++) {
        if (lambdaMax[iy]![ix] === null) pointsComputed++;
        const max = result.lambdaMax[k]!;
        const min = result.lambdaMin[k]!;
        lambdaMax[iy]![ix] = max;
        lambdaMin[iy]![ix] = min;
        ratio[iy]![ix] = max === 0 ? null : Math.abs(min / max);
        if (!result.converged[k]) unconverged++;
        hvps += result.steps[k]!;
      }
    }
  }
  return { lambdaMax, lambdaMin, ratio, pointsComputed, unconverged, hvps };
}

export function curvatureResult(
  spec: CurvatureSpec,
  prepared: PreparedLandscape,
  results: ReadonlyMap<string, CurvatureTileResult>,
  execution: ExecutionRecord,
): CurvatureResult {
  const { grid } = prepared.plan;
  const placed = place(grid, landscapeTiles(spec, grid), results.values());
  const first = prepared.directions[0]!;
  return {
    kind: 'curvature',
    ...(spec.label ? { label: spec.label } : {}),
    x: grid.x,
    y: grid.y!,
    lambdaMax: placed.lambdaMax,
    lambdaMin: placed.lambdaMin,
    ratio: placed.ratio,
    unconverged: placed.unconverged,
    curvature: { ...spec.curvature, seed: spec.seed },
    directions: prepared.directions,
    normalization: first.normalization,
    bias: first.bias,
    points: gridSize(grid).points,
    pointsComputed: placed.pointsComputed,
    hvps: placed.hvps,
    ...evaluationProvenance(spec.model, prepared.model.description.name, prepared.setup, execution, placed.pointsComputed),
  };
}

const curvatures = new PlannedPreparation<CurvatureSpec, PreparedLandscape>((spec, resolve) => prepareLandscape(asSurface(spec), resolve));

export const curvatureHandler: JobHandler<CurvatureSpec, PreparedLandscape, CurvatureTileResult> = {
  workUnit: 'points',
  plan: (spec, resolve) => tileUnits(landscapeTiles(spec, curvatures.plan(spec, resolve).plan.grid)),
  prepare: (spec, resolve) => curvatures.prepare(spec, resolve),
  async runUnit(spec, prepared, unitId, context) {
    const tile = landscapeTiles(spec, prepared.plan.grid).find((t) => t.id === unitId);
    if (!tile) throw new Error(`no tile ${unitId} in this job`);
    await selectBackend(context.backend);
    const hessian = operatorFor(prepared, prepared.setup, prepared.plan.origin);
    return curvatureTile(spec, prepared, hessian, tile, context.onWork);
  },
  async assemble(spec, prepared, results, execution, outDir) {
    const result = curvatureResult(spec, prepared, results, execution);
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'result.json'), stringifyResult(result));
    const subtitle = `${spec.label ?? result.model.name} · ${result.y.length}×${result.x.length} points · Lanczos tol ${spec.curvature.tol}, ≤ ${spec.curvature.maxSteps} steps`;
    const maps = [
      ['curvature_lambda_max.svg', 'Largest Hessian eigenvalue λmax', result.lambdaMax, 'λmax'],
      ['curvature_lambda_min.svg', 'Smallest Hessian eigenvalue λmin', result.lambdaMin, 'λmin'],
      ['curvature_ratio.svg', 'Non-convexity |λmin / λmax|', result.ratio, '|λmin/λmax|'],
    ] as const;
    for (const [file, title, values, label] of maps) writeFileSync(join(outDir, file), heatmapSvg(result.x, result.y, values, { title, subtitle, label }));
    return result;
  },
  release: (prepared) => releaseOperator(prepared),
};
