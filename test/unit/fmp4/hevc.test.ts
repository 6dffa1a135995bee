// parseHevcSps and hvcCFromParameterSets (shared/fmp4/hevc.ts), and the writer's 'hvc1' track, in three tiers:
//   1. ffmpeg's own records. The committed fixture test/fixtures/fmp4/ffmpeg-frag-hevc.mp4 (README.md there: ffmpeg
//      5.1.9 + libx265, an 'hev1' track), and fresh libx265 encodes made here by the installed ffmpeg with
//      `-tag:v hvc1` (sizes that need a conformance window, 4:2:2 10-bit, 4:4:4 12-bit, monochrome, Main 10, two
//      temporal sub-layers). The SPS fields are checked against what real ffprobe says of each file, and our record
//      against the one ffmpeg wrote, field by field.
//   2. The RTP captures test/fixtures/rtp/ffmpeg-h265 and gst-h265 (README.md there): parameter sets taken in band,
//      hvcC + Fmp4Writer's hvc1 track + the access units as samples, read back by real ffprobe and ffmpeg.
//   3. Hand-made SPSes (written bit by bit with test/support/fmp4-bits.ts, not with the parser's reader), bad
//      inputs, and fast-check: nothing makes either function throw.
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hvcCFromParameterSets, parseHevcSps, type HevcSpsInfo } from '../../../shared/fmp4/hevc.ts';
import { Fmp4Writer, Fmp4WriterError } from '../../../shared/fmp4/writer.ts';
import { depacketizeH265 } from '../../../server/protocols/rtp/depacketize-h265.ts';
import { H265DtsExtractor } from '../../../server/protocols/rtp/dts-extractor.ts';
import { parseRtpHeader, rtpPayload } from '../../../server/protocols/rtp/packet.ts';
import { loadFixture } from '../../fixtures/rtp/load.ts';
import { BitWriter, escapeRbsp } from '../../support/fmp4-bits.ts';
import { FIXTURES, fixture } from '../../support/fmp4-fixtures.ts';
import { lengthPrefixed } from '../../support/fmp4-annexb.ts';
import { runTool } from '../../support/fmp4-tools.ts';
import { find, walk, type WalkedBox } from '../../support/fmp4-walk.ts';

const dir = mkdtempSync(join(tmpdir(), 'relaycast-hevc-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const nalType = (nal: Uint8Array): number => (nal[0]! >> 1) & 0x3f;

function ok<T>(r: { ok: true; value: T } | { ok: false; message: string }): T {
  if (!r.ok) throw new Error(`expected ok, got: ${r.message}`);
  return r.value;
}

// ---------------------------------------------------------------------------------------------------------------
// An HEVCDecoderConfigurationRecord reader (ISO/IEC 14496-15 §8.3.3.1), written here and not in shared/, so that
// ffmpeg's record and ours are compared through code that did not write either.

interface HvcCArray {
  completeness: number;
  type: number;
  nalus: Uint8Array[];
}

interface HvcCFields {
  configurationVersion: number;
  profileSpace: number;
  tierFlag: number;
  profileIdc: number;
  compatibilityFlags: string;
  constraintIndicatorFlags: string;
  levelIdc: number;
  minSpatialSegmentationIdc: number;
  parallelismType: number;
  chromaFormat: number;
  bitDepthLumaMinus8: number;
  bitDepthChromaMinus8: number;
  avgFrameRate: number;
  constantFrameRate: number;
  numTemporalLayers: number;
  temporalIdNested: number;
  lengthSizeMinusOne: number;
  /** The reserved bits, all of which must be 1. */
  reserved: string;
}

function decodeHvcC(b: Uint8Array): { fields: HvcCFields; arrays: HvcCArray[] } {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fields: HvcCFields = {
    configurationVersion: b[0]!,
    profileSpace: b[1]! >> 6,
    tierFlag: (b[1]! >> 5) & 1,
    profileIdc: b[1]! & 0x1f,
    compatibilityFlags: hex(b.subarray(2, 6)),
    constraintIndicatorFlags: hex(b.subarray(6, 12)),
    levelIdc: b[12]!,
    minSpatialSegmentationIdc: v.getUint16(13) & 0x0fff,
    parallelismType: b[15]! & 3,
    chromaFormat: b[16]! & 3,
    bitDepthLumaMinus8: b[17]! & 7,
    bitDepthChromaMinus8: b[18]! & 7,
    avgFrameRate: v.getUint16(19),
    constantFrameRate: b[21]! >> 6,
    numTemporalLayers: (b[21]! >> 3) & 7,
    temporalIdNested: (b[21]! >> 2) & 1,
    lengthSizeMinusOne: b[21]! & 3,
    reserved: [b[13]! >> 4, b[15]! >> 2, b[16]! >> 2, b[17]! >> 3, b[18]! >> 3].map((x) => x.toString(2)).join(','),
  };
  const arrays: HvcCArray[] = [];
  let at = 23;
  for (let i = 0; i < b[22]!; i++) {
    const array: HvcCArray = { completeness: b[at]! >> 7, type: b[at]! & 0x3f, nalus: [] };
    expect((b[at]! >> 6) & 1, 'reserved bit of an array').toBe(0);
    const n = v.getUint16(at + 1);
    at += 3;
    for (let j = 0; j < n; j++) {
      const len = v.getUint16(at);
      array.nalus.push(b.subarray(at + 2, at + 2 + len));
      at += 2 + len;
    }
    arrays.push(array);
  }
  expect(at, 'the arrays end the record').toBe(b.length);
  return { fields, arrays };
}

/** ftyp (ISO/IEC 14496-12 §4.3): the major brand, then the compatible brands (minor_version skipped). */
function brandsOf(file: Uint8Array): string[] {
  const ftyp = find(file, 'ftyp').payload;
  const brand = (at: number): string => Buffer.from(ftyp.subarray(at, at + 4)).toString('latin1');
  return [brand(0), ...Array.from({ length: (ftyp.length - 8) / 4 }, (_, i) => brand(8 + 4 * i))];
}

/** The video sample entry and its hvcC of an MP4 (the walker does not know hvc1/hev1, so step into it by hand). */
function sampleEntry(file: Uint8Array): { type: string; hvcC: Uint8Array; width: number; height: number } {
  const stsd = find(file, 'moov/trak/mdia/minf/stbl/stsd');
  const entry = walk(file, stsd.start + 16, stsd.start + stsd.size)[0]!; // FullBox header + entry_count
  // ISO/IEC 14496-12 §8.5.2.2: width and height at bytes 24..27 of the VisualSampleEntry fields; children after 78.
  const ev = new DataView(entry.payload.buffer, entry.payload.byteOffset, entry.payload.byteLength);
  const children: WalkedBox[] = walk(file, entry.start + 8 + 78, entry.start + entry.size);
  const hvcC = children.find((c) => c.type === 'hvcC');
  if (hvcC === undefined) throw new Error(`no hvcC in the ${entry.type} sample entry`);
  return { type: entry.type, hvcC: hvcC.payload, width: ev.getUint16(24), height: ev.getUint16(26) };
}

interface Probed {
  codec_name: string;
  codec_tag_string: string;
  profile: string;
  width: number;
  height: number;
  coded_width: number;
  coded_height: number;
  pix_fmt: string;
  level: number;
  nb_read_frames?: string;
}

function probe(file: string, count = false): Probed {
  const r = runTool('ffprobe', ['-v', 'error', ...(count ? ['-count_frames'] : []), '-select_streams', 'v:0', '-show_streams', '-of', 'json', file]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const streams = (JSON.parse(r.stdout) as { streams: Probed[] }).streams;
  expect(streams).toHaveLength(1);
  return streams[0]!;
}

/** What an ffmpeg pix_fmt says of chroma_format_idc and bit depth. */
const PIX_FMTS: Record<string, { chroma: number; depth: number }> = {
  gray: { chroma: 0, depth: 8 },
  yuv420p: { chroma: 1, depth: 8 },
  yuv420p10le: { chroma: 1, depth: 10 },
  yuv422p10le: { chroma: 2, depth: 10 },
  yuv444p12le: { chroma: 3, depth: 12 },
};
/** H.265 Annex A general_profile_idc, spelled as ffprobe prints it. */
const PROFILES: Record<string, number> = { Main: 1, 'Main 10': 2, 'Main Still Picture': 3, Rext: 4 };

function expectSpsMatchesProbe(sps: HevcSpsInfo, p: Probed): void {
  expect({ width: sps.width, height: sps.height }).toEqual({ width: p.width, height: p.height });
  expect({ codedWidth: sps.codedWidth, codedHeight: sps.codedHeight }).toEqual({ codedWidth: p.coded_width, codedHeight: p.coded_height });
  expect(sps.profileIdc).toBe(PROFILES[p.profile]);
  expect(sps.levelIdc).toBe(p.level); // ffprobe prints general_level_idc as is (30 = level 1)
  const fmt = PIX_FMTS[p.pix_fmt];
  expect(fmt, `pix_fmt ${p.pix_fmt}`).toBeDefined();
  expect(sps.chromaFormatIdc).toBe(fmt!.chroma);
  expect(sps.bitDepthLuma).toBe(fmt!.depth);
  if (fmt!.chroma !== 0) expect(sps.bitDepthChroma).toBe(fmt!.depth);
}

// ---------------------------------------------------------------------------------------------------------------
// 1. ffmpeg's records

describe('ffmpeg-frag-hevc.mp4 (ffmpeg 5.1.9 + libx265, hev1)', () => {
  const file = fixture('ffmpeg-frag-hevc.mp4');
  const theirs = sampleEntry(file);
  const their = decodeHvcC(theirs.hvcC);
  const [vps, sps, pps] = [32, 33, 34].map((t) => their.arrays.find((a) => a.type === t)!.nalus[0]!) as [Uint8Array, Uint8Array, Uint8Array];

  it('ffmpeg writes no codec brand for HEVC (so neither does Fmp4Writer): ftyp iso5, compatible [iso5, iso6, mp41]', () => {
    expect(brandsOf(file)).toEqual(['iso5', 'iso5', 'iso6', 'mp41']);
  });

  it("ffmpeg's record holds [VPS, SPS, PPS, prefix SEI], one NAL unit each, array_completeness 0 (hev1)", () => {
    expect(theirs.type).toBe('hev1');
    expect(their.arrays.map((a) => [a.type, a.nalus.length, a.completeness])).toEqual([
      [32, 1, 0],
      [33, 1, 0],
      [34, 1, 0],
      [39, 1, 0],
    ]);
  });

  it('parseHevcSps gives what ffprobe says of the file: 64x64, Main, level 30 (1.0), 4:2:0 8-bit', () => {
    const p = probe(join(FIXTURES, 'ffmpeg-frag-hevc.mp4'));
    expect(p).toMatchObject({ codec_name: 'hevc', width: 64, height: 64 });
    const info = ok(parseHevcSps(sps));
    expectSpsMatchesProbe(info, p);
    expect(info).toMatchObject({ maxSubLayersMinus1: 0, temporalIdNesting: true, profileSpace: 0, tierFlag: 0, spsId: 0, vpsId: 0 });
    expect({ w: theirs.width, h: theirs.height }).toEqual({ w: info.width, h: info.height });
  });

  it("our hvcC equals ffmpeg's field by field; the only differences are array_completeness and x265's SEI", () => {
    const ours = ok(hvcCFromParameterSets(vps, sps, pps));
    const our = decodeHvcC(ours);
    // Every field before the arrays is the same, so the first 22 bytes are too (numOfArrays, byte 22, is not).
    expect(our.fields).toEqual(their.fields);
    expect(our.fields).toMatchObject({ configurationVersion: 1, lengthSizeMinusOne: 3, reserved: '1111,111111,111111,11111,11111' });
    expect(hex(ours.subarray(0, 22))).toBe(hex(theirs.hvcC.subarray(0, 22)));
    // Differences, by design:
    // - array_completeness: ffmpeg writes 0 under 'hev1' (parameter sets may also be in band), we write 1, which is
    //   mandatory for parameter set arrays under the 'hvc1' sample entry our writer uses (ISO/IEC 14496-15 §8.3.3.1.2).
    //   With `-tag:v hvc1` ffmpeg writes 1 too (next test).
    // - the fourth array: x265 puts a prefix SEI (user data unregistered, its version and settings) in the headers it
    //   hands ffmpeg, and ffmpeg copies it into the record. It is no parameter set; we take VPS, SPS and PPS only.
    expect(our.arrays.map((a) => ({ ...a, nalus: a.nalus.map(hex) }))).toEqual(
      their.arrays.slice(0, 3).map((a) => ({ ...a, completeness: 1, nalus: a.nalus.map(hex) })),
    );
    expect(their.arrays[3]!.type).toBe(39);
    expect(Buffer.from(their.arrays[3]!.nalus[0]!).toString('latin1')).toContain('x265');
  });
});

describe('fresh libx265 encodes by the installed ffmpeg with -tag:v hvc1', () => {
  // name, pix_fmt, size, extra x265 params. info=0 keeps x265's settings SEI out of the headers, so ffmpeg's
  // record holds exactly VPS, SPS and PPS and ours must equal it byte for byte.
  const cases = [
    ['4:2:0 8-bit, conformance window right 4 bottom 6', 'yuv420p', '100x58', ''],
    ['4:2:0 Main 10, 320x180 as in the RTP captures', 'yuv420p10le', '320x180', ''],
    ['4:2:2 10-bit: window in 2x1 units', 'yuv422p10le', '66x34', ''],
    ['4:4:4 12-bit: window in 1x1 units', 'yuv444p12le', '50x30', ''],
    ['monochrome: chroma_format_idc 0', 'gray', '42x26', ''],
    ['two temporal sub-layers: sub-layer flags in profile_tier_level', 'yuv420p', '64x48', ':temporal-layers=1'],
  ] as const;

  it.each(cases)('%s', (name, pixFmt, size, extra) => {
    const out = join(dir, `${pixFmt}-${size}${extra.replace(/[:=]/g, '-')}.mp4`);
    const enc = runTool('ffmpeg', [
      '-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25`, '-frames:v', '3', '-pix_fmt', pixFmt,
      '-c:v', 'libx265', '-tag:v', 'hvc1', '-x265-params', `log-level=error:info=0${extra}`, out,
    ]);
    expect(enc.stderr, name).toBe('');
    expect(enc.status).toBe(0);
    const bytes = new Uint8Array(readFileSync(out));
    const theirs = sampleEntry(bytes);
    expect(theirs.type).toBe('hvc1');
    expect(brandsOf(bytes).filter((b) => /^h[ve][cv]1$/.test(b))).toEqual([]); // no 'hvc1' brand with -tag:v hvc1 either
    const their = decodeHvcC(theirs.hvcC);
    expect(their.arrays.map((a) => [a.type, a.nalus.length, a.completeness])).toEqual([[32, 1, 1], [33, 1, 1], [34, 1, 1]]);
    const [vps, sps, pps] = their.arrays.map((a) => a.nalus[0]!) as [Uint8Array, Uint8Array, Uint8Array];

    const info = ok(parseHevcSps(sps));
    expectSpsMatchesProbe(info, probe(out));
    expect(info.maxSubLayersMinus1).toBe(extra === '' ? 0 : 1);

    const ours = ok(hvcCFromParameterSets(vps, sps, pps));
    expect(decodeHvcC(ours).fields).toEqual(their.fields);
    expect(hex(ours)).toBe(hex(theirs.hvcC));
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 2. RTP captures → hvcC + Fmp4Writer → ffprobe / ffmpeg

interface CapturedUnit {
  timestamp: number;
  nalus: Uint8Array[];
}

/** Access units as the hub cuts them (the marker ends one, RFC 7798 §4.1), depacketized. */
function captureUnits(name: string): CapturedUnit[] {
  const units: CapturedUnit[] = [];
  let payloads: Uint8Array[] = [];
  let timestamp: number | undefined;
  for (const data of loadFixture(name).rtp) {
    const h = parseRtpHeader(data);
    if (h === undefined) throw new Error(`${name}: a datagram is not RTP`);
    timestamp ??= h.timestamp;
    payloads.push(rtpPayload(data, h));
    if (h.marker) {
      const r = depacketizeH265(payloads);
      if (!r.ok) throw new Error(`${name} access unit ${units.length}: ${r.error.message}`);
      units.push({ timestamp, nalus: r.value });
      payloads = [];
      timestamp = undefined;
    }
  }
  return units;
}

const isIrap = (nalus: readonly Uint8Array[]): boolean => nalus.some((n) => nalType(n) >= 16 && nalType(n) <= 23);
const isParameterSet = (n: Uint8Array): boolean => nalType(n) >= 32 && nalType(n) <= 34;

describe.each([
  // name, keep the in-band VPS/SPS/PPS in the samples
  ['ffmpeg-h265', true], // libx265 defaults: B-frames (RTP timestamps go backwards), open GOP
  ['ffmpeg-h265', false],
  ['gst-h265', true], // x265enc tune=zerolatency: no B-frames; later keyframes are CRAs without parameter sets
  ['gst-h265', false],
] as const)('RTP capture %s (in-band parameter sets kept: %s)', (name, keepInBand) => {
  const units = captureUnits(name);
  const firstOf = (type: number): Uint8Array => {
    const nal = units.flatMap((u) => u.nalus).find((n) => nalType(n) === type);
    if (nal === undefined) throw new Error(`${name} has no NAL unit of type ${type}`);
    return nal;
  };
  const [vps, sps, pps] = [firstOf(32), firstOf(33), firstOf(34)];

  it('75 access units; the in-band SPS is 320x180 (coded 320x184, conformance window bottom 2 chroma rows)', () => {
    expect(units).toHaveLength(75);
    const info = ok(parseHevcSps(sps));
    expect(info).toMatchObject({ width: 320, height: 180, codedWidth: 320, codedHeight: 184, profileIdc: 1, chromaFormatIdc: 1, bitDepthLuma: 8 });
  });

  it('hvcC + the hvc1 writer + the access units as samples: ffprobe counts 75 hevc 320x180 frames, ffmpeg decodes silently', () => {
    const hvcC = ok(hvcCFromParameterSets(vps, sps, pps));
    const w = new Fmp4Writer({ video: { kind: 'video', codec: 'hvc1', hvcC, width: 320, height: 180, timescale: 90_000 } });
    // PTS is the RTP timestamp (RFC 7798 §4.1), unwrapped from its random start; 75 frames at 25 fps do not wrap.
    const first = units[0]!.timestamp;
    const pts = units.map((u) => (u.timestamp - first) >>> 0);
    const x = new H265DtsExtractor();
    const dts = units.map((u, i) => {
      const r = x.extract(u.nalus, pts[i]!);
      if (!r.ok) throw new Error(`${name} access unit ${i}: ${r.message}`);
      return r.dts;
    });
    // With B-frames the first DTS lies before the first PTS (dts-extractor.ts); the writer takes no negative
    // decode times and no edit list, so the whole timeline moves later by that much.
    const shift = Math.max(0, -Math.min(...dts));
    expect(shift).toBe(name === 'ffmpeg-h265' ? 2 * 3600 : 0);
    const init = w.initSegment();
    const fragments = units.map((u, i) =>
      w.fragment('video', {
        // Under 'hvc1' the record's arrays are complete (array_completeness 1), so a strict writer drops the in-band
        // copies; ffmpeg accepts both, and without them it can only have decoded from our hvcC.
        data: lengthPrefixed(keepInBand ? u.nalus : u.nalus.filter((n) => !isParameterSet(n))),
        timestamp: dts[i]! + shift,
        duration: 3600,
        keyframe: isIrap(u.nalus),
        compositionOffset: pts[i]! - dts[i]!,
      }),
    );
    const file = join(dir, `${name}-${keepInBand ? 'inband' : 'outofband'}.mp4`);
    writeFileSync(file, Buffer.concat([init, ...fragments]));

    expect(sampleEntry(init)).toMatchObject({ type: 'hvc1', width: 320, height: 180 });
    expect(hex(sampleEntry(init).hvcC)).toBe(hex(hvcC));

    const p = probe(file, true);
    expect(p).toMatchObject({ codec_name: 'hevc', codec_tag_string: 'hvc1', profile: 'Main', width: 320, height: 180, pix_fmt: 'yuv420p', nb_read_frames: '75' });

    // ffprobe's packets are our samples, in decode order, with our PTS/DTS (mdhd timescale 90000) and sync flags.
    const r = runTool('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'packet=pts,dts,flags', '-of', 'csv=p=0', file]);
    expect(r.stderr).toBe('');
    const packets = r.stdout.trim().split('\n').map((line) => {
      const [p0, d0, flags] = line.split(',');
      return { pts: Number(p0), dts: Number(d0), key: flags!.startsWith('K') };
    });
    expect(packets).toEqual(units.map((u, i) => ({ pts: pts[i]! + shift, dts: dts[i]! + shift, key: isIrap(u.nalus) })));
    expect(packets.filter((k) => k.key)).toHaveLength(3);

    const dec = runTool('ffmpeg', ['-nostdin', '-v', 'error', '-i', file, '-f', 'null', '-']);
    expect(dec.stderr).toBe('');
    expect(dec.status).toBe(0);
  });
});

describe('Fmp4Writer hvc1 track', () => {
  const f = captureUnits('gst-h265');
  const sets = [32, 33, 34].map((t) => f.flatMap((u) => u.nalus).find((n) => nalType(n) === t)!) as [Uint8Array, Uint8Array, Uint8Array];
  const hvcC = ok(hvcCFromParameterSets(...sets));

  it("the ftyp has ffmpeg's brands and no codec brand (ffmpeg 5.1 writes none for HEVC); stsd holds hvc1 > hvcC", () => {
    const init = new Fmp4Writer({ video: { kind: 'video', codec: 'hvc1', hvcC, width: 320, height: 180, timescale: 90_000 } }).initSegment();
    expect(brandsOf(init)).toEqual(['iso6', 'iso6', 'iso5', 'isom', 'mp41']);
    expect(sampleEntry(init)).toMatchObject({ type: 'hvc1', width: 320, height: 180 });
  });

  it('refuses a record that is not an HEVCDecoderConfigurationRecord with bad-config', () => {
    for (const bad of [hvcC.subarray(0, 22), Uint8Array.of(0, ...hvcC.subarray(1))]) {
      const make = (): Fmp4Writer => new Fmp4Writer({ video: { kind: 'video', codec: 'hvc1', hvcC: bad, width: 320, height: 180, timescale: 90_000 } });
      expect(make).toThrow(Fmp4WriterError);
      expect(make).toThrow(/HEVCDecoderConfigurationRecord/);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. Hand-made SPSes and bad inputs

interface SpsSpec {
  header?: [number, number];
  vpsId?: number;
  maxSubLayersMinus1?: number;
  nesting?: number;
  profileSpace?: number;
  tier?: number;
  profileIdc?: number;
  compatibility?: number;
  constraint?: readonly number[];
  level?: number;
  /** Per sub-layer 0..maxSubLayersMinus1-1: [sub_layer_profile_present_flag, sub_layer_level_present_flag]. */
  subLayers?: ReadonlyArray<readonly [number, number]>;
  spsId?: number;
  chroma?: number;
  separateColourPlane?: number;
  width?: number;
  height?: number;
  window?: readonly [number, number, number, number];
  bitDepthLumaMinus8?: number;
  bitDepthChromaMinus8?: number;
}

/** H.265 §7.3.2.2 up to the bit depths (all parseHevcSps reads), then a plausible tail and rbsp_trailing_bits. */
function spsNal(s: SpsSpec = {}): Uint8Array {
  const w = new BitWriter();
  const max = s.maxSubLayersMinus1 ?? 0;
  w.u(4, s.vpsId ?? 0).u(3, max).u(1, s.nesting ?? 1);
  w.u(2, s.profileSpace ?? 0).u(1, s.tier ?? 0).u(5, s.profileIdc ?? 1).u(32, s.compatibility ?? 0x6000_0000);
  for (const b of s.constraint ?? [0x90, 0, 0, 0, 0, 0]) w.u(8, b);
  w.u(8, s.level ?? 93);
  const sub = s.subLayers ?? [];
  for (let i = 0; i < max; i++) w.u(1, sub[i]?.[0] ?? 0).u(1, sub[i]?.[1] ?? 0);
  if (max > 0) for (let i = max; i < 8; i++) w.u(2, 0);
  for (let i = 0; i < max; i++) {
    // sub-layer profile: space 0, tier 0, idc 1, compatibility, then 48 flag bits made of 0xa5 so a misaligned reader
    // cannot land on zeros by luck; sub-layer level 0x5a.
    if (sub[i]?.[0]) w.u(2, 0).u(1, 0).u(5, 1).u(32, 0x6000_0000).u(24, 0xa5a5a5).u(24, 0xa5a5a5);
    if (sub[i]?.[1]) w.u(8, 0x5a);
  }
  w.ue(s.spsId ?? 0).ue(s.chroma ?? 1);
  if ((s.chroma ?? 1) === 3) w.u(1, s.separateColourPlane ?? 0);
  w.ue(s.width ?? 320).ue(s.height ?? 184);
  const win = s.window ?? [0, 0, 0, 2];
  if (win.every((x) => x === 0)) w.u(1, 0);
  else w.u(1, 1).ue(win[0]).ue(win[1]).ue(win[2]).ue(win[3]);
  w.ue(s.bitDepthLumaMinus8 ?? 0).ue(s.bitDepthChromaMinus8 ?? 0);
  w.ue(4).u(1, 1).ue(4).ue(0).ue(0); // log2_max_pic_order_cnt_lsb_minus4, sub-layer ordering info (one entry)
  const [h0, h1] = s.header ?? [0x42, 0x01];
  return Uint8Array.of(h0, h1, ...escapeRbsp(w.trailing().bytes()));
}

/** VPS: id, base layer flags, max_layers_minus1 0, max_sub_layers_minus1, nesting, 0xffff, then junk (not read). */
function vpsNal(id = 0, maxSubLayersMinus1 = 0, header: [number, number] = [0x40, 0x01]): Uint8Array {
  const w = new BitWriter().u(4, id).u(2, 3).u(6, 0).u(3, maxSubLayersMinus1).u(1, 1).u(16, 0xffff).u(8, 0x01);
  return Uint8Array.of(...header, ...escapeRbsp(w.trailing().bytes()));
}

function ppsNal(id = 0, spsId = 0, header: [number, number] = [0x44, 0x01]): Uint8Array {
  return Uint8Array.of(...header, ...escapeRbsp(new BitWriter().ue(id).ue(spsId).u(7, 0).trailing().bytes()));
}

const failure = (r: { ok: boolean; message?: string }): string => {
  expect(r.ok).toBe(false);
  return r.message ?? '';
};

describe('hand-made SPSes', () => {
  it('the defaults: 320x184 coded, conformance window bottom 2 (4:2:0: 2 rows each) → 320x180', () => {
    expect(ok(parseHevcSps(spsNal()))).toMatchObject({ width: 320, height: 180, codedWidth: 320, codedHeight: 184, levelIdc: 93 });
  });

  it('conformance window units follow chroma_format_idc (Table 6-1: SubWidthC x SubHeightC)', () => {
    const size = (chroma: number, separateColourPlane = 0): [number, number] => {
      const i = ok(parseHevcSps(spsNal({ chroma, separateColourPlane, width: 64, height: 64, window: [1, 2, 3, 4] })));
      return [i.width, i.height];
    };
    expect(size(0)).toEqual([61, 57]); // monochrome 1x1
    expect(size(1)).toEqual([58, 50]); // 4:2:0 2x2
    expect(size(2)).toEqual([58, 57]); // 4:2:2 2x1
    expect(size(3)).toEqual([61, 57]); // 4:4:4 1x1
    expect(size(3, 1)).toEqual([61, 57]); // separate colour planes 1x1
    expect(ok(parseHevcSps(spsNal({ chroma: 3, separateColourPlane: 1 }))).separateColourPlane).toBe(true);
  });

  it('reads past sub-layer profiles and levels (§7.3.3) to the fields after them', () => {
    for (const subLayers of [
      [[1, 1], [0, 1], [1, 0]],
      [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0], [1, 1]],
      [[1, 1], [1, 1], [1, 1], [1, 1], [1, 1], [1, 1]],
    ] as const) {
      const max = subLayers.length;
      const info = ok(parseHevcSps(spsNal({ maxSubLayersMinus1: max, nesting: 0, subLayers, spsId: 7, width: 1920, height: 1088, window: [0, 0, 0, 4] })));
      expect(info).toMatchObject({ maxSubLayersMinus1: max, temporalIdNesting: false, spsId: 7, width: 1920, height: 1080, profileIdc: 1, levelIdc: 93 });
    }
  });

  it('keeps every profile_tier_level bit the hvcC copies, and builds the record from them', () => {
    const constraint = [0xb1, 0x23, 0x45, 0x67, 0x89, 0xab];
    const sps = spsNal({ vpsId: 3, maxSubLayersMinus1: 2, nesting: 1, profileSpace: 2, tier: 1, profileIdc: 4, compatibility: 0x0800_0001, constraint, level: 153, spsId: 5, chroma: 2, bitDepthLumaMinus8: 4, bitDepthChromaMinus8: 2 });
    expect(ok(parseHevcSps(sps))).toMatchObject({ vpsId: 3, profileSpace: 2, tierFlag: 1, profileIdc: 4, profileCompatibilityFlags: 0x0800_0001, levelIdc: 153, bitDepthLuma: 12, bitDepthChroma: 10 });
    expect(hex(ok(parseHevcSps(sps)).constraintIndicatorFlags)).toBe('b123456789ab');
    const rec = decodeHvcC(ok(hvcCFromParameterSets(vpsNal(3, 4), sps, ppsNal(9, 5))));
    expect(rec.fields).toEqual({
      configurationVersion: 1, profileSpace: 2, tierFlag: 1, profileIdc: 4, compatibilityFlags: '08000001', constraintIndicatorFlags: 'b123456789ab',
      levelIdc: 153, minSpatialSegmentationIdc: 0, parallelismType: 0, chromaFormat: 2, bitDepthLumaMinus8: 4, bitDepthChromaMinus8: 2,
      avgFrameRate: 0, constantFrameRate: 0,
      numTemporalLayers: 5, // max(vps_max_sub_layers_minus1 4, sps 2) + 1, as ffmpeg
      temporalIdNested: 1, lengthSizeMinusOne: 3, reserved: '1111,111111,111111,11111,11111',
    });
    expect(rec.arrays.map((a) => [a.completeness, a.type, a.nalus.length])).toEqual([[1, 32, 1], [1, 33, 1], [1, 34, 1]]);
  });

  it('takes emulation prevention bytes out before reading (00 00 03 in the compatibility flags)', () => {
    const sps = spsNal({ compatibility: 0, constraint: [0, 0, 0, 0, 0, 0], level: 0 });
    expect(hex(sps)).toMatch(/000003/);
    expect(ok(parseHevcSps(sps))).toMatchObject({ profileCompatibilityFlags: 0, levelIdc: 0, width: 320, height: 180 });
  });

  it.each<[string, Uint8Array, RegExp]>([
    ['empty', new Uint8Array(0), /shorter than its 2-byte NAL unit header/],
    ['one byte', Uint8Array.of(0x42), /shorter than its 2-byte/],
    ['header only', Uint8Array.of(0x42, 0x01), /ends early/],
    ['forbidden_zero_bit', spsNal({ header: [0xc2, 0x01] }), /forbidden_zero_bit/],
    ['a VPS', vpsNal(), /NAL unit type 32 is not a SPS \(33\)/],
    ['a PPS', ppsNal(), /NAL unit type 34 is not a SPS/],
    ['nuh_temporal_id_plus1 0', spsNal({ header: [0x42, 0x00] }), /nuh_temporal_id_plus1 0/],
    ['nuh_layer_id 1', spsNal({ header: [0x42, 0x09] }), /layer 1/],
    ['sps_max_sub_layers_minus1 7', spsNal({ maxSubLayersMinus1: 7 }), /sps_max_sub_layers_minus1 7 is over 6/],
    ['sps_seq_parameter_set_id 16', spsNal({ spsId: 16 }), /sps_seq_parameter_set_id 16 is over 15/],
    ['chroma_format_idc 4', spsNal({ chroma: 4 }), /chroma_format_idc 4 is over 3/],
    ['width 0', spsNal({ width: 0 }), /coded picture is 0x184/],
    ['height 0', spsNal({ height: 0 }), /coded picture is 320x0/],
    ['width 16392', spsNal({ width: 16392 }), /16392x184 is larger than 16384/],
    ['height 2^32 - 2', spsNal({ height: 2 ** 32 - 2 }), /larger than 16384/],
    ['a window as wide as the picture', spsNal({ width: 64, window: [16, 16, 0, 0] }), /leaves a 0x184 picture/],
    ['a window taller than the picture', spsNal({ window: [0, 0, 0, 2 ** 31] }), /leaves a 320x-/],
    ['bit_depth_luma_minus8 9', spsNal({ bitDepthLumaMinus8: 9 }), /bit depth 17\/8 is over 16/],
    ['bit_depth_chroma_minus8 9', spsNal({ bitDepthChromaMinus8: 9 }), /bit depth 8\/17 is over 16/],
    ['an Exp-Golomb code of 32 leading zeros', spsNal({ width: 2 ** 32 }), /longer than 32 bits/], // with 03 bytes in the run
  ])('refuses %s', (_, nal, message) => {
    expect(failure(parseHevcSps(nal))).toMatch(message);
  });

  it('every truncation of a real SPS before its bit depths is refused, every longer one reads the same', () => {
    const sps = captureUnits('gst-h265').flatMap((u) => u.nalus).find((n) => nalType(n) === 33)!;
    const whole = ok(parseHevcSps(sps));
    const results = Array.from({ length: sps.length }, (_, n) => parseHevcSps(sps.subarray(0, n)));
    // Header (2) + 1 + profile_tier_level (12) + emulation prevention bytes, then the Exp-Golomb codes up to the bit depths.
    const firstOk = results.findIndex((r) => r.ok);
    expect(firstOk).toBeGreaterThan(15);
    for (const r of results.slice(0, 2)) expect(failure(r)).toMatch(/shorter than its 2-byte NAL unit header/);
    for (const r of results.slice(2, firstOk)) expect(failure(r)).toMatch(/the SPS ends early/);
    for (const r of results.slice(firstOk)) expect(r).toEqual({ ok: true, value: whole });
  });
});

describe('hvcCFromParameterSets, bad inputs', () => {
  const sps = spsNal();
  it.each<[string, Uint8Array, Uint8Array, Uint8Array, RegExp]>([
    ['an SPS as the VPS', sps, sps, ppsNal(), /NAL unit type 33 is not a VPS \(32\)/],
    ['an empty VPS', new Uint8Array(0), sps, ppsNal(), /VPS is 0 bytes/],
    ['a VPS cut after its header', Uint8Array.of(0x40, 0x01, 0x0c), sps, ppsNal(), /VPS ends early/],
    ['vps_max_sub_layers_minus1 7', vpsNal(0, 7), sps, ppsNal(), /vps_max_sub_layers_minus1 7 is over 6/],
    ['a bad SPS', vpsNal(), spsNal({ chroma: 5 }), ppsNal(), /chroma_format_idc 5/],
    ['a VPS as the PPS', vpsNal(), sps, vpsNal(), /NAL unit type 32 is not a PPS \(34\)/],
    ['a PPS cut after its header', vpsNal(), sps, Uint8Array.of(0x44, 0x01), /PPS ends early/],
    ['pps_pic_parameter_set_id 64', vpsNal(), sps, ppsNal(64), /pps_pic_parameter_set_id 64 is over 63/],
    ['a PPS of another SPS', vpsNal(), sps, ppsNal(0, 1), /PPS refers to SPS 1, but the SPS given is 0/],
    ['an SPS of another VPS', vpsNal(1), sps, ppsNal(), /SPS refers to VPS 0, but the VPS given is 1/],
    ['16-bit video', vpsNal(), spsNal({ bitDepthLumaMinus8: 8 }), ppsNal(), /bit depth 16\/8 does not fit/],
    ['a PPS of 65536 bytes', vpsNal(), sps, Uint8Array.of(...ppsNal(), ...new Uint8Array(65536 - ppsNal().length).fill(0x55)), /PPS is 65536 bytes/],
  ])('refuses %s', (_, vps, s, pps, message) => {
    expect(failure(hvcCFromParameterSets(vps, s, pps))).toMatch(message);
  });

  it('takes a PPS of exactly 65535 bytes', () => {
    const pps = Uint8Array.of(...ppsNal(), ...new Uint8Array(65535 - ppsNal().length).fill(0x55));
    expect(decodeHvcC(ok(hvcCFromParameterSets(vpsNal(), sps, pps))).arrays[2]!.nalus[0]!.length).toBe(65535);
  });
});

describe('random input', () => {
  const real = captureUnits('ffmpeg-h265').flatMap((u) => u.nalus);
  const [vps, sps, pps] = [32, 33, 34].map((t) => real.find((n) => nalType(n) === t)!) as [Uint8Array, Uint8Array, Uint8Array];

  /** What must hold of any result: a refusal has a message; an SPS that parses is within bounds. */
  function expectSane(r: ReturnType<typeof parseHevcSps>): void {
    if (!r.ok) {
      expect(r.message.length).toBeGreaterThan(0);
      return;
    }
    const i = r.value;
    expect(i.width).toBeGreaterThan(0);
    expect(i.height).toBeGreaterThan(0);
    expect(i.width).toBeLessThanOrEqual(i.codedWidth);
    expect(i.height).toBeLessThanOrEqual(i.codedHeight);
    expect(i.codedWidth).toBeLessThanOrEqual(16384);
    expect(i.codedHeight).toBeLessThanOrEqual(16384);
    expect(i.constraintIndicatorFlags).toHaveLength(6);
  }

  it('random bytes never throw, with or without an SPS header in front', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), (bytes, header) => {
        const nal = header ? Uint8Array.of(0x42, 0x01, ...bytes) : bytes;
        expectSane(parseHevcSps(nal));
        const r = hvcCFromParameterSets(Uint8Array.of(0x40, 0x01, ...bytes), nal, Uint8Array.of(0x44, 0x01, ...bytes));
        if (r.ok) expect(decodeHvcC(r.value).arrays).toHaveLength(3);
      }),
      { numRuns: 2000 },
    );
  });

  it('a real SPS, VPS and PPS with bits flipped, bytes cut or inserted never throw', () => {
    const mutate = (nal: Uint8Array): fc.Arbitrary<Uint8Array> =>
      fc.oneof(
        fc.array(fc.nat({ max: nal.length * 8 - 1 }), { minLength: 1, maxLength: 4 }).map((bits) => {
          const out = nal.slice();
          for (const b of bits) out[b >> 3]! ^= 0x80 >> (b & 7);
          return out;
        }),
        fc.nat({ max: nal.length }).map((n) => nal.subarray(0, n)),
        fc.tuple(fc.nat({ max: nal.length }), fc.uint8Array({ minLength: 1, maxLength: 4 })).map(([at, ins]) => Uint8Array.of(...nal.subarray(0, at), ...ins, ...nal.subarray(at))),
      );
    fc.assert(
      fc.property(mutate(vps), mutate(sps), mutate(pps), (v, s, p) => {
        expectSane(parseHevcSps(s));
        const r = hvcCFromParameterSets(v, s, p);
        if (r.ok) expect(decodeHvcC(r.value).arrays.map((a) => a.type)).toEqual([32, 33, 34]);
      }),
      { numRuns: 2000 },
    );
  });
});
