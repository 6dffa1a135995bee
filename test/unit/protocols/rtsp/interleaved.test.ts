import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError, type Parsed } from '../../../../server/protocols/rtsp/errors.ts';
import {
  interleavedHeader,
  parseIncoming,
  parseInterleaved,
  writeInterleaved,
  type Incoming,
} from '../../../../server/protocols/rtsp/interleaved.ts';
import { writeRequest, writeResponse, type RtspRequest, type RtspResponse } from '../../../../server/protocols/rtsp/message.ts';
import { fixture } from '../../../fixtures/rtsp/load.ts';

function expectOk<T>(r: Parsed<T>): { value: T; consumed: number } {
  if (r.kind !== 'ok') throw new Error(`expected ok, got ${r.kind === 'error' ? `${r.error.code}: ${r.error.message}` : r.kind}`);
  return r;
}

// gortsplib pkg/base/interleaved_frame_test.go style: bytes ⇄ frame.
const cases: Array<{ name: string; bytes: number[]; channel: number; payload: number[] }> = [
  { name: 'rtp on channel 0', bytes: [0x24, 0x00, 0x00, 0x04, 0x80, 0x60, 0x00, 0x01], channel: 0, payload: [0x80, 0x60, 0x00, 0x01] },
  { name: 'rtcp on channel 1', bytes: [0x24, 0x01, 0x00, 0x02, 0x81, 0xc8], channel: 1, payload: [0x81, 0xc8] },
  { name: 'channel 255, empty payload', bytes: [0x24, 0xff, 0x00, 0x00], channel: 255, payload: [] },
  { name: 'length uses both bytes', bytes: [0x24, 0x06, 0x01, 0x00, ...new Array<number>(256).fill(7)], channel: 6, payload: new Array<number>(256).fill(7) },
];

describe('interleaved case table', () => {
  for (const c of cases) {
    it(`${c.name}: parse`, () => {
      const r = expectOk(parseInterleaved(new Uint8Array(c.bytes)));
      expect(r.value.channel).toBe(c.channel);
      expect([...r.value.payload]).toEqual(c.payload);
      expect(r.consumed).toBe(c.bytes.length);
    });
    it(`${c.name}: write`, () => {
      expect([...writeInterleaved(c.channel, new Uint8Array(c.payload))]).toEqual(c.bytes);
      expect([...interleavedHeader(c.channel, c.payload.length)]).toEqual(c.bytes.slice(0, 4));
    });
  }

  it('the payload is a view of the input, not a copy', () => {
    const buf = new Uint8Array([0x24, 0, 0, 2, 1, 2, 0x24]);
    const r = expectOk(parseInterleaved(buf));
    expect(r.value.payload.buffer).toBe(buf.buffer);
    expect(r.value.payload.byteOffset).toBe(4);
    expect(r.consumed).toBe(6);
  });

  it('incomplete frames want more', () => {
    expect(parseInterleaved(new Uint8Array([])).kind).toBe('more');
    expect(parseInterleaved(new Uint8Array([0x24, 0])).kind).toBe('more');
    expect(parseInterleaved(new Uint8Array([0x24, 0, 0, 3, 1, 2])).kind).toBe('more');
  });

  it('a frame not starting with $ is an error', () => {
    const r = parseInterleaved(new Uint8Array([0x23, 0, 0, 0]));
    expect(r.kind).toBe('error');
  });

  it('writers refuse what does not fit', () => {
    expect(() => interleavedHeader(256, 0)).toThrow(ProtocolError);
    expect(() => interleavedHeader(-1, 0)).toThrow(ProtocolError);
    expect(() => interleavedHeader(0, 65536)).toThrow(ProtocolError);
    expect(() => writeInterleaved(0, new Uint8Array(65536))).toThrow(ProtocolError);
    expect(writeInterleaved(0, new Uint8Array(65535)).length).toBe(65539);
  });
});

describe('parseIncoming', () => {
  it('tells frames, requests and responses apart', () => {
    const frame = writeInterleaved(2, new Uint8Array([1, 2, 3]));
    const req = Buffer.from('GET_PARAMETER rtsp://h/s RTSP/1.0\r\nCSeq: 3\r\n\r\n');
    const res = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n');
    const all = Buffer.concat([frame, req, res]);
    const a = expectOk(parseIncoming(all));
    expect(a.value.type).toBe('frame');
    const b = expectOk(parseIncoming(all.subarray(a.consumed)));
    expect(b.value.type).toBe('request');
    const c = expectOk(parseIncoming(all.subarray(a.consumed + b.consumed)));
    expect(c.value.type).toBe('response');
    expect(a.consumed + b.consumed + c.consumed).toBe(all.length);
  });

  it('waits while "RTS" could still be a response', () => {
    for (const p of ['', 'R', 'RT', 'RTS', 'RTSP']) expect(parseIncoming(Buffer.from(p)).kind).toBe('more');
    expect(parseIncoming(Buffer.from('RTSX')).kind).toBe('more'); // a request method "RTSX…" so far
  });

  it('skips stray line ends between frames', () => {
    const r = expectOk(parseIncoming(Buffer.concat([Buffer.from('\r\n'), writeInterleaved(0, new Uint8Array([9]))])));
    expect(r.value.type).toBe('frame');
    expect(r.consumed).toBe(7);
    expect(parseIncoming(Buffer.from('\r\n\r\n')).kind).toBe('more');
    expect(parseIncoming(Buffer.from('\r\n'.repeat(2000))).kind).toBe('error');
  });

  // The first 16 KiB an ffmpeg 5.1 publisher sent: OPTIONS, ANNOUNCE, 2×SETUP, RECORD, then RTP/RTCP.
  it('ffmpeg publish stream: requests, then interleaved RTP and RTCP, cut mid-frame', () => {
    let buf: Uint8Array = fixture('ffmpeg-5.1-publish-tcp-stream-head.bin');
    const seen: Incoming[] = [];
    for (;;) {
      const r = parseIncoming(buf);
      if (r.kind !== 'ok') {
        expect(r.kind).toBe('more'); // the capture ends inside a frame
        break;
      }
      seen.push(r.value);
      buf = buf.subarray(r.consumed);
    }
    const methods = seen.flatMap((i) => (i.type === 'request' ? [i.request.method] : []));
    expect(methods).toEqual(['OPTIONS', 'ANNOUNCE', 'SETUP', 'SETUP', 'RECORD']);
    const frames = seen.flatMap((i) => (i.type === 'frame' ? [i.frame] : []));
    expect(frames.length).toBeGreaterThan(10);
    // ffmpeg sends an RTCP sender report (PT 200) on channel 1 before the first RTP packet.
    expect(frames[0]!.channel).toBe(1);
    expect(frames[0]!.payload[1]).toBe(200);
    for (const f of frames) {
      expect([0, 1, 2, 3]).toContain(f.channel);
      expect(f.payload[0]! >> 6).toBe(2); // RTP/RTCP version 2
      if (f.channel === 0) expect(f.payload[1]! & 0x7f).toBe(96); // H.264, PT 96 as announced
      if (f.channel === 2) expect(f.payload[1]! & 0x7f).toBe(97); // Opus, PT 97
      expect(f.payload.length).toBeLessThanOrEqual(1472); // ffmpeg keeps the UDP packet size over TCP too
    }
  });

  it('GStreamer rtspclientsink publish stream: audio (PT 96) on channel 0, video (PT 99) on channel 2', () => {
    let buf: Uint8Array = fixture('gstreamer-1.22-publish-tcp-stream-head.bin');
    const seen: Incoming[] = [];
    for (;;) {
      const r = parseIncoming(buf);
      if (r.kind !== 'ok') {
        expect(r.kind).toBe('more');
        break;
      }
      seen.push(r.value);
      buf = buf.subarray(r.consumed);
    }
    expect(seen.flatMap((i) => (i.type === 'request' ? [i.request.method] : [])).slice(0, 5)).toEqual(['OPTIONS', 'ANNOUNCE', 'SETUP', 'SETUP', 'RECORD']);
    const rtp = seen.flatMap((i) => (i.type === 'frame' && i.frame.channel % 2 === 0 ? [i.frame] : []));
    expect(rtp.length).toBeGreaterThan(5);
    for (const f of rtp) expect(f.payload[1]! & 0x7f).toBe(f.channel === 0 ? 96 : 99);
  });

  it('GStreamer play stream: requests mixed with RTCP receiver reports', () => {
    let buf: Uint8Array = fixture('gstreamer-1.22-play-tcp-stream-head.bin');
    const kinds: string[] = [];
    for (;;) {
      const r = parseIncoming(buf);
      if (r.kind !== 'ok') break;
      const v = r.value;
      kinds.push(v.type === 'request' ? v.request.method : v.type === 'frame' ? `rtcp:${v.frame.channel}:${v.frame.payload[1]}` : 'response');
      buf = buf.subarray(r.consumed);
    }
    expect(buf.length).toBe(0);
    expect(kinds.slice(0, 5)).toEqual(['OPTIONS', 'DESCRIBE', 'SETUP', 'SETUP', 'PLAY']);
    expect(kinds.at(-1)).toBe('TEARDOWN');
    // Receiver reports (PT 201) on the odd channels, between PLAY and TEARDOWN.
    expect(kinds.filter((k) => k.startsWith('rtcp:')).every((k) => /^rtcp:[13]:201$/.test(k))).toBe(true);
    expect(kinds.some((k) => k.startsWith('rtcp:'))).toBe(true);
  });

  it('ffmpeg play stream: a response to our request between its own requests', () => {
    let buf: Uint8Array = fixture('ffmpeg-5.1-play-tcp-stream-head.bin');
    const kinds: string[] = [];
    for (;;) {
      const r = parseIncoming(buf);
      if (r.kind !== 'ok') break;
      kinds.push(r.value.type === 'request' ? r.value.request.method : r.value.type);
      buf = buf.subarray(r.consumed);
    }
    expect(kinds).toEqual(['OPTIONS', 'DESCRIBE', 'SETUP', 'SETUP', 'PLAY', 'response', 'TEARDOWN']);
  });

  it('every split of the ffmpeg publish stream: prefixes give "more" or an earlier complete item', () => {
    const bytes = fixture('ffmpeg-5.1-publish-tcp-stream-head.bin');
    const boundaries = new Set<number>([0]);
    for (let at = 0; ; ) {
      const r = parseIncoming(bytes.subarray(at));
      if (r.kind !== 'ok') break;
      at += r.consumed;
      boundaries.add(at);
    }
    for (let i = 0; i <= bytes.length; i++) {
      const r = parseIncoming(bytes.subarray(0, i));
      expect(r.kind).not.toBe('error');
      if (r.kind === 'ok') expect(boundaries.has(r.consumed) && r.consumed <= i).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

const frameArb = fc.record({ channel: fc.integer({ min: 0, max: 255 }), payload: fc.uint8Array({ maxLength: 1600 }) });
const tokenChar = fc.constantFrom(...'!#$%&\'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz');
const token = fc.string({ unit: tokenChar, minLength: 1, maxLength: 12 });
const value = fc.stringMatching(/^([!-~]([ -~]{0,30}[!-~])?)?$/);
const headers = fc.array(fc.tuple(token, value).filter(([n]) => n.toLowerCase() !== 'content-length'), { maxLength: 6 });
const body = fc.uint8Array({ maxLength: 100 });
const requestArb: fc.Arbitrary<RtspRequest> = fc
  // '$' is a token character, but on a shared connection it means a frame: no method starts with it.
  .record({ method: token.filter((m) => !m.startsWith('$')), uri: fc.stringMatching(/^rtsp:\/\/[a-z]{1,8}\/[!-~]{0,20}$/), headers, body })
  .map((r) => ({ ...r, headers: r.body.length > 0 ? [...r.headers, ['Content-Length', String(r.body.length)] as const] : r.headers }));
const responseArb: fc.Arbitrary<RtspResponse> = fc
  .record({ status: fc.integer({ min: 100, max: 599 }), reason: fc.stringMatching(/^[ -~]{0,20}$/), headers, body })
  .map((r) => ({ ...r, headers: r.body.length > 0 ? [...r.headers, ['Content-Length', String(r.body.length)] as const] : r.headers }));
const item: fc.Arbitrary<Incoming> = fc.oneof(
  frameArb.map((frame) => ({ type: 'frame' as const, frame })),
  requestArb.map((request) => ({ type: 'request' as const, request })),
  responseArb.map((response) => ({ type: 'response' as const, response })),
);

function write(i: Incoming): Buffer {
  if (i.type === 'frame') return writeInterleaved(i.frame.channel, i.frame.payload);
  if (i.type === 'request') return writeRequest(i.request);
  return writeResponse(i.response);
}

function normalise(i: Incoming): unknown {
  return i.type === 'frame' ? { type: 'frame', frame: { channel: i.frame.channel, payload: [...i.frame.payload] } } : i;
}

describe('properties', () => {
  it('any bytes: ok, more or error, never a throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        for (const r of [parseInterleaved(bytes), parseIncoming(bytes)]) {
          expect(['ok', 'more', 'error']).toContain(r.kind);
          if (r.kind === 'ok') expect(r.consumed).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('any bytes after "$" or "RTSP/": never a throw', () => {
    fc.assert(
      fc.property(fc.constantFrom('$', 'RTSP/', 'RTSP/1.0 ', 'OPTIONS * RTSP/1.0\r\n'), fc.uint8Array({ maxLength: 400 }), (prefix, tail) => {
        const bytes = Buffer.concat([Buffer.from(prefix), tail]);
        expect(['ok', 'more', 'error']).toContain(parseIncoming(bytes).kind);
      }),
      { numRuns: 2000 },
    );
  });

  it('parse(write(frame)) equals the frame', () => {
    fc.assert(
      fc.property(frameArb, ({ channel, payload }) => {
        const bytes = writeInterleaved(channel, payload);
        const r = expectOk(parseInterleaved(bytes));
        expect(r.value.channel).toBe(channel);
        expect([...r.value.payload]).toEqual([...payload]);
        expect(r.consumed).toBe(bytes.length);
      }),
    );
  });

  it('a mixed stream parses back item by item, and any split gives "more" or a complete earlier item', () => {
    fc.assert(
      fc.property(fc.array(item, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { minLength: 1, maxLength: 20 }), (items, cuts) => {
        const parts = items.map(write);
        const stream = Buffer.concat(parts);
        const ends: number[] = [];
        let acc = 0;
        for (const p of parts) ends.push((acc += p.length));

        let at = 0;
        const back: unknown[] = [];
        for (const _ of items) {
          const r = expectOk(parseIncoming(stream.subarray(at)));
          back.push(normalise(r.value));
          at += r.consumed;
        }
        expect(at).toBe(stream.length);
        expect(back).toEqual(items.map(normalise));

        for (const cut of cuts) {
          const i = cut % (stream.length + 1);
          const r = parseIncoming(stream.subarray(0, i));
          expect(r.kind).not.toBe('error');
          if (r.kind === 'ok') {
            expect(r.consumed).toBe(ends[0]);
            expect(r.consumed).toBeLessThanOrEqual(i);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
