import { BadRequestException, NotFoundException } from '@nestjs/common';

/** A 400 in the common error shape: one issue per offending query/path parameter. */
export function badParameter(field: string, reason: string): BadRequestException {
  return new BadRequestException({ message: `${field}: ${reason}`, issues: [{ field, reason }] });
}

const ARTIFACT_ID = /^sha256:[0-9a-f]{64}$/;
/** Job ids are opaque to clients; anything outside this alphabet cannot name a job, so it is a 404 without a lookup. */
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Result file names: one path segment, no hidden files, no traversal. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function checkArtifactId(id: string): string {
  if (!ARTIFACT_ID.test(id)) throw new NotFoundException(`no artifact ${JSON.stringify(id.slice(0, 100))} (artifact ids are sha256:<64 hex digits>)`);
  return id;
}

export function checkJobId(id: string): string {
  if (!JOB_ID.test(id)) throw new NotFoundException(`no job ${JSON.stringify(id.slice(0, 100))}`);
  return id;
}

export function checkFileName(name: string): string {
  if (!FILE_NAME.test(name) || name.includes('..')) throw new NotFoundException(`no file ${JSON.stringify(name.slice(0, 100))}`);
  return name;
}

/** A whole number from a query string, or the fallback when absent. */
export function queryInt(raw: unknown, field: string, fallback: number, min: number, max: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) throw badParameter(field, `must be a whole number from ${min} to ${max}`);
  const value = Number(raw);
  if (value < min || value > max) throw badParameter(field, `must be a whole number from ${min} to ${max} (got ${value})`);
  return value;
}

export function queryEnum<T extends string>(raw: unknown, field: string, allowed: readonly T[]): T | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string' || !(allowed as readonly string[]).includes(raw)) throw badParameter(field, `must be one of ${allowed.join(', ')}`);
  return raw as T;
}
