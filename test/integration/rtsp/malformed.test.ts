// Malformed, oversized and out-of-place requests on raw sockets: each gets its 4xx/5xx, and the relay keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHeader } from '../../../server/protocols/rtsp/message.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { h264Sdp, raw, requestText, until } from './helpers.ts';

const REQUEST_TIMEOUT_MS = 500;

describe('malformed and oversized requests', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'robust';
  let publisherSession: string | undefined;
  let url: string;

  beforeAll(async () => {
    t = await startTestRelay([], { rtsp: { requestTimeoutMs: REQUEST_TIMEOUT_MS } });
    url = t.url(name);
    pub = publish({ url, audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
    publisherSession = t.relay.registry.get(name)?.publisher?.session;
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  // Framing errors: the parser cannot tell where the next message starts, so the answer is followed by a close.
  it.each([
    { what: 'binary garbage', data: Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe, 0x0d, 0x0a, 0x0d, 0x0a]), status: 400 },
    { what: 'a line that is not a request', data: 'HELLO THERE\r\n\r\n', status: 400 },
    { what: 'a 3000-byte request line', data: () => `DESCRIBE ${url}/${'a'.repeat(3000)} RTSP/1.0\r\nCSeq: 1\r\n\r\n`, status: 400 },
    { what: '300 headers', data: () => requestText('OPTIONS', url, [['CSeq', '1'], ...Array.from({ length: 300 }, (_, i): [string, string] => [`X-H${i}`, 'v'])]), status: 400 },
    { what: 'a 5000-byte header value', data: () => requestText('OPTIONS', url, [['CSeq', '1'], ['User-Agent', 'x'.repeat(5000)]]), status: 400 },
    { what: 'Content-Length 100000', data: () => requestText('ANNOUNCE', url, [['CSeq', '1'], ['Content-Type', 'application/sdp'], ['Content-Length', '100000']]), status: 413 },
    { what: 'RTSP/2.0', data: () => `OPTIONS ${url} RTSP/2.0\r\nCSeq: 1\r\n\r\n`, status: 505 },
  ])('$what: $status, then the connection is closed', async ({ data, status }) => {
    const r = await raw(t.rtspPort, typeof data === 'function' ? data() : data);
    expect(r.closed).toBe(true);
    expect(r.responses.map((x) => x.status)).toEqual([status]);
    expect(getHeader(r.responses[0]?.headers ?? [], 'Connection')).toBe('close');
    expect(Buffer.from(r.responses[0]?.body ?? []).toString().length).toBeGreaterThan(0); // says what was wrong
  });

  // Well-framed requests the server refuses: answered, and the connection stays usable.
  it.each([
    { what: 'a request without CSeq', req: () => requestText('OPTIONS', url), status: 400 },
    { what: 'an unknown method', req: () => requestText('FLY', url, [['CSeq', '1']]), status: 501 },
    { what: 'PLAY without a Session', req: () => requestText('PLAY', url, [['CSeq', '1']]), status: 454 },
    { what: 'PLAY with a Session that does not exist', req: () => requestText('PLAY', url, [['CSeq', '1'], ['Session', '0123456789abcdef']]), status: 454 },
    { what: 'SETUP with an unknown transport', req: () => requestText('SETUP', `${url}/trackID=0`, [['CSeq', '1'], ['Transport', 'RAW/RAW/UDP;unicast;client_port=5000-5001']]), status: 461 },
    { what: 'SETUP with multicast', req: () => requestText('SETUP', `${url}/trackID=0`, [['CSeq', '1'], ['Transport', 'RTP/AVP;multicast;port=5000-5001']]), status: 461 },
    { what: 'SETUP without Transport', req: () => requestText('SETUP', `${url}/trackID=0`, [['CSeq', '1']]), status: 461 },
    { what: 'SETUP with client_port 0 (dgram would throw on send)', req: () => requestText('SETUP', `${url}/trackID=0`, [['CSeq', '1'], ['Transport', 'RTP/AVP;unicast;client_port=0-1']]), status: 461 },
    { what: 'SETUP with an RTCP client port of 0', req: () => requestText('SETUP', `${url}/trackID=0`, [['CSeq', '1'], ['Transport', 'RTP/AVP;unicast;client_port=5000-0']]), status: 461 },
    { what: 'SETUP with mode=record without ANNOUNCE', req: () => requestText('SETUP', `${url}/streamid=0`, [['CSeq', '1'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]), status: 455 },
    { what: 'DESCRIBE of an unknown NAME', req: () => requestText('DESCRIBE', t.url('nobody-here'), [['CSeq', '1']]), status: 404 },
    { what: 'SETUP of a track that does not exist', req: () => requestText('SETUP', `${url}/trackID=7`, [['CSeq', '1'], ['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]), status: 404 },
    { what: 'a NAME that is an option (-f)', req: () => requestText('DESCRIBE', t.url('-f'), [['CSeq', '1']]), status: 400 },
    { what: 'a NAME with a dot segment (/../NAME)', req: () => requestText('DESCRIBE', `rtsp://127.0.0.1:${t.rtspPort}/../${name}`, [['CSeq', '1']]), status: 400 },
    { what: 'a NAME with an encoded dot segment (/x/%2e%2e/NAME)', req: () => requestText('DESCRIBE', `rtsp://127.0.0.1:${t.rtspPort}/x/%2e%2e/${name}`, [['CSeq', '1']]), status: 400 },
    { what: 'a relative URI', req: () => requestText('DESCRIBE', `/${name}`, [['CSeq', '1']]), status: 400 },
    { what: 'an http:// URI', req: () => requestText('DESCRIBE', `http://127.0.0.1:${t.rtspPort}/${name}`, [['CSeq', '1']]), status: 400 },
    { what: 'GET_PARAMETER naming a parameter', req: () => requestText('GET_PARAMETER', url, [['CSeq', '1'], ['Content-Type', 'text/parameters']], 'position\r\n'), status: 451 },
  ])('$what: $status, and the connection keeps working', async ({ req, status }) => {
    const r = await raw(t.rtspPort, [req(), requestText('OPTIONS', url, [['CSeq', '2']])], { expect: 2 });
    expect(r.closed).toBe(false);
    expect(r.responses.map((x) => x.status)).toEqual([status, 200]);
    expect(getHeader(r.responses[1]?.headers ?? [], 'CSeq')).toBe('2');
  });

  it('answers 501 with the methods it does implement', async () => {
    const r = await raw(t.rtspPort, requestText('FLY', url, [['CSeq', '1']]), { expect: 1 });
    expect(getHeader(r.responses[0]?.headers ?? [], 'Public')).toContain('DESCRIBE');
  });

  it('PLAY on a record session: 455; RECORD on a play session: 455', async () => {
    // A publisher-to-be: ANNOUNCE and SETUP(record) on a fresh NAME, then PLAY instead of RECORD.
    const p = await RtspTestClient.connect(t.url('recorder'));
    try {
      const a = await p.request('ANNOUNCE', t.url('recorder'), [['Content-Type', 'application/sdp']], Buffer.from(h264Sdp()));
      expect(a.status).toBe(200);
      const s = await p.request('SETUP', `${t.url('recorder')}/streamid=0`, [['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]);
      expect(s.status).toBe(200);
      const session = getHeader(s.headers, 'Session')?.split(';')[0] ?? '';
      expect((await p.request('PLAY', t.url('recorder'), [['Session', session]])).status).toBe(455);
      expect((await p.request('PAUSE', t.url('recorder'), [['Session', session]])).status).toBe(455);
    } finally {
      await p.close();
    }
    // A player: SETUP on the live stream, then RECORD.
    const c = await RtspTestClient.connect(url);
    try {
      const s = await c.request('SETUP', `${url}/trackID=0`, [['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]);
      expect(s.status).toBe(200);
      const session = getHeader(s.headers, 'Session')?.split(';')[0] ?? '';
      expect((await c.request('RECORD', url, [['Session', session]])).status).toBe(455);
    } finally {
      await c.close();
    }
  });

  it(`a request left unfinished is answered 408 and closed after the request timeout (${REQUEST_TIMEOUT_MS} ms)`, async () => {
    const r = await raw(t.rtspPort, `OPTIONS ${url} RTSP/1.0\r\nCSeq: 1\r\n`, { waitMs: 5000 });
    expect(r.closed).toBe(true);
    expect(r.responses.map((x) => x.status)).toEqual([408]);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
    expect(r.elapsedMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2000);
  });

  it('a request trickled in over several packets within the timeout is answered normally', async () => {
    const text = requestText('OPTIONS', url, [['CSeq', '1']]);
    const parts = [text.slice(0, 5), text.slice(5, 30), text.slice(30, -2), text.slice(-2)];
    const r = await raw(t.rtspPort, parts, { expect: 1, gapMs: 60 });
    expect(r.responses.map((x) => x.status)).toEqual([200]);
  });

  it('after all that, the publisher is untouched and a normal player plays', async () => {
    const s = t.relay.registry.get(name);
    expect(s?.state).toBe('live');
    expect(s?.publisher?.session).toBe(publisherSession);
    const c = await RtspTestClient.connect(url);
    try {
      await c.play({ transport: 'tcp' });
      await until(() => c.tracks[0]?.firstIdrAt !== undefined && (c.tracks[0]?.packets ?? 0) > 30, 'video packets with an IDR');
    } finally {
      await c.close();
    }
    expect(t.logs.filter((l) => l.event === 'handler-failed')).toEqual([]);
  });
});
