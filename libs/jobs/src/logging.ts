import { realpathSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { resolve } from 'node:path';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** The checkout (or install) this code runs from: libs/jobs/dist is three levels below it. */
const CHECKOUT = resolve(__dirname, '../../..');

function withRealpath(path: string): string[] {
  try {
    return [path, realpathSync(path)];
  } catch {
    return [path];
  }
}

/** Machine paths a log line must not reveal, longest first (so a checkout under the home directory reads `<app>`, not `~`). */
function machineRoots(): { root: string; label: string }[] {
  const roots = [
    ...withRealpath(CHECKOUT).map((root) => ({ root, label: '<app>' })),
    ...withRealpath(process.cwd()).map((root) => ({ root, label: '.' })),
    ...withRealpath(tmpdir()).map((root) => ({ root, label: '<tmp>' })),
    ...withRealpath(homedir()).map((root) => ({ root, label: '~' })),
  ];
  // `/` as a root would rewrite every path; such a root tells nothing about the machine anyway.
  return roots.filter(({ root }) => root.length > 1).sort((a, b) => b.root.length - a.root.length);
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces the machine roots in a text with short labels; a root counts only where a path component ends. */
export function scrubMachinePaths(text: string, roots = machineRoots()): string {
  if (roots.length === 0) return text;
  const pattern = new RegExp(`(${roots.map(({ root }) => escapeRegExp(root)).join('|')})(?=[/\\\\"'\\s:),]|$)`, 'g');
  const labels = new Map(roots.map(({ root, label }) => [root, label]));
  return text.replace(pattern, (root) => labels.get(root) ?? root);
}

/**
 * Every log line of the API, the worker and the CLI passes here: the serialized line (message, fields, error
 * stacks alike) has the checkout, working, temporary and home directories replaced, so logs shipped elsewhere do
 * not describe the machine's layout.
 */
export function pathSafeDestination(destination: DestinationStream): DestinationStream {
  const roots = machineRoots();
  return { write: (line: string) => destination.write(scrubMachinePaths(line, roots)) };
}

/** A pino logger whose lines go through pathSafeDestination (to stdout unless given a destination). */
export function createLogger(options: LoggerOptions, destination: DestinationStream = pino.destination(1)): Logger {
  return pino(options, pathSafeDestination(destination));
}
