import { parentPort } from 'node:worker_threads';
import { selectBackend } from './backend';
import { Evaluator, evaluateTile, type LandscapePlan } from './evaluate';
import type { FromThread, ToThread } from './thread-pool';

/** Entry point of one evaluation thread: init once (backend, data upload), then evaluate tiles on request. */
let evaluator: Evaluator | undefined;
let plan: LandscapePlan | undefined;

const port = parentPort!;
const send = (message: FromThread): void => port.postMessage(message);

port.on('message', async (message: ToThread) => {
  try {
    if (message.type === 'init') {
      const backend = await selectBackend(message.backend);
      evaluator = new Evaluator(message.setup);
      plan = message.plan;
      send({ type: 'ready', backend });
    } else {
      const result = evaluateTile(evaluator!, plan!, message.tile, () => send({ type: 'point' }));
      send({ type: 'tile', result });
    }
  } catch (error) {
    send({ type: 'error', message: (error as Error).message, name: (error as Error).name });
  }
});
