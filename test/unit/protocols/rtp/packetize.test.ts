import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { aacPayloads, h264Payloads, MAX_RTP_PAYLOAD, splitLengthPrefixed, writeRtpPackets, type Payload } from '../../../../server/protocols/rtp/packetize.ts';
import { parseRtpHeader } from '../../../../server/protocols/rtp/packet.ts';
import { buildSenderReport, ntpTime, parseRtcpCompound, RTCP_SDES, RTCP_SR } from '../../../../server/protocols/rtp/rtcp.ts';

/** RFC 6184 §5.8 reassembly, written independently of the packetizer: single NAL units pass, FU-A fragments join. */
function depacketize(payloads: Uint8Array[]): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let fu: number[] | undefined;
  for (const p of payloads) {
    const type = p[0]! & 0x1f;
    if (type !== 28) {
      expect(fu, 'a single NAL unit inside an unfinished FU-A').toBeUndefined();
      nals.push(p);
      continue;
    }
    const start = (p[1]! & 0x80) !== 0;
    const end = (p[1]! & 0x40) !== 0;
    if (start) {
      expect(fu).toBeUndefined();
      fu = [(p[0]! & 0xe0) | (p[1]! & 0x1f)];
    }
    expect(fu, 'an FU-A fragment without a start').toBeDefined();
    fu!.push(...p.subarray(2));
    if (end) {
      nals.push(new Uint8Array(fu!));
      fu = undefined;
    }
  }
  expect(fu).toBeUndefined();
  return nals;
}

/** A described payload's bytes: its header (big-endian in the low bytes of `head`), then its body. */
function payloadBytes(p: Payload): Uint8Array {
  const head = [0, 0, 0, 0].map((_, i) => (p.head >>> (24 - 8 * i)) & 0xff).slice(4 - p.headSize);
  return Uint8Array.from([...head, ...p.body]);
}
const bytesOf = (payloads: Payload[]): Uint8Array[] => payloads.map(payloadBytes);

const nal = (type: number, size: number, fill = 0xab): Uint8Array => {
  const n = new Uint8Array(size).fill(fill);
  n[0] = 0x60 | type; // NRI 3
  return n;
};

describe('h264Payloads (RFC 6184 packetization-mode 1)', () => {
  it('sends a NAL unit that fits as a single NAL unit packet, unchanged', () => {
    const sps = nal(7, 20);
    const idr = nal(5, MAX_RTP_PAYLOAD);
    const out = h264Payloads([sps, idr]);
    expect(bytesOf(out)).toEqual([sps, idr]);
    // Described, not copied: the bodies are the NAL units themselves.
    expect(out.map((p) => p.body)).toEqual([sps, idr]);
    expect(out[1]!.body.buffer).toBe(idr.buffer);
  });

  it('splits a larger one into FU-A fragments: indicator keeps F and NRI, header has S on the first and E on the last', () => {
    const big = nal(5, 3000);
    const out = bytesOf(h264Payloads([big], 1000));
    expect(out.length).toBe(Math.ceil((3000 - 1) / 998));
    for (const [i, p] of out.entries()) {
      expect(p.length).toBeLessThanOrEqual(1000);
      expect(p[0]).toBe(0x60 | 28);
      expect(p[1]! & 0x1f).toBe(5);
      expect((p[1]! & 0x80) !== 0).toBe(i === 0);
      expect((p[1]! & 0x40) !== 0).toBe(i === out.length - 1);
    }
    expect(depacketize(out)).toEqual([big]);
  });

  it('round-trips any access unit through an independent depacketizer (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 23 }), fc.uint8Array({ minLength: 1, maxLength: 5000 })), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 3, max: 1500 }),
        (units, max) => {
          const nals = units.map(([type, body]) => Uint8Array.of(0x40 | type, ...body));
          const out = bytesOf(h264Payloads(nals, max));
          for (const p of out) expect(p.length).toBeLessThanOrEqual(max);
          expect(depacketize(out)).toEqual(nals);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('splitLengthPrefixed takes an avc1 sample apart, for 1, 2 and 4-byte lengths', () => {
    expect(splitLengthPrefixed(Uint8Array.of(0, 0, 0, 2, 9, 9, 0, 0, 0, 1, 7), 4)).toEqual([Uint8Array.of(9, 9), Uint8Array.of(7)]);
    expect(splitLengthPrefixed(Uint8Array.of(0, 1, 5, 0, 2, 6, 6), 2)).toEqual([Uint8Array.of(5), Uint8Array.of(6, 6)]);
    expect(splitLengthPrefixed(Uint8Array.of(1, 5, 2, 6, 6), 1)).toEqual([Uint8Array.of(5), Uint8Array.of(6, 6)]);
    // A length past the end stops the walk rather than reading beyond the sample.
    expect(splitLengthPrefixed(Uint8Array.of(0, 0, 0, 1, 5, 0, 0, 0, 9, 1), 4)).toEqual([Uint8Array.of(5)]);
  });
});

describe('aacPayloads (RFC 3640 AAC-hbr)', () => {
  it('one AU: AU-headers-length 16, then AU-size in 13 bits and index 0, then the AU', () => {
    const au = new Uint8Array(371).fill(1);
    const [p, more] = bytesOf(aacPayloads(au));
    expect(more).toBeUndefined();
    expect([...p!.subarray(0, 4)]).toEqual([0, 16, 371 >> 5, (371 & 0x1f) << 3]);
    expect(p!.subarray(4)).toEqual(au);
  });

  it('an AU over the payload size goes in fragments, each with the whole AU size in its header', () => {
    const au = Uint8Array.from({ length: 2500 }, (_, i) => i & 0xff);
    const out = bytesOf(aacPayloads(au, 1000));
    expect(out).toHaveLength(3);
    for (const p of out) {
      expect(p.length).toBeLessThanOrEqual(1000);
      expect(((p[2]! << 5) | (p[3]! >> 3))).toBe(2500);
    }
    expect(Buffer.concat(out.map((p) => p.subarray(4)))).toEqual(Buffer.from(au));
  });

  it('an AU whose size does not fit 13 bits is not sent', () => {
    expect(aacPayloads(new Uint8Array(8192))).toEqual([]);
  });
});

describe('writeRtpPackets, and the sender reports the relay feed builds', () => {
  it('writes RTP v2 headers the parser reads back: consecutive sequence numbers (wrapping), one timestamp, marker on the last', () => {
    const payloads = bytesOf(h264Payloads([nal(7, 20), nal(5, 3000)], 1000)).map((b): Payload => ({ head: 0, headSize: 0, body: b }));
    const packets = writeRtpPackets(payloads, { payloadType: 96, ssrc: 0xdeadbeef, seq: 0xfffe, timestamp: 0x1_0000_0005, markLast: true });
    expect(packets).toHaveLength(payloads.length);
    packets.forEach((p, i) => {
      const h = parseRtpHeader(p)!;
      expect(h).toMatchObject({ payloadType: 96, sequenceNumber: (0xfffe + i) & 0xffff, timestamp: 5, ssrc: 0xdeadbeef, payloadOffset: 12, marker: i === packets.length - 1 });
      expect(p.subarray(12)).toEqual(payloads[i]!.body);
    });
    const none = writeRtpPackets(payloads.slice(0, 1), { payloadType: 97, ssrc: 1, seq: 0, timestamp: 0, markLast: false });
    expect(parseRtpHeader(none[0]!)?.marker).toBe(false);
  });

  it('writes payload headers from their description: FU-A indicator and header, the AAC AU-header section', () => {
    const big = nal(5, 3000);
    const fu = h264Payloads([big], 1000);
    const packets = writeRtpPackets(fu, { payloadType: 96, ssrc: 1, seq: 0, timestamp: 0, markLast: true });
    expect(depacketize(packets.map((p) => p.subarray(12)))).toEqual([big]);
    const au = new Uint8Array(371).fill(3);
    const [aac] = writeRtpPackets(aacPayloads(au), { payloadType: 97, ssrc: 1, seq: 0, timestamp: 0, markLast: true });
    expect([...aac!.subarray(12, 16)]).toEqual([0, 16, 371 >> 5, (371 & 0x1f) << 3]);
    expect(aac!.subarray(16)).toEqual(au);
  });

  it('lays the packets out in one buffer, each behind `headroom` spare bytes (room for an interleaved header)', () => {
    const payloads = h264Payloads([nal(1, 2500)], 1000);
    const packets = writeRtpPackets(payloads, { payloadType: 96, ssrc: 1, seq: 0, timestamp: 0, markLast: true }, 4);
    expect(packets.length).toBeGreaterThan(1);
    expect(packets[0]!.byteOffset).toBeGreaterThanOrEqual(4);
    for (let i = 1; i < packets.length; i++) {
      expect(packets[i]!.buffer).toBe(packets[0]!.buffer);
      expect(packets[i]!.byteOffset).toBe(packets[i - 1]!.byteOffset + packets[i - 1]!.byteLength + 4);
    }
  });

  it('writes an SR (NTP time of the given wall clock) and an SDES CNAME, as one compound packet', () => {
    const sr = buildSenderReport({ ssrc: 0x01020304, ...ntpTime(1_700_000_000_500), rtpTimestamp: 90_000, packetCount: 7, octetCount: 7000 }, 'relaycast/cam');
    expect(sr.length % 4).toBe(0);
    const parts = parseRtcpCompound(sr);
    expect(parts?.map((p) => p.type)).toEqual([RTCP_SR, RTCP_SDES]);
    const v = new DataView(sr.buffer, sr.byteOffset);
    expect(v.getUint32(4)).toBe(0x01020304);
    expect(v.getUint32(8)).toBe(1_700_000_000 + 2_208_988_800); // seconds since 1900
    expect(v.getUint32(12)).toBe(0x80000000); // half a second
    expect([v.getUint32(16), v.getUint32(20), v.getUint32(24)]).toEqual([90_000, 7, 7000]);
    // SDES: the same SSRC, then CNAME (1), its length and text.
    expect(v.getUint32(32)).toBe(0x01020304);
    expect(sr[36]).toBe(1);
    expect(Buffer.from(sr.subarray(38, 38 + sr[37]!)).toString()).toBe('relaycast/cam');
  });
});
