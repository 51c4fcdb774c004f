import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BackendChoice, BackendInfo, JobSpec } from '@landscape/core';

/** Messages between the pool and `unit-thread.js`. */
export type ToUnitThread =
  { type: 'run'; taskId: number; jobId: string; spec: JobSpec; paths: Record<string, string>; unitId: string } | { type: 'release'; jobId: string };
export type FromUnitThread =
  | { type: 'ready'; backend: BackendInfo }
  | { type: 'init-error'; message: string; name: string }
  | { type: 'work'; taskId: number; done: number }
  | { type: 'result'; taskId: number; result: unknown }
  | { type: 'error'; taskId: number; message: string; name: string };

export interface UnitTask {
  jobId: string;
  spec: JobSpec;
  /** Artifact id → local path, already downloaded. */
  paths: Record<string, string>;
  unitId: string;
}

export interface RunningUnit {
  result: Promise<unknown>;
  /** Makes the unit stop at its next point; `result` then rejects with a TileCancelled error. */
  stop(reason: 'cancelled' | 'shutdown'): void;
  readonly stoppedFor?: 'cancelled' | 'shutdown';
}

interface Slot {
  thread: Worker;
  stop: Int32Array;
  task?: { id: number; resolve(value: unknown): void; reject(error: Error): void; onWork(done: number): void };
}

function errorFrom(message: { message: string; name: string }): Error {
  const error = new Error(message.message);
  error.name = message.name;
  return error;
}

/** A fixed set of computing threads, one unit each at a time; a thread that dies is replaced. */
export class UnitPool {
  private readonly slots: Slot[] = [];
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

  private static spawn(backend: BackendChoice): Promise<{ slot: Slot; backend: BackendInfo }> {
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const thread = new Worker(join(__dirname, 'unit-thread.js'), { workerData: { backend, stop } });
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromUnitThread): void => {
        thread.off('error', reject);
        thread.off('message', onMessage);
        if (message.type === 'ready') resolve({ slot: { thread, stop }, backend: message.backend });
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
    slot.thread.on('message', (message: FromUnitThread) => {
      const task = slot.task;
      if (!task || !('taskId' in message) || message.taskId !== task.id) return;
      if (message.type === 'work') task.onWork(message.done);
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
      if (!this.closed)
        void UnitPool.spawn(this.backendChoice).then(
          ({ slot: fresh }) => (this.closed ? void fresh.thread.terminate() : this.adopt(fresh)),
          () => undefined,
        );
    });
  }

  /** Runs a unit on a free thread (callers run at most `size` units at once). */
  run(task: UnitTask, onWork: (done: number) => void): RunningUnit {
    const slot = this.slots.find((candidate) => !candidate.task);
    if (!slot) throw new Error('no free computing thread');
    const id = this.nextTaskId++;
    let stoppedFor: 'cancelled' | 'shutdown' | undefined;
    const result = new Promise<unknown>((resolve, reject) => {
      slot.task = { id, resolve, reject, onWork };
    });
    Atomics.store(slot.stop, 0, 0);
    slot.thread.postMessage({ type: 'run', taskId: id, ...task } satisfies ToUnitThread);
    return {
      result,
      stop(reason) {
        stoppedFor ??= reason;
        if (slot.task?.id === id) Atomics.store(slot.stop, 0, 1);
      },
      get stoppedFor() {
        return stoppedFor;
      },
    };
  }

  /** Frees what every thread keeps for a job. */
  release(jobId: string): void {
    for (const slot of this.slots) slot.thread.postMessage({ type: 'release', jobId } satisfies ToUnitThread);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((slot) => slot.thread.terminate()));
  }
}
