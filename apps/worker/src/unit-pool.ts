import { join } from 'node:path';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { BackendChoice, BackendInfo, HvpShardRef, JobSpec, ShardProduct, ShardStep } from '@landscape/core';

/** What a driver unit may do with sharded products: the facts for `planHvp`. */
export interface HvpFacts {
  workers: number;
  threads: number;
  minWork: number;
}

/** A driver's exchange call, made synchronously by the computing thread and answered by the main thread. */
export type HvpCall =
  | { op: 'begin'; index: number; vector: Float64Array; shards: number }
  | { op: 'next'; index: number }
  | { op: 'submit'; index: number; shard: number; product: ShardProduct };
export type HvpAnswer = { id: number; value?: ShardStep | null; error?: { message: string; name: string } };

/** Messages between the pool and `unit-thread.js`. */
export type ToUnitThread =
  | { type: 'run'; taskId: number; jobId: string; spec: JobSpec; paths: Record<string, string>; unitId: string; hvp?: HvpFacts }
  | { type: 'shard'; taskId: number; jobId: string; spec: JobSpec; paths: Record<string, string>; shard: HvpShardRef; vector: Float64Array }
  | { type: 'release'; jobId: string };
export type FromUnitThread =
  | { type: 'ready'; backend: BackendInfo }
  | { type: 'init-error'; message: string; name: string }
  | { type: 'work'; taskId: number; done: number }
  | { type: 'hvp'; taskId: number; id: number; call: HvpCall }
  | { type: 'result'; taskId: number; result: unknown }
  | { type: 'error'; taskId: number; message: string; name: string };

/** Shared with a computing thread: `stop` (main → thread: stop the unit), `answer` (main → thread: an HvpAnswer is waiting). */
export interface ThreadData {
  backend: BackendChoice;
  stop: Int32Array;
  answer: Int32Array;
  answers: MessagePort;
}

export interface UnitTask {
  jobId: string;
  spec: JobSpec;
  /** Artifact id → local path, already downloaded. */
  paths: Record<string, string>;
  unitId: string;
  /** Lets the unit shard its Hessian-vector products; `exchange` answers its calls. */
  hvp?: { facts: HvpFacts; exchange(call: HvpCall): Promise<ShardStep | null> };
}

export interface ShardTaskInput {
  jobId: string;
  spec: JobSpec;
  paths: Record<string, string>;
  shard: HvpShardRef;
  vector: Float64Array;
}

export interface RunningUnit {
  result: Promise<unknown>;
  /** Makes the unit stop at its next point; `result` then rejects with a TileCancelled error. */
  stop(reason: 'cancelled' | 'shutdown'): void;
  readonly stoppedFor?: 'cancelled' | 'shutdown';
}

type Exchange = (call: HvpCall) => Promise<ShardStep | null>;

interface Slot {
  thread: Worker;
  stop: Int32Array;
  answer: Int32Array;
  answers: MessagePort;
  task?: {
    id: number;
    resolve(value: unknown): void;
    reject(error: Error): void;
    onWork(done: number): void;
    exchange?: Exchange;
  };
}

function cancelled(unitId: string): Error {
  const error = new Error(`tile ${unitId} stopped before it started`);
  error.name = 'TileCancelled';
  return error;
}

function errorFrom(message: { message: string; name: string }): Error {
  const error = new Error(message.message);
  error.name = message.name;
  return error;
}

/**
 * A fixed set of computing threads, one unit (or shard product) each at a time; a thread that dies is replaced.
 * Units wait for a thread when shard products hold them all; shard products never wait (`runShard` → null).
 */
export class UnitPool {
  private readonly slots: Slot[] = [];
  private readonly waiting: (() => void)[] = [];
  private nextTaskId = 1;
  private closed = false;

  private constructor(
    private readonly backendChoice: BackendChoice,
    readonly backend: BackendInfo,
  ) {}

  /** Starts `size` threads; rejects when the backend cannot be used (e.g. tensorflow-gpu without a GPU). */
  static async start(size: number, backend: BackendChoice): Promise<UnitPool> {
    const first = await UnitPool.spawn(backend);
    const pool = new UnitPool(backend, first.backend);
    pool.adopt(first.slot);
    for (let i = 1; i < size; i++) pool.adopt((await UnitPool.spawn(backend)).slot);
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Threads free now, after the units waiting for one. */
  get idle(): number {
    return this.slots.filter((slot) => !slot.task).length - this.waiting.length;
  }

  private static spawn(backend: BackendChoice): Promise<{ slot: Slot; backend: BackendInfo }> {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const answer = new Int32Array(new SharedArrayBuffer(4));
    const { port1: answers, port2 } = new MessageChannel();
    answers.unref(); // only ever posted to; must not keep the process alive
    const data: ThreadData = { backend, stop, answer, answers: port2 };
    const thread = new Worker(join(__dirname, 'unit-thread.js'), { workerData: data, transferList: [port2] });
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromUnitThread): void => {
        thread.off('error', reject);
        thread.off('message', onMessage);
        if (message.type === 'ready') resolve({ slot: { thread, stop, answer, answers }, backend: message.backend });
        else {
          void thread.terminate();
          reject(message.type === 'init-error' ? errorFrom(message) : new Error(`unexpected message ${message.type}`));
        }
      };
      thread.on('message', onMessage);
      thread.once('error', reject);
    });
  }

  private adopt(slot: Slot): void {
    this.slots.push(slot);
    queueMicrotask(() => this.wake());
    slot.thread.on('message', (message: FromUnitThread) => {
      const task = slot.task;
      if (!task || !('taskId' in message) || message.taskId !== task.id) return;
      if (message.type === 'work') task.onWork(message.done);
      else if (message.type === 'hvp') this.answer(slot, message, task.exchange);
      else if (message.type === 'result') {
        slot.task = undefined;
        task.resolve(message.result);
      } else if (message.type === 'error') {
        slot.task = undefined;
        task.reject(errorFrom(message));
      }
    });
    slot.thread.on('error', () => undefined); // followed by 'exit'
    slot.thread.on('exit', (code) => {
      this.slots.splice(this.slots.indexOf(slot), 1);
      slot.task?.reject(new Error(`computing thread exited with code ${code}`));
      slot.task = undefined;
      slot.answers.close();
      if (!this.closed)
        void UnitPool.spawn(this.backendChoice).then(
          ({ slot: fresh }) => (this.closed ? void fresh.thread.terminate() : this.adopt(fresh)),
          () => undefined,
        );
    });
  }

  /** Answers a blocked thread's exchange call: the answer goes on its port, then the flag wakes it. */
  private answer(slot: Slot, message: Extract<FromUnitThread, { type: 'hvp' }>, exchange: Exchange | undefined): void {
    const reply = (answer: HvpAnswer): void => {
      slot.answers.postMessage(answer);
      Atomics.store(slot.answer, 0, 1);
      Atomics.notify(slot.answer, 0);
    };
    if (!exchange) return reply({ id: message.id, error: { message: 'this unit has no shard exchange', name: 'Error' } });
    exchange(message.call).then(
      (value) => reply({ id: message.id, value }),
      (error: Error) => reply({ id: message.id, error: { message: error.message, name: error.name } }),
    );
  }

  private free(): Slot | undefined {
    return this.slots.find((candidate) => !candidate.task);
  }

  /** Hands a thread to the next waiting unit when one is free. */
  private wake(): void {
    while (this.waiting.length && this.free()) this.waiting.shift()!();
  }

  private start(slot: Slot, message: ToUnitThread & { taskId: number }, onWork: (done: number) => void, exchange?: Exchange): Promise<unknown> {
    const result = new Promise<unknown>((resolve, reject) => {
      slot.task = { id: message.taskId, resolve, reject, onWork, ...(exchange ? { exchange } : {}) };
    });
    Atomics.store(slot.stop, 0, 0);
    slot.thread.postMessage(message);
    // The thread is free again once the task settles (also when it died and was replaced).
    return result.finally(() => queueMicrotask(() => this.wake()));
  }

  /** Runs a unit on a free thread, or on the next one to free up (callers run at most `size` units at once). */
  run(task: UnitTask, onWork: (done: number) => void): RunningUnit {
    const id = this.nextTaskId++;
    let stoppedFor: 'cancelled' | 'shutdown' | undefined;
    let slot: Slot | undefined;
    const { hvp, ...unit } = task;
    const message: ToUnitThread & { taskId: number } = { type: 'run', taskId: id, ...unit, ...(hvp ? { hvp: hvp.facts } : {}) };
    let dropWaiting: (() => void) | undefined;
    const result = new Promise<unknown>((resolve, reject) => {
      const begin = (): void => {
        dropWaiting = undefined;
        slot = this.free()!;
        this.start(slot, message, onWork, hvp ? (call) => hvp.exchange(call) : undefined).then(resolve, reject);
      };
      if (this.free() && !this.waiting.length) return begin();
      this.waiting.push(begin);
      dropWaiting = () => {
        this.waiting.splice(this.waiting.indexOf(begin), 1);
        reject(cancelled(task.unitId));
      };
    });
    return {
      result,
      stop: (reason) => {
        stoppedFor ??= reason;
        if (slot?.task?.id === id) Atomics.store(slot.stop, 0, 1);
        dropWaiting?.(); // still waiting for a thread: it never starts
      },
      get stoppedFor() {
        return stoppedFor;
      },
    };
  }

  /** Computes one shard product on a free thread; null when every thread is busy (the request goes back). */
  runShard(task: ShardTaskInput): Promise<Float64Array> | null {
    const slot = this.idle > 0 ? this.free() : undefined;
    if (!slot) return null;
    return this.start(slot, { type: 'shard', taskId: this.nextTaskId++, ...task }, () => undefined) as Promise<Float64Array>;
  }

  /** Frees what every thread keeps for a job. */
  release(jobId: string): void {
    for (const slot of this.slots) slot.thread.postMessage({ type: 'release', jobId } satisfies ToUnitThread);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.thread.terminate()));
    for (const slot of this.slots) slot.answers.close();
  }
}
