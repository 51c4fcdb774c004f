import type { JobView } from '../api';
import { duration } from '../format';

export function fraction(job: JobView): number {
  const { pointsDone, pointsTotal, unitsDone, unitsTotal } = job.progress;
  if (job.status === 'completed') return 1;
  if (pointsTotal > 0) return pointsDone / pointsTotal;
  return unitsTotal > 0 ? unitsDone / unitsTotal : 0;
}

/** Progress of a job: a bar with its percentage, the points done and the ETA while it runs. */
export function Progress({ job }: { job: JobView }) {
  const percent = Math.floor(fraction(job) * 100);
  return (
    <div class="progress-cell">
      <div class="bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
        <div class={`fill ${job.status}`} style={{ width: `${percent}%` }} />
      </div>
      <span class="percent">{percent}%</span>
      <span class="muted">
        {job.progress.pointsDone}/{job.progress.pointsTotal} points
        {job.status === 'running' || job.status === 'queued' ? ` · ETA ${duration(job.etaSeconds)}` : ''}
      </span>
    </div>
  );
}

export const StatusBadge = ({ status }: { status: string }) => <span class={`status ${status}`}>{status}</span>;
