import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildReceiverReport,
  buildSenderReport,
  findSenderReport,
  parseRtcpCompound,
  rewriteSenderReport,
  type SenderReport,
} from '../../../../server/protocols/rtp/rtcp.ts';

// Hand-made RTCP packets (RFC 3550 §6.4–6.6), written byte by byte independently of the code under test.
const u32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const ascii = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

function rtcp(type: number, count: number, body: number[], padding = 0): number[] {
  const padded = [...body];
  for (let i = 1; i < padding; i++) padded.push(0);
  if (padding > 0) padded.push(padding);
  if (padded.length % 4 !== 0) throw new Error('test bug: RTCP body must be 32-bit aligned');
  const words = padded.length / 4; // (4 + body) / 4 - 1
  return [0x80 | (padding > 0 ? 0x20 : 0) | count, type, words >> 8, words & 0xff, ...padded];
}

const reportBlock = (ssrc: number): number[] => [...u32(ssrc), 0x01, 0, 0, 2, ...u32(1000), ...u32(3), ...u32(0), ...u32(0)];

const SR_INFO: SenderReport = {
  ssrc: 0xaabbccdd,
  ntpSeconds: 0xeeafd512,
  ntpFraction: 0xcb020c49,
  rtpTimestamp: 0x5cac5eb3,
  packetCount: 101,
  octetCount: 92088,
};
function sr(info: SenderReport = SR_INFO, blocks: number[][] = [], extension: number[] = []): number[] {
  return rtcp(200, blocks.length, [
    ...u32(info.ssrc),
    ...u32(info.ntpSeconds),
    ...u32(info.ntpFraction),
    ...u32(info.rtpTimestamp),
    ...u32(info.packetCount),
    ...u32(info.octetCount),
    ...blocks.flat(),
    ...extension,
  ]);
}
const rr = (ssrc: number, blocks: number[][] = []): number[] => rtcp(201, blocks.length, [...u32(ssrc), ...blocks.flat()]);

/** One SDES chunk: SSRC, items, a null terminator and null padding to 32 bits (§6.5). */
function chunk(ssrc: number, items: Array<[number, string]>): number[] {
  const out = u32(ssrc);
  for (const [type, text] of items) out.push(type, text.length, ...ascii(text));
  out.push(0);
  while (out.length % 4 !== 0) out.push(0);
  return out;
}
const sdes = (chunks: number[][], padding = 0): number[] => rtcp(202, chunks.length, chunks.flat(), padding);
const bye = (ssrc: number): number[] => rtcp(203, 1, u32(ssrc));
const app = (ssrc: number): number[] => rtcp(204, 0, [...u32(ssrc), ...ascii('TEST'), 1, 2, 3, 4]);
const pli = (sender: number, media: number): number[] => rtcp(206, 1, [...u32(sender), ...u32(media)]);

const bytes = (...packets: number[][]): Uint8Array => new Uint8Array(packets.flat());

describe('parseRtcpCompound', () => {
  it('walks SR + SDES + BYE (what ffmpeg sends at the end)', () => {
    const buf = bytes(sr(), sdes([chunk(SR_INFO.ssrc, [[1, 'relaycast-fixture']])]), bye(SR_INFO.ssrc));
    expect(parseRtcpCompound(buf)).toEqual([
      { type: 200, count: 0, offset: 0, length: 28 },
      { type: 202, count: 1, offset: 28, length: 28 },
      { type: 203, count: 1, offset: 56, length: 8 },
    ]);
  });

  it('walks RR with report blocks + SDES + APP + PLI', () => {
    const buf = bytes(rr(1, [reportBlock(2), reportBlock(3)]), sdes([chunk(1, [[1, 'a']])]), app(1), pli(1, 2));
    expect(parseRtcpCompound(buf)?.map((p) => [p.type, p.count, p.length])).toEqual([
      [201, 2, 56],
      [202, 1, 12],
      [204, 0, 16],
      [206, 1, 12],
    ]);
  });

  it('accepts a lone PLI (RFC 5506 reduced-size RTCP)', () => {
    expect(parseRtcpCompound(bytes(pli(1, 2)))).toEqual([{ type: 206, count: 1, offset: 0, length: 12 }]);
  });

  it('accepts padding on the last packet and counts it in its length', () => {
    const buf = bytes(sr(), sdes([chunk(1, [[1, 'x']])], 8));
    expect(parseRtcpCompound(buf)?.[1]).toEqual({ type: 202, count: 1, offset: 28, length: 20 });
  });

  const malformed: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['three bytes', new Uint8Array([0x80, 200, 0])],
    ['version 1', Object.assign(bytes(sr()), { 0: 0x40 })],
    ['version 2 then version 0', bytes(sr(), [0x00, 202, 0, 0])],
    ['second octet 96 (an RTP packet)', bytes([0x80, 96, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0])],
    ['second octet 224', bytes([0x80, 224, 0, 0])],
    ['length past the end', bytes(sr()).subarray(0, 24)],
    ['trailing bytes after the last packet', bytes(sr(), [0x80])],
    ['padding on a packet that is not last', bytes(sdes([chunk(1, [[1, 'x']])], 4), sr())],
    ['padding count 0', (() => {
      const b = bytes(sdes([chunk(1, [[1, 'x']])], 4));
      b[b.length - 1] = 0;
      return b;
    })()],
    ['padding longer than the body', (() => {
      const b = bytes(sdes([chunk(1, [[1, 'x']])], 4));
      b[b.length - 1] = 20;
      return b;
    })()],
    ['SR too short for its sender info', bytes(rtcp(200, 0, u32(1)))],
    ['SR claiming a report block it lacks', Object.assign(bytes(sr()), { 0: 0x81 })],
    ['RR claiming two report blocks, carrying one', Object.assign(bytes(rr(1, [reportBlock(2)])), { 0: 0x82 })],
  ];
  it.each(malformed)('undefined for %s', (_name, buf) => {
    expect(parseRtcpCompound(buf)).toBeUndefined();
  });
});

describe('findSenderReport', () => {
  it('reads every field of the SR', () => {
    expect(findSenderReport(bytes(sr(), sdes([chunk(SR_INFO.ssrc, [[1, 'c']])])))).toEqual(SR_INFO);
  });

  it('finds an SR that is not first, and reads the first one', () => {
    const second = { ...SR_INFO, ssrc: 7 };
    expect(findSenderReport(bytes(rr(5), sr(), sr(second)))).toEqual(SR_INFO);
  });

  it('reads an SR with report blocks', () => {
    expect(findSenderReport(bytes(sr(SR_INFO, [reportBlock(9)])))).toEqual(SR_INFO);
  });

  it.each([
    ['RR only', bytes(rr(1), sdes([chunk(1, [[1, 'c']])]))],
    ['malformed', bytes(sr()).subarray(0, 20)],
    ['random junk', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],
  ])('undefined for %s', (_name, buf) => {
    expect(findSenderReport(buf)).toBeUndefined();
  });
});

describe('rewriteSenderReport', () => {
  const NEW_SSRC = 0x01020304;
  const plus1000 = (ts: number): number => ts + 1000;

  it('keeps SR (RC=0, blocks and extension dropped) and SDES, replacing SSRCs and mapping the timestamp', () => {
    const input = bytes(
      sr(SR_INFO, [reportBlock(0x55), reportBlock(0x66)], [0xde, 0xad, 0xbe, 0xef]),
      sdes([chunk(SR_INFO.ssrc, [[1, 'user@host'], [6, 'GStreamer']]), chunk(0x77, [[1, 'other']])]),
      bye(SR_INFO.ssrc),
      app(SR_INFO.ssrc),
    );
    const out = rewriteSenderReport(input, NEW_SSRC, plus1000)!;
    expect(out).toBeDefined();
    const want = bytes(
      sr({ ...SR_INFO, ssrc: NEW_SSRC, rtpTimestamp: SR_INFO.rtpTimestamp + 1000 }),
      sdes([chunk(NEW_SSRC, [[1, 'user@host'], [6, 'GStreamer']]), chunk(NEW_SSRC, [[1, 'other']])]),
    );
    expect(Array.from(out)).toEqual(Array.from(want));
    expect(parseRtcpCompound(out)?.map((p) => p.type)).toEqual([200, 202]);
    expect(findSenderReport(out)).toEqual({ ...SR_INFO, ssrc: NEW_SSRC, rtpTimestamp: SR_INFO.rtpTimestamp + 1000 });
  });

  it('does not modify its input', () => {
    const input = bytes(sr(), sdes([chunk(SR_INFO.ssrc, [[1, 'c']])]));
    const copy = input.slice();
    rewriteSenderReport(input, NEW_SSRC, plus1000);
    expect(input).toEqual(copy);
  });

  it('wraps the mapped timestamp modulo 2^32', () => {
    const out = rewriteSenderReport(bytes(sr({ ...SR_INFO, rtpTimestamp: 0xfffffff0 })), NEW_SSRC, (ts) => ts + 0x20)!;
    expect(findSenderReport(out)?.rtpTimestamp).toBe(0x10);
  });

  it('passes the SR timestamp to mapTimestamp', () => {
    const seen: number[] = [];
    rewriteSenderReport(bytes(sr()), NEW_SSRC, (ts) => (seen.push(ts), ts));
    expect(seen).toEqual([SR_INFO.rtpTimestamp]);
  });

  it('puts the SR first even when an RR came before it, and keeps only the first SR', () => {
    const out = rewriteSenderReport(
      bytes(rr(9, [reportBlock(1)]), sdes([chunk(9, [[1, 'a']])]), sr(), sr({ ...SR_INFO, ssrc: 3 })),
      NEW_SSRC,
      plus1000,
    )!;
    expect(parseRtcpCompound(out)?.map((p) => p.type)).toEqual([200, 202]);
  });

  it('SR alone (no SDES) gives a 28-byte SR', () => {
    const out = rewriteSenderReport(bytes(sr(SR_INFO, [reportBlock(1)])), NEW_SSRC, plus1000)!;
    expect(out.length).toBe(28);
    expect(out[0]).toBe(0x80);
  });

  it('removes padding from a trailing SDES', () => {
    const out = rewriteSenderReport(bytes(sr(), sdes([chunk(SR_INFO.ssrc, [[1, 'abc']])], 12)), NEW_SSRC, plus1000)!;
    expect(Array.from(out)).toEqual(
      Array.from(bytes(sr({ ...SR_INFO, ssrc: NEW_SSRC, rtpTimestamp: SR_INFO.rtpTimestamp + 1000 }), sdes([chunk(NEW_SSRC, [[1, 'abc']])]))),
    );
  });

  it('handles an item list ending exactly on a 32-bit boundary (a whole null word follows)', () => {
    // SSRC(4) + item(2 + 2) = 8 bytes, so the terminator takes a full extra word.
    const c = chunk(SR_INFO.ssrc, [[1, 'ab']]);
    expect(c.length).toBe(12);
    const out = rewriteSenderReport(bytes(sr(), sdes([c, chunk(5, [[1, 'x']])])), NEW_SSRC, plus1000)!;
    expect(Array.from(out.subarray(28))).toEqual(sdes([chunk(NEW_SSRC, [[1, 'ab']]), chunk(NEW_SSRC, [[1, 'x']])]));
  });

  it('drops an SDES whose chunks overrun it, keeping the SR', () => {
    const broken = sdes([chunk(1, [[1, 'abcdef']])]);
    broken[9] = 200; // CNAME length runs past the packet
    const out = rewriteSenderReport(bytes(sr(), broken), NEW_SSRC, plus1000)!;
    expect(out.length).toBe(28);
  });

  it('drops an SDES that claims more chunks than it has', () => {
    const broken = sdes([chunk(1, [[1, 'abc']])]);
    broken[0] = 0x82;
    expect(rewriteSenderReport(bytes(sr(), broken), NEW_SSRC, plus1000)!.length).toBe(28);
  });

  it('keeps an SDES with zero chunks', () => {
    const out = rewriteSenderReport(bytes(sr(), sdes([])), NEW_SSRC, plus1000)!;
    expect(Array.from(out.subarray(28))).toEqual([0x80, 202, 0, 0]);
  });

  it.each([
    ['no SR', bytes(rr(1), sdes([chunk(1, [[1, 'c']])]))],
    ['malformed compound', bytes(sr(), [0x80])],
    ['empty', new Uint8Array(0)],
  ])('undefined for %s', (_name, buf) => {
    expect(rewriteSenderReport(buf, NEW_SSRC, plus1000)).toBeUndefined();
  });

  it('never throws on random bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 128 }), (buf) => {
        parseRtcpCompound(buf);
        findSenderReport(buf);
        rewriteSenderReport(buf, NEW_SSRC, plus1000);
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on an SR followed by a random SDES body (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 31 }), fc.array(fc.nat({ max: 255 }), { maxLength: 15 }), (count, words) => {
        const body = words.flatMap((w) => [w, w & 3, 0, w >> 4]); // plenty of zeros and small lengths
        const out = rewriteSenderReport(bytes(sr(), rtcp(202, count, body)), NEW_SSRC, plus1000);
        expect(out).toBeDefined();
        expect(parseRtcpCompound(out!)).toBeDefined();
      }),
      { numRuns: 5000 },
    );
  });

  it('output of any well-formed SR + SDES is well formed and carries only the new SSRC (fast-check)', () => {
    const itemArb = fc.tuple(fc.integer({ min: 1, max: 8 }), fc.string({ unit: fc.constantFrom(...'abcxyz@.-'), maxLength: 40 }));
    const chunkArb = fc.tuple(fc.nat({ max: 0xffffffff }), fc.array(itemArb, { maxLength: 3 }));
    fc.assert(
      fc.property(
        fc.array(chunkArb, { maxLength: 4 }),
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 3 }),
        fc.nat({ max: 0xffffffff }),
        (chunks, blocks, ssrc) => {
          const input = bytes(sr(SR_INFO, blocks.map(reportBlock)), sdes(chunks.map(([s, items]) => chunk(s, items))));
          const out = rewriteSenderReport(input, ssrc, (ts) => ts)!;
          expect(Array.from(out)).toEqual(
            Array.from(bytes(sr({ ...SR_INFO, ssrc }), sdes(chunks.map(([, items]) => chunk(ssrc, items))))),
          );
        },
      ),
    );
  });
});

describe('buildReceiverReport', () => {
  it('is an empty RR + SDES CNAME', () => {
    const out = buildReceiverReport({ ssrc: 0xdeadbeef, cname: 'relaycast' });
    expect(Array.from(out)).toEqual(Array.from(bytes(rr(0xdeadbeef), sdes([chunk(0xdeadbeef, [[1, 'relaycast']])]))));
    expect(parseRtcpCompound(out)).toEqual([
      { type: 201, count: 0, offset: 0, length: 8 },
      { type: 202, count: 1, offset: 8, length: 20 },
    ]);
  });

  it('matches the hand-made bytes for every CNAME length 0..12 (32-bit alignment) (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'abc@1.'), maxLength: 12 }), fc.nat({ max: 0xffffffff }), (cname, ssrc) => {
        const out = buildReceiverReport({ ssrc, cname });
        expect(Array.from(out)).toEqual(Array.from(bytes(rr(ssrc), sdes([chunk(ssrc, [[1, cname]])]))));
      }),
    );
  });

  it('encodes the CNAME as UTF-8', () => {
    const out = buildReceiverReport({ ssrc: 1, cname: 'é' });
    expect(Array.from(out.subarray(16, 20))).toEqual([1, 2, 0xc3, 0xa9]);
    expect(parseRtcpCompound(out)).toBeDefined();
  });

  it('accepts a 255-byte CNAME and rejects 256', () => {
    expect(parseRtcpCompound(buildReceiverReport({ ssrc: 1, cname: 'x'.repeat(255) }))).toBeDefined();
    expect(() => buildReceiverReport({ ssrc: 1, cname: 'x'.repeat(256) })).toThrow(RangeError);
  });
});

describe('buildSenderReport', () => {
  it('round-trips through findSenderReport and rewrites cleanly', () => {
    const out = buildSenderReport(SR_INFO, 'relaycast');
    expect(findSenderReport(out)).toEqual(SR_INFO);
    expect(Array.from(out)).toEqual(Array.from(bytes(sr(), sdes([chunk(SR_INFO.ssrc, [[1, 'relaycast']])]))));
  });
});
