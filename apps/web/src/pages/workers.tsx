import type { WorkerInfo } from '@landscape/jobs';
import { api } from '../api';
import { time } from '../format';
import { usePoll } from '../route';
import { Head } from '../widgets';

/** Live workers (an expired heartbeat drops a worker from the API's list), refreshed every 2 s. */
export function WorkersPage() {
  const { value, error } = usePoll(() => api<{ items: WorkerInfo[] }>('GET', '/v1/workers'), 2000, []);
  return (
    <section>
      <h1>Workers</h1>
      {error && <p class="error">{error.message}</p>}
      <table class="workers">
        <Head columns={['host', 'pid', 'backend', 'device', 'concurrency', 'units now', 'units done', 'last heartbeat']} />
        <tbody>
          {(value?.items ?? []).map((worker) => (
            <tr data-worker={worker.pid} key={`${worker.host}:${worker.pid}`}>
              <td>{worker.host}</td>
              <td>{worker.pid}</td>
              <td>{worker.backend}</td>
              <td>{worker.device}</td>
              <td>{worker.concurrency}</td>
              <td>{worker.activeUnits}</td>
              <td>{worker.unitsDone}</td>
              <td>{time(worker.lastHeartbeat)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {value && value.items.length === 0 && <p class="muted">No live workers: start one with `npm run start:worker`.</p>}
    </section>
  );
}
