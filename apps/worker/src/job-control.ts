import { isTerminal, timeoutReason, unrecoverable, type JobRecord, type JobSystem } from '@landscape/jobs';
import type { Logger } from 'pino';

/** What every part of a worker decides about a job the same way: is it still active, and how it fails. */
export class JobControl {
  constructor(
    private readonly system: JobSystem,
    private readonly logger: Logger,
  ) {}

  async fail(jobId: string, reason: string): Promise<void> {
    try {
      if (await this.system.service.fail(jobId, reason)) this.logger.warn({ jobId, reason }, 'job failed');
    } catch (error) {
      this.logger.error({ jobId, err: (error as Error).message }, 'could not record job failure');
    }
  }

  /**
   * Bad input never gets better: the job fails now (before this worker takes its next unit, which then sees
   * the job ended) and the queue job is not retried.
   */
  async giveUp(jobId: string, what: string, message: string): Promise<Error> {
    await this.fail(jobId, `${what}: ${message}`);
    return unrecoverable(message);
  }

  /** Should this job's work go on? Fails it when its deadline has passed. */
  async stillActive(record: JobRecord): Promise<boolean> {
    if (isTerminal(record.status)) return false;
    if (record.deadline && Date.now() > record.deadline) {
      await this.fail(record.id, timeoutReason(record));
      return false;
    }
    return true;
  }
}
