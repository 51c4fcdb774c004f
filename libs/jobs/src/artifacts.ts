/** Uploaded inputs: the store (bytes once, metadata per upload), the model bundle format, and the local cache. */
export * from './artifact-store';
export * from './model-bundle';
export * from './artifact-cache';
