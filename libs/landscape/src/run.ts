import { gridSize } from './grid';
import type { ExecutionRecord } from './handler';
import type { PreparedLandscape } from './prepare';
import { evaluationProvenance, type LandscapeResult } from './result';
import type { LineSpec, SurfaceSpec } from './spec';
import type { AssembledSurface } from './tiles';
import { evaluationRecord, evaluationSubspace } from './evaluate';
import type { PointsPerPassSummary } from './multipoint';

/** The result.json object of a line or surface job. */
export function landscapeResult(
  spec: LineSpec | SurfaceSpec,
  prepared: PreparedLandscape,
  surface: AssembledSurface,
  execution: ExecutionRecord,
  pointsPerPass?: PointsPerPassSummary,
): LandscapeResult {
  const { grid } = prepared.plan;
  const first = prepared.directions[0]!;
  return {
    kind: prepared.kind,
    ...(spec.label ? { label: spec.label } : {}),
    x: grid.x,
    ...(grid.y ? { y: grid.y } : {}),
    loss: grid.y ? surface.loss : surface.loss[0]!,
    accuracy: grid.y ? surface.accuracy : surface.accuracy[0]!,
    directions: prepared.directions,
    normalization: first.normalization,
    bias: first.bias,
    points: gridSize(grid).points,
    pointsComputed: surface.pointsComputed,
    evaluation: {
      ...evaluationRecord(prepared.setup, evaluationSubspace(prepared.setup, prepared.plan.directions.length), execution.backend.name),
      ...(pointsPerPass ? { pointsPerPass } : {}),
    },
    ...evaluationProvenance(spec.model, prepared.model.description.name, prepared.setup, execution, surface.pointsComputed),
  };
}
