import { curvatureHandler } from './hessian/curvature-job';
import { hessianHandler } from './hessian/hessian-job';
import { jobKind, JobKindRegistry } from './job-kinds';
import { landscapeHandler } from './landscape-job';

/** This library's job kinds, one line each (the full registry, with train and trajectory, is @landscape/jobs' jobKinds). */
export const landscapeJobKinds = [
  jobKind('line', landscapeHandler),
  jobKind('surface', landscapeHandler),
  jobKind('hessian', hessianHandler),
  jobKind('curvature', curvatureHandler),
] as const;

/** A registry of this library's kinds only, for its own tests and benchmarks. */
export const coreJobKinds = new JobKindRegistry({ module: __filename, name: 'coreJobKinds' }, landscapeJobKinds);
