import type { Redis } from 'ioredis';

/** What a worker process reports about itself with every heartbeat. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  backend: string;
  device: string;
  concurrency: number;
  unitsDone: number;
  /** Units it is computing right now. */
  activeUnits: number;
  /** ISO timestamps. */
  startedAt: string;
  lastHeartbeat: string;
}

/**
 * Live workers: each heartbeat rewrites `<prefix>:worker:<id>` with a time-to-live, so a worker that dies
 * (kill -9, lost machine) drops out of the list after `ttlMs` without anyone cleaning up after it.
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly ttlMs: number,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:workers`;
  }

  async heartbeat(info: Omit<WorkerInfo, 'lastHeartbeat'>): Promise<void> {
    const now = new Date();
    await this.redis
      .multi()
      .set(this.key(info.id), JSON.stringify({ ...info, lastHeartbeat: now.toISOString() }), 'PX', this.ttlMs)
      .zadd(this.indexKey, now.getTime(), info.id)
      .exec();
  }

  async remove(id: string): Promise<void> {
    await this.redis.multi().del(this.key(id)).zrem(this.indexKey, id).exec();
  }

  async list(): Promise<WorkerInfo[]> {
    const ids = await this.redis.zrange(this.indexKey, 0, -1);
    if (!ids.length) return [];
    const values = await this.redis.mget(ids.map((id) => this.key(id)));
    const expired = ids.filter((_, i) => values[i] === null);
    if (expired.length) await this.redis.zrem(this.indexKey, ...expired);
    return values.filter((value): value is string => value !== null).map((value) => JSON.parse(value) as WorkerInfo);
  }
}
