import type { IncomingMessage } from 'node:http';
import { Injectable, ServiceUnavailableException, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { catchError, throwError, timeout, TimeoutError, type Observable } from 'rxjs';

export type RequestWithDeadline = IncomingMessage & { deadline?: AbortSignal };

/**
 * Bounds the time a route handler may take. The job system's Redis client waits through outages instead of
 * failing, so without this a request during one would hang until the client gave up; with it the client gets a
 * 503 it can retry (and /health says why).
 */
@Injectable()
export class RequestTimeoutInterceptor implements NestInterceptor {
  constructor(private readonly ms: number) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    // Handlers that create something (a job) read this signal so that a request already answered 503 does not
    // go on to create it.
    const abort = new AbortController();
    context.switchToHttp().getRequest<RequestWithDeadline>().deadline = abort.signal;
    return next.handle().pipe(
      timeout(this.ms),
      catchError((error: unknown) => {
        if (!(error instanceof TimeoutError)) return throwError(() => error);
        abort.abort();
        return throwError(() => new ServiceUnavailableException(`no answer from the job store within ${this.ms} ms; try again (see /health)`));
      }),
    );
  }
}

/** Rejects when `promise` has not settled within `ms` (the promise itself runs on). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
