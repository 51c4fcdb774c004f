import { useState } from 'preact/hooks';
import type { JobKind } from '@landscape/core';
import { api, JOB_STATUSES, type JobList, type JobStatus } from '../api';
import { duration, time } from '../format';
import { usePoll } from '../route';
import { JOB_KINDS } from '../results';
import { Choice, Head } from '../widgets';
import { Progress, StatusBadge } from './progress';

/** The newest jobs, refreshed every second. The API filters by status; the kind filter applies to that page. */
export function JobsPage() {
  const [status, setStatus] = useState<JobStatus | ''>('');
  const [kind, setKind] = useState<JobKind | ''>('');
  const { value, error } = usePoll(() => api<JobList>('GET', `/v1/jobs?limit=200${status ? `&status=${status}` : ''}`), 1000, [status]);
  const items = (value?.items ?? []).filter((job) => !kind || job.kind === kind);
  return (
    <section>
      <h1>Jobs</h1>
      <div class="filters">
        <Choice label="Status" name="status" value={status} options={JOB_STATUSES} all onChange={setStatus} />
        <Choice label="Kind" name="kind" value={kind} options={JOB_KINDS} all onChange={setKind} />
        <span class="muted">{value ? `${items.length} shown of ${value.total}` : ''}</span>
      </div>
      {error && <p class="error">{error.message}</p>}
      <table class="jobs">
        <Head columns={['job', 'kind', 'status', 'progress', 'created', 'took']} />
        <tbody>
          {items.map((job) => (
            <tr data-job={job.id} key={job.id}>
              <td>
                <a href={`#/jobs/${job.id}`}>
                  <code>{job.id.slice(0, 8)}</code>
                </a>
              </td>
              <td>{job.kind}</td>
              <td>
                <StatusBadge status={job.status} />
              </td>
              <td>
                <Progress job={job} />
              </td>
              <td>{time(job.createdAt)}</td>
              <td>{job.startedAt && job.finishedAt ? duration((Date.parse(job.finishedAt) - Date.parse(job.startedAt)) / 1000) : '–'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {value && items.length === 0 && <p class="muted">No jobs{status || kind ? ' match these filters' : ' yet'}.</p>}
    </section>
  );
}
