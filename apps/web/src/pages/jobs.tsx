import { useState } from 'preact/hooks';
import { api, JOB_STATUSES, type JobList } from '../api';
import { duration, time } from '../format';
import { usePoll } from '../route';
import { JOB_KINDS } from '../results';
import { Progress, StatusBadge } from './progress';

/** The newest jobs, refreshed every second. The API filters by status; the kind filter applies to that page. */
export function JobsPage() {
  const [status, setStatus] = useState('');
  const [kind, setKind] = useState('');
  const { value, error } = usePoll(() => api<JobList>('GET', `/v1/jobs?limit=200${status ? `&status=${status}` : ''}`), 1000, [status]);
  const items = (value?.items ?? []).filter((job) => !kind || job.kind === kind);
  return (
    <section>
      <h1>Jobs</h1>
      <div class="filters">
        <label>
          Status
          <select name="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="">all</option>
            {JOB_STATUSES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
            <option value="">all</option>
            {JOB_KINDS.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </label>
        <span class="muted">{value ? `${items.length} shown of ${value.total}` : ''}</span>
      </div>
      {error && <p class="error">{error.message}</p>}
      <table class="jobs">
        <thead>
          <tr>
            <th>job</th>
            <th>kind</th>
            <th>status</th>
            <th>progress</th>
            <th>created</th>
            <th>took</th>
          </tr>
        </thead>
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
