import type { IncomingMessage, ServerResponse } from 'node:http';

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

/**
 * A stored file with its checksum: ETag (the SHA-256 in hex), Digest and Repr-Digest (RFC 3230 / RFC 9530,
 * base64), and a 304 when the client already holds this version (If-None-Match).
 */
export function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: { bytes: Uint8Array; contentType: string; sha256: string },
  headers: Record<string, string> = {},
): void {
  const etag = `"${file.sha256}"`;
  const base64 = Buffer.from(file.sha256, 'hex').toString('base64');
  const integrity = { etag, digest: `sha-256=${base64}`, 'repr-digest': `sha-256=:${base64}:`, ...headers };
  const wanted = (req.headers['if-none-match'] ?? '').split(',').map((tag) => tag.trim());
  if (wanted.includes(etag) || wanted.includes('*')) {
    res.statusCode = 304;
    for (const [name, value] of Object.entries(integrity)) res.setHeader(name, value);
    res.end();
    return;
  }
  sendBytes(res, file.bytes, file.contentType, integrity);
}
