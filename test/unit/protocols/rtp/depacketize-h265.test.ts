// depacketizeH265 (RFC 7798) and h265Payloads, in three tiers:
//   1. the RTP captures of real ffmpeg 5.1 and GStreamer 1.22 senders in test/fixtures/rtp/ (README.md there says how
//      each was made): every access unit depacketizes, and real ffprobe decodes the Annex B stream we rebuild;
//   2. hand-made payloads, one per rule of the depacketizer;
//   3. fast-check: h265Payloads → depacketizeH265 gives back any access unit, and nothing makes it throw.
import fc from 'fast-check';
import { execa } from 'execa';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadFixture } from '../../../fixtures/rtp/load.ts';
import { ffprobePath } from '../../../support/ffmpeg.ts';
import { depacketizeH265 } from '../../../../server/protocols/rtp/depacketize-h265.ts';
import { MAX_UNIT_BYTES, type DepacketizeErrorCode } from '../../../../server/protocols/rtp/depacketized.ts';
import { parseRtpHeader, rtpPayload } from '../../../../server/protocols/rtp/packet.ts';
import { h265Payloads, MAX_RTP_PAYLOAD, writeRtpPackets, type Payload } from '../../../../server/protocols/rtp/packetize.ts';

const CODES: readonly DepacketizeErrorCode[] = ['truncated', 'fragment-lost', 'unsupported', 'too-large', 'malformed'];

/** H.265 §7.3.1.2 nal_unit_type of a NAL unit (or of an RTP payload header). */
const typeOf = (n: Uint8Array): number => (n[0]! >> 1) & 0x3f;
const isIrap = (type: number): boolean => type >= 16 && type <= 21;

/** depacketizeH265's NAL units, or a test failure naming the error. */
function nalsOf(payloads: readonly Uint8Array[], maxBytes?: number): Uint8Array[] {
  const r = depacketizeH265(payloads, maxBytes);
  if (!r.ok) throw new Error(`depacketizeH265 failed: ${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** Annex B byte stream (H.265 Annex B): a 4-byte start code before each NAL unit. */
function annexB(units: readonly Uint8Array[][]): Uint8Array {
  const nals = units.flat();
  const out = new Uint8Array(nals.reduce((n, nal) => n + 4 + nal.length, 0));
  let at = 0;
  for (const nal of nals) {
    out.set([0, 0, 0, 1], at);
    out.set(nal, at + 4);
    at += 4 + nal.length;
  }
  return out;
}

/** A described payload's bytes, written the way the relay writes them (writeRtpPackets, then the parser's view). */
function wire(payloads: Payload[]): Uint8Array[] {
  const packets = writeRtpPackets(payloads, { payloadType: 96, ssrc: 1, seq: 0, timestamp: 0, markLast: true });
  return packets.map((p) => {
    const h = parseRtpHeader(p);
    if (h === undefined) throw new Error('writeRtpPackets wrote a packet parseRtpHeader rejects');
    return rtpPayload(p, h);
  });
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Real senders

interface CapturedUnit {
  timestamp: number;
  payloads: Uint8Array[];
}

/** Packets grouped into access units: the marker bit ends one (RFC 7798 §4.1), and all share its timestamp. */
function capturedUnits(name: string): CapturedUnit[] {
  const units: CapturedUnit[] = [];
  let open: CapturedUnit | undefined;
  for (const data of loadFixture(name).rtp) {
    const h = parseRtpHeader(data);
    if (h === undefined) throw new Error(`${name}: a captured datagram is not RTP`);
    open ??= { timestamp: h.timestamp, payloads: [] };
    if (h.timestamp !== open.timestamp) throw new Error(`${name}: timestamp changes inside an access unit (no marker)`);
    open.payloads.push(rtpPayload(data, h));
    if (h.marker) {
      units.push(open);
      open = undefined;
    }
  }
  if (open !== undefined) throw new Error(`${name}: the capture ends inside an access unit`);
  return units;
}

/**
 * NAL unit bytes the payloads announce, counted from their framing alone (RFC 7798 §4.4): AP members by their size
 * fields, FU fragments plus the 2-byte header rebuilt once per start. Reassembly must give exactly this many: ffprobe's
 * decoder does not flag a slice that lost bytes at its end (tried: -v error stays silent), so this covers that.
 */
function announcedBytes(payloads: readonly Uint8Array[]): number {
  let n = 0;
  for (const p of payloads) {
    const type = typeOf(p);
    if (type === 48) {
      for (let at = 2; at < p.length; ) {
        const size = (p[at]! << 8) | p[at + 1]!;
        n += size;
        at += 2 + size;
      }
    } else if (type === 49) n += p.length - 3 + ((p[2]! & 0x80) !== 0 ? 2 : 0);
    else n += p.length;
  }
  return n;
}

describe.each(['ffmpeg-h265', 'gst-h265'])('capture %s', (name) => {
  const meta = loadFixture(name).meta;
  const units = capturedUnits(name);
  const results = units.map((u) => depacketizeH265(u.payloads));
  const nals = results.map((r) => (r.ok ? r.value : []));

  it('every access unit depacketizes, one per encoded frame', () => {
    for (const [i, r] of results.entries()) expect(r.ok, `unit ${i}: ${r.ok ? '' : r.error.message}`).toBe(true);
    expect(units.length).toBe(meta.expect.frames);
    for (const [i, unit] of nals.entries()) expect(unit.reduce((n, nal) => n + nal.length, 0)).toBe(announcedBytes(units[i]!.payloads));
    for (const unit of nals) {
      expect(unit.length).toBeGreaterThan(0);
      for (const nal of unit) {
        expect(nal.length).toBeGreaterThanOrEqual(2);
        expect(nal[0]! & 0x80).toBe(0); // forbidden_zero_bit
        expect(typeOf(nal)).toBeLessThan(48); // nothing RTP-only reaches the decoder
        expect(nal[1]! & 0x07).not.toBe(0); // TID ≥ 1
      }
    }
  });

  it('IRAP access units (types 16-21) are the expected keyframes: one every 25 frames in presentation order', () => {
    const irap = units.filter((_, i) => nals[i]!.some((n) => isIrap(typeOf(n))));
    expect(irap.length).toBe(meta.expect.keyframes);
    // RTP timestamps are presentation times (B-frames make them non-monotonic in ffmpeg's capture); 3600 ticks a frame.
    const t0 = Math.min(...units.map((u) => u.timestamp));
    expect(irap.map((u) => (u.timestamp - t0) / 3600)).toEqual([0, 25, 50]);
    expect(units[0]).toBe(irap[0]); // a stream starts at a keyframe
  });

  it('re-packetized with h265Payloads (1400- and 100-byte payloads), every unit comes back byte for byte', () => {
    for (const unit of nals) {
      for (const max of [MAX_RTP_PAYLOAD, 100]) {
        const payloads = wire(h265Payloads(unit, max));
        for (const p of payloads) expect(p.length).toBeLessThanOrEqual(max);
        expect(nalsOf(payloads)).toEqual(unit);
      }
    }
  });

  it('real ffprobe reads all frames, at 320x180, from the units written as an Annex B stream', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relaycast-h265-'));
    try {
      const file = join(dir, `${name}.h265`);
      writeFileSync(file, annexB(nals));
      const r = await execa(
        ffprobePath(),
        ['-v', 'error', '-count_frames', '-show_entries', 'stream=nb_read_frames,width,height', '-of', 'json', '-f', 'hevc', file],
        { reject: false, timeout: 30_000, stdin: 'ignore' },
      );
      expect(r.stderr, 'ffprobe reports no decoding errors').toBe('');
      expect(r.exitCode).toBe(0);
      const streams = (JSON.parse(String(r.stdout)) as { streams: Array<Record<string, unknown>> }).streams;
      expect(streams).toEqual([{ width: 320, height: 180, nb_read_frames: String(meta.expect.frames) }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('what the real senders put in their IRAP access units', () => {
  const irapTypes = (name: string): number[][] =>
    capturedUnits(name)
      .map((u) => nalsOf(u.payloads).map(typeOf))
      .filter((types) => types.some(isIrap));

  it('ffmpeg: an AP [VPS, SPS, PPS] first, then x265\'s prefix SEI and the IRAP in FUs; IDR_N_LP, then CRAs', () => {
    const units = capturedUnits('ffmpeg-h265').filter((u) => nalsOf(u.payloads).some((n) => isIrap(typeOf(n))));
    for (const u of units) {
      expect(typeOf(u.payloads[0]!)).toBe(48);
      // The AP's members are views of the packet, not copies.
      for (const nal of nalsOf(u.payloads).slice(0, 3)) expect(nal.buffer).toBe(u.payloads[0]!.buffer);
    }
    expect(irapTypes('ffmpeg-h265')).toEqual([
      [32, 33, 34, 39, 20],
      [32, 33, 34, 39, 21],
      [32, 33, 34, 39, 21],
    ]);
  });

  it('GStreamer: VPS/SPS/PPS twice before the IDR (x265\'s own, then rtph265pay\'s AP holding the IDR too), none before CRAs', () => {
    expect(irapTypes('gst-h265')).toEqual([[32, 33, 34, 39, 32, 33, 34, 20], [21], [21]]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. Hand-made payloads, one per rule

/** NAL unit header / payload header (RFC 7798 §1.1.4): F(1) Type(6) LayerId(6) TID(3). */
const hdr = (type: number, layer = 0, tid = 1, f = 0): number[] => [(f << 7) | (type << 1) | (layer >> 5), ((layer & 0x1f) << 3) | tid];
const nal = (type: number, body: number[] = [0xaf, 0x01]): number[] => [...hdr(type), ...body];
/** Aggregation packet (§4.4.2): PayloadHdr type 48, then (u16 size, NAL unit)*. */
const ap = (...members: number[][]): number[] => [...hdr(48), ...members.flatMap((m) => [m.length >> 8, m.length & 0xff, ...m])];
/** Fragmentation unit (§4.4.3): PayloadHdr type 49, FU header S E FuType(6), fragment. */
const fu = (type: number, s: boolean, e: boolean, body: number[] = [0x33, 0x44], payloadHdr = hdr(49)): number[] => [
  ...payloadHdr,
  (s ? 0x80 : 0) | (e ? 0x40 : 0) | type,
  ...body,
];
const u8 = (bytes: number[]): Uint8Array => Uint8Array.from(bytes);

const VPS = nal(32, [0x0c, 0x01, 0xff]);
const SPS = nal(33, [0x01, 0x01, 0x60]);
const PPS = nal(34, [0xc1, 0x72]);
const TRAIL = nal(1, [0x26, 0x01, 0xaf]);

type Case = [name: string, payloads: number[][], expected: number[][] | [DepacketizeErrorCode, RegExp], maxBytes?: number];

const cases: Case[] = [
  // §4.4.1 single NAL unit packets
  ['single NAL unit packet (TRAIL_R)', [TRAIL], [TRAIL]],
  ['single NAL unit packets of types 0 and 47, the ends of the range', [nal(0), nal(47)], [nal(0), nal(47)]],
  ['a 2-byte NAL unit (end of sequence, type 36) is whole', [hdr(36)], [hdr(36)]],
  ['several packets in order', [VPS, SPS, PPS, nal(19)], [VPS, SPS, PPS, nal(19)]],
  // §4.4.2 AP
  ['AP [VPS, SPS, PPS] (what ffmpeg sends)', [ap(VPS, SPS, PPS)], [VPS, SPS, PPS]],
  ['AP with one member (the RFC asks for two; taken anyway)', [ap(TRAIL)], [TRAIL]],
  ['AP member of 2 bytes', [ap(hdr(36), TRAIL)], [hdr(36), TRAIL]],
  ['AP ends inside a size field', [[...ap(VPS), 0x00]], ['truncated', /inside the size/]],
  ['AP member runs past the end', [ap(VPS, SPS).slice(0, -1)], ['truncated', /runs past/]],
  ['AP member of size 0', [[...ap(VPS), 0, 0, ...SPS]], ['malformed', /size 0/]],
  ['AP member of size 1', [[...ap(VPS), 0, 1, 0x02]], ['malformed', /shorter than its 2-byte header/]],
  ['AP with no aggregation unit', [hdr(48)], ['malformed', /no aggregation unit/]],
  ['AP member with the F bit', [ap(VPS, [...hdr(1, 0, 1, 1), 0xaa])], ['malformed', /forbidden/]],
  ['AP member with TID 0', [ap(VPS, [...hdr(1, 0, 0), 0xaa])], ['malformed', /TID/]],
  ['AP member that is an AP', [ap(VPS, ap(SPS))], ['malformed', /type 48/]],
  ['AP member of type 49', [ap(VPS, fu(1, true, false))], ['malformed', /type 49/]],
  // §4.4.3 FU
  ['FU start, middle, end', [fu(19, true, false, [1, 2]), fu(19, false, false, [3]), fu(19, false, true, [4, 5])], [[...hdr(19), 1, 2, 3, 4, 5]]],
  ['FU start and end with empty fragments', [fu(1, true, false, []), fu(1, false, true, [])], [hdr(1)]],
  [
    'FU NAL header rebuilt from the PayloadHdr: LayerId 37 and TID 5 kept, type from FuType',
    [fu(33, true, false, [9], hdr(49, 37, 5)), fu(33, false, true, [8], hdr(49, 37, 5))],
    [[...hdr(33, 37, 5), 9, 8]],
  ],
  ['FU, AP and single NAL units mixed, order kept', [ap(VPS, SPS), fu(20, true, false, [7]), fu(20, false, true, [6]), TRAIL], [VPS, SPS, [...hdr(20), 7, 6], TRAIL]],
  ['FU of 2 bytes has no FU header', [hdr(49)], ['truncated', /before its FU header/]],
  ['FU with S and E both set', [fu(1, true, true)], ['malformed', /both the start and the end bit/]],
  ['FU continuation without a start', [fu(1, false, false), fu(1, false, true)], ['fragment-lost', /whose start was not/]],
  ['FU end without a start', [fu(1, false, true)], ['fragment-lost', /whose start was not/]],
  ['FU start while another is open', [fu(1, true, false), fu(1, true, false), fu(1, false, true)], ['fragment-lost', /has not ended/]],
  ['access unit ends with an FU open', [fu(19, true, false), fu(19, false, false)], ['fragment-lost', /end fragment is missing/]],
  ['single NAL unit inside an open FU', [fu(19, true, false), TRAIL, fu(19, false, true)], ['fragment-lost', /before the end of the FU/]],
  ['AP inside an open FU', [fu(19, true, false), ap(VPS, SPS), fu(19, false, true)], ['fragment-lost', /before the end of the FU/]],
  ['FU fragment of another NAL type inside an open FU', [fu(19, true, false), fu(1, false, true)], ['fragment-lost', /type 1 NAL unit.*type 19/]],
  ['FU fragment with another TID inside an open FU', [fu(1, true, false), fu(1, false, true, [0], hdr(49, 0, 2))], ['fragment-lost', /inside the type 1/]],
  ['FU of an AP (FuType 48)', [fu(48, true, false), fu(48, false, true)], ['malformed', /type 48, which is not 0-47/]],
  ['FU of type 63', [fu(63, true, false), fu(63, false, true)], ['malformed', /type 63/]],
  ['FU PayloadHdr with the F bit', [fu(1, true, false, [1], hdr(49, 0, 1, 1)), fu(1, false, true)], ['malformed', /forbidden/]],
  // §4.4.4 PACI and 51-63
  ['PACI (type 50)', [[...hdr(50), 0, 0, ...TRAIL]], ['unsupported', /PACI/]],
  ['type 51: no RFC 7798 structure', [nal(51)], ['malformed', /no payload structure/]],
  ['type 63: no RFC 7798 structure', [nal(63)], ['malformed', /no payload structure/]],
  // headers and lengths
  ['forbidden bit on a single NAL unit', [[...hdr(1, 0, 1, 1), 0xaa]], ['malformed', /forbidden/]],
  ['forbidden bit on an AP header', [[0x80 | (48 << 1), 0x01, ...ap(VPS).slice(2)]], ['malformed', /forbidden/]],
  ['TID 0 (would put 00 00 in an Annex B stream)', [[...hdr(0, 0, 0), 0x01, 0x02]], ['malformed', /TID/]],
  ['empty payload', [TRAIL, []], ['truncated', /0-byte payload/]],
  ['1-byte payload', [[0x02]], ['truncated', /1-byte payload/]],
  ['no packets at all', [], ['malformed', /no NAL unit/]],
  // maxBytes: NAL unit bytes of the whole access unit
  ['exactly maxBytes', [TRAIL, TRAIL], [TRAIL, TRAIL], 2 * TRAIL.length],
  ['single NAL units over maxBytes', [TRAIL, TRAIL], ['too-large', /over the 9-byte bound/], 2 * TRAIL.length - 1],
  ['AP members over maxBytes', [ap(VPS, SPS, PPS)], ['too-large', /bound/], VPS.length + SPS.length],
  ['an FU over maxBytes before its end arrives', [fu(1, true, false, [1, 2, 3]), fu(1, false, false, [4, 5, 6])], ['too-large', /8 bytes, over the 7-byte/], 7],
];

describe('depacketizeH265: hand-made payloads', () => {
  it.each(cases)('%s', (_, payloads, expected, maxBytes) => {
    const r = depacketizeH265(payloads.map(u8), maxBytes);
    if (typeof expected[0] === 'string') {
      const [code, why] = expected as [DepacketizeErrorCode, RegExp];
      expect(r.ok).toBe(false);
      if (r.ok) return;
      expect(r.error.code).toBe(code);
      expect(r.error.message).toMatch(why);
    } else {
      expect(r).toEqual({ ok: true, value: (expected as number[][]).map(u8) });
    }
  });

  it('single NAL units and AP members are views of the payloads; only an FU is a new buffer', () => {
    const single = u8(TRAIL);
    const aggregated = u8(ap(VPS, SPS));
    const fragments = [u8(fu(19, true, false, [1])), u8(fu(19, false, true, [2]))];
    const [a, b, c, d] = nalsOf([single, aggregated, ...fragments]);
    expect(a).toBe(single);
    expect([b!.buffer, b!.byteOffset]).toEqual([aggregated.buffer, 4]);
    expect([c!.buffer, c!.byteOffset]).toEqual([aggregated.buffer, 4 + VPS.length + 2]);
    expect(d!.buffer).not.toBe(fragments[0]!.buffer);
    expect(d!.buffer).not.toBe(fragments[1]!.buffer);
  });

  it('defaults maxBytes to MAX_UNIT_BYTES', () => {
    const big = new Uint8Array(MAX_UNIT_BYTES + 1);
    big.set(hdr(1));
    expect(depacketizeH265([big])).toMatchObject({ ok: false, error: { code: 'too-large' } });
    expect(depacketizeH265([big.subarray(0, MAX_UNIT_BYTES)]).ok).toBe(true);
  });
});

describe('h265Payloads (RFC 7798 single NAL unit packets and FUs)', () => {
  it('sends a NAL unit that fits as a single NAL unit packet, unchanged and uncopied', () => {
    const sps = u8(SPS);
    const idr = new Uint8Array(MAX_RTP_PAYLOAD).fill(0x5a);
    idr.set(hdr(19));
    const out = h265Payloads([sps, idr]);
    expect(out).toEqual([
      { head: 0, headSize: 0, body: sps },
      { head: 0, headSize: 0, body: idr },
    ]);
    expect(out[1]!.body).toBe(idr);
  });

  it('splits a larger one into FUs: PayloadHdr keeps F/LayerId/TID with type 49, FU header has S first, E last, FuType', () => {
    const big = Uint8Array.from({ length: 3000 }, (_, i) => i & 0xff);
    big.set(hdr(21, 5, 3));
    const out = h265Payloads([big], 1000);
    expect(out).toHaveLength(Math.ceil((3000 - 2) / 997));
    const bytes = wire(out);
    for (const [i, p] of bytes.entries()) {
      expect(p.length).toBeLessThanOrEqual(1000);
      expect([...p.subarray(0, 2)]).toEqual(hdr(49, 5, 3));
      expect(p[2]! & 0x3f).toBe(21);
      expect((p[2]! & 0x80) !== 0).toBe(i === 0);
      expect((p[2]! & 0x40) !== 0).toBe(i === bytes.length - 1);
      expect(out[i]!.headSize).toBe(3);
    }
    // The fragments are views of the NAL unit's payload, without its 2-byte header, in order.
    expect(Buffer.concat(out.map((p) => p.body))).toEqual(Buffer.from(big.subarray(2)));
    expect(nalsOf(bytes)).toEqual([big]);
  });

  it('writeRtpPackets writes a 3-byte head big-endian right after the RTP header', () => {
    const [p] = writeRtpPackets([{ head: 0x62_05_93, headSize: 3, body: Uint8Array.of(7, 8) }], {
      payloadType: 96,
      ssrc: 1,
      seq: 0,
      timestamp: 0,
      markLast: true,
    });
    expect([...p!.subarray(12)]).toEqual([0x62, 0x05, 0x93, 7, 8]);
  });

  it('one byte over maxPayload still makes two fragments (S and E never share an FU)', () => {
    const n = new Uint8Array(101).fill(1);
    n.set(hdr(1));
    const out = h265Payloads([n], 100);
    expect(out.map((p) => [p.head & 0xc0, p.body.length])).toEqual([
      [0x80, 97],
      [0x40, 2],
    ]);
  });

  it('skips NAL units shorter than their header, and sends nothing when an FU could not carry a byte', () => {
    expect(h265Payloads([new Uint8Array(0), Uint8Array.of(2), u8(TRAIL)])).toEqual([{ head: 0, headSize: 0, body: u8(TRAIL) }]);
    const n = new Uint8Array(10).fill(1);
    n.set(hdr(1));
    expect(h265Payloads([u8(hdr(36)), n], 3)).toEqual([]);
    expect(h265Payloads([n], 4)).toHaveLength(8);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Properties

/** A valid NAL unit: F 0, type 0-40, any LayerId, TID 1-7, then up to 5000 bytes in all. */
const arbNal = fc
  .tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 63 }), fc.integer({ min: 1, max: 7 }), fc.uint8Array({ maxLength: 4998 }))
  .map(([type, layer, tid, body]) => Uint8Array.from([...hdr(type, layer, tid), ...body]));

/** Payload-like bytes: a payload header of a type near the interesting ones, then anything (FU headers included). */
const arbPayload = fc.oneof(
  fc.uint8Array({ maxLength: 40 }),
  fc
    .tuple(fc.constantFrom(0, 1, 19, 32, 47, 48, 49, 50, 51, 63), fc.integer({ min: 0, max: 7 }), fc.nat({ max: 255 }), fc.uint8Array({ maxLength: 40 }))
    .map(([type, tid, third, rest]) => Uint8Array.from([type << 1, tid, third, ...rest])),
);

describe('properties (fast-check)', () => {
  it('h265Payloads → RTP packets → depacketizeH265 gives back exactly the NAL units, at any payload size', () => {
    fc.assert(
      fc.property(
        fc.array(arbNal, { minLength: 1, maxLength: 8 }),
        fc.oneof(fc.constantFrom(MAX_RTP_PAYLOAD, 100), fc.integer({ min: 4, max: 1500 })),
        (nals, max) => {
          const payloads = wire(h265Payloads(nals, max));
          for (const p of payloads) expect(p.length).toBeLessThanOrEqual(max);
          expect(depacketizeH265(payloads)).toEqual({ ok: true, value: nals });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('arbitrary payload lists never throw, and give ok (with valid NAL units within maxBytes) or a known code', () => {
    fc.assert(
      fc.property(fc.array(arbPayload, { maxLength: 8 }), fc.option(fc.integer({ min: 0, max: 200 }), { nil: undefined }), (payloads, maxBytes) => {
        const r = depacketizeH265(payloads, maxBytes);
        if (!r.ok) {
          expect(CODES).toContain(r.error.code);
          expect(r.error.message.length).toBeGreaterThan(0);
          return;
        }
        expect(r.value.length).toBeGreaterThan(0);
        let total = 0;
        for (const n of r.value) {
          expect(n.length).toBeGreaterThanOrEqual(2);
          expect(n[0]! & 0x80).toBe(0);
          expect(typeOf(n)).toBeLessThan(48);
          expect(n[1]! & 0x07).not.toBe(0);
          total += n.length;
        }
        expect(total).toBeLessThanOrEqual(maxBytes ?? MAX_UNIT_BYTES);
      }),
      { numRuns: 5000 },
    );
  });

  it('truncated or bit-flipped copies of the real access units never throw', () => {
    const units = [...capturedUnits('ffmpeg-h265'), ...capturedUnits('gst-h265')];
    fc.assert(
      fc.property(
        fc.nat({ max: units.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
        fc.nat(),
        (index, flips, cutPacket, cutAt) => {
          const payloads = units[index]!.payloads.map((p) => p.slice());
          for (const [which, at, value] of flips) {
            const p = payloads[which % payloads.length]!;
            p[at % p.length] = value;
          }
          const k = cutPacket % payloads.length;
          payloads[k] = payloads[k]!.subarray(0, cutAt % (payloads[k]!.length + 1));
          const r = depacketizeH265(payloads);
          if (!r.ok) expect(CODES).toContain(r.error.code);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
