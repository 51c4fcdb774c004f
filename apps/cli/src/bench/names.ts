/**
 * The suites' and cases' names, apart from the suites themselves: the command line lists them in its help, and
 * loading the suites (tfjs-layers among them) would add ~40 ms to every command's start-up.
 */
export const BENCH_SUITE_NAMES = ['core', 'curvature', 'data', 'distributed', 'metrics', 'hvp-profile', 'pytorch', 'resnet'] as const;
export type BenchSuiteName = (typeof BENCH_SUITE_NAMES)[number];

export const PYTORCH_CASES = ['matmul', 'surface', 'line', 'hvp', 'eigen', 'trace', 'hessian-job'] as const;
export type PytorchCase = (typeof PYTORCH_CASES)[number];
