import type { ServerResponse } from 'node:http';

/** Bytes as they are (downloads, stored result files): the handler answers itself instead of Nest serialising. */
export function sendBytes(res: ServerResponse, bytes: Uint8Array, contentType: string, headers: Record<string, string> = {}, status = 200): void {
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('content-type', contentType);
  res.setHeader('content-length', bytes.byteLength);
  res.end(bytes);
}

export function sendJson(res: ServerResponse, value: unknown, status = 200): void {
  sendBytes(res, Buffer.from(JSON.stringify(value)), 'application/json; charset=utf-8', {}, status);
}
