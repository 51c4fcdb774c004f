import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BroadcastChannel, MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { selectBackend, type BackendChoice, type BackendInfo } from '../backend';
import type { ShardStep } from '../hessian/sharded';
import type { JobKindRegistry, RegistryLocation } from '../job-kinds';
import type { JobSpec } from '../spec';
import { PreparedJobs, runShardTask, runUnitTask, type HvpCall, type HvpOffer, type ShardProductTask, type UnitTask } from './task';

/** Shared with every pool thread at start. */
export interface ThreadData {
  registry: RegistryLocation;
  backend: BackendChoice;
  /** BroadcastChannel name on which job ids to release are announced. */
  releaseChannel: string;
}

export interface ThreadUnitTask {
  task: UnitTask;
  /** Progress and exchange calls (thread → caller), exchange answers (caller → thread). */
  port: MessagePort;
  /** Set to 1 by the caller: stop at the next point. */
  stop: Int32Array;
  /** Set to 1 by the caller when an exchange answer is on the port. */
  answer: Int32Array;
  offer?: HvpOffer;
}

export interface ThreadShardTask {
  task: ShardProductTask;
}

export type ThreadMessage = { type: 'work'; done: number } | { type: 'hvp'; id: number; call: HvpCall };
export type HvpAnswer = { id: number; value?: ShardStep | null; error?: { message: string; name: string } };
export type ThreadOutcome<T> = { value: T; threadId: number; error?: undefined } | { error: { name: string; message: string } };

export interface UnitRunOptions {
  onWork(done: number): void;
  /** Lets the unit shard its Hessian-vector products; `exchange` answers its calls (thread pools only). */
  hvp?: { offer: HvpOffer; exchange(call: HvpCall): Promise<ShardStep | null> };
}

export type StopReason = 'cancelled' | 'shutdown';

export interface RunningUnit {
  result: Promise<unknown>;
  /** Makes the unit stop at its next point; `result` then rejects with a UnitCancelled error. */
  stop(reason: StopReason): void;
  readonly stoppedFor?: StopReason;
}

export interface ExecutorOptions {
  registry: JobKindRegistry;
  threads: number;
  backend: BackendChoice;
  /** Run units on the calling thread (embedded runs with one thread: no thread start-up, same code path). */
  inline?: boolean;
}

function unwrap<T>(outcome: ThreadOutcome<T>): T {
  if (outcome.error) throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name });
  return outcome.value;
}

/**
 * The one unit executor, used by `landscape run` and by every worker: a piscina pool of computing threads
 * (each with its own tfjs backend; wasm is single-threaded in Node), or the calling thread when `inline`.
 * It runs units and shard products, reports progress, stops units cooperatively (a shared flag checked at
 * every point, so a thread and what it prepared survive a cancel) and frees prepared jobs.
 */
export class UnitExecutor {
  private running = 0;
  /** Threads that have run a unit. */
  private readonly unitThreads = new Set<number>();
  /** Jobs prepared on the calling thread (inline units, assembly). */
  private readonly local: PreparedJobs;
  private readonly releases: BroadcastChannel;

  private constructor(
    private readonly options: ExecutorOptions,
    readonly backend: BackendInfo,
    private readonly pool: Piscina | undefined,
    releaseChannel: string,
  ) {
    this.local = new PreparedJobs(options.registry);
    this.releases = new BroadcastChannel(releaseChannel);
    this.releases.unref();
  }

  /** Starts the threads; rejects when the backend cannot be used (e.g. tensorflow-gpu without a GPU). */
  static async start(options: ExecutorOptions): Promise<UnitExecutor> {
    const releaseChannel = `landscape-release-${randomBytes(6).toString('hex')}`;
    if (options.inline) {
      const backend = await selectBackend(options.backend);
      return new UnitExecutor({ ...options, threads: 1 }, backend, undefined, releaseChannel);
    }
    const data: ThreadData = { registry: options.registry.location, backend: options.backend, releaseChannel };
    // Loaded here: a one-thread run (inline) never starts a pool, and piscina is ~10 ms of start-up.
    const { Piscina: Pool } = require('piscina') as typeof import('piscina');
    const pool = new Pool({
      filename: join(__dirname, 'unit-thread.js'),
      minThreads: options.threads,
      maxThreads: options.threads,
      idleTimeout: 2 ** 31 - 1,
      concurrentTasksPerWorker: 1,
      // Threads wait for tasks on their event loop, so release announcements reach idle threads too.
      atomics: 'disabled',
      workerData: data,
    });
    try {
      const backend = unwrap((await pool.run(undefined, { name: 'probe' })) as ThreadOutcome<BackendInfo>);
      return new UnitExecutor(options, backend, pool, releaseChannel);
    } catch (error) {
      await pool.destroy();
      throw error;
    }
  }

  get size(): number {
    return this.options.threads;
  }

  /** How many threads have run units so far (what a result records as its threads). */
  get threadsUsed(): number {
    return this.pool ? this.unitThreads.size : 1;
  }

  /** Threads not computing anything now. */
  get idle(): number {
    return this.size - this.running;
  }

  private track<T>(result: Promise<T>): Promise<T> {
    this.running++;
    return result.finally(() => this.running--);
  }

  /** The job prepared on the calling thread (shared with inline units). */
  prepare(jobId: string, spec: JobSpec, paths: Record<string, string>): Promise<unknown> {
    return this.local.get(jobId, spec, paths);
  }

  /** Runs a unit; callers run at most `size` at once (more wait in the pool's queue). */
  run(task: UnitTask, options: UnitRunOptions): RunningUnit {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    let stoppedFor: StopReason | undefined;
    const result = this.track(this.pool ? this.onThread(task, options, stop) : this.inline(task, options, stop));
    return {
      result,
      stop: (reason) => {
        stoppedFor ??= reason;
        Atomics.store(stop, 0, 1);
      },
      get stoppedFor() {
        return stoppedFor;
      },
    };
  }

  private async inline(task: UnitTask, options: UnitRunOptions, stop: Int32Array): Promise<unknown> {
    if (options.hvp) throw new Error('sharded products need a thread pool (the exchange blocks its thread)');
    return await runUnitTask(this.options.registry, this.local, this.options.backend, task, {
      onWork: options.onWork,
      stopped: () => Atomics.load(stop, 0) !== 0,
    });
  }

  private async onThread(task: UnitTask, options: UnitRunOptions, stop: Int32Array): Promise<unknown> {
    const { port1, port2 } = new MessageChannel();
    const answer = new Int32Array(new SharedArrayBuffer(4));
    const reply = (message: HvpAnswer): void => {
      port1.postMessage(message);
      Atomics.store(answer, 0, 1);
      Atomics.notify(answer, 0);
    };
    port1.on('message', (message: ThreadMessage) => {
      if (message.type === 'work') return options.onWork(message.done);
      options.hvp!.exchange(message.call).then(
        (value) => reply({ id: message.id, value }),
        (error: Error) => reply({ id: message.id, error: { message: error.message, name: error.name } }),
      );
    });
    try {
      const input: ThreadUnitTask = { task, port: port2, stop, answer, ...(options.hvp ? { offer: options.hvp.offer } : {}) };
      const outcome = (await this.pool!.run(input, { name: 'unit', transferList: [port2] })) as ThreadOutcome<unknown>;
      if (!outcome.error) this.unitThreads.add(outcome.threadId);
      return unwrap(outcome);
    } finally {
      port1.close();
    }
  }

  /** Computes one shard product on a free thread; null when every thread is busy (the request goes back). */
  runShard(task: ShardProductTask): Promise<Float64Array> | null {
    if (this.idle <= 0) return null;
    if (!this.pool) return this.track(runShardTask(this.options.registry, this.local, this.options.backend, task));
    const input: ThreadShardTask = { task };
    return this.track(this.pool.run(input, { name: 'shard' }).then((outcome) => unwrap(outcome as ThreadOutcome<Float64Array>)));
  }

  /** Frees what every thread prepared for a job. */
  release(jobId: string): void {
    this.local.release(jobId);
    this.releases.postMessage(jobId);
  }

  async close(): Promise<void> {
    this.releases.close();
    await this.pool?.destroy();
  }
}
