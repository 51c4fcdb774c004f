import type { IncomingMessage, ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { ArgumentsHost, Catch, HttpException, type ExceptionFilter } from '@nestjs/common';
import { isInputError, type SpecIssue } from '@landscape/core';
import type { Logger } from 'pino';

/** The one error body every route answers with. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** Bad input: one entry per offending field (dotted spec path, `(body)` for the body as a whole). */
  issues?: SpecIssue[];
  requestId?: string;
}

/** SpecValidationError of @landscape/jobs, recognised by shape so this layer does not depend on its class identity. */
function specIssues(error: unknown): SpecIssue[] | undefined {
  if (!(error instanceof Error) || error.name !== 'SpecValidationError') return undefined;
  const issues = (error as { issues?: unknown }).issues;
  return Array.isArray(issues) ? (issues as SpecIssue[]) : undefined;
}

/** ArtifactTooLargeError of @landscape/jobs: the stored form (e.g. a model bundle, base64) is over the store's limit. */
function artifactTooLarge(error: unknown): boolean {
  return error instanceof Error && error.name === 'ArtifactTooLargeError';
}

/** body-parser / raw-body errors carry `status`, `expose` and a `type` such as `entity.too.large`. */
function parserError(error: unknown): { status: number; message: string } | undefined {
  if (!(error instanceof Error)) return undefined;
  const { status, expose, type } = error as { status?: unknown; expose?: unknown; type?: unknown };
  if (typeof status !== 'number' || status < 400 || status >= 500 || expose !== true) return undefined;
  if (type === 'entity.parse.failed') return { status, message: `malformed JSON body: ${error.message}` };
  if (type === 'entity.too.large') return { status, message: 'request body is larger than this server accepts' };
  return { status, message: error.message };
}

function fromHttpException(exception: HttpException): Omit<ErrorBody, 'requestId'> {
  const status = exception.getStatus();
  const response = exception.getResponse();
  const body: Omit<ErrorBody, 'requestId'> = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: exception.message };
  if (typeof response === 'object' && response !== null) {
    const { message, issues } = response as { message?: unknown; issues?: unknown };
    if (typeof message === 'string') body.message = message;
    else if (Array.isArray(message)) body.message = message.map(String).join('; ');
    if (Array.isArray(issues)) body.issues = issues as SpecIssue[];
  }
  if (status === 400 && !body.issues) body.issues = [{ field: '(body)', reason: body.message }];
  return body;
}

/** Maps any error to its HTTP answer; only errors that are not the client's fault become 500s (and are logged). */
export function toErrorBody(error: unknown): { body: Omit<ErrorBody, 'requestId'>; internal: boolean } {
  const issues = specIssues(error);
  if (issues) return { body: { statusCode: 400, error: 'Bad Request', message: 'invalid job spec', issues }, internal: false };
  if (isInputError(error)) {
    const field = (error as { field?: string }).field;
    const reason = field && error.message.startsWith(`${field}: `) ? error.message.slice(field.length + 2) : error.message;
    return { body: { statusCode: 400, error: 'Bad Request', message: error.message, issues: [{ field: field ?? '(body)', reason }] }, internal: false };
  }
  if (error instanceof HttpException) return { body: fromHttpException(error), internal: false };
  if (error instanceof Error && error.name === 'IdempotencyConflictError')
    return { body: { statusCode: 409, error: 'Conflict', message: error.message }, internal: false };
  if (artifactTooLarge(error)) return { body: { statusCode: 413, error: 'Payload Too Large', message: (error as Error).message }, internal: false };
  const parsed = parserError(error);
  if (parsed) {
    const body: Omit<ErrorBody, 'requestId'> = { statusCode: parsed.status, error: STATUS_CODES[parsed.status] ?? 'Error', message: parsed.message };
    if (parsed.status === 400) body.issues = [{ field: '(body)', reason: parsed.message }];
    return { body, internal: false };
  }
  return { body: { statusCode: 500, error: 'Internal Server Error', message: 'internal error; see the server log for this request id' }, internal: true };
}

@Catch()
export class ApiExceptionFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const req = http.getRequest<IncomingMessage & { id?: unknown; log?: Logger }>();
    const res = http.getResponse<ServerResponse>();
    const { body, internal } = toErrorBody(error);
    const requestId = req.id === undefined ? undefined : String(req.id);
    if (internal) (req.log ?? this.logger).error({ err: error, requestId }, 'unhandled error');
    if (res.headersSent) {
      // A stream (download) failed midway: the status is gone, all that is left is to cut the connection.
      res.destroy();
      return;
    }
    const payload = JSON.stringify({ ...body, ...(requestId ? { requestId } : {}) });
    res.statusCode = body.statusCode;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    if (body.statusCode === 401) res.setHeader('www-authenticate', 'Bearer');
    res.end(payload);
  }
}
