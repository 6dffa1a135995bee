// RTSP/1.0 requests and responses (RFC 2326 §6, §7), parsed from and written to bytes. No I/O:
// the server feeds the bytes it has buffered and gets back a message and how many bytes it used,
// 'more' (wait for the next chunk) or a ProtocolError carrying the status to answer with.
//
// Every part of a message is bounded (ws `maxPayload` style), so a peer cannot make the server
// buffer without end: a start line longer than `maxLine`, more than `maxHeaders` header lines,
// a header value longer than `maxHeaderValue` or a body longer than `maxBody` is an error as soon
// as the bytes prove it, complete line or not.
//
// Text is UTF-8 (RFC 2326 §1.3 / §15.1); invalid sequences decode to U+FFFD rather than failing.

import { MORE, parseError, ProtocolError, type Parsed } from './errors.ts';

export type Header = readonly [name: string, value: string];

export interface RtspRequest {
  method: string;
  uri: string;
  headers: Header[];
  body: Uint8Array;
}

export interface RtspResponse {
  status: number;
  reason: string;
  headers: Header[];
  body: Uint8Array;
}

export interface MessageLimits {
  maxLine: number;
  maxHeaders: number;
  maxHeaderValue: number;
  maxBody: number;
}

export const DEFAULT_LIMITS: MessageLimits = { maxLine: 2048, maxHeaders: 255, maxHeaderValue: 4096, maxBody: 65536 };

export const RTSP_VERSION = 'RTSP/1.0';

/** Room allowed for a header's name, colon and padding on top of `maxHeaderValue`. */
const HEADER_NAME_ALLOWANCE = 256;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const HT = 0x09;
const COLON = 0x3a;

// RFC 2616 §2.2 token (RFC 2326 §15.1 borrows it for methods and header names).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const decoder = new TextDecoder('utf-8', { ignoreBOM: true }); // a U+FEFF inside a value is data, not a BOM

function text(buf: Uint8Array, start: number, end: number): string {
  return decoder.decode(buf.subarray(start, end));
}

type LineResult =
  | { kind: 'line'; start: number; end: number; next: number } // [start, end) without CR LF
  | { kind: 'more' }
  | { kind: 'too-long' };

/**
 * Find the line starting at `start`, ended by CRLF or a bare LF. Content longer than `maxLen`
 * is reported as soon as the buffer holds more than `maxLen` bytes of it, ended or not.
 */
function readLine(buf: Uint8Array, start: number, maxLen: number): LineResult {
  const scanEnd = Math.min(buf.length, start + maxLen + 2);
  for (let i = start; i < scanEnd; i++) {
    if (buf[i] !== LF) continue;
    const end = i > start && buf[i - 1] === CR ? i - 1 : i;
    if (end - start > maxLen) return { kind: 'too-long' };
    return { kind: 'line', start, end, next: i + 1 };
  }
  let pending = buf.length - start;
  if (pending > 0 && buf[buf.length - 1] === CR) pending--; // the CR of a CRLF still on its way
  return pending > maxLen ? { kind: 'too-long' } : MORE_LINE;
}

const MORE_LINE: LineResult = { kind: 'more' };

/** Control characters other than HT (RFC 2616 §2.2 CTL), including a CR not followed by LF. */
function hasControl(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if ((b < SP && b !== HT) || b === 0x7f) return true;
  }
  return false;
}

interface Head {
  startLine: string;
  headers: Header[];
  bodyStart: number;
}

type HeadResult = { kind: 'ok'; head: Head } | { kind: 'more' } | { kind: 'error'; error: ProtocolError };

function parseHead(buf: Uint8Array, limits: MessageLimits): HeadResult {
  // RFC 2616 §4.1 (which RTSP follows): ignore empty lines before the start line. They count
  // against maxLine so a stream of CRLFs cannot be buffered forever.
  let pos = 0;
  while (pos < buf.length && (buf[pos] === CR || buf[pos] === LF)) pos++;
  if (pos > limits.maxLine) return parseError('line_too_long', `more than ${limits.maxLine} bytes of empty lines`);

  const first = readLine(buf, pos, limits.maxLine - pos);
  if (first.kind === 'more') return MORE;
  if (first.kind === 'too-long') return parseError('line_too_long', `start line longer than ${limits.maxLine} bytes`);
  if (hasControl(buf, first.start, first.end)) return parseError('bad_start_line', 'control character in start line');
  const startLine = text(buf, first.start, first.end);
  pos = first.next;

  const sectionLimit = limits.maxLine + limits.maxHeaders * (limits.maxHeaderValue + HEADER_NAME_ALLOWANCE);
  const maxHeaderLine = limits.maxHeaderValue + HEADER_NAME_ALLOWANCE;
  const headers: Header[] = [];
  for (;;) {
    if (headers.length >= limits.maxHeaders && pos < buf.length && buf[pos] !== CR && buf[pos] !== LF) {
      return parseError('too_many_headers', `more than ${limits.maxHeaders} headers`);
    }
    const line = readLine(buf, pos, maxHeaderLine);
    if (line.kind === 'more') {
      if (buf.length > sectionLimit) return parseError('header_section_too_long', `header section longer than ${sectionLimit} bytes`);
      return MORE;
    }
    if (line.kind === 'too-long') return parseError('header_too_long', `header line longer than ${maxHeaderLine} bytes`);
    pos = line.next;
    if (pos > sectionLimit) return parseError('header_section_too_long', `header section longer than ${sectionLimit} bytes`);
    if (line.end === line.start) break; // the empty line that ends the header section

    const first = buf[line.start];
    // RFC 7230 §3.2.4: obsolete line folding may be rejected with 400; no RTSP peer we know sends it.
    if (first === SP || first === HT) return parseError('header_folding', 'folded header lines are not supported');
    if (hasControl(buf, line.start, line.end)) return parseError('bad_header', 'control character in header line');
    let colon = line.start;
    while (colon < line.end && buf[colon] !== COLON) colon++;
    if (colon === line.end) return parseError('bad_header', 'header line without ":"');
    const name = text(buf, line.start, colon);
    if (!TOKEN.test(name)) return parseError('bad_header', 'header name is not a token');
    let vs = colon + 1;
    let ve = line.end;
    while (vs < ve && (buf[vs] === SP || buf[vs] === HT)) vs++;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    if (ve - vs > limits.maxHeaderValue) {
      return parseError('header_value_too_long', `value of ${name} longer than ${limits.maxHeaderValue} bytes`);
    }
    headers.push([name, text(buf, vs, ve)]);
  }
  return { kind: 'ok', head: { startLine, headers, bodyStart: pos } };
}

/**
 * RFC 2326 §12.14: the body length is given by Content-Length and nothing else; without it there is
 * no body. A value over maxBody is 413 Request Entity Too Large, a malformed one 400.
 */
function contentLength(headers: readonly Header[], limits: MessageLimits): number | ProtocolError {
  let length: number | undefined;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== 'content-length') continue;
    if (!/^[0-9]+$/.test(value)) return new ProtocolError('bad_content_length', `Content-Length "${value}" is not a non-negative integer`);
    const digits = value.replace(/^0+(?=.)/, '');
    const n = digits.length > 15 ? Number.POSITIVE_INFINITY : Number(digits);
    if (length !== undefined && length !== n) return new ProtocolError('bad_content_length', 'conflicting Content-Length headers');
    length = n;
  }
  length ??= 0;
  if (length > limits.maxBody) {
    return new ProtocolError('body_too_large', `Content-Length over the limit of ${limits.maxBody} bytes`, 413);
  }
  return length;
}

function parseMessage<T>(
  buf: Uint8Array,
  limits: MessageLimits,
  build: (startLine: string, headers: Header[], body: Uint8Array) => T | ProtocolError,
): Parsed<T> {
  const head = parseHead(buf, limits);
  if (head.kind !== 'ok') return head;
  const { startLine, headers, bodyStart } = head.head;
  const length = contentLength(headers, limits);
  if (length instanceof ProtocolError) return { kind: 'error', error: length };
  // Judge the start line before waiting for the body, so a bad request is answered at once.
  const checked = build(startLine, headers, new Uint8Array(0));
  if (checked instanceof ProtocolError) return { kind: 'error', error: checked };
  if (buf.length < bodyStart + length) return MORE;
  // A copy, as a plain Uint8Array (Buffer#slice would share memory): the caller reuses its buffer.
  const body = new Uint8Array(buf.subarray(bodyStart, bodyStart + length));
  const value = build(startLine, headers, body) as T;
  return { kind: 'ok', value, consumed: bodyStart + length };
}

const VERSION = /^RTSP\/[0-9]+\.[0-9]+$/;

function checkVersion(version: string): ProtocolError | undefined {
  if (version === RTSP_VERSION) return undefined;
  if (VERSION.test(version)) return new ProtocolError('bad_version', `${version} is not supported`, 505);
  return new ProtocolError('bad_version', `"${version}" is not an RTSP version`);
}

/** RFC 2326 §6.1: Request-Line = Method SP Request-URI SP RTSP-Version CRLF. */
export function parseRequest(buf: Uint8Array, limits: MessageLimits = DEFAULT_LIMITS): Parsed<RtspRequest> {
  return parseMessage<RtspRequest>(buf, limits, (startLine, headers, body) => {
    const parts = startLine.split(' ');
    if (parts.length !== 3) return new ProtocolError('bad_request_line', 'request line is not "METHOD URI RTSP/1.0"');
    const [method, uri, version] = parts as [string, string, string];
    if (!TOKEN.test(method)) return new ProtocolError('bad_method', 'method is not a token');
    if (uri === '') return new ProtocolError('bad_request_line', 'empty request URI');
    const bad = checkVersion(version);
    if (bad) return bad;
    return { method, uri, headers, body };
  });
}

/** RFC 2326 §7.1: Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase CRLF. */
export function parseResponse(buf: Uint8Array, limits: MessageLimits = DEFAULT_LIMITS): Parsed<RtspResponse> {
  return parseMessage<RtspResponse>(buf, limits, (startLine, headers, body) => {
    const sp = startLine.indexOf(' ');
    const version = sp < 0 ? startLine : startLine.slice(0, sp);
    const bad = checkVersion(version);
    if (bad) return bad;
    const rest = startLine.slice(sp + 1);
    // Some servers end the status line right after the code; the reason is then empty.
    const m = /^([0-9]{3})(?: (.*))?$/s.exec(rest);
    if (sp < 0 || !m) return new ProtocolError('bad_status_line', 'status line is not "RTSP/1.0 CODE REASON"');
    return { status: Number(m[1]), reason: m[2] ?? '', headers, body };
  });
}

export function getHeader(headers: readonly Header[], name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [n, v] of headers) if (n.toLowerCase() === lower) return v;
  return undefined;
}

function assertText(what: string, value: string): void {
  // A CR or LF here would let a caller-supplied value inject headers (response splitting).
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
    throw new ProtocolError('bad_message', `${what} contains a control character`, 500);
  }
}

function writeMessage(startLine: string, headers: readonly Header[], body: Uint8Array): Buffer {
  let lines = startLine + '\r\n';
  let hasLength = false;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw new ProtocolError('bad_message', `header name "${name}" is not a token`, 500);
    assertText(`header ${name}`, value);
    if (name.toLowerCase() === 'content-length') {
      // The body decides: a stale Content-Length would desynchronise the stream.
      hasLength = true;
      lines += `${name}: ${body.length}\r\n`;
    } else {
      lines += `${name}: ${value}\r\n`;
    }
  }
  if (!hasLength && body.length > 0) lines += `Content-Length: ${body.length}\r\n`;
  lines += '\r\n';
  const head = Buffer.from(lines, 'utf8');
  return body.length === 0 ? head : Buffer.concat([head, body]);
}

/**
 * Writes a request. Content-Length is added when the body is not empty; a Content-Length already
 * among the headers keeps its place but gets the body's real length. Throws ProtocolError (status
 * 500: it is our bug, not the peer's) on a method, URI or header that cannot be written safely.
 */
export function writeRequest(req: RtspRequest): Buffer {
  if (!TOKEN.test(req.method)) throw new ProtocolError('bad_message', `method "${req.method}" is not a token`, 500);
  if (req.uri === '' || /[\s\x00-\x1f\x7f]/.test(req.uri)) {
    throw new ProtocolError('bad_message', 'request URI is empty or contains white space', 500);
  }
  return writeMessage(`${req.method} ${req.uri} ${RTSP_VERSION}`, req.headers, req.body);
}

/** Writes a response; Content-Length as in writeRequest. */
export function writeResponse(res: RtspResponse): Buffer {
  if (!Number.isInteger(res.status) || res.status < 100 || res.status > 999) {
    throw new ProtocolError('bad_message', `status ${res.status} is not a three-digit code`, 500);
  }
  assertText('reason phrase', res.reason);
  return writeMessage(`${RTSP_VERSION} ${res.status} ${res.reason}`, res.headers, res.body);
}

// RFC 2326 §7.1.1 (capitalised consistently).
const REASONS: ReadonlyMap<number, string> = new Map([
  [100, 'Continue'],
  [200, 'OK'],
  [201, 'Created'],
  [250, 'Low on Storage Space'],
  [300, 'Multiple Choices'],
  [301, 'Moved Permanently'],
  [302, 'Moved Temporarily'],
  [303, 'See Other'],
  [304, 'Not Modified'],
  [305, 'Use Proxy'],
  [400, 'Bad Request'],
  [401, 'Unauthorized'],
  [402, 'Payment Required'],
  [403, 'Forbidden'],
  [404, 'Not Found'],
  [405, 'Method Not Allowed'],
  [406, 'Not Acceptable'],
  [407, 'Proxy Authentication Required'],
  [408, 'Request Time-out'],
  [410, 'Gone'],
  [411, 'Length Required'],
  [412, 'Precondition Failed'],
  [413, 'Request Entity Too Large'],
  [414, 'Request-URI Too Large'],
  [415, 'Unsupported Media Type'],
  [451, 'Parameter Not Understood'],
  [452, 'Conference Not Found'],
  [453, 'Not Enough Bandwidth'],
  [454, 'Session Not Found'],
  [455, 'Method Not Valid in This State'],
  [456, 'Header Field Not Valid for Resource'],
  [457, 'Invalid Range'],
  [458, 'Parameter Is Read-Only'],
  [459, 'Aggregate Operation Not Allowed'],
  [460, 'Only Aggregate Operation Allowed'],
  [461, 'Unsupported Transport'],
  [462, 'Destination Unreachable'],
  [500, 'Internal Server Error'],
  [501, 'Not Implemented'],
  [502, 'Bad Gateway'],
  [503, 'Service Unavailable'],
  [504, 'Gateway Time-out'],
  [505, 'RTSP Version not supported'],
  [551, 'Option not supported'],
]);

export function reasonPhrase(status: number): string {
  const known = REASONS.get(status);
  if (known !== undefined) return known;
  if (status >= 200 && status < 300) return 'OK';
  if (status >= 300 && status < 400) return 'Redirection';
  if (status >= 400 && status < 500) return 'Client Error';
  if (status >= 500 && status < 600) return 'Server Error';
  return 'Unknown';
}
