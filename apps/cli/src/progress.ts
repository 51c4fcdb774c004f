import type { Logger } from 'pino';

/**
 * Progress for long work: a redrawn bar with rate and ETA on a TTY, otherwise a JSON log line at most every few
 * seconds (so logs stay readable when piped).
 */
export class ProgressReporter {
  private readonly started = Date.now();
  private lastLog = 0;
  private lastDraw = 0;
  /** The bar at 100 % is drawn once, even when the last update is reported twice. */
  private drawnComplete = false;

  constructor(
    private readonly label: string,
    private readonly logger: Logger,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(done: number, total: number, unit = 'points'): void {
    const now = Date.now();
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (total - done) / rate : undefined;
    if (this.stream.isTTY) {
      if ((now - this.lastDraw < 100 && done < total) || this.drawnComplete) return;
      this.drawnComplete = done >= total;
      this.lastDraw = now;
      const width = 30;
      const filled = total > 0 ? Math.round((width * done) / total) : width;
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      const etaText = eta === undefined ? '--' : formatSeconds(eta);
      this.stream.write(`\r${this.label} ${bar} ${done}/${total} ${unit}  ${rate.toFixed(1)}/s  ETA ${etaText}   `);
      if (done >= total) this.stream.write('\n');
      return;
    }
    if (now - this.lastLog < 2000 && done < total) return;
    this.lastLog = now;
    this.logger.info(
      { progress: { done, total, unit, rate: Number(rate.toFixed(3)), etaSeconds: eta === undefined ? null : Math.round(eta) } },
      `${this.label} ${done}/${total}`,
    );
  }
}

export function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
