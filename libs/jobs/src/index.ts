export * from './artifacts';
export * from './handlers';
export * from './job-service';
export * from './job-store';
export * from './queue';
export * from './result-store';
export * from './system';
export * from './workers';
