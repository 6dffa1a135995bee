// RFC 2326 §10.12: RTP and RTCP interleaved on the RTSP TCP connection. Each frame is
// '$' (0x24), a one-byte channel id, a two-byte big-endian length, then that many payload bytes.
// Frames and RTSP messages share one byte stream, so parseIncoming tells them apart by the first byte.

import { MORE, parseError, ProtocolError, type Parsed } from './errors.ts';
import { DEFAULT_LIMITS, parseRequest, parseResponse, type MessageLimits, type RtspRequest, type RtspResponse } from './message.ts';

export interface InterleavedFrame {
  channel: number;
  payload: Uint8Array; // a subarray of the input (no copy): copy it before the buffer is reused
}

export const INTERLEAVED_MAGIC = 0x24; // '$'
export const INTERLEAVED_HEADER_SIZE = 4;
export const MAX_INTERLEAVED_PAYLOAD = 0xffff;

export function parseInterleaved(buf: Uint8Array): Parsed<InterleavedFrame> {
  if (buf.length === 0) return MORE;
  if (buf[0] !== INTERLEAVED_MAGIC) return parseError('bad_interleaved', 'interleaved frame does not start with "$"');
  if (buf.length < INTERLEAVED_HEADER_SIZE) return MORE;
  const channel = buf[1]!;
  const length = (buf[2]! << 8) | buf[3]!;
  const end = INTERLEAVED_HEADER_SIZE + length;
  if (buf.length < end) return MORE;
  return { kind: 'ok', value: { channel, payload: buf.subarray(INTERLEAVED_HEADER_SIZE, end) }, consumed: end };
}

/** The 4-byte frame header, for writing a payload without copying it (socket.write twice / writev). */
export function interleavedHeader(channel: number, length: number): Buffer {
  if (!Number.isInteger(channel) || channel < 0 || channel > 0xff) {
    throw new ProtocolError('bad_interleaved', `interleaved channel ${channel} is not 0-255`, 500);
  }
  if (!Number.isInteger(length) || length < 0 || length > MAX_INTERLEAVED_PAYLOAD) {
    throw new ProtocolError('bad_interleaved', `interleaved payload of ${length} bytes does not fit 16 bits`, 500);
  }
  const header = Buffer.allocUnsafe(INTERLEAVED_HEADER_SIZE);
  writeInterleavedHeader(header, 0, channel, length);
  return header;
}

/** Writes the 4-byte frame header at `at` in `out` (the caller has checked channel and length). */
export function writeInterleavedHeader(out: Uint8Array, at: number, channel: number, length: number): void {
  out[at] = INTERLEAVED_MAGIC;
  out[at + 1] = channel;
  out[at + 2] = length >> 8;
  out[at + 3] = length & 0xff;
}

export function writeInterleaved(channel: number, payload: Uint8Array): Buffer {
  return Buffer.concat([interleavedHeader(channel, payload.length), payload]);
}

export type Incoming =
  | { type: 'frame'; frame: InterleavedFrame }
  | { type: 'request'; request: RtspRequest }
  | { type: 'response'; response: RtspResponse };

const RESPONSE_PREFIX = [0x52, 0x54, 0x53, 0x50, 0x2f]; // "RTSP/": never the start of a request, '/' is not a token char

/**
 * The next thing on a connection: '$' starts a frame, "RTSP/" a response (a client answering a
 * server request, e.g. GET_PARAMETER), anything else a request. ('$' is a legal token character, so
 * a method could start with it; RFC 2326 §10.12 relies on no method doing so.)
 */
export function parseIncoming(buf: Uint8Array, limits: MessageLimits = DEFAULT_LIMITS): Parsed<Incoming> {
  // Stray line ends between messages and frames are skipped (RFC 2616 §4.1 robustness, which RTSP
  // inherits); they count against maxLine so a stream of them cannot be buffered forever.
  let skip = 0;
  while (skip < buf.length && (buf[skip] === 0x0d || buf[skip] === 0x0a)) skip++;
  if (skip > limits.maxLine) return parseError('line_too_long', `more than ${limits.maxLine} bytes of empty lines`);
  if (skip === buf.length) return MORE;
  const rest = skip === 0 ? buf : buf.subarray(skip);
  if (rest[0] === INTERLEAVED_MAGIC) {
    const r = parseInterleaved(rest);
    return r.kind === 'ok' ? { kind: 'ok', value: { type: 'frame', frame: r.value }, consumed: skip + r.consumed } : r;
  }
  let prefix = 0;
  while (prefix < RESPONSE_PREFIX.length && prefix < rest.length && rest[prefix] === RESPONSE_PREFIX[prefix]) prefix++;
  if (prefix === RESPONSE_PREFIX.length) {
    const r = parseResponse(rest, limits);
    return r.kind === 'ok' ? { kind: 'ok', value: { type: 'response', response: r.value }, consumed: skip + r.consumed } : r;
  }
  if (prefix === rest.length) return MORE; // "RTS…": cannot tell yet
  const r = parseRequest(rest, limits);
  return r.kind === 'ok' ? { kind: 'ok', value: { type: 'request', request: r.value }, consumed: skip + r.consumed } : r;
}
