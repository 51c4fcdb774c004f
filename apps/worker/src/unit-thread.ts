import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { selectBackend, TileCancelled, type HvpBackend, type JobSpec, type ShardExchange, type ShardStep } from '@landscape/core';
import { handlerEntryFor, resolverFromPaths } from '@landscape/jobs';
import type { FromUnitThread, HvpAnswer, HvpCall, HvpFacts, ThreadData, ToUnitThread } from './unit-pool';

/**
 * One computing thread of a worker: prepares a job once (model, data, directions) and runs its units on
 * request. Computation happens here so the main thread stays free for lock renewal, heartbeats, progress and
 * cancellation. `stop` is shared memory the main thread sets to make the running unit stop at its next point.
 */
const { backend, stop, answer, answers } = workerData as ThreadData;
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

/**
 * Solvers call H·v synchronously, so a driver unit's exchange calls block this thread: the call goes to the
 * main thread (which talks to Redis) and the thread sleeps on `answer` until the reply is on `answers`,
 * waking every 200 ms to honour `stop`.
 */
let nextCallId = 1;
function callMain(taskId: number, unitId: string, call: HvpCall): ShardStep | null {
  const id = nextCallId++;
  send({ type: 'hvp', taskId, id, call });
  for (;;) {
    Atomics.wait(answer, 0, 0, 200);
    if (Atomics.exchange(answer, 0, 0) === 1) {
      // Replies to calls of a stopped unit may still be queued: skip them.
      for (let got = receiveMessageOnPort(answers); got; got = receiveMessageOnPort(answers)) {
        const reply = got.message as HvpAnswer;
        if (reply.id !== id) continue;
        if (reply.error) throw Object.assign(new Error(reply.error.message), { name: reply.error.name });
        return reply.value ?? null;
      }
    }
    if (Atomics.load(stop, 0) !== 0) throw new TileCancelled(unitId);
  }
}

function hvpBackend(taskId: number, unitId: string, facts: HvpFacts): HvpBackend {
  const exchange: ShardExchange = {
    begin: (index, vector, shards) => void callMain(taskId, unitId, { op: 'begin', index, vector, shards }),
    next: (index) => callMain(taskId, unitId, { op: 'next', index })!,
    submit: (index, shard, product) => void callMain(taskId, unitId, { op: 'submit', index, shard, product }),
  };
  return { ...facts, exchange: () => exchange };
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
    const { taskId, jobId, spec, paths } = message;
    try {
      const value = await preparedFor(jobId, spec, paths);
      const { handler } = handlerEntryFor(spec.kind);
      if (message.type === 'shard') {
        if (!handler.hvpShard) throw new Error(`job kind ${spec.kind} has no sharded products`);
        send({ type: 'result', taskId, result: await handler.hvpShard(spec, value, message.shard, message.vector, { backend }) });
        return;
      }
      const { unitId, hvp } = message;
      const onWork = (done: number): boolean => {
        send({ type: 'work', taskId, done });
        return Atomics.load(stop, 0) === 0;
      };
      const result = await handler.runUnit(spec, value, unitId, { backend, onWork, ...(hvp ? { hvp: hvpBackend(taskId, unitId, hvp) } : {}) });
      send({ type: 'result', taskId, result });
    } catch (error) {
      send({ type: 'error', taskId, message: (error as Error).message, name: (error as Error).name });
    }
  });
}

void start();
