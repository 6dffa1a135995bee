// The audio depacketizers (AAC RFC 3640, Opus RFC 7587, G.711 RFC 3551) on hand-made payloads for every rule, on
// fast-check payloads from the relay's own AAC packetizer, and on captures from real ffmpeg 5.1 and GStreamer 1.22
// (test/fixtures/rtp/README.md says how each was made). For the captures the frames are handed to real ffmpeg/ffprobe
// (AAC in ADTS, Opus in Ogg, G.711 raw): an independent decoder must read every frame, and the decoded audio must be
// the 440 Hz sine the sender was given.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  depacketizeAac,
  depacketizeAacFragments,
  depacketizeG711,
  depacketizeOpus,
  parseAacFmtp,
  type AacHbrParams,
} from '../../../../server/protocols/rtp/depacketize-audio.ts';
import type { Depacketized, DepacketizeErrorCode } from '../../../../server/protocols/rtp/depacketized.ts';
import { parseRtpHeader, rtpPayload, type RtpHeader } from '../../../../server/protocols/rtp/packet.ts';
import { aacPayloads, writeRtpPackets } from '../../../../server/protocols/rtp/packetize.ts';
import { loadFixture, type Fixture } from '../../../fixtures/rtp/load.ts';
import { ffmpegPath, ffprobePath } from '../../../support/ffmpeg.ts';

const dir = mkdtempSync(join(tmpdir(), 'relaycast-audio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HBR: AacHbrParams = { sizeLength: 13, indexLength: 3, indexDeltaLength: 3, config: undefined };
const LBR: AacHbrParams = { sizeLength: 6, indexLength: 2, indexDeltaLength: 2, config: undefined };

function expectError<T>(r: Depacketized<T>, code: DepacketizeErrorCode, message?: RegExp): void {
  expect(r.ok).toBe(false);
  if (r.ok) return;
  expect(r.error.code).toBe(code);
  if (message) expect(r.error.message).toMatch(message);
}

function expectOk<T>(r: Depacketized<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

/** MSB-first bit writer for hand-made AU-header sections. */
class Bits {
  private readonly bits: number[] = [];
  put(value: number, n: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(value / 2 ** i) % 2);
    return this;
  }
  get length(): number {
    return this.bits.length;
  }
  /** The bits padded with zeros to a whole byte (RFC 3640 §3.2.1). */
  bytes(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.bits.length; i += 8) {
      let b = 0;
      for (let j = 0; j < 8; j++) b = (b << 1) | (this.bits[i + j] ?? 0);
      out.push(b);
    }
    return out;
  }
}

interface AacPacketOptions {
  /** AU-size written per header (default: the AU's length). */
  sizes?: number[];
  /** AU-index (first header), AU-index-delta (the rest); default 0. */
  indexes?: number[];
  /** AU-headers-length written (default: the bits written). */
  headerBits?: number;
  /** Bytes after the AUs. */
  extra?: number[];
}

/** RFC 3640 §3.2: AU-headers-length, AU-headers (size, index / index-delta), padding, the AUs back to back. */
function aacPacket(aus: readonly (readonly number[])[], params: AacHbrParams, o: AacPacketOptions = {}): Uint8Array {
  const bits = new Bits();
  aus.forEach((au, i) => {
    bits.put(o.sizes?.[i] ?? au.length, params.sizeLength);
    bits.put(o.indexes?.[i] ?? 0, i === 0 ? params.indexLength : params.indexDeltaLength);
  });
  const headerBits = o.headerBits ?? bits.length;
  return Uint8Array.from([headerBits >> 8, headerBits & 0xff, ...bits.bytes(), ...aus.flat(), ...(o.extra ?? [])]);
}

const au = (n: number, seed = 1): number[] => Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);

/** The RTP payloads of one AU from the relay's own packetizer, through real RTP packets. */
function packetizedAac(bytes: Uint8Array, maxPayload?: number): Uint8Array[] {
  const packets = writeRtpPackets(aacPayloads(bytes, maxPayload), { payloadType: 97, ssrc: 1, seq: 0, timestamp: 0, markLast: true });
  return packets.map((d) => rtpPayload(d, parseRtpHeader(d)!));
}

describe('parseAacFmtp (RFC 3640 §4.1)', () => {
  it("reads ffmpeg's fmtp (test/fixtures/rtp/ffmpeg-aac.sdp)", () => {
    expect(parseAacFmtp('profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=119056E500')).toEqual({
      ok: true,
      value: { sizeLength: 13, indexLength: 3, indexDeltaLength: 3, config: Uint8Array.of(0x11, 0x90, 0x56, 0xe5, 0x00) },
    });
  });

  it("reads the fmtp built from GStreamer rtpmp4gpay's caps (test/fixtures/rtp/gst-aac.json)", () => {
    const v = expectOk(parseAacFmtp(String(loadFixture('gst-aac').meta.expect.fmtp)));
    expect(v).toEqual({ sizeLength: 13, indexLength: 3, indexDeltaLength: 3, config: Uint8Array.of(0x11, 0x90, 0x56, 0xe5, 0x00) });
  });

  it('takes parameter names and the mode in any case, spaces around ; and =, and a trailing ;', () => {
    const v = expectOk(parseAacFmtp(' Mode = aac-HBR ;SizeLength=13; IndexLength=3;INDEXDELTALENGTH=3; Config=1190 ;'));
    expect(v).toEqual({ sizeLength: 13, indexLength: 3, indexDeltaLength: 3, config: Uint8Array.of(0x11, 0x90) });
  });

  it('takes AAC-lbr (6/2/2, §3.3.5)', () => {
    expect(expectOk(parseAacFmtp('streamtype=5; mode=AAC-lbr; sizelength=6; indexlength=2; indexdeltalength=2; config=1210'))).toEqual({
      sizeLength: 6,
      indexLength: 2,
      indexDeltaLength: 2,
      config: Uint8Array.of(0x12, 0x10),
    });
  });

  it('an absent indexlength / indexdeltalength is a 0-bit field (§4.1); an absent or empty config is undefined', () => {
    expect(expectOk(parseAacFmtp('mode=AAC-hbr; sizelength=13'))).toEqual({ sizeLength: 13, indexLength: 0, indexDeltaLength: 0, config: undefined });
    expect(expectOk(parseAacFmtp('mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3; config=')).config).toBeUndefined();
  });

  it('takes the refused fields when they are announced as 0 bits, and the same parameter given twice alike', () => {
    const fmtp = 'mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3; ctsdeltalength=0; dtsdeltalength=0; ' +
      'randomaccessindication=0; streamstateindication=0; auxiliarydatasizelength=0; maxdisplacement=0; sizelength=13';
    expect(expectOk(parseAacFmtp(fmtp)).sizeLength).toBe(13);
  });

  const base = 'sizelength=13; indexlength=3; indexdeltalength=3; config=1190';
  const refused: Array<[string, string, DepacketizeErrorCode, RegExp]> = [
    ['no mode', base, 'malformed', /no mode=/],
    ['empty fmtp', '', 'malformed', /no mode=/],
    ['mode=generic', `mode=generic; ${base}`, 'unsupported', /mode=generic.*AAC-hbr/],
    ['mode=CELP-cbr', `mode=CELP-cbr; ${base}`, 'unsupported', /CELP-cbr/],
    ['video streamtype', `streamtype=4; mode=AAC-hbr; ${base}`, 'unsupported', /streamtype=4/],
    ['no sizelength', 'mode=AAC-hbr; indexlength=3; indexdeltalength=3', 'malformed', /no sizelength=/],
    ['sizelength=0', 'mode=AAC-hbr; sizelength=0', 'malformed', /sizelength=0/],
    ['sizelength=33', 'mode=AAC-hbr; sizelength=33', 'malformed', /sizelength=33/],
    ['sizelength not a number', 'mode=AAC-hbr; sizelength=thirteen', 'malformed', /sizelength=thirteen/],
    ['negative indexlength', 'mode=AAC-hbr; sizelength=13; indexlength=-3', 'malformed', /indexlength=-3/],
    ['indexdeltalength=40', 'mode=AAC-hbr; sizelength=13; indexdeltalength=40', 'malformed', /indexdeltalength=40/],
    ['CTS deltas', `mode=AAC-hbr; ${base}; ctsdeltalength=16`, 'unsupported', /ctsdeltalength=16.*CTS/],
    ['DTS deltas', `mode=AAC-hbr; ${base}; DTSDeltaLength=16`, 'unsupported', /dtsdeltalength=16.*DTS/],
    ['auxiliary section', `mode=AAC-hbr; ${base}; auxiliaryDataSizeLength=8`, 'unsupported', /auxiliary/],
    ['RAP flag', `mode=AAC-hbr; ${base}; randomAccessIndication=1`, 'unsupported', /RAP/],
    ['stream state', `mode=AAC-hbr; ${base}; streamStateIndication=4`, 'unsupported', /stream-state/],
    ['interleaving announced', `mode=AAC-hbr; ${base}; maxDisplacement=5`, 'unsupported', /interleaved/],
    ['constantSize', 'mode=AAC-hbr; constantsize=300; config=1190', 'unsupported', /constantSize/],
    ['refused field not a number', `mode=AAC-hbr; ${base}; ctsdeltalength=x`, 'malformed', /ctsdeltalength=x/],
    ['config of odd length', 'mode=AAC-hbr; sizelength=13; config=119', 'malformed', /config=119 /],
    ['config not hex', 'mode=AAC-hbr; sizelength=13; config=11zz', 'malformed', /config=11zz/],
    ['sizelength given twice, differently', 'mode=AAC-hbr; sizelength=13; sizelength=6', 'malformed', /sizelength twice/],
  ];
  it.each(refused)('refuses %s', (_, fmtp, code, message) => {
    expectError(parseAacFmtp(fmtp), code, message);
  });
});

describe('depacketizeAac (RFC 3640 §3.2)', () => {
  it('one AU: a view of the payload after the 4-byte header section', () => {
    const payload = aacPacket([au(300)], HBR);
    expect(Array.from(payload.subarray(0, 4))).toEqual([0x00, 0x10, (300 << 3) >> 8, (300 << 3) & 0xff]);
    const aus = expectOk(depacketizeAac(payload, HBR));
    expect(aus.map((a) => Array.from(a))).toEqual([au(300)]);
    expect(aus[0]!.buffer).toBe(payload.buffer);
    expect(aus[0]!.byteOffset).toBe(payload.byteOffset + 4);
  });

  it('several AUs back to back, all views (ffmpeg sends 5 per packet)', () => {
    const frames = [au(214, 1), au(290, 2), au(1, 3), au(250, 4), au(260, 5)];
    const payload = aacPacket(frames, HBR);
    const aus = expectOk(depacketizeAac(payload, HBR));
    expect(aus.map((a) => Array.from(a))).toEqual(frames);
    for (const a of aus) expect(a.buffer).toBe(payload.buffer);
  });

  it('AAC-lbr: 8-bit headers (6-bit size, 2-bit index)', () => {
    const frames = [au(63), au(5, 2), au(40, 3)];
    expect(expectOk(depacketizeAac(aacPacket(frames, LBR), LBR)).map((a) => Array.from(a))).toEqual(frames);
  });

  it('AU-headers that end inside a byte: the padding bits are skipped (§3.2.1)', () => {
    // 16-bit first header, then 13-bit headers: 3 AUs are 42 bits, padded to 6 bytes.
    const params: AacHbrParams = { sizeLength: 13, indexLength: 3, indexDeltaLength: 0, config: undefined };
    const frames = [au(7), au(100, 2), au(9, 3)];
    const payload = aacPacket(frames, params);
    expect(payload.length).toBe(2 + 6 + 116);
    expect(expectOk(depacketizeAac(payload, params)).map((a) => Array.from(a))).toEqual(frames);
  });

  it('0-bit index fields (indexlength absent in the fmtp)', () => {
    const params: AacHbrParams = { sizeLength: 16, indexLength: 0, indexDeltaLength: 0, config: undefined };
    const frames = [au(2000), au(3, 2)];
    expect(expectOk(depacketizeAac(aacPacket(frames, params), params)).map((a) => Array.from(a))).toEqual(frames);
  });

  const cases: Array<[string, Uint8Array, AacHbrParams, DepacketizeErrorCode, RegExp]> = [
    ['empty payload', new Uint8Array(0), HBR, 'truncated', /AU-headers-length/],
    ['one byte', Uint8Array.of(0x00), HBR, 'truncated', /AU-headers-length/],
    ['AU-headers-length 0 (zero AUs)', Uint8Array.of(0x00, 0x00, 0x12, 0x34), HBR, 'malformed', /no AUs/],
    ['AU-headers-length of 1.5 headers', aacPacket([au(3), au(3)], HBR, { headerBits: 24 }), HBR, 'malformed', /not a whole number/],
    ['AU-headers-length below one header', aacPacket([au(3)], HBR, { headerBits: 13 }), HBR, 'malformed', /not a whole number/],
    ['AU-headers-length past the payload', Uint8Array.of(0x00, 0x40, 0x00, 0x18), HBR, 'truncated', /run past the end/],
    ['header section only', aacPacket([au(3)], HBR).subarray(0, 4), HBR, 'unsupported', /fragmented AUs are not taken/],
    ['one AU-header announcing more than present: a fragment (§3.2.3)', aacPacket([au(100)], HBR, { sizes: [1500] }), HBR, 'unsupported', /fragmented AUs are not taken.*1500 bytes and 100/],
    ['two AUs whose sizes run past the end', aacPacket([au(10), au(10)], HBR, { sizes: [10, 11] }), HBR, 'truncated', /AU 1 of 11 bytes/],
    ['first AU already past the end', aacPacket([au(10), au(10)], HBR, { sizes: [25, 1] }), HBR, 'truncated', /AU 0 of 25 bytes/],
    ['AU-index 1 (interleaving, §3.2.1.1)', aacPacket([au(10)], HBR, { indexes: [1] }), HBR, 'unsupported', /AU-index 1: interleaved/],
    ['AU-index-delta 2 (interleaving)', aacPacket([au(10), au(10)], HBR, { indexes: [0, 2] }), HBR, 'unsupported', /AU-index-delta 2/],
    ['an AU of 0 bytes', aacPacket([au(10), []], HBR), HBR, 'malformed', /AU-header 1 announces an AU of 0 bytes/],
    ['bytes after the last AU', aacPacket([au(10), au(10)], HBR, { extra: [1, 2, 3] }), HBR, 'malformed', /3 bytes follow the last AU/],
    ['one AU with bytes after it', aacPacket([au(10)], HBR, { sizes: [9] }), HBR, 'malformed', /1 bytes follow/],
  ];
  it.each(cases)('%s', (_, payload, params, code, message) => {
    expectError(depacketizeAac(payload, params), code, message);
  });

  it('fast-check: any AU from 1 to 2000 bytes through the relay packetizer (aacPayloads) comes back', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 2000 }), { minLength: 1, maxLength: 10 }), (frames) => {
        for (const frame of frames) {
          const payloads = packetizedAac(frame);
          if (payloads.length === 1) {
            // It fits one packet (≤ 1396 bytes): one AU-header, the AU, nothing else.
            const aus = expectOk(depacketizeAac(payloads[0]!, HBR));
            expect(aus).toHaveLength(1);
            expect(aus[0]).toEqual(frame);
          } else {
            // Fragmented (§3.2.3): refused one packet at a time, joined by depacketizeAacFragments.
            for (const p of payloads) expectError(depacketizeAac(p, HBR), 'unsupported', /fragmented AUs are not taken/);
            expect(expectOk(depacketizeAacFragments(payloads, HBR))).toEqual(frame);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('fast-check: several AUs per packet with any field widths come back as views', () => {
    const arb = fc
      .record({ sizeLength: fc.integer({ min: 4, max: 16 }), indexLength: fc.integer({ min: 0, max: 5 }), indexDeltaLength: fc.integer({ min: 0, max: 5 }) })
      .chain((p) =>
        fc.tuple(
          fc.constant<AacHbrParams>({ ...p, config: undefined }),
          fc.array(fc.uint8Array({ minLength: 1, maxLength: Math.min(2000, 2 ** p.sizeLength - 1) }), { minLength: 1, maxLength: 10 }),
        ),
      );
    fc.assert(
      fc.property(arb, ([params, frames]) => {
        const payload = aacPacket(frames.map((f) => Array.from(f)), params);
        const aus = expectOk(depacketizeAac(payload, params));
        expect(aus).toEqual(frames);
        for (const a of aus) expect(a.buffer).toBe(payload.buffer);
      }),
      { numRuns: 500 },
    );
  });
});

describe('depacketizeAacFragments (RFC 3640 §3.2.3)', () => {
  const big = Uint8Array.from(au(3000, 9));
  const fragments = packetizedAac(big, 1400); // 1396 + 1396 + 208 bytes of AU

  it("joins the relay packetizer's fragments of a 3000-byte AU into one new buffer", () => {
    expect(fragments).toHaveLength(3);
    const joined = expectOk(depacketizeAacFragments(fragments, HBR));
    expect(joined).toEqual(big);
  });

  it('a single packet holding the whole AU is returned as a view', () => {
    const payload = aacPacket([au(50)], HBR);
    const v = expectOk(depacketizeAacFragments([payload], HBR));
    expect(Array.from(v)).toEqual(au(50));
    expect(v.buffer).toBe(payload.buffer);
  });

  it.each([
    ['no packets', [] as Uint8Array[], 'malformed', /no packets/],
    ['the middle fragment lost (the AU-size shows it)', [fragments[0]!, fragments[2]!], 'fragment-lost', /1604 of the AU's 3000 bytes/],
    ['the last fragment lost', fragments.slice(0, 2), 'fragment-lost', /2792 of the AU's 3000/],
    ['a fragment repeated', [fragments[0]!, fragments[1]!, fragments[1]!, fragments[2]!], 'malformed', /more than the AU's 3000/],
    ['a fragment of another AU', [fragments[0]!, packetizedAac(Uint8Array.from(au(2000)))[1]!], 'fragment-lost', /2000-byte AU inside the 3000-byte one/],
    ['a packet with two AU-headers', [aacPacket([au(3), au(3)], HBR)], 'malformed', /2 AU-headers/],
    ['a packet with no AU byte', [fragments[0]!, fragments[1]!.subarray(0, 4)], 'malformed', /packet 1 carries no byte/],
    ['a broken AU-header section', [fragments[0]!, Uint8Array.of(0, 0)], 'malformed', /packet 1: AU-headers-length is 0/],
    ['an interleaved fragment', [aacPacket([au(10)], HBR, { indexes: [2], sizes: [20] })], 'unsupported', /interleaved/],
  ] as Array<[string, Uint8Array[], DepacketizeErrorCode, RegExp]>)('%s', (_, payloads, code, message) => {
    expectError(depacketizeAacFragments(payloads, HBR), code, message);
  });

  it('an AU over maxBytes is refused before anything is copied', () => {
    expectError(depacketizeAacFragments(fragments, HBR, 2999), 'too-large', /3000 bytes, over the 2999-byte bound/);
  });
});

// RFC 6716 §3.1 TOC: config(5) s(1) c(2). Config 31 = CELT fullband 20 ms, 16 = CELT 2.5 ms, 3 = SILK 60 ms.
const toc = (config: number, code: number, stereo = false): number => (config << 3) | (stereo ? 4 : 0) | code;

describe('depacketizeOpus (RFC 7587 §4.2, RFC 6716 §3.4)', () => {
  const accepted: Array<[string, number[]]> = [
    ['code 0: TOC only (DTX)', [toc(31, 0)]],
    ['code 0: one frame', [toc(31, 0), ...au(200)]],
    ['code 0: a 1275-byte frame', [toc(31, 0), ...au(1275)]],
    ['code 1: two equal frames', [toc(31, 1), ...au(100)]],
    ['code 1: two empty frames', [toc(31, 1)]],
    ['code 2: short first length', [toc(31, 2), 3, 1, 2, 3, 4, 5]],
    ['code 2: two-byte first length (252 + 4*1 = 256)', [toc(31, 2), 252, 1, ...au(256), ...au(10)]],
    ['code 3 CBR: 3 frames', [toc(31, 3), 3, ...au(30)]],
    ['code 3 CBR with padding (2 bytes)', [toc(31, 3), 0x40 | 2, 2, ...au(20), 0, 0]],
    ['code 3 CBR with padding length 255 + 0 (254 bytes)', [toc(31, 3), 0x40 | 1, 255, 0, ...au(5), ...new Array<number>(254).fill(0)]],
    ['code 3 VBR: 3 frames', [toc(31, 3), 0x80 | 3, 2, 5, ...au(2), ...au(5), ...au(9)]],
    ['code 3: 48 frames of 2.5 ms (120 ms)', [toc(16, 3), 48]],
    ['code 3: 2 frames of 60 ms (120 ms)', [toc(3, 3), 2, ...au(20)]],
  ];
  it.each(accepted)('takes %s, as a view', (_, bytes) => {
    const payload = Uint8Array.from(bytes);
    expect(expectOk(depacketizeOpus(payload))).toBe(payload);
  });

  const refused: Array<[string, number[], DepacketizeErrorCode, RegExp]> = [
    ['an empty payload (R1)', [], 'truncated', /empty payload/],
    ['code 0: a 1276-byte frame (R2)', [toc(31, 0), ...au(1276)], 'malformed', /R2/],
    ['code 1: odd frame bytes (R3)', [toc(31, 1), 1, 2, 3], 'malformed', /R3/],
    ['code 1: frames of 1276 bytes (R2)', [toc(31, 1), ...au(2552)], 'malformed', /R2/],
    ['code 2: no length byte (R4)', [toc(31, 2)], 'malformed', /R4/],
    ['code 2: cut inside a two-byte length (R4)', [toc(31, 2), 253], 'malformed', /R4/],
    ['code 2: first frame past the end (R4)', [toc(31, 2), 10, 1, 2], 'malformed', /R4/],
    ['code 2: second frame over 1275 (R2)', [toc(31, 2), 0, ...au(1276)], 'malformed', /second frame of 1276.*R2/],
    ['code 3: no frame count byte', [toc(31, 3)], 'malformed', /frame count/],
    ['code 3: 0 frames (R5)', [toc(31, 3), 0], 'malformed', /0 frames.*R5/],
    ['code 3: 7 frames of 20 ms = 140 ms (R5)', [toc(31, 3), 7], 'malformed', /120 ms.*R5/],
    ['code 3: cut inside the padding length', [toc(31, 3), 0x40 | 1, 255], 'malformed', /padding length/],
    ['code 3: padding past the end', [toc(31, 3), 0x40 | 1, 10, 1, 2], 'malformed', /padding run past/],
    ['code 3 CBR: bytes not a multiple of M (R6)', [toc(31, 3), 2, 1, 2, 3], 'malformed', /R6/],
    ['code 3 CBR: frames over 1275 (R6)', [toc(31, 3), 1, ...au(1276)], 'malformed', /R6/],
    ['code 3 VBR: cut inside a frame length (R7)', [toc(31, 3), 0x80 | 3, 2], 'malformed', /length of frame 1.*R7/],
    ['code 3 VBR: lengths past the end (R7)', [toc(31, 3), 0x80 | 2, 9, 1, 2], 'malformed', /R7/],
    ['code 3 VBR: last frame over 1275 (R7)', [toc(31, 3), 0x80 | 2, 1, 0, ...au(1276)], 'malformed', /last frame of 1276/],
  ];
  it.each(refused)('refuses %s', (_, bytes, code, message) => {
    expectError(depacketizeOpus(Uint8Array.from(bytes)), code, message);
  });
});

describe('depacketizeG711 (RFC 3551 §4.5.14)', () => {
  it('the payload is the frame (a view)', () => {
    const payload = Uint8Array.from(au(160));
    expect(expectOk(depacketizeG711(payload))).toBe(payload);
  });
  it('an empty payload is truncated', () => {
    expectError(depacketizeG711(new Uint8Array(0)), 'truncated', /empty payload/);
  });
});

describe('no depacketizer throws', () => {
  it('on random bytes with any AU-header field widths (fast-check)', () => {
    const params = fc.record({
      sizeLength: fc.integer({ min: 1, max: 32 }),
      indexLength: fc.integer({ min: 0, max: 32 }),
      indexDeltaLength: fc.integer({ min: 0, max: 32 }),
      config: fc.constant(undefined),
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), params, fc.array(fc.uint8Array({ maxLength: 1500 }), { maxLength: 4 }), (bytes, p, more) => {
        depacketizeAac(bytes, p);
        depacketizeAac(bytes, HBR);
        depacketizeAacFragments([bytes, ...more], p);
        depacketizeOpus(bytes);
        depacketizeG711(bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('on random fmtp strings (fast-check)', () => {
    const word = fc.constantFrom('mode', 'sizelength', 'indexlength', 'indexdeltalength', 'config', 'ctsdeltalength', 'constantsize', 'x', '');
    const value = fc.oneof(fc.constantFrom('AAC-hbr', 'AAC-lbr', '13', '3', '0', '1190', '', '99999', '-1'), fc.string({ maxLength: 8 }));
    const fmtp = fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.tuple(word, value), { maxLength: 8 }).map((ps) => ps.map(([k, v]) => `${k}=${v}`).join(';')));
    fc.assert(
      fc.property(fmtp, (s) => {
        const r = parseAacFmtp(s);
        if (r.ok) expect(r.value.sizeLength).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 3000 },
    );
  });

  it('on truncated and bit-flipped copies of real AAC packets (fast-check)', () => {
    const real = [...aacPackets('ffmpeg-aac'), ...aacPackets('gst-aac')].map((p) => p.payload);
    fc.assert(
      fc.property(fc.nat({ max: real.length - 1 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }), fc.nat(), (i, flips, cut) => {
        const d = real[i]!.slice(0, 1 + (cut % real[i]!.length));
        for (const [at, v] of flips) d[at % d.length] = v;
        const r = depacketizeAac(d, HBR);
        // Whatever survives is views of this payload, after its header section.
        if (r.ok) for (const a of r.value) expect(a.buffer).toBe(d.buffer);
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Captures from real senders.

interface Packet {
  h: RtpHeader;
  payload: Uint8Array;
}

function packets(f: Fixture): Packet[] {
  return f.rtp.map((d) => {
    const h = parseRtpHeader(d);
    if (h === undefined) throw new Error(`${f.meta.name}: a captured datagram is not RTP`);
    return { h, payload: rtpPayload(d, h) };
  });
}

function aacPackets(name: string): Packet[] {
  return packets(loadFixture(name));
}

/** The fmtp of an AAC capture: ffmpeg's SDP, or for GStreamer the one capture.ts built from rtpmp4gpay's caps. */
function aacFmtp(f: Fixture): string {
  if (f.sdp !== undefined) {
    const m = /^a=fmtp:\d+ (.*)$/m.exec(f.sdp);
    if (m === null) throw new Error(`${f.meta.name}.sdp has no a=fmtp line`);
    return m[1]!.trim();
  }
  return String(f.meta.expect.fmtp);
}

const ADTS_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

/** ISO/IEC 14496-3 §1.6.2.1 AudioSpecificConfig: the fields an ADTS header repeats. */
function readAsc(asc: Uint8Array): { objectType: number; rateIndex: number; channels: number } {
  const bits = (from: number, n: number): number => {
    let v = 0;
    for (let i = from; i < from + n; i++) v = v * 2 + ((asc[i >> 3]! >> (7 - (i & 7))) & 1);
    return v;
  };
  return { objectType: bits(0, 5), rateIndex: bits(5, 4), channels: bits(9, 4) };
}

/** ISO/IEC 14496-3 §1.A.2.2 ADTS: a 7-byte header (no CRC) before one raw AAC frame. */
function adts(frame: Uint8Array, asc: Uint8Array): Uint8Array {
  const { objectType, rateIndex, channels } = readAsc(asc);
  if (objectType < 1 || objectType > 4 || rateIndex > 12 || channels < 1 || channels > 7) throw new Error('AudioSpecificConfig ADTS cannot carry');
  const length = 7 + frame.length;
  const out = new Uint8Array(length);
  out.set([
    0xff,
    0xf1, // syncword, MPEG-4, layer 0, protection_absent
    ((objectType - 1) << 6) | (rateIndex << 2) | (channels >> 2),
    ((channels & 3) << 6) | (length >> 11),
    (length >> 3) & 0xff,
    ((length & 7) << 5) | 0x1f, // buffer fullness 0x7ff: variable bitrate
    0xfc, // one raw data block
  ]);
  out.set(frame, 7);
  return out;
}

// Ogg Opus (RFC 3533 pages, RFC 7845 headers), enough for ffmpeg to decode the depacketized Opus packets.
const OGG_CRC = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = (r & 0x80000000) !== 0 ? (r << 1) ^ 0x04c11db7 : r << 1;
    t[i] = r >>> 0;
  }
  return t;
})();

function oggPage(packet: Uint8Array, seq: number, granule: number, flags: number): Uint8Array {
  const lacing: number[] = [];
  let n = packet.length;
  for (; n >= 255; n -= 255) lacing.push(255);
  lacing.push(n);
  const page = new Uint8Array(27 + lacing.length + packet.length);
  const v = new DataView(page.buffer);
  page.set([0x4f, 0x67, 0x67, 0x53, 0, flags]); // "OggS", version 0, header type
  v.setBigUint64(6, BigInt(granule), true);
  v.setUint32(14, 0x72656c61, true); // serial
  v.setUint32(18, seq, true);
  page[26] = lacing.length;
  page.set(lacing, 27);
  page.set(packet, 27 + lacing.length);
  let crc = 0;
  for (const b of page) crc = ((crc << 8) ^ OGG_CRC[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
  v.setUint32(22, crc, true);
  return page;
}

function oggOpus(opusPackets: readonly Uint8Array[], channels: number, preSkip: number): Uint8Array {
  const head = new Uint8Array(19);
  head.set(new TextEncoder().encode('OpusHead'));
  const hv = new DataView(head.buffer);
  head[8] = 1;
  head[9] = channels;
  hv.setUint16(10, preSkip, true);
  hv.setUint32(12, 48000, true);
  const vendor = new TextEncoder().encode('relaycast test');
  const tags = new Uint8Array(8 + 4 + vendor.length + 4);
  tags.set(new TextEncoder().encode('OpusTags'));
  new DataView(tags.buffer).setUint32(8, vendor.length, true);
  tags.set(vendor, 12);
  const pages = [oggPage(head, 0, 0, 0x02), oggPage(tags, 1, 0, 0)];
  let granule = 0;
  opusPackets.forEach((p, i) => {
    granule += opusSamples(p);
    pages.push(oggPage(p, i + 2, granule, i === opusPackets.length - 1 ? 0x04 : 0));
  });
  const out = new Uint8Array(pages.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of pages) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** RFC 6716 §3.1: 48 kHz samples of one Opus packet, from its TOC (and frame count byte for code 3). */
function opusSamples(p: Uint8Array): number {
  const config = p[0]! >> 3;
  const frame = config < 12 ? [480, 960, 1920, 2880][config & 3]! : config < 16 ? [480, 960][config & 1]! : [120, 240, 480, 960][config & 3]!;
  const code = p[0]! & 3;
  return frame * (code === 0 ? 1 : code === 3 ? p[1]! & 0x3f : 2);
}

function save(name: string, bytes: Uint8Array | readonly Uint8Array[]): string {
  const file = join(dir, name);
  writeFileSync(file, bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes));
  return file;
}

interface Probe {
  nb_read_frames: string;
  sample_rate: string;
  channels: number;
}

function ffprobeStream(file: string, inputArgs: string[] = []): Probe {
  const r = spawnSync(
    ffprobePath(),
    ['-v', 'error', ...inputArgs, '-count_frames', '-show_entries', 'stream=nb_read_frames,sample_rate,channels', '-of', 'json', file],
    { encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return (JSON.parse(r.stdout) as { streams: Probe[] }).streams[0]!;
}

/** Decodes with ffmpeg to mono s16le; ffmpeg must print nothing at -v error. */
function decode(file: string, inputArgs: string[] = []): Int16Array {
  const r = spawnSync(ffmpegPath(), ['-nostdin', '-v', 'error', ...inputArgs, '-i', file, '-ac', '1', '-f', 's16le', '-'], {
    maxBuffer: 64 << 20,
  });
  expect(r.stderr.toString()).toBe('');
  expect(r.status).toBe(0);
  return new Int16Array(Uint8Array.from(r.stdout).buffer, 0, r.stdout.length >> 1);
}

/**
 * The frequency of a sine in decoded PCM: upward crossings (below −threshold, then above +threshold, so codec noise in
 * the priming silence does not count) per second between the first and the last one.
 */
function sineHz(pcm: Int16Array, rate: number, threshold = 1000): number {
  const ups: number[] = [];
  let low = false;
  for (let i = 0; i < pcm.length; i++) {
    const s = pcm[i]!;
    if (s < -threshold) low = true;
    else if (s > threshold && low) {
      ups.push(i);
      low = false;
    }
  }
  if (ups.length < 2) return 0;
  return (ups.length - 1) / ((ups.at(-1)! - ups[0]!) / rate);
}

/**
 * AAC frames the encoders produced for the sine: ceil(seconds × rate / 1024), plus the one frame of encoder delay
 * (priming) both put in front: ffmpeg's aac and GStreamer's avenc_aac (the same libavcodec encoder) give 95 for 2 s at
 * 48 kHz (`ffmpeg -f lavfi -i sine... -t 2 -c:a aac -f adts` holds 95 frames).
 */
const aacEncoderFrames = (seconds: number, rate: number): number => Math.ceil((seconds * rate) / 1024) + 1;

const AAC_CAPTURES = [
  // ffmpeg's rtp muxer packs AUs 5 to a packet and sends a packet when the next AU would not fit it; at the end of the
  // stream it never sends the AUs it holds (libavformat/rtpenc_aac.c has no flush), so the last 5 are not on the wire.
  // The last SR's packet count agrees (fixtures.test.ts), so none were lost on the way.
  { name: 'ffmpeg-aac', ausPerPacket: 5, heldBackAtEnd: 5 },
  // GStreamer's rtpmp4gpay sends one AU per packet and all of them.
  { name: 'gst-aac', ausPerPacket: 1, heldBackAtEnd: 0 },
];

describe.each(AAC_CAPTURES)('capture $name: AAC (RFC 3640 AAC-hbr)', ({ name, ausPerPacket, heldBackAtEnd }) => {
  const f = loadFixture(name);
  const ps = packets(f);
  const params = expectOk(parseAacFmtp(aacFmtp(f)));
  const seconds = Number(f.meta.expect.seconds);
  const rate = Number(f.meta.expect.clockRate);
  const results = ps.map((p) => depacketizeAac(p.payload, params));
  const aus = results.flatMap((r) => (r.ok ? r.value : []));

  it('the fmtp is AAC-hbr 13/3/3 with an AAC-LC 48 kHz stereo AudioSpecificConfig', () => {
    expect(params).toMatchObject({ sizeLength: 13, indexLength: 3, indexDeltaLength: 3 });
    expect(readAsc(params.config!)).toEqual({ objectType: 2, rateIndex: 3, channels: 2 });
  });

  it('every packet depacketizes, into views of its payload', () => {
    for (const [i, r] of results.entries()) {
      const value = expectOk(r);
      expect(value).toHaveLength(ausPerPacket);
      for (const a of value) expect(a.buffer).toBe(ps[i]!.payload.buffer);
    }
  });

  it(`the AU count is what the encoder made (${aacEncoderFrames(2, 48000)} for 2 s) less what the sender held back (${heldBackAtEnd})`, () => {
    expect(aus.length).toBe(aacEncoderFrames(seconds, rate) - heldBackAtEnd);
    expect(aus.length).toBe(ps.length * ausPerPacket);
  });

  it('RTP timestamps advance 1024 per AU (GStreamer: within 1 tick, rounded from nanosecond buffer times)', () => {
    const t0 = ps[0]!.h.timestamp;
    let frames = 0;
    for (const [i, p] of ps.entries()) {
      const drift = ((p.h.timestamp - t0) >>> 0) - 1024 * frames;
      expect(Math.abs(drift)).toBeLessThanOrEqual(name.startsWith('gst') ? 1 : 0);
      frames += expectOk(results[i]!).length;
    }
  });

  it('ffprobe reads every AU back from ADTS, and ffmpeg decodes them into the 440 Hz sine without a complaint', () => {
    const file = save(`${name}.aac`, aus.map((a) => adts(a, params.config!)));
    expect(ffprobeStream(file, ['-f', 'aac'])).toEqual({ sample_rate: '48000', channels: 2, nb_read_frames: String(aus.length) });
    const pcm = decode(file, ['-f', 'aac']);
    expect(pcm.length).toBe(aus.length * 1024);
    expect(sineHz(pcm, 48000)).toBeCloseTo(440, 0);
  });
});

describe.each([
  // ffmpeg sets the marker on every Opus packet; GStreamer's rtpopuspay only on the first (RFC 7587 §4.1: the first
  // packet of a talkspurt). GStreamer stamps its first packet 312 ticks (opusenc's lookahead, the pre-skip) before
  // where 960-tick steps from the second one would put it: the first packet seems to last 648 ticks.
  { name: 'ffmpeg-opus', markers: 'all', firstStep: 960 },
  { name: 'gst-opus', markers: 'first', firstStep: 648 },
])('capture $name: Opus (RFC 7587)', ({ name, markers, firstStep }) => {
  const f = loadFixture(name);
  const ps = packets(f);
  const results = ps.map((p) => depacketizeOpus(p.payload));

  it('every payload depacketizes, as the payload itself', () => {
    for (const [i, r] of results.entries()) expect(expectOk(r)).toBe(ps[i]!.payload);
  });

  it('every TOC (RFC 6716 §3.1) says one 20 ms CELT frame, stereo, matching the 960-tick timestamp steps', () => {
    for (const p of ps) {
      const t = p.payload[0]!;
      expect(t & 0x03).toBe(0); // code 0: one frame
      expect((t >> 3) & 0x03).toBe(3); // 20 ms
      expect(t >> 3).toBeGreaterThanOrEqual(16); // CELT-only (configs 16-31)
      expect(t & 0x04).toBe(0x04); // stereo
      expect(opusSamples(p.payload)).toBe(960);
    }
    const steps = ps.slice(1).map((p, i) => (p.h.timestamp - ps[i]!.h.timestamp) >>> 0);
    expect(steps[0]).toBe(firstStep);
    for (const s of steps.slice(1)) expect(s).toBe(960);
    expect(ps.length).toBe((Number(f.meta.expect.seconds) * 48000) / 960 + 1); // 100 frames of sine + the lookahead's
  });

  it(`the marker bit is set on ${markers === 'all' ? 'every packet' : 'the first packet only'}`, () => {
    expect(ps.map((p) => p.h.marker)).toEqual(ps.map((_, i) => markers === 'all' || i === 0));
  });

  it('ffmpeg decodes the packets (in Ogg) into the 440 Hz sine without a complaint', () => {
    const file = save(`${name}.opus`, oggOpus(ps.map((p) => expectOk(depacketizeOpus(p.payload))), 2, 312));
    expect(ffprobeStream(file)).toEqual({ sample_rate: '48000', channels: 2, nb_read_frames: String(ps.length) });
    expect(sineHz(decode(file), 48000)).toBeCloseTo(440, 0);
  });
});

describe.each([
  { name: 'ffmpeg-pcma', codec: 'pcm_alaw', format: 'alaw', payloadType: 8 },
  { name: 'ffmpeg-pcmu', codec: 'pcm_mulaw', format: 'mulaw', payloadType: 0 },
])('capture $name: G.711 (RFC 3551)', ({ name, codec, format, payloadType }) => {
  const f = loadFixture(name);
  const ps = packets(f);
  const frames = ps.map((p) => expectOk(depacketizeG711(p.payload)));
  const seconds = Number(f.meta.expect.seconds);

  it(`static payload type ${payloadType} (RFC 3551 Table 4): the SDP has no rtpmap`, () => {
    for (const p of ps) expect(p.h.payloadType).toBe(payloadType);
    expect(f.sdp).toMatch(new RegExp(`^m=audio \\d+ RTP/AVP ${payloadType}$`, 'm'));
    expect(f.sdp).not.toContain('a=rtpmap');
  });

  it('20 ms packets: 160 bytes (one byte per sample), timestamps 160 apart, marker never set', () => {
    for (const fr of frames) expect(fr.length).toBe(160);
    for (let i = 1; i < ps.length; i++) expect((ps[i]!.h.timestamp - ps[i - 1]!.h.timestamp) >>> 0).toBe(160);
    for (const p of ps) expect(p.h.marker).toBe(false);
  });

  it('all samples arrived: seconds × 8000 bytes, within a packet', () => {
    const bytes = frames.reduce((n, fr) => n + fr.length, 0);
    expect(Math.abs(bytes - seconds * 8000)).toBeLessThanOrEqual(160);
  });

  it("the frames are byte for byte what ffmpeg's encoder makes of the same sine without the rtp muxer", () => {
    // G.711 is a table lookup on lavfi's integer sine, so unlike AAC or Opus this holds on any machine.
    const r = spawnSync(
      ffmpegPath(),
      ['-nostdin', '-v', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000:samples_per_frame=160', '-t', String(seconds),
        '-c:a', codec, '-ar', '8000', '-ac', '1', '-f', format, '-'],
      { maxBuffer: 16 << 20 },
    );
    expect(r.status).toBe(0);
    expect(Buffer.concat(frames).equals(r.stdout)).toBe(true);
  });

  it('ffmpeg decodes the concatenated frames into the 440 Hz sine without a complaint', () => {
    const file = save(`${name}.${format}`, frames);
    const pcm = decode(file, ['-f', format, '-ar', '8000', '-ac', '1']);
    expect(pcm.length).toBe(frames.reduce((n, fr) => n + fr.length, 0));
    expect(sineHz(pcm, 8000)).toBeCloseTo(440, 0);
  });
});
