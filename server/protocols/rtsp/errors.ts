// Errors of the pure RTSP protocol modules are values: a stable `code` a caller can switch on,
// a sentence for the log, and the RTSP status (RFC 2326 §7.1.1) a server should answer with.
// Parsers never throw; they return one of the result shapes below.

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';

  constructor(
    readonly code: string,
    message: string,
    readonly status: number = 400,
  ) {
    super(message);
  }
}

/** Result of parsing from the start of a byte buffer that may hold a partial message. */
export type Parsed<T> =
  | { kind: 'ok'; value: T; consumed: number } // consumed = bytes used from the start of the buffer
  | { kind: 'more' } // need more bytes (and nothing exceeded a limit yet)
  | { kind: 'error'; error: ProtocolError };

/** Result of parsing a complete value (a header, an SDP). */
export type Result<T> = { ok: true; value: T } | { ok: false; error: ProtocolError };

export const MORE: { kind: 'more' } = { kind: 'more' };

export function parseError(code: string, message: string, status = 400): { kind: 'error'; error: ProtocolError } {
  return { kind: 'error', error: new ProtocolError(code, message, status) };
}

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail(code: string, message: string, status = 400): { ok: false; error: ProtocolError } {
  return { ok: false, error: new ProtocolError(code, message, status) };
}
