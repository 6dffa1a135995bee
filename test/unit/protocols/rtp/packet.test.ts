import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  isRtcpPacketType,
  parseRtpHeader,
  parseRtpHeaderInto,
  rtpPayload,
  seqDelta,
  setMarker,
  setPayloadType,
  setSequenceNumber,
  setSsrc,
  setTimestamp,
  type RtpHeader,
} from '../../../../server/protocols/rtp/packet.ts';

interface Build {
  marker?: boolean;
  payloadType?: number;
  sequenceNumber?: number;
  timestamp?: number;
  ssrc?: number;
  csrcs?: number[];
  /** Header extension words (RFC 3550 §5.3.1), after the 4-byte extension header. */
  extension?: number[][] | undefined;
  payload?: number[];
  padding?: number;
}

/** Writes an RTP packet byte by byte, independently of the code under test. */
function build(b: Build = {}): Uint8Array {
  const bytes: number[] = [];
  const u32 = (v: number) => bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  const csrcs = b.csrcs ?? [];
  const padding = b.padding ?? 0;
  bytes.push(0x80 | (padding > 0 ? 0x20 : 0) | (b.extension ? 0x10 : 0) | csrcs.length);
  bytes.push((b.marker ? 0x80 : 0) | (b.payloadType ?? 96));
  const seq = b.sequenceNumber ?? 1;
  bytes.push(seq >> 8, seq & 0xff);
  u32(b.timestamp ?? 1000);
  u32(b.ssrc ?? 0x11223344);
  csrcs.forEach(u32);
  if (b.extension) {
    bytes.push(0xbe, 0xde, 0, b.extension.length);
    for (const word of b.extension) bytes.push(...word);
  }
  bytes.push(...(b.payload ?? [0x65, 1, 2, 3]));
  for (let i = 1; i < padding; i++) bytes.push(0);
  if (padding > 0) bytes.push(padding);
  return new Uint8Array(bytes);
}

const valid: Array<[string, Build, Partial<RtpHeader> & { payload: number[] }]> = [
  ['minimal', {}, { payloadOffset: 12, payloadLength: 4, payload: [0x65, 1, 2, 3], marker: false, payloadType: 96 }],
  [
    'marker, PT 111, max values',
    { marker: true, payloadType: 111, sequenceNumber: 0xffff, timestamp: 0xffffffff, ssrc: 0xffffffff },
    { marker: true, payloadType: 111, sequenceNumber: 0xffff, timestamp: 0xffffffff, ssrc: 0xffffffff, payload: [0x65, 1, 2, 3] },
  ],
  ['two CSRCs', { csrcs: [1, 2] }, { payloadOffset: 20, payloadLength: 4, payload: [0x65, 1, 2, 3] }],
  ['15 CSRCs', { csrcs: Array.from({ length: 15 }, (_, i) => i) }, { payloadOffset: 72, payloadLength: 4, payload: [0x65, 1, 2, 3] }],
  [
    'one-word extension',
    { extension: [[0x10, 0xaa, 0, 0]] },
    { payloadOffset: 20, payloadLength: 4, payload: [0x65, 1, 2, 3] },
  ],
  ['empty extension', { extension: [] }, { payloadOffset: 16, payloadLength: 4, payload: [0x65, 1, 2, 3] }],
  ['padding 4', { padding: 4 }, { payloadOffset: 12, payloadLength: 4, payload: [0x65, 1, 2, 3] }],
  ['padding 1 (count byte only)', { padding: 1 }, { payloadOffset: 12, payloadLength: 4, payload: [0x65, 1, 2, 3] }],
  ['padding is the whole payload', { payload: [], padding: 8 }, { payloadOffset: 12, payloadLength: 0, payload: [] }],
  [
    'CSRC + extension + padding',
    { csrcs: [7], extension: [[1, 2, 3, 4], [5, 6, 7, 8]], payload: [0x7c, 0x85, 9], padding: 3 },
    { payloadOffset: 12 + 4 + 4 + 8, payloadLength: 3, payload: [0x7c, 0x85, 9] },
  ],
  ['empty payload', { payload: [] }, { payloadOffset: 12, payloadLength: 0, payload: [] }],
];

describe('parseRtpHeader', () => {
  it.each(valid)('%s', (_name, spec, want) => {
    const packet = build(spec);
    const h = parseRtpHeader(packet);
    expect(h).toBeDefined();
    const { payload, ...fields } = want;
    expect(h).toMatchObject(fields);
    expect(Array.from(rtpPayload(packet, h!))).toEqual(payload);
  });

  const invalid: Array<[string, Uint8Array]> = [
    ['empty', new Uint8Array(0)],
    ['11 bytes', build().subarray(0, 11)],
    ['version 0', Object.assign(build(), { 0: 0x00 })],
    ['version 1', Object.assign(build(), { 0: 0x40 })],
    ['version 3', Object.assign(build(), { 0: 0xc0 })],
    ['CSRC count past the end', Object.assign(build({ payload: [1, 2, 3] }), { 0: 0x81 })],
    ['15 CSRCs in a bare 12-byte header', Object.assign(build({ payload: [] }), { 0: 0x8f })],
    ['extension flag without extension header', Object.assign(build({ payload: [1, 2] }), { 0: 0x90 })],
    ['extension length past the end', (() => {
      const p = build({ extension: [[1, 2, 3, 4]], payload: [] });
      p[15] = 2;
      return p;
    })()],
    ['padding count 0', (() => {
      const p = build({ padding: 2 });
      p[p.length - 1] = 0;
      return p;
    })()],
    ['padding longer than the payload', (() => {
      const p = build({ padding: 2, payload: [1] });
      p[p.length - 1] = 4;
      return p;
    })()],
    ['padding eats into the CSRCs', (() => {
      const p = build({ csrcs: [1], payload: [], padding: 2 });
      p[p.length - 1] = 6;
      return p;
    })()],
    ['padding flag on a bare 12-byte header', Object.assign(build({ payload: [] }), { 0: 0xa0 })],
  ];
  it.each(invalid)('rejects %s', (_name, packet) => {
    expect(parseRtpHeader(packet)).toBeUndefined();
  });

  it('parseRtpHeaderInto reuses the caller object', () => {
    const out: RtpHeader = { marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, payloadOffset: 0, payloadLength: 0 };
    expect(parseRtpHeaderInto(build({ sequenceNumber: 5 }), out)).toBe(true);
    expect(out.sequenceNumber).toBe(5);
    expect(parseRtpHeaderInto(build({ sequenceNumber: 6, csrcs: [1] }), out)).toBe(true);
    expect(out).toMatchObject({ sequenceNumber: 6, payloadOffset: 16 });
    expect(parseRtpHeaderInto(new Uint8Array(3), out)).toBe(false);
  });

  it('rtpPayload is a view, not a copy', () => {
    const packet = build();
    const payload = rtpPayload(packet, parseRtpHeader(packet)!);
    payload[0] = 0x41;
    expect(packet[12]).toBe(0x41);
  });

  it('round-trips any header it is given (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.record({
          marker: fc.boolean(),
          payloadType: fc.integer({ min: 0, max: 127 }),
          sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
          timestamp: fc.nat({ max: 0xffffffff }),
          ssrc: fc.nat({ max: 0xffffffff }),
          csrcs: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 15 }),
          extension: fc.option(fc.array(fc.array(fc.nat({ max: 255 }), { minLength: 4, maxLength: 4 }), { maxLength: 5 }), {
            nil: undefined,
          }),
          payload: fc.array(fc.nat({ max: 255 }), { maxLength: 64 }),
          padding: fc.integer({ min: 0, max: 255 }),
        }),
        (spec) => {
          const packet = build(spec);
          const h = parseRtpHeader(packet);
          expect(h).toEqual({
            marker: spec.marker,
            payloadType: spec.payloadType,
            sequenceNumber: spec.sequenceNumber,
            timestamp: spec.timestamp,
            ssrc: spec.ssrc,
            payloadOffset: 12 + spec.csrcs.length * 4 + (spec.extension ? 4 + spec.extension.length * 4 : 0),
            payloadLength: spec.payload.length,
          });
          expect(Array.from(rtpPayload(packet, h!))).toEqual(spec.payload);
        },
      ),
    );
  });

  it('never throws on random bytes, and what it accepts stays inside the packet (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const h = parseRtpHeader(bytes);
        if (h !== undefined) {
          expect(bytes[0]! >> 6).toBe(2);
          expect(h.payloadOffset).toBeGreaterThanOrEqual(12);
          expect(h.payloadLength).toBeGreaterThanOrEqual(0);
          expect(h.payloadOffset + h.payloadLength).toBeLessThanOrEqual(bytes.length);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('never throws on random bytes with a version-2 first byte (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0x80, max: 0xbf }), fc.uint8Array({ maxLength: 80 }), (b0, rest) => {
        const bytes = new Uint8Array([b0, ...rest]);
        const h = parseRtpHeader(bytes);
        if (h !== undefined) expect(h.payloadOffset + h.payloadLength).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('in-place rewriters', () => {
  const packetArb = fc.record({
    marker: fc.boolean(),
    payloadType: fc.integer({ min: 0, max: 127 }),
    sequenceNumber: fc.integer({ min: 0, max: 0xffff }),
    timestamp: fc.nat({ max: 0xffffffff }),
    ssrc: fc.nat({ max: 0xffffffff }),
    csrcs: fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 3 }),
    payload: fc.array(fc.nat({ max: 255 }), { maxLength: 16 }),
    padding: fc.integer({ min: 0, max: 8 }),
  });

  /** Applies `rewrite` and checks that only bytes [from, to) changed and the parsed field took `want`. */
  function onlyChanges(
    spec: Build,
    rewrite: (p: Uint8Array) => void,
    from: number,
    to: number,
    field: keyof RtpHeader,
    want: number | boolean,
  ): void {
    const before = build(spec);
    const after = before.slice();
    rewrite(after);
    for (let i = 0; i < before.length; i++) {
      if (i < from || i >= to) expect(after[i], `byte ${i}`).toBe(before[i]);
    }
    const hb = parseRtpHeader(before)!;
    const ha = parseRtpHeader(after)!;
    expect(ha).toEqual({ ...hb, [field]: want });
  }

  it('setSequenceNumber changes only bytes 2–3', () => {
    fc.assert(
      fc.property(packetArb, fc.integer({ min: 0, max: 0xffff }), (spec, seq) =>
        onlyChanges(spec, (p) => setSequenceNumber(p, seq), 2, 4, 'sequenceNumber', seq),
      ),
    );
  });

  it('setSequenceNumber wraps modulo 2^16', () => {
    const p = build();
    setSequenceNumber(p, 0x10005);
    expect(parseRtpHeader(p)!.sequenceNumber).toBe(5);
    setSequenceNumber(p, -1);
    expect(parseRtpHeader(p)!.sequenceNumber).toBe(0xffff);
  });

  it('setTimestamp changes only bytes 4–7 and wraps modulo 2^32', () => {
    fc.assert(
      fc.property(packetArb, fc.integer({ min: -(2 ** 33), max: 2 ** 34 }), (spec, ts) =>
        onlyChanges(spec, (p) => setTimestamp(p, ts), 4, 8, 'timestamp', ts >>> 0),
      ),
    );
    const p = build({ timestamp: 0xfffffff0 });
    setTimestamp(p, 0xfffffff0 + 0x20);
    expect(parseRtpHeader(p)!.timestamp).toBe(0x10);
  });

  it('setSsrc changes only bytes 8–11', () => {
    fc.assert(
      fc.property(packetArb, fc.nat({ max: 0xffffffff }), (spec, ssrc) =>
        onlyChanges(spec, (p) => setSsrc(p, ssrc), 8, 12, 'ssrc', ssrc),
      ),
    );
  });

  it('setMarker and setPayloadType change only their bits of byte 1', () => {
    fc.assert(
      fc.property(packetArb, fc.boolean(), fc.integer({ min: 0, max: 127 }), (spec, marker, pt) => {
        onlyChanges(spec, (p) => setMarker(p, marker), 1, 2, 'marker', marker);
        onlyChanges(spec, (p) => setPayloadType(p, pt), 1, 2, 'payloadType', pt);
      }),
    );
  });
});

describe('isRtcpPacketType (RFC 5761 §4 demultiplexing)', () => {
  it.each([
    [200, true, 'SR'],
    [201, true, 'RR'],
    [202, true, 'SDES'],
    [203, true, 'BYE'],
    [204, true, 'APP'],
    [205, true, 'RTPFB (NACK)'],
    [206, true, 'PSFB (PLI/FIR)'],
    [207, true, 'XR'],
    [192, true, 'lowest of the RTCP range'],
    [223, true, 'highest of the RTCP range'],
    [191, false, 'PT 63 with marker'],
    [224, false, 'PT 96 with marker'],
    [96, false, 'PT 96'],
    [0x80 | 111, false, 'PT 111 with marker'],
    [0, false, 'PT 0'],
  ])('%i → %s (%s)', (byte1, want) => {
    expect(isRtcpPacketType(byte1)).toBe(want);
  });

  it('never classifies a dynamic payload type (96–127), with or without marker, as RTCP', () => {
    for (let pt = 96; pt <= 127; pt++) {
      expect(isRtcpPacketType(pt)).toBe(false);
      expect(isRtcpPacketType(pt | 0x80)).toBe(false);
    }
  });
});

describe('seqDelta', () => {
  it.each([
    [5, 3, 2],
    [3, 5, -2],
    [0, 0xffff, 1],
    [0xffff, 0, -1],
    [0x8000, 0, -32768],
    [0x7fff, 0, 32767],
  ])('seqDelta(%i, %i) = %i', (a, b, want) => {
    expect(seqDelta(a, b)).toBe(want);
  });
});
