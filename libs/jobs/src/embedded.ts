/**
 * What the CLI's embedded runs and its API client need from this library, without loading Redis and BullMQ
 * (about 0.2 s of every `landscape run`'s start-up). Import it as '@landscape/jobs/dist/embedded'.
 */
export { expectedKind } from './artifact-cache';
export { jobKinds } from './job-kinds';
export { createLogger } from './logging';
