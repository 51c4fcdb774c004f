import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { checkLimits, DEFAULT_LIMITS, InputError, parseJobSpec, runEmbedded, type BackendChoice, type JobSpec } from '@landscape/core';
import { jobKinds } from '@landscape/jobs/dist/embedded';
import type { Logger } from 'pino';
import { ProgressReporter } from './progress';
import { jobSummary } from './summary';

export interface RunOptions {
  out: string;
  threads?: number;
  backend?: BackendChoice;
  maxPoints?: number;
  logger: Logger;
  /** Set on a terminal: where the logs went (the summary names it). */
  logFile?: string;
}

/** Reads and validates a job spec file; relative paths in it resolve against the file's directory. */
export function readSpecFile(path: string): { spec: JobSpec; baseDir: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new InputError(`cannot read job spec ${path}: ${reason}`);
  }
  return { spec: parseJobSpec(raw), baseDir: dirname(resolve(path)) };
}

/** Applies command-line overrides on top of the spec's own settings. */
function withOverrides(spec: JobSpec, options: RunOptions): JobSpec {
  // Kinds without threads (e.g. train) ignore that option.
  return {
    ...spec,
    ...(options.threads !== undefined && 'threads' in spec ? { threads: options.threads } : {}),
    ...(options.backend !== undefined ? { backend: options.backend } : {}),
  } as JobSpec;
}

/** `landscape run`: the whole job in this process, no Redis. */
export async function runJob(spec: JobSpec, baseDir: string, options: RunOptions): Promise<unknown> {
  const effective = withOverrides(spec, options);
  // The point limit is this command's setting (--max-points), checked before anything is built.
  const over = checkLimits(effective, { maxPoints: options.maxPoints ?? DEFAULT_LIMITS.maxPoints });
  if (over.length) throw new InputError(`${over[0]!.field}: ${over[0]!.reason} (raise it with --max-points)`);
  const fileResolver = (ref: string): string => (isAbsolute(ref) ? ref : resolve(baseDir, ref));
  const progress = new ProgressReporter(effective.kind, options.logger);
  const result = (await runEmbedded(jobKinds, effective, fileResolver, options.out, {
    threads: 'threads' in effective ? effective.threads : 1,
    backend: effective.backend,
    onProgress: ({ done, total, unit }) => progress.update(done, total, unit),
  })) as { timings?: { totalSeconds: number }; backend?: string };
  options.logger.info({ kind: effective.kind, out: options.out, backend: result.backend, seconds: result.timings?.totalSeconds }, 'job finished');
  if (process.stderr.isTTY) process.stderr.write(jobSummary(effective.kind, result, options.out, options.logFile));
  return result;
}
