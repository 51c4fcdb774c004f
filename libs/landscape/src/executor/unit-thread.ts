import { BroadcastChannel, receiveMessageOnPort, threadId, type MessagePort } from 'node:worker_threads';
import { workerData } from 'piscina';
import { selectBackend, type BackendInfo } from '../backend';
import { UnitCancelled } from '../evaluate';
import type { ShardStep } from '../hessian/sharded';
import { loadRegistry } from '../job-kinds';
import type { HvpAnswer, ThreadData, ThreadMessage, ThreadOutcome, ThreadShardTask, ThreadUnitTask } from './pool';
import { PreparedJobs, runShardTask, runUnitTask, type HvpCall } from './task';

/**
 * A pool thread (piscina): prepares each job once and runs its units and shard products on request, so the
 * calling thread stays free for locks, heartbeats, progress and cancellation.
 */
const { registry: location, backend, releaseChannel } = workerData as ThreadData;
const registry = loadRegistry(location);
const jobs = new PreparedJobs(registry);
const releases = new BroadcastChannel(releaseChannel);
releases.onmessage = (event) => jobs.release((event as { data: string }).data);
releases.unref();

export function probe(): Promise<ThreadOutcome<BackendInfo>> {
  return settled(() => selectBackend(backend));
}

/**
 * Solvers call H·v synchronously, so a driver unit's exchange calls block this thread: the call goes to the
 * calling thread (which talks to Redis) and this one sleeps on `answer` until the reply is on the port,
 * waking every 200 ms to honour `stop`.
 */
function blockingCall(port: MessagePort, answer: Int32Array, stop: Int32Array, unitId: string): (call: HvpCall) => ShardStep | null {
  let nextId = 1;
  return (call) => {
    const id = nextId++;
    port.postMessage({ type: 'hvp', id, call } satisfies ThreadMessage);
    for (;;) {
      Atomics.wait(answer, 0, 0, 200);
      if (Atomics.exchange(answer, 0, 0) === 1) {
        for (let got = receiveMessageOnPort(port); got; got = receiveMessageOnPort(port)) {
          const reply = got.message as HvpAnswer;
          if (reply.id !== id) continue;
          if (reply.error) throw Object.assign(new Error(reply.error.message), { name: reply.error.name });
          return reply.value ?? null;
        }
      }
      if (Atomics.load(stop, 0) !== 0) throw new UnitCancelled(unitId);
    }
  };
}

/** Errors cross threads as name and message (a structured clone keeps neither a custom name nor the class). */
async function settled<T>(work: () => Promise<T>): Promise<ThreadOutcome<T>> {
  try {
    return { value: await work(), threadId };
  } catch (error) {
    return { error: { name: (error as Error).name, message: (error as Error).message } };
  }
}

export function unit({ task, port, stop, answer, offer }: ThreadUnitTask): Promise<ThreadOutcome<unknown>> {
  return settled(() =>
    runUnitTask(registry, jobs, backend, task, {
      onWork: (done) => port.postMessage({ type: 'work', done } satisfies ThreadMessage),
      stopped: () => Atomics.load(stop, 0) !== 0,
      ...(offer ? { hvp: { offer, call: blockingCall(port, answer, stop, task.unitId) } } : {}),
    }),
  ).finally(() => port.close());
}

export function shard({ task }: ThreadShardTask): Promise<ThreadOutcome<Float64Array>> {
  return settled(() => runShardTask(registry, jobs, backend, task));
}
