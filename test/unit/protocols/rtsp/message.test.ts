import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Parsed } from '../../../../server/protocols/rtsp/errors.ts';
import { ProtocolError } from '../../../../server/protocols/rtsp/errors.ts';
import {
  DEFAULT_LIMITS,
  getHeader,
  parseRequest,
  parseResponse,
  reasonPhrase,
  writeRequest,
  writeResponse,
  type Header,
  type RtspRequest,
  type RtspResponse,
} from '../../../../server/protocols/rtsp/message.ts';
import { fixture, fixtureNames } from '../../../fixtures/rtsp/load.ts';

const enc = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));
const empty = new Uint8Array(0);

function expectOk<T>(r: Parsed<T>): { value: T; consumed: number } {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${r.kind === 'error' ? `${r.error.code}: ${r.error.message}` : r.kind}`);
  return r;
}

function expectError<T>(r: Parsed<T>): ProtocolError {
  if (r.kind !== 'error') throw new Error(`expected error, got ${r.kind}`);
  return r.error;
}

// One table drives parse, write and round trip (gortsplib pkg/base/request_test.go style):
// `bytes` is the canonical form writeRequest produces and parseRequest accepts.
const requestCases: Array<{ name: string; bytes: string; request: RtspRequest }> = [
  {
    name: 'options',
    bytes: 'OPTIONS rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 1\r\nRequire: implicit-play\r\nProxy-Require: gzipped-messages\r\n\r\n',
    request: {
      method: 'OPTIONS',
      uri: 'rtsp://example.com/media.mp4',
      headers: [['CSeq', '1'], ['Require', 'implicit-play'], ['Proxy-Require', 'gzipped-messages']],
      body: empty,
    },
  },
  {
    name: 'options *',
    bytes: 'OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n',
    request: { method: 'OPTIONS', uri: '*', headers: [['CSeq', '1']], body: empty },
  },
  {
    name: 'describe',
    bytes: 'DESCRIBE rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 2\r\nAccept: application/sdp\r\n\r\n',
    request: { method: 'DESCRIBE', uri: 'rtsp://example.com/media.mp4', headers: [['CSeq', '2'], ['Accept', 'application/sdp']], body: empty },
  },
  {
    name: 'announce with body',
    bytes:
      'ANNOUNCE rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 7\r\nContent-Type: application/sdp\r\nContent-Length: 23\r\n\r\nv=0\r\ns=Example\r\nt=0 0\r\n',
    request: {
      method: 'ANNOUNCE',
      uri: 'rtsp://example.com/media.mp4',
      headers: [['CSeq', '7'], ['Content-Type', 'application/sdp'], ['Content-Length', '23']],
      body: enc('v=0\r\ns=Example\r\nt=0 0\r\n'),
    },
  },
  {
    name: 'get_parameter with empty value and body',
    bytes: 'GET_PARAMETER rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 9\r\nX-Empty: \r\nContent-Length: 8\r\n\r\npackets\n',
    request: {
      method: 'GET_PARAMETER',
      uri: 'rtsp://example.com/media.mp4',
      headers: [['CSeq', '9'], ['X-Empty', ''], ['Content-Length', '8']],
      body: enc('packets\n'),
    },
  },
  {
    name: 'utf-8 header value',
    bytes: 'SET_PARAMETER rtsp://h/s RTSP/1.0\r\nCSeq: 3\r\nX-Title: Café ☕\r\n\r\n',
    request: { method: 'SET_PARAMETER', uri: 'rtsp://h/s', headers: [['CSeq', '3'], ['X-Title', 'Café ☕']], body: empty },
  },
];

const responseCases: Array<{ name: string; bytes: string; response: RtspResponse }> = [
  {
    name: 'ok with public',
    bytes: 'RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE\r\n\r\n',
    response: { status: 200, reason: 'OK', headers: [['CSeq', '1'], ['Public', 'DESCRIBE, SETUP, TEARDOWN, PLAY, PAUSE']], body: empty },
  },
  {
    name: 'describe response with sdp',
    bytes: 'RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Base: rtsp://h/s/\r\nContent-Type: application/sdp\r\nContent-Length: 10\r\n\r\nv=0\r\ns=x\r\n',
    response: {
      status: 200,
      reason: 'OK',
      headers: [['CSeq', '2'], ['Content-Base', 'rtsp://h/s/'], ['Content-Type', 'application/sdp'], ['Content-Length', '10']],
      body: enc('v=0\r\ns=x\r\n'),
    },
  },
  {
    name: '401 with two challenges',
    bytes: 'RTSP/1.0 401 Unauthorized\r\nCSeq: 2\r\nWWW-Authenticate: Digest realm="r", nonce="n"\r\nWWW-Authenticate: Basic realm="r"\r\n\r\n',
    response: {
      status: 401,
      reason: 'Unauthorized',
      headers: [['CSeq', '2'], ['WWW-Authenticate', 'Digest realm="r", nonce="n"'], ['WWW-Authenticate', 'Basic realm="r"']],
      body: empty,
    },
  },
  {
    name: '455 multi-word reason',
    bytes: 'RTSP/1.0 455 Method Not Valid in This State\r\nCSeq: 4\r\n\r\n',
    response: { status: 455, reason: 'Method Not Valid in This State', headers: [['CSeq', '4']], body: empty },
  },
  {
    name: 'empty reason',
    bytes: 'RTSP/1.0 200 \r\nCSeq: 5\r\n\r\n',
    response: { status: 200, reason: '', headers: [['CSeq', '5']], body: empty },
  },
];

describe('request case table', () => {
  for (const c of requestCases) {
    it(`${c.name}: parse`, () => {
      const r = expectOk(parseRequest(enc(c.bytes)));
      expect(r.value).toEqual(c.request);
      expect(r.consumed).toBe(enc(c.bytes).length);
    });
    it(`${c.name}: write`, () => {
      expect(writeRequest(c.request).toString('utf8')).toBe(c.bytes);
    });
    it(`${c.name}: round trip`, () => {
      expect(expectOk(parseRequest(writeRequest(c.request))).value).toEqual(c.request);
    });
  }
});

describe('response case table', () => {
  for (const c of responseCases) {
    it(`${c.name}: parse`, () => {
      const r = expectOk(parseResponse(enc(c.bytes)));
      expect(r.value).toEqual(c.response);
      expect(r.consumed).toBe(enc(c.bytes).length);
    });
    it(`${c.name}: write`, () => {
      expect(writeResponse(c.response).toString('utf8')).toBe(c.bytes);
    });
    it(`${c.name}: round trip`, () => {
      expect(expectOk(parseResponse(writeResponse(c.response))).value).toEqual(c.response);
    });
  }
});

describe('tolerant parsing', () => {
  const cases: Array<{ name: string; bytes: string; headers: Header[]; consumed?: number }> = [
    { name: 'bare LF line ends', bytes: 'OPTIONS * RTSP/1.0\nCSeq: 1\n\n', headers: [['CSeq', '1']] },
    { name: 'mixed CRLF and LF', bytes: 'OPTIONS * RTSP/1.0\r\nCSeq: 1\n\r\n', headers: [['CSeq', '1']] },
    { name: 'value padding trimmed', bytes: 'OPTIONS * RTSP/1.0\r\nCSeq:   1 \t\r\nX:\t a b \r\n\r\n', headers: [['CSeq', '1'], ['X', 'a b']] },
    { name: 'no space after colon', bytes: 'OPTIONS * RTSP/1.0\r\nCSeq:1\r\n\r\n', headers: [['CSeq', '1']] },
    { name: 'leading empty lines skipped', bytes: '\r\n\r\nOPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n', headers: [['CSeq', '1']] },
    { name: 'colon inside value', bytes: 'OPTIONS * RTSP/1.0\r\nRange: clock=19961108T142300Z-\r\nX: a:b:c\r\n\r\n', headers: [['Range', 'clock=19961108T142300Z-'], ['X', 'a:b:c']] },
    { name: 'Content-Length: 0', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: 0\r\n\r\n', headers: [['Content-Length', '0']] },
    { name: 'leading zeros in Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: 0002\r\n\r\nab', headers: [['Content-Length', '0002']] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = expectOk(parseRequest(enc(c.bytes)));
      expect(r.value.headers).toEqual(c.headers);
      expect(r.consumed).toBe(enc(c.bytes).length);
    });
  }

  it('stops at the end of the first message', () => {
    const one = 'OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n';
    const r = expectOk(parseRequest(enc(one + 'OPTIONS * RTSP/1.0\r\nCSeq: 2\r\n\r\n')));
    expect(r.consumed).toBe(one.length);
    expect(getHeader(r.value.headers, 'cseq')).toBe('1');
  });

  it('body is a copy, not a view of the input', () => {
    const buf = enc('SET_PARAMETER * RTSP/1.0\r\nContent-Length: 3\r\n\r\nabc');
    const r = expectOk(parseRequest(Buffer.from(buf)));
    expect(r.value.body.constructor).toBe(Uint8Array);
    const copy = Buffer.from(r.value.body).toString();
    buf.fill(0);
    expect(Buffer.from(r.value.body).toString()).toBe(copy);
  });

  it('response without a reason phrase at all', () => {
    const r = expectOk(parseResponse(enc('RTSP/1.0 200\r\nCSeq: 1\r\n\r\n')));
    expect(r.value.status).toBe(200);
    expect(r.value.reason).toBe('');
  });

  it('getHeader is case-insensitive and returns the first match', () => {
    const h: Header[] = [['cseq', '1'], ['CSeq', '2']];
    expect(getHeader(h, 'CSEQ')).toBe('1');
    expect(getHeader(h, 'Session')).toBeUndefined();
  });
});

const errorCases: Array<{ name: string; bytes: string; code: string; status: number }> = [
  { name: 'RTSP/2.0', bytes: 'OPTIONS * RTSP/2.0\r\nCSeq: 1\r\n\r\n', code: 'bad_version', status: 505 },
  { name: 'HTTP request', bytes: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', code: 'bad_version', status: 400 },
  { name: 'response RTSP/2.0', bytes: 'RTSP/2.0 200 OK\r\n\r\n', code: 'bad_version', status: 505 },
  { name: 'missing version', bytes: 'OPTIONS *\r\n\r\n', code: 'bad_request_line', status: 400 },
  { name: 'two spaces', bytes: 'OPTIONS  * RTSP/1.0\r\n\r\n', code: 'bad_request_line', status: 400 },
  { name: 'method not a token', bytes: 'OPT(ONS * RTSP/1.0\r\n\r\n', code: 'bad_method', status: 400 },
  { name: 'control char in uri', bytes: 'OPTIONS rtsp://a/\x01 RTSP/1.0\r\n\r\n', code: 'bad_start_line', status: 400 },
  { name: 'header without colon', bytes: 'OPTIONS * RTSP/1.0\r\nCSeq 1\r\n\r\n', code: 'bad_header', status: 400 },
  { name: 'space before colon', bytes: 'OPTIONS * RTSP/1.0\r\nCSeq : 1\r\n\r\n', code: 'bad_header', status: 400 },
  { name: 'empty header name', bytes: 'OPTIONS * RTSP/1.0\r\n: 1\r\n\r\n', code: 'bad_header', status: 400 },
  { name: 'folded header', bytes: 'OPTIONS * RTSP/1.0\r\nX: a\r\n b\r\n\r\n', code: 'header_folding', status: 400 },
  { name: 'bare CR inside a value', bytes: 'OPTIONS * RTSP/1.0\r\nX: a\rb\r\n\r\n', code: 'bad_header', status: 400 },
  { name: 'negative Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n', code: 'bad_content_length', status: 400 },
  { name: 'non-numeric Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: ten\r\n\r\n', code: 'bad_content_length', status: 400 },
  { name: 'fractional Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: 1.5\r\n\r\n', code: 'bad_content_length', status: 400 },
  { name: 'hex Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: 0x10\r\n\r\n', code: 'bad_content_length', status: 400 },
  { name: 'empty Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: \r\n\r\n', code: 'bad_content_length', status: 400 },
  { name: 'conflicting Content-Length', bytes: 'OPTIONS * RTSP/1.0\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', code: 'bad_content_length', status: 400 },
  { name: 'Content-Length 65537', bytes: 'ANNOUNCE * RTSP/1.0\r\nContent-Length: 65537\r\n\r\n', code: 'body_too_large', status: 413 },
  { name: 'huge Content-Length', bytes: 'ANNOUNCE * RTSP/1.0\r\nContent-Length: 99999999999999999999999\r\n\r\n', code: 'body_too_large', status: 413 },
  { name: 'status not three digits', bytes: 'RTSP/1.0 20 OK\r\n\r\n', code: 'bad_status_line', status: 400 },
];

describe('errors', () => {
  for (const c of errorCases) {
    it(c.name, () => {
      const bytes = enc(c.bytes);
      const e = c.bytes.startsWith('RTSP/') ? expectError(parseResponse(bytes)) : expectError(parseRequest(bytes));
      expect(e).toBeInstanceOf(ProtocolError);
      expect(e.code).toBe(c.code);
      expect(e.status).toBe(c.status);
    });
  }

  it('a bad request line is reported before its body arrives', () => {
    expect(expectError(parseRequest(enc('OPTIONS * RTSP/2.0\r\nContent-Length: 10\r\n\r\n'))).status).toBe(505);
  });
});

describe('limits', () => {
  const line = (n: number): string => `DESCRIBE rtsp://h/${'a'.repeat(n - 'DESCRIBE rtsp://h/ RTSP/1.0'.length)} RTSP/1.0`;

  it('a 2048-byte request line is accepted', () => {
    expect(line(2048).length).toBe(2048);
    expectOk(parseRequest(enc(`${line(2048)}\r\nCSeq: 1\r\n\r\n`)));
  });

  it('a 2049-byte request line is 400', () => {
    const e = expectError(parseRequest(enc(`${line(2049)}\r\nCSeq: 1\r\n\r\n`)));
    expect(e.status).toBe(400);
    expect(e.code).toBe('line_too_long');
  });

  it('2049 bytes without a line end are 400 without waiting for more', () => {
    expect(expectError(parseRequest(enc('A'.repeat(2049)))).status).toBe(400);
    expect(parseRequest(enc('A'.repeat(2048))).kind).toBe('more');
    expect(parseRequest(enc('A'.repeat(2048) + '\r')).kind).toBe('more');
  });

  const withHeaders = (n: number): string => `OPTIONS * RTSP/1.0\r\n${Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join('')}\r\n`;

  it('255 headers are accepted', () => {
    expect(expectOk(parseRequest(enc(withHeaders(255)))).value.headers).toHaveLength(255);
  });

  it('256 headers are 400, complete or not', () => {
    const e = expectError(parseRequest(enc(withHeaders(256))));
    expect(e.code).toBe('too_many_headers');
    expect(e.status).toBe(400);
    expect(expectError(parseRequest(enc(withHeaders(256).slice(0, -4)))).code).toBe('too_many_headers');
  });

  it('a 4096-byte header value is accepted, 4097 is 400', () => {
    expectOk(parseRequest(enc(`OPTIONS * RTSP/1.0\r\nX: ${'v'.repeat(4096)}\r\n\r\n`)));
    const e = expectError(parseRequest(enc(`OPTIONS * RTSP/1.0\r\nX: ${'v'.repeat(4097)}\r\n\r\n`)));
    expect(e.code).toBe('header_value_too_long');
    expect(e.status).toBe(400);
  });

  it('an endless header line is 400 without waiting for more', () => {
    const e = expectError(parseRequest(enc(`OPTIONS * RTSP/1.0\r\nX: ${'v'.repeat(5000)}`)));
    expect(e.status).toBe(400);
  });

  it('a header section that cannot end within its bound is 400', () => {
    const limits = { maxLine: 64, maxHeaders: 4, maxHeaderValue: 16, maxBody: 10 };
    const bound = limits.maxLine + limits.maxHeaders * (limits.maxHeaderValue + 256);
    // Every line within its limit (value 'v' padded), five of them: over maxHeaders and over the bound.
    const pad = ' '.repeat(130);
    const head = `OPTIONS * RTSP/1.0\r\n${Array.from({ length: 5 }, () => `X:${pad}v${pad}\r\n`).join('')}`;
    expect(head.length).toBeGreaterThan(bound);
    expect(parseRequest(enc(head), limits).kind).toBe('error');
  });

  it('Content-Length 65536 is accepted and waits for its body', () => {
    const head = 'ANNOUNCE * RTSP/1.0\r\nContent-Length: 65536\r\n\r\n';
    expect(parseRequest(enc(head)).kind).toBe('more');
    const r = expectOk(parseRequest(Buffer.concat([enc(head), new Uint8Array(65536)])));
    expect(r.value.body.length).toBe(65536);
  });

  it('custom limits apply', () => {
    const limits = { ...DEFAULT_LIMITS, maxBody: 3 };
    expect(expectError(parseRequest(enc('ANNOUNCE * RTSP/1.0\r\nContent-Length: 4\r\n\r\nabcd'), limits)).status).toBe(413);
  });

  it('endless empty lines are an error, not endless buffering', () => {
    expect(parseRequest(enc('\r\n'.repeat(10))).kind).toBe('more');
    expect(parseRequest(enc('\r\n'.repeat(2000))).kind).toBe('error');
  });
});

describe('writers', () => {
  it('adds Content-Length for a body', () => {
    const out = writeResponse({ status: 200, reason: 'OK', headers: [['CSeq', '1']], body: enc('abc') }).toString();
    expect(out).toBe('RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 3\r\n\r\nabc');
  });

  it('does not duplicate an existing Content-Length and corrects a stale one', () => {
    const out = writeRequest({ method: 'ANNOUNCE', uri: 'rtsp://h/s', headers: [['content-length', '99'], ['CSeq', '2']], body: enc('abc') }).toString();
    expect(out).toBe('ANNOUNCE rtsp://h/s RTSP/1.0\r\ncontent-length: 3\r\nCSeq: 2\r\n\r\nabc');
  });

  it('no Content-Length for an empty body', () => {
    expect(writeRequest({ method: 'OPTIONS', uri: '*', headers: [], body: empty }).toString()).toBe('OPTIONS * RTSP/1.0\r\n\r\n');
  });

  it('refuses header injection', () => {
    expect(() => writeResponse({ status: 200, reason: 'OK', headers: [['X', 'a\r\nSession: evil']], body: empty })).toThrow(ProtocolError);
    expect(() => writeResponse({ status: 200, reason: 'OK\r\nX: y', headers: [], body: empty })).toThrow(ProtocolError);
    expect(() => writeRequest({ method: 'OPTIONS', uri: 'rtsp://h/ x', headers: [], body: empty })).toThrow(ProtocolError);
    expect(() => writeRequest({ method: 'OPT IONS', uri: '*', headers: [], body: empty })).toThrow(ProtocolError);
    expect(() => writeRequest({ method: 'OPTIONS', uri: '*', headers: [['Bad Name', 'x']], body: empty })).toThrow(ProtocolError);
  });

  it('reasonPhrase follows RFC 2326 §7.1.1', () => {
    expect(reasonPhrase(200)).toBe('OK');
    expect(reasonPhrase(401)).toBe('Unauthorized');
    expect(reasonPhrase(453)).toBe('Not Enough Bandwidth');
    expect(reasonPhrase(454)).toBe('Session Not Found');
    expect(reasonPhrase(455)).toBe('Method Not Valid in This State');
    expect(reasonPhrase(459)).toBe('Aggregate Operation Not Allowed');
    expect(reasonPhrase(461)).toBe('Unsupported Transport');
    expect(reasonPhrase(503)).toBe('Service Unavailable');
    expect(reasonPhrase(505)).toBe('RTSP Version not supported');
    expect(reasonPhrase(299)).toBe('OK');
    expect(reasonPhrase(499)).toBe('Client Error');
  });
});

describe('fixtures from real peers', () => {
  const requests = fixtureNames().filter((n) => !/stream-head|response/.test(n));

  it('there are fixtures from ffmpeg and GStreamer', () => {
    expect(requests.some((n) => n.startsWith('ffmpeg-5.1-'))).toBe(true);
    expect(requests.some((n) => n.startsWith('gstreamer-1.22-'))).toBe(true);
  });

  for (const name of requests) {
    it(`${name} parses whole, and writing it back gives the same bytes`, () => {
      const bytes = fixture(name);
      const r = expectOk(parseRequest(bytes));
      expect(r.consumed).toBe(bytes.length);
      const method = /-\d\d-([a-z_]+)\.bin$/.exec(name)![1]!.toUpperCase();
      expect(r.value.method).toBe(method);
      expect(r.value.uri).toMatch(/^rtsp:\/\/127\.0\.0\.1:\d+\/(test|auth)(\/.*)?$/);
      expect(getHeader(r.value.headers, 'CSeq')).toMatch(/^\d+$/);
      // Both peers write canonical "Name: value" CRLF lines, so our writer reproduces them exactly.
      expect(writeRequest(r.value).equals(bytes)).toBe(true);
    });
  }

  it('ffmpeg ANNOUNCE: Content-Length last, SDP body', () => {
    const r = expectOk(parseRequest(fixture('ffmpeg-5.1-publish-tcp-02-announce.bin')));
    expect(r.value.headers.map(([n]) => n)).toEqual(['Content-Type', 'CSeq', 'User-Agent', 'Content-Length']);
    expect(getHeader(r.value.headers, 'Content-Type')).toBe('application/sdp');
    expect(getHeader(r.value.headers, 'User-Agent')).toMatch(/^Lavf59\./);
    expect(Buffer.from(r.value.body).toString()).toMatch(/^v=0\r\n/);
    expect(r.value.body.length).toBe(Number(getHeader(r.value.headers, 'Content-Length')));
  });

  it('ffmpeg RECORD and PLAY carry Range: npt=0.000-, GStreamer PLAY npt=0-', () => {
    expect(getHeader(expectOk(parseRequest(fixture('ffmpeg-5.1-publish-tcp-05-record.bin'))).value.headers, 'Range')).toBe('npt=0.000-');
    expect(getHeader(expectOk(parseRequest(fixture('ffmpeg-5.1-play-tcp-05-play.bin'))).value.headers, 'Range')).toBe('npt=0.000-');
    expect(getHeader(expectOk(parseRequest(fixture('gstreamer-1.22-play-tcp-05-play.bin'))).value.headers, 'Range')).toBe('npt=0-');
  });

  it('GStreamer sends a Date header, and PAUSE before TEARDOWN when stopped with EOS', () => {
    const pause = fixtureNames(/^gstreamer-1\.22-play-.*-pause\.bin$/)[0]!; // numbering depends on keep-alive timing
    const r = expectOk(parseRequest(fixture(pause)));
    expect(r.value.method).toBe('PAUSE');
    expect(getHeader(r.value.headers, 'Date')).toMatch(/GMT$/);
    expect(getHeader(r.value.headers, 'Session')).toBe('12345678');
  });

  it("ffmpeg's answer to a server request parses as a response", () => {
    const r = expectOk(parseResponse(fixture('ffmpeg-5.1-play-tcp-06-response.bin')));
    expect(r.value).toEqual({ status: 200, reason: 'OK', headers: [['CSeq', '1'], ['Session', '12345678']], body: empty });
  });

  it('every fixture split at every point: the prefix is "more", never an error', () => {
    for (const name of requests) {
      const bytes = fixture(name);
      for (let i = 0; i < bytes.length; i++) expect(parseRequest(bytes.subarray(0, i)).kind).toBe('more');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const tokenChar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 16 });
const uri = fc.oneof(
  fc.constant('*'),
  fc.stringMatching(/^rtsp:\/\/[a-z0-9.]{1,20}(:[0-9]{1,5})?(\/[!-~]{0,30})?$/),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((s) => !/[\s\x00-\x1f\x7f-\x9f\u2028\u2029]/u.test(s) && !s.includes('\uFEFF')),
);
const headerValue = fc.oneof(
  fc.stringMatching(/^([!-~]([ -~]{0,40}[!-~])?)?$/),
  fc
    .string({ unit: 'grapheme', maxLength: 20 })
    .filter((s) => !/[\x00-\x1f\x7f]/.test(s) && s === s.replace(/^[ \t]+|[ \t]+$/g, '') && !s.includes('\uFFFD')),
);
const header = fc.tuple(token, headerValue).filter(([n]) => n.toLowerCase() !== 'content-length');
const body = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 300 }));

function withLength(headers: Array<readonly [string, string]>, b: Uint8Array): Header[] {
  return b.length > 0 ? [...headers, ['Content-Length', String(b.length)]] : [...headers];
}

const request: fc.Arbitrary<RtspRequest> = fc
  .record({ method: token, uri, headers: fc.array(header, { maxLength: 12 }), body })
  .map((r) => ({ ...r, headers: withLength(r.headers, r.body) }));

const response: fc.Arbitrary<RtspResponse> = fc
  .record({
    status: fc.integer({ min: 100, max: 999 }),
    reason: fc.stringMatching(/^[ -~]{0,30}$/),
    headers: fc.array(header, { maxLength: 12 }),
    body,
  })
  .map((r) => ({ ...r, headers: withLength(r.headers, r.body) }));

describe('properties', () => {
  it('any bytes: ok, more or error, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const parse of [parseRequest, parseResponse]) {
          const r = parse(bytes);
          expect(['ok', 'more', 'error']).toContain(r.kind);
          if (r.kind === 'ok') expect(r.consumed).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('any text-like bytes (mutated valid requests): never a throw', () => {
    fc.assert(
      fc.property(request, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), (req, edits) => {
        const bytes = new Uint8Array(writeRequest(req));
        for (const [pos, b] of edits) bytes[pos % bytes.length] = b;
        for (const parse of [parseRequest, parseResponse]) expect(['ok', 'more', 'error']).toContain(parse(bytes).kind);
      }),
      { numRuns: 1000 },
    );
  });

  it('parse(write(request)) equals the request', () => {
    fc.assert(
      fc.property(request, (req) => {
        const bytes = writeRequest(req);
        const r = expectOk(parseRequest(bytes));
        expect(r.value).toEqual(req);
        expect(r.consumed).toBe(bytes.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('parse(write(response)) equals the response', () => {
    fc.assert(
      fc.property(response, (res) => {
        const bytes = writeResponse(res);
        const r = expectOk(parseResponse(bytes));
        expect(r.value).toEqual(res);
        expect(r.consumed).toBe(bytes.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('every prefix of a valid request is "more"', () => {
    fc.assert(
      fc.property(request, fc.nat(), (req, cut) => {
        const bytes = writeRequest(req);
        const at = cut % bytes.length;
        expect(parseRequest(bytes.subarray(0, at)).kind).toBe('more');
      }),
      { numRuns: 2000 },
    );
  });

  it('every prefix of a valid response is "more"', () => {
    fc.assert(
      fc.property(response, fc.nat(), (res, cut) => {
        const bytes = writeResponse(res);
        expect(parseResponse(bytes.subarray(0, cut % bytes.length)).kind).toBe('more');
      }),
      { numRuns: 2000 },
    );
  });
});
