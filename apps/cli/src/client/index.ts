import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ApiClient, ClientError, DEFAULT_API, DEFAULT_RETRY } from './http';
import { uploadSpecRefs } from './upload';
import { getJob, jobPath, submitJob, waitForJob, type JobView } from './wait';

export { ApiClient, ClientError } from './http';
export { modelFiles, uploadSpecRefs, type ArtifactInfo } from './upload';
export { submitJob, waitForJob, type JobView } from './wait';

interface ApiOptions {
  api?: string;
}

const apiOption = (): Option => new Option('--api <url>', `API base URL (env LANDSCAPE_API, default ${DEFAULT_API}); key from env LANDSCAPE_API_KEY`);

function interval(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms < 50 || ms > 600_000) throw new InvalidArgumentError('must be a whole number of milliseconds from 50 to 600000');
  return ms;
}

const intervalOption = (): Option => new Option('--interval <ms>', 'polling interval').argParser(interval).default(1000);

function seconds(value: string): number {
  const s = Number(value);
  if (!Number.isFinite(s) || s < 0 || s > 86_400) throw new InvalidArgumentError('must be a number of seconds from 0 to 86400');
  return s;
}

const retryOption = (): Option =>
  new Option('--retry-for <s>', 'keep polling through an unreachable or restarting API for this long')
    .argParser(seconds)
    .default(DEFAULT_RETRY.outageMs / 1000);

/** The raw spec as written: the server fills in defaults, the client only rewrites file refs. */
function readSpec(path: string): { spec: unknown; baseDir: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (error as Error).message;
    throw new ClientError(`cannot read job spec ${path}: ${reason}`);
  }
  try {
    return { spec: JSON.parse(text) as unknown, baseDir: dirname(resolve(path)) };
  } catch (error) {
    throw new ClientError(`job spec ${path} is not JSON: ${(error as Error).message}`);
  }
}

/** Exit status of a finished job: 0 completed, 1 failed or cancelled (with the reason on stderr). */
function finish(job: JobView): void {
  if (job.status === 'completed') return;
  process.stderr.write(`landscape: job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}\n`);
  process.exitCode = 1;
}

/** Writes every file of a completed job into `outDir` under the names `landscape run` uses. */
export async function fetchJob(client: ApiClient, id: string, outDir: string): Promise<string[]> {
  const job = await getJob(client, id);
  if (job.status !== 'completed') throw new ClientError(`job ${id} is ${job.status}; only a completed job has files to fetch`);
  const { items } = await client.json<{ items: { name: string; size: number }[] }>('GET', `${jobPath(id)}/files`);
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const { name } of items) {
    // Names come from the server: never let one escape the output directory.
    if (basename(name) !== name || name.startsWith('.')) throw new ClientError(`the API listed an unsafe file name ${JSON.stringify(name)}`);
    writeFileSync(join(outDir, name), await client.bytes(`${jobPath(id)}/files/${encodeURIComponent(name)}`));
    written.push(name);
  }
  if (!written.includes('result.json')) {
    writeFileSync(join(outDir, 'result.json'), await client.bytes(`${jobPath(id)}/result`));
    written.push('result.json');
  }
  return written;
}

/** Adds `submit`, `status`, `wait` and `fetch` (the REST client of a running API) to the CLI. */
export function registerClientCommands(program: Command): void {
  program
    .command('submit')
    .description('upload the files a job spec names, submit it to the API, print the job id (last stdout line)')
    .argument('<job.json>', 'job spec file; relative paths resolve against its directory')
    .addOption(apiOption())
    .option('--wait', 'wait for the job to end (progress on stderr); exit 0 completed, 1 failed/cancelled')
    .addOption(intervalOption())
    .addOption(retryOption())
    .action(async (file: string, options: ApiOptions & { wait?: boolean; interval: number; retryFor: number }) => {
      const client = new ApiClient({ api: options.api });
      const { spec, baseDir } = readSpec(file);
      const rewritten = await uploadSpecRefs(client, spec, baseDir);
      const retry = { ...DEFAULT_RETRY, outageMs: options.retryFor * 1000 };
      const job = await submitJob(client, rewritten, retry);
      if (options.wait) finish(await waitForJob(client, job.id, { intervalMs: options.interval, stream: process.stderr, retry }));
      process.stdout.write(`${job.id}\n`);
    });

  program
    .command('status')
    .description('print a job (status, progress, timestamps, ETA, error, workers) as JSON')
    .argument('<id>', 'job id')
    .addOption(apiOption())
    .action(async (id: string, options: ApiOptions) => {
      const job = await getJob(new ApiClient({ api: options.api }), id);
      process.stdout.write(`${JSON.stringify(job, null, 2)}\n`);
    });

  program
    .command('wait')
    .description('wait for a job to end: a progress bar on a TTY, JSON lines otherwise; exit 0 completed, 1 failed/cancelled')
    .argument('<id>', 'job id')
    .addOption(apiOption())
    .addOption(intervalOption())
    .addOption(retryOption())
    .action(async (id: string, options: ApiOptions & { interval: number; retryFor: number }) => {
      const client = new ApiClient({ api: options.api });
      // stdout either way: a bar when it is a terminal, JSON lines that scripts can read when it is not.
      const retry = { ...DEFAULT_RETRY, outageMs: options.retryFor * 1000 };
      finish(await waitForJob(client, id, { intervalMs: options.interval, stream: process.stdout, retry }));
    });

  program
    .command('fetch')
    .description('download result.json and every other file of a completed job')
    .argument('<id>', 'job id')
    .requiredOption('--out <dir>', 'output directory')
    .addOption(apiOption())
    .action(async (id: string, options: ApiOptions & { out: string }) => {
      await fetchJob(new ApiClient({ api: options.api }), id, options.out);
      process.stdout.write(`${options.out}\n`);
    });
}
