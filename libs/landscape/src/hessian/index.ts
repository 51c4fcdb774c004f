/** Curvature: exact Hessian-vector products in tfjs, eigen/trace/density solvers, and the hessian/curvature jobs. */
export { installSecondOrderGradients, SecondOrderUnsupportedError, convFilterGradient } from './second-order';
export { HessianOperator, TrainableCoordinates, operatorFor, releaseOperator, type HessianOptions, type LinearOperator } from './hvp';
export { symmetricEigen, tridiagonalEigen, deriveSeed, type SolverStats, type SymmetricEigen } from './linalg';
export { powerIteration, type PowerOptions, type EigenResult } from './power';
export { lanczos, LanczosProcess, type LanczosOptions, type LanczosResult } from './lanczos';
export { hutchinson, hutchinsonSamples, meanAndStderr, type TraceResult } from './hutchinson';
export { hutchpp } from './hutchpp';
export { slq, slqRun, slqDensity, type SlqRun, type SpectralDensity, type DensityOptions } from './slq';
export { exactHessian, exactSpectrum, type ExactHessian, type ExactSpectrum } from './exact';
export {
  planHvp,
  shardRanges,
  shardedOperator,
  localExchange,
  timedOperator,
  emptyHvpStats,
  summarizeHvp,
  DEFAULT_SHARD_MIN_WORK,
  type HvpMode,
  type HvpSetting,
  type HvpPlan,
  type HvpFacts,
  type HvpBackend,
  type ShardExchange,
  type ShardStep,
  type ShardProduct,
  type HvpRunStats,
  type HvpSummary,
  type SampleRange,
} from './sharded';
export { densitySvg, heatmapSvg } from './plots';
export { hessianHandler, prepareHessian, hessianUnits, type PreparedHessian, type HessianResult, type HessianUnitResult, type EigenPairs } from './hessian-job';
export { curvatureHandler, type CurvatureResult, type CurvatureTileResult } from './curvature-job';
