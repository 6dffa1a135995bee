// The helpers against packets captured from real ffmpeg 5.1 and GStreamer 1.22 senders
// (test/fixtures/rtp/README.md says how each capture was made). These tests also pin down the
// quirks of those peers that the relay depends on, so a re-capture that changes them fails here.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCapture, encodeCapture, loadFixture, type Fixture } from '../../../fixtures/rtp/load.ts';
import { h264Summary, isH264Keyframe } from '../../../../server/protocols/rtp/h264.ts';
import { h265Summary, isH265Keyframe } from '../../../../server/protocols/rtp/h265.ts';
import { parseRtpHeader, rtpPayload, seqDelta, type RtpHeader } from '../../../../server/protocols/rtp/packet.ts';
import { findSenderReport, parseRtcpCompound, rewriteSenderReport } from '../../../../server/protocols/rtp/rtcp.ts';

interface Packet {
  data: Uint8Array;
  h: RtpHeader;
  payload: Uint8Array;
}

/** Packets of one access unit: consecutive packets with the same RTP timestamp (RFC 6184 §5.1). */
type AccessUnit = Packet[];

function packets(f: Fixture): Packet[] {
  return f.rtp.map((data) => {
    const h = parseRtpHeader(data);
    if (h === undefined) throw new Error(`${f.meta.name}: a captured datagram is not RTP`);
    return { data, h, payload: rtpPayload(data, h) };
  });
}

function accessUnits(ps: Packet[]): AccessUnit[] {
  const aus: AccessUnit[] = [];
  for (const p of ps) {
    const last = aus.at(-1);
    if (last !== undefined && last[0]!.h.timestamp === p.h.timestamp) last.push(p);
    else aus.push([p]);
  }
  return aus;
}

/** NAL unit types in an H.264 STAP-A (§5.7.1), or [] for other payloads. */
function stapATypes(payload: Uint8Array): number[] {
  if ((payload[0]! & 0x1f) !== 24) return [];
  const types: number[] = [];
  for (let o = 1; o + 2 < payload.length; ) {
    const size = (payload[o]! << 8) | payload[o + 1]!;
    types.push(payload[o + 2]! & 0x1f);
    o += 2 + size;
  }
  return types;
}

/** Type of the H.265 NAL unit a payload starts (single NAL, AP members, FU with S). */
function h265Types(payload: Uint8Array): number[] {
  const type = (payload[0]! >> 1) & 0x3f;
  if (type === 48) {
    const types: number[] = [];
    for (let o = 2; o + 3 < payload.length; ) {
      types.push((payload[o + 2]! >> 1) & 0x3f);
      o += 2 + ((payload[o]! << 8) | payload[o + 1]!);
    }
    return types;
  }
  if (type === 49) return (payload[2]! & 0x80) !== 0 ? [payload[2]! & 0x3f] : [];
  return [type];
}

const ALL = ['ffmpeg-h264', 'ffmpeg-h264-copy', 'gst-h264', 'gst-h264-x264', 'ffmpeg-h265', 'gst-h265', 'ffmpeg-opus', 'ffmpeg-aac'];
const H264 = ['ffmpeg-h264', 'ffmpeg-h264-copy', 'gst-h264', 'gst-h264-x264'];
const H265 = ['ffmpeg-h265', 'gst-h265'];
const VIDEO = [...H264, ...H265];
const fixtures = new Map(ALL.map((name) => [name, loadFixture(name)]));
const fixture = (name: string): Fixture => fixtures.get(name)!;

describe.each(ALL)('capture %s: RTP and RTCP', (name) => {
  const f = fixture(name);
  const ps = packets(f);

  it('the loader round-trips the file', () => {
    const bytes = new Uint8Array(readFileSync(new URL(`../../../fixtures/rtp/${name}.bin`, import.meta.url)));
    expect(encodeCapture(decodeCapture(bytes))).toEqual(bytes);
    expect(f.rtp.length).toBe(f.meta.rtpPackets);
    expect(f.rtcp.length).toBe(f.meta.rtcpPackets);
  });

  it('every datagram on the RTP port is RTP v2 with one SSRC and PT, and none was lost', () => {
    expect(ps.length).toBeGreaterThan(10);
    const first = ps[0]!.h;
    expect(first.payloadType).toBe(name.includes('opus') || name.includes('aac') ? 97 : 96);
    for (let i = 1; i < ps.length; i++) {
      const h = ps[i]!.h;
      expect(h.ssrc).toBe(first.ssrc);
      expect(h.payloadType).toBe(first.payloadType);
      expect(seqDelta(h.sequenceNumber, ps[i - 1]!.h.sequenceNumber)).toBe(1);
    }
    // Neither sender uses CSRCs, header extensions or padding.
    for (const p of ps) expect(p.h.payloadOffset).toBe(12);
    for (const p of ps) expect(p.h.payloadLength).toBe(p.data.length - 12);
  });

  it('the RTCP port carries SR + SDES compounds (the last one with BYE) for the same SSRC', () => {
    expect(f.rtcp.length).toBeGreaterThanOrEqual(2);
    const ssrc = ps[0]!.h.ssrc;
    for (const [i, d] of f.rtcp.entries()) {
      const types = parseRtcpCompound(d)?.map((p) => p.type);
      expect(types).toEqual(i === f.rtcp.length - 1 ? [200, 202, 203] : [200, 202]);
      expect(findSenderReport(d)?.ssrc).toBe(ssrc);
    }
  });

  it("the last SR's packet and octet counts match what was captured (RFC 3550 §6.4.1: payload octets)", () => {
    const last = findSenderReport(f.rtcp.at(-1)!)!;
    expect(last.packetCount).toBe(ps.length);
    expect(last.octetCount).toBe(ps.reduce((n, p) => n + p.h.payloadLength, 0));
  });

  it('SR RTP timestamps advance with their NTP timestamps (what a receiver uses for lip sync)', () => {
    const clockRate = Number(f.meta.expect.clockRate);
    const srs = f.rtcp.map((d) => findSenderReport(d)!);
    for (let i = 1; i < srs.length; i++) {
      const a = srs[i - 1]!;
      const b = srs[i]!;
      const ntp = b.ntpSeconds - a.ntpSeconds + (b.ntpFraction - a.ntpFraction) / 2 ** 32;
      const rtp = ((b.rtpTimestamp - a.rtpTimestamp) >>> 0) / clockRate;
      expect(Math.abs(ntp - rtp)).toBeLessThan(0.02);
    }
  });

  it('rewriteSenderReport keeps SR + SDES under the new SSRC and drops BYE', () => {
    for (const d of f.rtcp) {
      const sr = findSenderReport(d)!;
      const out = rewriteSenderReport(d, 0x12345678, (ts) => ts - 1000)!;
      expect(parseRtcpCompound(out)?.map((p) => [p.type, p.count])).toEqual([
        [200, 0],
        [202, 1],
      ]);
      expect(findSenderReport(out)).toEqual({ ...sr, ssrc: 0x12345678, rtpTimestamp: (sr.rtpTimestamp - 1000) >>> 0 });
      // SDES chunk SSRC replaced, CNAME item kept byte for byte.
      const sdesIn = parseRtcpCompound(d)![1]!;
      expect(Array.from(out.subarray(32, 36))).toEqual([0x12, 0x34, 0x56, 0x78]);
      expect(Array.from(out.subarray(36))).toEqual(Array.from(d.subarray(sdesIn.offset + 8, sdesIn.offset + sdesIn.length)));
    }
  });

  it('no parser throws on truncated or bit-flipped copies of the real packets (fast-check)', () => {
    const all = [...f.rtp, ...f.rtcp];
    fc.assert(
      fc.property(
        fc.nat({ max: all.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 4 }),
        fc.nat(),
        (index, flips, cut) => {
          const d = all[index]!.slice(0, 1 + (cut % all[index]!.length));
          for (const [at, value] of flips) d[at % d.length] = value;
          const h = parseRtpHeader(d);
          const payload = h === undefined ? d.subarray(12) : rtpPayload(d, h);
          h264Summary(payload);
          h265Summary(payload);
          parseRtcpCompound(d);
          findSenderReport(d);
          rewriteSenderReport(d, 1, (ts) => ts);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe.each(VIDEO)('capture %s: access units', (name) => {
  const ps = packets(fixture(name));
  const aus = accessUnits(ps);

  it('has one access unit per encoded frame', () => {
    expect(aus.length).toBe(fixture(name).meta.expect.frames);
  });

  it('sets the marker bit on the last packet of every access unit and nowhere else', () => {
    for (const au of aus) expect(au.map((p) => p.h.marker)).toEqual(au.map((_, i) => i === au.length - 1));
  });

  it('advances 3600 ticks (90 kHz / 25 fps) per frame in presentation order', () => {
    const sorted = [...new Set(aus.map((au) => au[0]!.h.timestamp))].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBe(3600);
  });
});

describe.each(H264)('capture %s: H.264 keyframes', (name) => {
  const f = fixture(name);
  const aus = accessUnits(packets(f));
  const keyframeAus = aus.filter((au) => au.some((p) => isH264Keyframe(p.payload)));

  it(`finds the configured number of IDR access units (75 frames at GOP 25 → 3)`, () => {
    expect(keyframeAus.length).toBe(f.meta.expect.keyframes);
    // Closed GOPs: every frame shown before an IDR is also sent before it, so decode index = 25 × n.
    expect(keyframeAus.map((au) => aus.indexOf(au))).toEqual([0, 25, 50]);
  });

  it('every access unit begins with a packet that starts a NAL unit', () => {
    for (const au of aus) {
      const s = h264Summary(au[0]!.payload);
      expect(s.startsAccessUnit).toBe(true);
      for (const p of au) if (h264Summary(p.payload).idr) expect(h264Summary(p.payload).startsAccessUnit).toBe(true);
    }
  });
});

describe('H.264 quirks of real senders', () => {
  const idrAusOf = (name: string): AccessUnit[] =>
    accessUnits(packets(fixture(name))).filter((au) => au.some((p) => isH264Keyframe(p.payload)));

  it('GStreamer: every IDR is preceded, in its access unit, by SPS and PPS in a STAP-A', () => {
    for (const name of ['gst-h264', 'gst-h264-x264']) {
      for (const au of idrAusOf(name)) {
        au.forEach((p, i) => {
          if (!isH264Keyframe(p.payload)) return;
          const inStap = stapATypes(p.payload);
          const idrAt = inStap.indexOf(5);
          const before = idrAt >= 0 ? [inStap.slice(0, idrAt)] : au.slice(0, i).map((q) => stapATypes(q.payload));
          expect(before.some((types) => types.includes(7) && types.includes(8)), `${name} IDR packet ${i}`).toBe(true);
        });
      }
    }
  });

  it('GStreamer rtph264pay config-interval=-1 repeats SPS/PPS before EACH IDR slice, mid access unit', () => {
    // x264 with -tune zerolatency uses sliced threads: two IDR slices per keyframe here, each an FU-A,
    // and rtph264pay puts a STAP-A [SPS, PPS] right before each of them.
    for (const au of idrAusOf('gst-h264-x264')) {
      const idrStarts = au.map((p, i) => (isH264Keyframe(p.payload) ? i : -1)).filter((i) => i >= 0);
      expect(idrStarts.length).toBeGreaterThan(1);
      for (const i of idrStarts) expect(stapATypes(au[i - 1]!.payload).slice(-2)).toEqual([7, 8]);
    }
  });

  it('GStreamer + openh264: SPS, PPS and a small IDR travel in one STAP-A, with SPS/PPS twice (encoder + payloader)', () => {
    for (const au of idrAusOf('gst-h264')) {
      expect(au.length).toBe(1);
      expect(stapATypes(au[0]!.payload)).toEqual([7, 8, 7, 8, 5]);
    }
  });

  it('ffmpeg (libx264 in-band headers): each IDR access unit opens with a STAP-A holding SPS and PPS', () => {
    const aus = idrAusOf('ffmpeg-h264');
    expect(stapATypes(aus[0]![0]!.payload)).toEqual([7, 8, 6]); // first one also carries x264's SEI
    for (const au of aus.slice(1)) expect(stapATypes(au[0]!.payload)).toEqual([7, 8]);
    for (const au of aus) expect(h264Summary(au[1]!.payload)).toMatchObject({ idr: true, startsAccessUnit: true });
  });

  it('ffmpeg -c:v copy from MP4: no SPS/PPS in-band at all; they exist only in the SDP sprop-parameter-sets', () => {
    const f = fixture('ffmpeg-h264-copy');
    for (const p of packets(f)) expect(h264Summary(p.payload)).toMatchObject({ sps: false, pps: false });
    const sprop = /sprop-parameter-sets=([^;\s]+)/.exec(f.sdp ?? '')?.[1];
    expect(sprop).toBeDefined();
    const sets = sprop!.split(',').map((b64) => new Uint8Array(Buffer.from(b64, 'base64')));
    expect(sets.map((s) => h264Summary(s))).toEqual([
      { idr: false, sps: true, pps: false, startsAccessUnit: true },
      { idr: false, sps: false, pps: true, startsAccessUnit: true },
    ]);
    // ...and the first packet of each keyframe is x264's SEI or the IDR itself, not a parameter set.
    expect((packets(f)[0]!.payload[0]! & 0x1f)).toBe(6);
  });

  it('ffmpeg with in-band headers writes no sprop-parameter-sets in its SDP', () => {
    expect(fixture('ffmpeg-h264').sdp).not.toContain('sprop-parameter-sets');
  });

  it('multi-slice keyframes: count IDR access units, not IDR packets', () => {
    for (const name of ['ffmpeg-h264-copy', 'gst-h264-x264']) {
      const idrStartPackets = packets(fixture(name)).filter((p) => isH264Keyframe(p.payload)).length;
      expect(idrStartPackets).toBeGreaterThan(idrAusOf(name).length);
    }
  });

  it('SPS/PPS carry the timestamp of the IDR they precede (same access unit) in every capture', () => {
    for (const name of H264) {
      for (const au of accessUnits(packets(fixture(name)))) {
        const hasParams = au.some((p) => h264Summary(p.payload).sps);
        if (hasParams) expect(au.some((p) => isH264Keyframe(p.payload)), name).toBe(true);
      }
    }
  });

  it('B-frames: ffmpeg libx264 default preset sends RTP timestamps out of order (decode order)', () => {
    const order = (name: string): number[] => accessUnits(packets(fixture(name))).map((au) => au[0]!.h.timestamp);
    const backwards = (ts: number[]): number => ts.filter((t, i) => i > 0 && t < ts[i - 1]!).length;
    expect(backwards(order('ffmpeg-h264'))).toBeGreaterThan(0);
    for (const name of ['ffmpeg-h264-copy', 'gst-h264', 'gst-h264-x264']) expect(backwards(order(name)), name).toBe(0);
  });

  it('MTU: ffmpeg sends datagrams up to 1472 bytes, GStreamer up to 1400', () => {
    const max = (name: string): number => Math.max(...fixture(name).rtp.map((d) => d.length));
    expect(max('ffmpeg-h264')).toBe(1472);
    expect(max('gst-h264-x264')).toBe(1400);
  });
});

describe.each(H265)('capture %s: H.265 keyframes', (name) => {
  const f = fixture(name);
  const aus = accessUnits(packets(f));
  const irapAus = aus.filter((au) => au.some((p) => isH265Keyframe(p.payload)));

  it('finds the configured number of IRAP access units (75 frames at GOP 25 → 3)', () => {
    expect(irapAus.length).toBe(f.meta.expect.keyframes);
    expect(irapAus.map((au) => aus.indexOf(au))[0]).toBe(0);
  });

  it('the first IRAP is an IDR and the later ones are CRA (x265 open GOP): the relay must treat CRA as a keyframe', () => {
    const types = irapAus.map((au) => au.flatMap((p) => h265Types(p.payload)).find((t) => t >= 16 && t <= 21));
    expect([19, 20]).toContain(types[0]);
    expect(types.slice(1)).toEqual([21, 21]);
  });
});

describe('H.265 quirks of real senders', () => {
  const irapAus = (name: string): AccessUnit[] =>
    accessUnits(packets(fixture(name))).filter((au) => au.some((p) => isH265Keyframe(p.payload)));
  const hasParams = (au: AccessUnit): boolean => {
    const s = au.map((p) => h265Summary(p.payload));
    return s.some((x) => x.vps) && s.some((x) => x.sps) && s.some((x) => x.pps);
  };

  it('ffmpeg: every IRAP access unit opens with an AP [VPS, SPS, PPS]', () => {
    for (const au of irapAus('ffmpeg-h265')) expect(h265Types(au[0]!.payload)).toEqual([32, 33, 34]);
  });

  it('GStreamer rtph265pay config-interval=-1 adds VPS/SPS/PPS before the IDR only, not before CRA keyframes', () => {
    const aus = irapAus('gst-h265');
    expect(hasParams(aus[0]!)).toBe(true);
    expect(h265Summary(aus[0]!.at(-1)!.payload)).toEqual({ irap: true, vps: true, sps: true, pps: true });
    for (const au of aus.slice(1)) expect(hasParams(au)).toBe(false);
  });
});

describe('audio captures', () => {
  it('ffmpeg Opus: one 20 ms frame per packet (960 ticks at 48 kHz), marker set on every packet', () => {
    const ps = packets(fixture('ffmpeg-opus'));
    expect(ps.length).toBeGreaterThanOrEqual(100);
    for (const p of ps) expect(p.h.marker).toBe(true);
    for (let i = 1; i < ps.length; i++) expect((ps[i]!.h.timestamp - ps[i - 1]!.h.timestamp) >>> 0).toBe(960);
    // RFC 6716 §3.1 TOC: code 0 (one frame) in every packet.
    for (const p of ps) expect(p.payload[0]! & 0x03).toBe(0);
  });

  it('ffmpeg AAC (RFC 3640 AAC-hbr): several AUs per packet, timestamps advance 1024 per AU', () => {
    const ps = packets(fixture('ffmpeg-aac'));
    const auCounts = ps.map((p) => {
      // AU-headers-length in bits, then 16-bit headers: 13-bit size, 3-bit index (sizelength=13, indexlength=3).
      const bits = (p.payload[0]! << 8) | p.payload[1]!;
      const n = bits / 16;
      let sizes = 0;
      for (let i = 0; i < n; i++) sizes += ((p.payload[2 + 2 * i]! << 8) | p.payload[3 + 2 * i]!) >> 3;
      expect(2 + 2 * n + sizes).toBe(p.h.payloadLength);
      return n;
    });
    expect(Math.max(...auCounts)).toBeGreaterThan(1);
    for (let i = 1; i < ps.length; i++) expect((ps[i]!.h.timestamp - ps[i - 1]!.h.timestamp) >>> 0).toBe(1024 * auCounts[i - 1]!);
    for (const p of ps) expect(p.h.marker).toBe(true);
  });
});
