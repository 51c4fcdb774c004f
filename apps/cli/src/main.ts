import { Command, InvalidArgumentError, Option } from 'commander';
import { BACKENDS, isInputError, PACKAGE_VERSION, type BackendChoice } from '@landscape/core';
import { createLogger } from '@landscape/jobs/dist/embedded';
import pino, { type Logger } from 'pino';
import { BENCH_SUITE_NAMES, PYTORCH_CASES } from './bench/names';
import { registerClientCommands } from './client';
import { runDemo } from './demo';
import { readSpecFile, runJob } from './run-job';
import { terminalLogFile } from './summary';

const LOG_OPTIONS = { level: process.env.LOG_LEVEL ?? 'info', base: { app: 'landscape-cli' } };
// Without a terminal, logs are JSON on stderr so stdout stays clean for scripts (`landscape submit` prints the job id there).
let logger: Logger = createLogger(LOG_OPTIONS, pino.destination(2));

/**
 * On a terminal the progress bar and a short summary are what a person reads: JSON log lines would garble them,
 * so they go to `landscape.log` in the output directory (`logFile`), or nowhere for commands without one.
 */
function commandLogger(out?: string): { logger: Logger; logFile?: string } {
  if (!process.stderr.isTTY) return { logger };
  if (!out) return { logger: (logger = pino({ ...LOG_OPTIONS, level: 'silent' })) };
  const logFile = terminalLogFile(out);
  logger = createLogger(LOG_OPTIONS, pino.destination({ dest: logFile, mkdir: true, sync: true }));
  return { logger, logFile };
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

const backendOption = (): Option => new Option('--backend <name>', 'tfjs backend').choices(BACKENDS as unknown as string[]);

export function buildProgram(): Command {
  const program = new Command('landscape')
    .description('Loss landscapes of neural networks: interpolations, filter-normalized surfaces, curvature and trajectories')
    .version(PACKAGE_VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  program
    .command('run')
    .description('run a job in this process (no Redis needed)')
    .argument('<job.json>', 'job spec file (docs/job-spec.md)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--threads <n>', 'evaluation threads (default: one per core)', positiveInt)
    .addOption(backendOption())
    .option('--max-points <n>', 'refuse grids with more points than this', positiveInt)
    .action(async (file: string, options: { out: string; threads?: number; backend?: BackendChoice; maxPoints?: number }) => {
      const { spec, baseDir } = readSpecFile(file);
      await runJob(spec, baseDir, { ...options, ...commandLogger(options.out) });
      // For scripts; on a terminal the summary names the directory.
      if (!process.stdout.isTTY) process.stdout.write(`${options.out}\n`);
    });

  program
    .command('demo')
    .description('train a small model and map its loss landscape (line, surface, trajectory embeddings, all plots)')
    .option('--out <dir>', 'output directory', 'landscape-demo')
    .option('--threads <n>', 'evaluation threads', positiveInt)
    .addOption(backendOption())
    .action(async (options: { out: string; threads?: number; backend?: BackendChoice }) => {
      await runDemo({ ...options, ...commandLogger(options.out) });
    });

  registerClientCommands(program);
  // Client commands log nothing themselves; on a terminal the silent logger keeps it that way.
  program.hook('preAction', (_program, command) => {
    if (!['run', 'demo'].includes(command.name())) commandLogger();
  });

  program
    .command('bench')
    .description(`print benchmark figures as JSON lines (suites: ${BENCH_SUITE_NAMES.join(', ')})`)
    .argument('[suites...]', 'run only these suites')
    .option('--only <cases>', `comma-separated PyTorch comparison cases (${PYTORCH_CASES.join(', ')}); implies the pytorch suite`, (value: string) => {
      const cases = value.split(',').map((name) => name.trim());
      const unknown = cases.find((name) => !(PYTORCH_CASES as readonly string[]).includes(name));
      if (unknown !== undefined) throw new InvalidArgumentError(`unknown case '${unknown}'`);
      return cases;
    })
    .action(async (suites: string[], options: { only?: string[] }) => {
      // Loaded here only: the suites are heavy, and every other command starts faster without them.
      const { runBench } = await import('./bench');
      await runBench(suites, options.only);
    });

  return program;
}

export async function main(): Promise<void> {
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') process.exit(0);
    if (typeof code === 'string' && code.startsWith('commander.')) process.exit(2);
    if (isInputError(error)) {
      process.stderr.write(`landscape: ${(error as Error).message}\n`);
      process.exit(2);
    }
    logger.error({ err: error }, 'failed');
    process.stderr.write(`landscape: ${(error as Error).message}\n`);
    process.exit(1);
  }
}

if (require.main === module) void main();
