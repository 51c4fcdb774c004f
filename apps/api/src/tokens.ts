/** Injection tokens: the job system is built outside Nest (createApp) and handed in as values. */
export const JOB_SERVICE = Symbol('JobService');
export const ARTIFACT_STORE = Symbol('ArtifactStore');
export const WORKER_REGISTRY = Symbol('WorkerRegistry');
export const API_SETTINGS = Symbol('ApiSettings');
export const READINESS = Symbol('Readiness');
export const SESSION_STORE = Symbol('SessionStore');
