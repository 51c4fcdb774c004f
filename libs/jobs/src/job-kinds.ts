import { defineJobKinds, jobKind, landscapeJobKinds } from '@landscape/core';
import { trainHandler, trajectoryHandler } from '@landscape/metrics';

/**
 * Every job kind the system runs (API, workers, `landscape run`): one line each. A kind of the spec schema
 * missing here does not compile, and building the registry at startup checks again (and refuses duplicates).
 * Computing threads load it from this module.
 */
export const jobKinds = defineJobKinds({ module: __filename, name: 'jobKinds' }, [
  ...landscapeJobKinds,
  jobKind('train', trainHandler),
  jobKind('trajectory', trajectoryHandler),
] as const);
