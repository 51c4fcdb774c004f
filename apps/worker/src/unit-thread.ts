import { parentPort, workerData } from 'node:worker_threads';
import { selectBackend, type BackendChoice, type JobSpec } from '@landscape/core';
import { handlerEntryFor, resolverFromPaths } from '@landscape/jobs';
import type { FromUnitThread, ToUnitThread } from './unit-pool';

/**
 * One computing thread of a worker: prepares a job once (model, data, directions) and runs its units on
 * request. Computation happens here so the main thread stays free for lock renewal, heartbeats, progress and
 * cancellation. `stop` is shared memory the main thread sets to make the running unit stop at its next point.
 */
const { backend, stop } = workerData as { backend: BackendChoice; stop: Int32Array };
const port = parentPort!;
const send = (message: FromUnitThread): void => port.postMessage(message);

/** The jobs this thread prepared, most recently used last; older ones are released (their tensors freed). */
const KEEP_PREPARED = 2;
const prepared = new Map<string, { kind: string; value: Promise<unknown> }>();

function release(jobId: string): void {
  const entry = prepared.get(jobId);
  if (!entry) return;
  prepared.delete(jobId);
  entry.value.then((value) => handlerEntryFor(entry.kind).release?.(value)).catch(() => undefined);
}

function preparedFor(jobId: string, spec: JobSpec, paths: Record<string, string>): Promise<unknown> {
  let entry = prepared.get(jobId);
  if (entry) {
    prepared.delete(jobId);
  } else {
    const value = Promise.resolve().then(() => handlerEntryFor(spec.kind).handler.prepare(spec, resolverFromPaths(paths)));
    entry = { kind: spec.kind, value };
    value.catch(() => prepared.delete(jobId)); // a failed prepare is not kept
  }
  prepared.set(jobId, entry);
  while (prepared.size > KEEP_PREPARED) release(prepared.keys().next().value!);
  return entry.value;
}

async function start(): Promise<void> {
  try {
    send({ type: 'ready', backend: await selectBackend(backend) });
  } catch (error) {
    send({ type: 'init-error', message: (error as Error).message, name: (error as Error).name });
    return;
  }
  port.on('message', async (message: ToUnitThread) => {
    if (message.type === 'release') {
      release(message.jobId);
      return;
    }
    const { taskId, jobId, spec, paths, unitId } = message;
    try {
      const value = await preparedFor(jobId, spec, paths);
      const onWork = (done: number): boolean => {
        send({ type: 'work', taskId, done });
        return Atomics.load(stop, 0) === 0;
      };
      const result = await handlerEntryFor(spec.kind).handler.runUnit(spec, value, unitId, { backend, onWork });
      send({ type: 'result', taskId, result });
    } catch (error) {
      send({ type: 'error', taskId, message: (error as Error).message, name: (error as Error).name });
    }
  });
}

void start();
