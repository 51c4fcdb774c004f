import { useEffect, useState } from 'preact/hooks';
import { api, fileUrl, isFinished, type JobView, type ResultFile } from '../api';
import { bytes, duration, time } from '../format';
import { loadPlotly } from '../plot';
import { ResultView } from '../results';
import { useLoad, usePoll } from '../route';
import { Progress, StatusBadge } from './progress';

/** One job: live status and progress until it ends, then its result by kind and every file it wrote. */
export function JobPage({ id }: { id: string }) {
  const [finished, setFinished] = useState(false);
  const { value: job, error } = usePoll(
    async () => {
      const view = await api<JobView>('GET', `/v1/jobs/${encodeURIComponent(id)}`);
      if (isFinished(view.status)) setFinished(true);
      return view;
    },
    1000,
    [id],
    !finished,
  );
  const [cancelError, setCancelError] = useState<string>();
  // Fetch and parse plotly.js while the job runs, so its plots draw as soon as the result is there.
  useEffect(() => void loadPlotly(), []);
  if (!job) return error ? <p class="error">{error.message}</p> : <p>Loading…</p>;
  const cancel = () => {
    setCancelError(undefined);
    api('DELETE', `/v1/jobs/${encodeURIComponent(id)}`).catch((failure: Error) => setCancelError(failure.message));
  };
  return (
    <section>
      <h1>
        {job.kind} job <code>{job.id}</code>
      </h1>
      <div class="job-head">
        <StatusBadge status={job.status} />
        <Progress job={job} />
        {!isFinished(job.status) && (
          <button type="button" class="danger" name="cancel" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
      {cancelError && <p class="error">{cancelError}</p>}
      {job.error && (
        <p class="error" data-fact="error">
          {job.error}
        </p>
      )}
      <p class="muted">
        created {time(job.createdAt)} · started {time(job.startedAt)} · finished {time(job.finishedAt)}
        {job.workers.length > 0 && ` · workers: ${job.workers.map((worker) => `${worker.host} (${worker.units} units)`).join(', ')}`}
        {job.status === 'running' && ` · ETA ${duration(job.etaSeconds)}`}
      </p>
      {job.status === 'completed' && <CompletedJob job={job} />}
    </section>
  );
}

function CompletedJob({ job }: { job: JobView }) {
  const { value: result, error } = useLoad(() => api<unknown>('GET', `/v1/jobs/${encodeURIComponent(job.id)}/result`), [job.id]);
  const { value: files } = useLoad(() => api<{ items: ResultFile[] }>('GET', `/v1/jobs/${encodeURIComponent(job.id)}/files`), [job.id]);
  return (
    <>
      {error && <p class="error">{error.message}</p>}
      {result !== undefined && <ResultView kind={job.kind} result={result} />}
      <h2>Files</h2>
      <ul class="files">
        {(files?.items ?? []).map((file) => (
          <li key={file.name}>
            <a href={fileUrl(job.id, file.name)} download={file.name}>
              {file.name}
            </a>{' '}
            <span class="muted">{bytes(file.size)}</span>
          </li>
        ))}
      </ul>
    </>
  );
}
