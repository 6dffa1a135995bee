import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { depacketizeH264 } from '../../../../server/protocols/rtp/depacketize-h264.ts';
import { depacketizeH265 } from '../../../../server/protocols/rtp/depacketize-h265.ts';
import { H264DtsExtractor, H265DtsExtractor, type DtsResult } from '../../../../server/protocols/rtp/dts-extractor.ts';
import { parseRtpHeader, rtpPayload } from '../../../../server/protocols/rtp/packet.ts';
import { loadFixture } from '../../../fixtures/rtp/load.ts';
import { splitAnnexB } from '../../../support/fmp4-annexb.ts';
import { BitWriter, escapeRbsp, unescape } from '../../../support/fmp4-bits.ts';

// Fixtures: test/fixtures/dts (README.md there). Each is a real x264/x265 encode as Annex B, plus ffprobe's pts/dts of
// the same encode in an MP4 that ffmpeg wrote, so the expected DTS is the encoder's own, not ours.

const dir = join(dirname(fileURLToPath(import.meta.url)), '../../../fixtures/dts');

interface Fixture {
  name: string;
  codec: 'h264' | 'h265';
  aus: Uint8Array[][];
  /** 90 kHz */
  pts: number[];
  dts: number[];
  key: boolean[];
  hasBFrames: number;
}

const nalType = (codec: 'h264' | 'h265', nal: Uint8Array): number => (codec === 'h264' ? nal[0]! & 0x1f : (nal[0]! >> 1) & 0x3f);

/**
 * Cuts NAL units into access units by the rule of H.264 §7.4.1.2.3 and H.265 §7.4.2.4.4: after a picture's VCL NAL
 * units, an AUD, parameter set or prefix SEI, or the first slice of another picture (first_mb_in_slice = 0, whose
 * ue(v) code is the single bit 1; first_slice_segment_in_pic_flag = 1) begins the next access unit. The fixtures are
 * encoded with AUDs, but not every access unit starts with one: ffmpeg writes x264's SEI before the first AUD, and
 * x265 emits no AUD before its first picture, so cutting at AUDs alone would be wrong.
 */
function accessUnits(codec: 'h264' | 'h265', nals: readonly Uint8Array[]): Uint8Array[][] {
  const aus: Uint8Array[][] = [];
  let au: Uint8Array[] = [];
  let sawVcl = false;
  for (const nal of nals) {
    const t = nalType(codec, nal);
    const vcl = codec === 'h264' ? t === 1 || t === 5 : t < 32;
    const prefix = codec === 'h264' ? (t >= 6 && t <= 9) || (t >= 14 && t <= 18) : (t >= 32 && t <= 39) || (t >= 41 && t <= 44);
    const firstSlice = vcl && (codec === 'h264' ? (nal[1]! & 0x80) !== 0 : (nal[2]! & 0x80) !== 0);
    if (sawVcl && (prefix || firstSlice)) {
      aus.push(au);
      au = [];
      sawVcl = false;
    }
    au.push(nal);
    sawVcl ||= vcl;
  }
  if (au.length > 0) aus.push(au);
  return aus;
}

function load(name: string): Fixture {
  const manifest = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as {
    file: string;
    codec: 'h264' | 'h265';
    timeBase: string;
    hasBFrames: number;
    packets: Array<{ pts: number; dts: number; key: boolean }>;
  };
  const [num, den] = manifest.timeBase.split('/').map(Number) as [number, number];
  const ticks = (v: number): number => {
    const t = (v * 90000 * num) / den;
    if (!Number.isInteger(t)) throw new Error(`${v} in ${manifest.timeBase} is not a whole number of 90 kHz ticks`);
    return t;
  };
  // A plain Uint8Array copy: a Node Buffer's slice() would share memory, and the damage test below copies with slice().
  const aus = accessUnits(manifest.codec, splitAnnexB(new Uint8Array(readFileSync(join(dir, manifest.file)))));
  if (aus.length !== manifest.packets.length) throw new Error(`${name}: ${aus.length} access units, ${manifest.packets.length} packets`);
  return {
    name,
    codec: manifest.codec,
    aus,
    pts: manifest.packets.map((p) => ticks(p.pts)),
    dts: manifest.packets.map((p) => ticks(p.dts)),
    key: manifest.packets.map((p) => p.key),
    hasBFrames: manifest.hasBFrames,
  };
}

type Extractor = { extract(nalus: readonly Uint8Array[], pts: number): DtsResult };
const extractorFor = (codec: 'h264' | 'h265'): H264DtsExtractor | H265DtsExtractor =>
  codec === 'h264' ? new H264DtsExtractor() : new H265DtsExtractor();

function feed(x: Extractor, aus: readonly Uint8Array[][], pts: readonly number[]): DtsResult[] {
  return aus.map((au, i) => x.extract(au, pts[i]!));
}

const dtsOf = (results: readonly DtsResult[]): Array<number | undefined> => results.map((r) => (r.ok ? r.dts : undefined));

/** The invariants the fMP4 writer relies on: over the ok results, DTS strictly increases and never exceeds PTS. */
function expectMonotonic(results: readonly DtsResult[], pts: readonly number[]): void {
  let last = -Infinity;
  results.forEach((r, i) => {
    if (!r.ok) return;
    expect(r.dts, `access unit ${i}: DTS after ${last}`).toBeGreaterThan(last);
    expect(r.dts, `access unit ${i}: DTS <= PTS`).toBeLessThanOrEqual(pts[i]!);
    last = r.dts;
  });
}

const fixtures = ['h264-bframes', 'h264-bframes-nopyramid', 'h264-opengop', 'h264-zerolatency', 'h265-bframes'].map(load);
const byName = (name: string): Fixture => fixtures.find((f) => f.name === name)!;

describe('fixtures', () => {
  it('are what their manifests say: 60 access units, keyframes every 25, the reorder depth ffprobe saw', () => {
    const depths = Object.fromEntries(fixtures.map((f) => [f.name, f.hasBFrames]));
    expect(depths).toEqual({ 'h264-bframes': 2, 'h264-bframes-nopyramid': 1, 'h264-opengop': 2, 'h264-zerolatency': 0, 'h265-bframes': 2 });
    for (const f of fixtures) {
      expect(f.aus).toHaveLength(60);
      expect(f.key.flatMap((k, i) => (k ? [i] : []))[0]).toBe(0);
      expect(f.key.filter(Boolean).length, f.name).toBe(3);
      // B-frame fixtures really reorder: some PTS is below an earlier one.
      expect(f.pts.some((p, i) => i > 0 && p < f.pts[i - 1]!), f.name).toBe(f.hasBFrames > 0);
    }
  });
});

describe.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
  it('gives every access unit the DTS the encoder wrote, strictly increasing and <= PTS', () => {
    const results = feed(extractorFor(f.codec), f.aus, f.pts);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expectMonotonic(results, f.pts);
    // Exact: the (D+1)-th largest PTS is x264's and x265's own DTS rule, and the frame duration of the D frames before
    // the first IDR comes from the VUI timing, so there is no constant offset to allow for.
    expect(dtsOf(results)).toEqual(f.dts);
  });

  it('gives the same DTS when the parameter sets come out of band (SDP sprop-parameter-sets) instead', () => {
    const ps = f.codec === 'h264' ? [7, 8] : [32, 33, 34];
    const sets = ps.map((t) => f.aus[0]!.find((n) => nalType(f.codec, n) === t)!);
    const x = extractorFor(f.codec);
    if (x instanceof H264DtsExtractor) x.setParameterSets(sets[0]!, sets[1]!);
    else x.setParameterSets(sets[0]!, sets[1]!, sets[2]!);
    const stripped = f.aus.map((au) => au.filter((n) => !ps.includes(nalType(f.codec, n))));
    expect(stripped.flat().length).toBeLessThan(f.aus.flat().length);
    expect(dtsOf(feed(x, stripped, f.pts))).toEqual(f.dts);
  });

  it('refuses every access unit while no SPS/PPS has been seen, naming what is missing', () => {
    const ps = f.codec === 'h264' ? [7, 8] : [32, 33, 34];
    const stripped = f.aus.map((au) => au.filter((n) => !ps.includes(nalType(f.codec, n))));
    const results = feed(extractorFor(f.codec), stripped, f.pts);
    expect(results.every((r) => !r.ok)).toBe(true);
    expect(results[0]).toEqual({ ok: false, message: 'no PPS 0 received yet' });
  });

  it('never throws and keeps its invariants on damaged access units (bits flipped, units cut short)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(59), fc.nat(4000), fc.nat(7), fc.nat(200)), { maxLength: 40 }), (edits) => {
        const aus = f.aus.map((au) => au.map((n) => n.slice()));
        for (const [a, pos, bit, cut] of edits) {
          const au = aus[a]!;
          const k = pos % au.length;
          const nal = au[k]!;
          if (nal.length > 0) nal[pos % nal.length]! ^= 1 << bit;
          if (cut < 20) au[k] = nal.subarray(0, cut);
        }
        const results = feed(extractorFor(f.codec), aus, f.pts);
        expectMonotonic(results, f.pts);
      }),
      { numRuns: 150 },
    );
  });
});

describe('H264DtsExtractor', () => {
  it('gives DTS = PTS without B-frames (pic_order_cnt_type 2)', () => {
    const f = byName('h264-zerolatency');
    expect(dtsOf(feed(new H264DtsExtractor(), f.aus, f.pts))).toEqual(f.pts);
  });

  it('waits for an IDR: joining mid-GOP refuses until the next IDR, then gives the encoder DTS again', () => {
    const f = byName('h264-bframes');
    const nextIdr = f.key.indexOf(true, 1);
    const results = feed(new H264DtsExtractor(), f.aus.slice(1), f.pts.slice(1));
    results.slice(0, nextIdr - 1).forEach((r) => expect(r).toEqual({ ok: false, message: 'waiting for an IDR access unit to start the DTS timeline' }));
    expect(dtsOf(results.slice(nextIdr - 1))).toEqual(f.dts.slice(nextIdr));
  });

  it('does not start at an open-GOP recovery point (a non-IDR I-frame): those keyframes are not IDRs', () => {
    const f = byName('h264-opengop');
    const results = feed(new H264DtsExtractor(), f.aus.slice(1), f.pts.slice(1));
    expect(results.every((r) => !r.ok)).toBe(true);
  });

  // Without VUI bitstream_restriction the SPS does not say how far the stream reorders (H.264 §E.2.1); the picture
  // order count predicts it. Stripping the whole VUI also drops the timing, so the frame duration is unknown at the
  // IDR: its DTS is its PTS, and the next frames step 1 tick at a time until the sorted PTS catch up. That takes D
  // frames; from frame D + 1 on the DTS is the encoder's again. (mediamtx does the same with 1 ms steps.)
  it.each([
    ['h264-bframes', 2],
    ['h264-bframes-nopyramid', 1],
    ['h264-opengop', 2],
  ] as const)('%s without a VUI: predicts the reorder depth (%i) from the POC and catches up after it', (name, depth) => {
    const f = byName(name);
    const sps = f.aus[0]!.find((n) => (n[0]! & 0x1f) === 7)!;
    const bare = withoutVui(sps);
    expect(bare.length).toBeLessThan(sps.length);
    const aus = f.aus.map((au) => au.map((n) => ((n[0]! & 0x1f) === 7 ? bare : n)));
    const results = feed(new H264DtsExtractor(), aus, f.pts);
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expectMonotonic(results, f.pts);
    const dts = dtsOf(results);
    expect(dts.slice(0, depth + 1)).toEqual(Array.from({ length: depth + 1 }, (_, i) => f.pts[0]! + i));
    expect(dts.slice(depth + 1)).toEqual(f.dts.slice(depth + 1));
  });

  it('learns a deeper reordering than the SPS states: drops the rest of that GOP, then runs with it', () => {
    // The no-B-frame stream, with the PTS of frames 1 and 2, 3 and 4, … 21 and 22 after each IDR swapped: reordering
    // its SPS (pic_order_cnt_type 2) rules out.
    const f = byName('h264-zerolatency');
    const pts = f.pts.map((p, i) => {
      const k = i % 25;
      if (k === 0 || k > 22 || i + 1 >= f.pts.length) return p;
      return k % 2 === 1 ? f.pts[i + 1]! : f.pts[i - 1]!;
    });
    const results = feed(new H264DtsExtractor(), f.aus, pts);
    expectMonotonic(results, pts);
    // Frame 2 is shown before frame 1: no DTS <= 3600 is left after frame 1's 7200, so the GOP is refused up to the
    // next IDR ...
    expect(results[2]).toMatchObject({ ok: false, message: expect.stringMatching(/reorders 1 frames/) });
    expect(results.slice(3, 25).every((r) => !r.ok)).toBe(true);
    // ... from which the depth is 1: the n-th DTS is the (n-1)-th presentation time.
    const frame = 3600;
    expect(dtsOf(results.slice(25))).toEqual(f.pts.slice(25).map((p) => p - frame));
  });

  it('refuses an IDR whose PTS went back behind the last DTS, and starts again after reset()', () => {
    const f = byName('h264-bframes');
    const x = new H264DtsExtractor();
    feed(x, f.aus.slice(0, 25), f.pts);
    const back = f.pts.map((p) => p - 10 * 90000);
    const r = x.extract(f.aus[25]!, back[25]!);
    expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/went back; call reset\(\)/) });
    expect(x.extract(f.aus[26]!, back[26]!)).toMatchObject({ ok: false });
    x.reset();
    const again = feed(x, f.aus.slice(25), back.slice(25));
    expect(dtsOf(again)).toEqual(f.dts.slice(25).map((d) => d - 10 * 90000));
  });

  it('refuses an access unit without a slice and a PTS that is not whole ticks, and goes on with the next', () => {
    const f = byName('h264-bframes');
    const x = new H264DtsExtractor();
    expect(x.extract([f.aus[0]![0]!], 0)).toEqual({ ok: false, message: 'the access unit has no coded slice (NAL unit type 1 or 5)' });
    expect(x.extract(f.aus[0]!, Number.NaN)).toMatchObject({ ok: false });
    expect(x.extract(f.aus[0]!, f.pts[0]!)).toEqual({ ok: true, dts: f.dts[0] });
  });
});

describe('H265DtsExtractor', () => {
  it('joining at an open-GOP CRA refuses its RASL pictures, then gives valid DTS that meet the encoder within D frames', () => {
    const f = byName('h265-bframes');
    const cra = f.key.indexOf(true, 1);
    const x = new H265DtsExtractor();
    const results = feed(x, f.aus.slice(1), f.pts.slice(1)).slice(cra - 1);
    const types = f.aus.slice(cra).map((au) => nalType('h265', au.find((n) => nalType('h265', n) < 32)!));
    expect(types[0]).toBe(21); // CRA_NUT
    // The RASL pictures of the joining CRA: those before the next IRAP (a later CRA's RASL pictures are decodable).
    const nextIrap = types.findIndex((t, i) => i > 0 && t >= 16 && t <= 23);
    const rasl = types.flatMap((t, i) => ((t === 8 || t === 9) && i < nextIrap ? [i] : []));
    expect(rasl.length).toBeGreaterThan(0);
    expect(types.slice(nextIrap).some((t) => t === 8 || t === 9)).toBe(true);
    results.forEach((r, i) => {
      if (rasl.includes(i)) expect(r).toMatchObject({ ok: false, message: expect.stringMatching(/RASL/) });
      else expect(r.ok, `picture ${cra + i}`).toBe(true);
    });
    expectMonotonic(results, f.pts.slice(cra));
    // The RASL pictures (shown before the CRA) never reach the timeline, so the first few DTS stand in for them;
    // by the next mini-GOP the DTS is the encoder's.
    const dts = dtsOf(results);
    const settled = rasl[rasl.length - 1]! + 2;
    expect(dts.slice(settled)).toEqual(f.dts.slice(cra + settled));
  });
});

// The RTP captures of test/fixtures/rtp (README.md there): what the relay will really be fed. Access units are the
// hub's (same RTP timestamp, the marker ends one), depacketized by depacketize-h264/h265.ts; the PTS is the RTP
// timestamp, unwrapped from its random 32-bit start. No encoder DTS was recorded with them, so the check is the
// rule the MP4 fixtures above pin down: the n-th DTS is the n-th presentation time less D frames.
describe('RTP captures', () => {
  const captures = [
    // name, codec, the reorder depth its SPS states
    ['ffmpeg-h264', 'h264', 2], // libx264 default preset: 3 B-frames with B-pyramid
    ['ffmpeg-h264-copy', 'h264', 0], // tune zerolatency; SPS/PPS only in the SDP
    ['gst-h264', 'h264', 0], // openh264, no B-frames
    ['gst-h264-x264', 'h264', 0],
    ['ffmpeg-h265', 'h265', 2], // libx265 defaults: 4 B-frames, B-pyramid, open GOP
    ['gst-h265', 'h265', 0], // x265enc tune=zerolatency
  ] as const;

  it.each(captures)('%s (%s): every access unit gets a DTS, the n-th presentation time less %i frames', (name, codec, depth) => {
    const f = loadFixture(name);
    const aus: Array<{ timestamp: number; payloads: Uint8Array[] }> = [];
    let open = false;
    for (const d of f.rtp) {
      const h = parseRtpHeader(d)!;
      if (open && h.timestamp === aus.at(-1)!.timestamp) aus.at(-1)!.payloads.push(rtpPayload(d, h));
      else aus.push({ timestamp: h.timestamp, payloads: [rtpPayload(d, h)] });
      open = !h.marker;
    }
    const x = extractorFor(codec);
    const sprop = /sprop-parameter-sets=([^;,\s]+),([^;\s]+)/.exec(f.sdp ?? '');
    if (name === 'ffmpeg-h264-copy') {
      // RFC 6184 §8.1: the parameter sets travel only in the SDP here.
      expect(sprop).not.toBeNull();
      (x as H264DtsExtractor).setParameterSets(Buffer.from(sprop![1]!, 'base64'), Buffer.from(sprop![2]!, 'base64'));
    }
    const first = aus[0]!.timestamp;
    const pts = aus.map((au) => (au.timestamp - first) >>> 0); // 75 frames do not wrap; >>> 0 unwraps the start
    const results = aus.map((au, i) => {
      const nalus = codec === 'h264' ? depacketizeH264(au.payloads) : depacketizeH265(au.payloads);
      if (!nalus.ok) throw new Error(`${name} access unit ${i}: ${nalus.error.message}`);
      return x.extract(nalus.value, pts[i]!);
    });
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expectMonotonic(results, pts);
    const frame = 3600; // 25 fps
    const sorted = [...pts].sort((a, b) => a - b);
    expect(dtsOf(results)).toEqual(sorted.map((p) => p - depth * frame));
  });
});

describe('random input', () => {
  const nal = fc.uint8Array({ maxLength: 48 });
  const au = fc.array(nal, { maxLength: 5 });
  it.each(['h264', 'h265'] as const)('%s: random NAL units never throw, and any DTS given is increasing and <= PTS', (codec) => {
    const f = byName(codec === 'h264' ? 'h264-bframes' : 'h265-bframes');
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.oneof(au, fc.constantFrom(...f.aus.slice(0, 30))), fc.oneof(fc.integer({ min: -1e6, max: 1e6 }), fc.double())), { maxLength: 30 }),
        fc.boolean(),
        (units, withSets) => {
          const x = extractorFor(codec);
          if (withSets) {
            if (x instanceof H264DtsExtractor) x.setParameterSets(f.aus[0]![2]!, f.aus[0]![3]!);
            else x.setParameterSets(f.aus[0]![0]!, f.aus[0]![1]!, f.aus[0]![2]!);
          }
          const results = units.map(([nalus, pts]) => x.extract(nalus, pts));
          expectMonotonic(results, units.map(([, pts]) => pts));
        },
      ),
      { numRuns: 500 },
    );
  });
});

/** The SPS with vui_parameters_present_flag cleared and the VUI cut off (H.264 §7.3.2.1.1). Written for x264's High
 *  profile SPS: no scaling matrix, pic_order_cnt_type 0. */
function withoutVui(sps: Uint8Array): Uint8Array {
  const bytes = unescape(sps);
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  let p = 8 + 24; // NAL header, profile_idc, constraint flags, level_idc
  const ue = (): number => {
    let zeros = 0;
    while (bits[p++] === 0) zeros++;
    let v = 0;
    for (let i = 0; i < zeros; i++) v = v * 2 + bits[p++]!;
    return 2 ** zeros - 1 + v;
  };
  if (bytes[1] !== 100) throw new Error('written for High profile SPSes');
  ue(); // seq_parameter_set_id
  if (ue() === 3) p++; // chroma_format_idc, separate_colour_plane_flag
  ue(); // bit_depth_luma_minus8
  ue(); // bit_depth_chroma_minus8
  p++; // qpprime_y_zero_transform_bypass_flag
  if (bits[p++] !== 0) throw new Error('the SPS has a scaling matrix');
  ue(); // log2_max_frame_num_minus4
  if (ue() !== 0) throw new Error('written for pic_order_cnt_type 0');
  ue(); // log2_max_pic_order_cnt_lsb_minus4
  ue(); // max_num_ref_frames
  p++; // gaps_in_frame_num_value_allowed_flag
  ue(); // pic_width_in_mbs_minus1
  ue(); // pic_height_in_map_units_minus1
  if (bits[p++] === 0) p++; // frame_mbs_only_flag, mb_adaptive_frame_field_flag
  p++; // direct_8x8_inference_flag
  if (bits[p++] === 1) for (let i = 0; i < 4; i++) ue(); // frame_cropping_flag and offsets
  if (bits[p] !== 1) throw new Error('the SPS has no VUI');
  return escapeRbsp(new BitWriter().pushBits(bits.slice(0, p)).u(1, 0).trailing().bytes());
}
