import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { avcCodecString, avcProfileName, parseAvcC, parseSps, unescapeRbsp } from '../../../shared/fmp4/avc.ts';
import cases from '../../fixtures/fmp4/sps-cases.json' with { type: 'json' };
import { buildAvcC } from '../../support/fmp4-annexb.ts';
import { BitWriter, escapeRbsp } from '../../support/fmp4-bits.ts';
import { videoFixture } from '../../support/fmp4-fixtures.ts';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

describe('parseSps against ffprobe (x264 SPSes, test/fixtures/fmp4/sps-cases.json)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const r = parseSps(hex(c.spsHex));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect({ width: r.value.width, height: r.value.height, level: r.value.levelIdc, profile: avcProfileName(r.value.profileIdc, r.value.constraintFlags) }).toEqual({
      width: c.ffprobe.width,
      height: c.ffprobe.height,
      level: c.ffprobe.level,
      profile: c.ffprobe.profile,
    });
  });

  it('includes SPSes that carry scaling lists, so skipping them is really exercised', () => {
    expect(cases.filter((c) => c.name.includes('scaling lists inserted'))).toHaveLength(2);
  });

  it('reads the 640x360 fixture (coded 640x368, cropped by 8 rows)', () => {
    const r = parseSps(videoFixture().sps);
    expect(r).toMatchObject({ ok: true, value: { profileIdc: 100, codedWidth: 640, codedHeight: 368, width: 640, height: 360, frameMbsOnly: true } });
  });
});

/** A complete SPS from fields, written with the test's own bit writer. */
function sps(o: {
  profile?: number;
  chroma?: number;
  separatePlanes?: boolean;
  pocType?: 0 | 1 | 2;
  pocCycle?: number[];
  widthMbs: number;
  heightUnits: number;
  frameMbsOnly?: boolean;
  crop?: [number, number, number, number];
  scaling?: boolean;
  log2MaxFrameNum?: number;
}): Uint8Array {
  const profile = o.profile ?? 100;
  const w = new BitWriter().u(8, 0x67).u(8, profile).u(8, 0).u(8, 40).ue(0);
  if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
    const chroma = o.chroma ?? 1;
    w.ue(chroma);
    if (chroma === 3) w.u(1, o.separatePlanes ? 1 : 0);
    w.ue(0).ue(0).u(1, 0);
    w.u(1, o.scaling ? 1 : 0);
    if (o.scaling) {
      const lists = chroma === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) {
        w.u(1, 1);
        // deltas that wrap around and hit both extremes of delta_scale: 8 → 136 → 9 → 136 → 9 … (never 0, which
        // would end the list early)
        const size = i < 6 ? 16 : 64;
        for (let j = 0; j < size; j++) w.se(j === 0 ? -128 : j % 2 === 1 ? -127 : 127);
      }
    }
  }
  w.ue((o.log2MaxFrameNum ?? 4) - 4); // log2_max_frame_num_minus4
  const poc = o.pocType ?? 0;
  w.ue(poc);
  if (poc === 0) w.ue(2);
  if (poc === 1) {
    w.u(1, 0).se(-3).se(5).ue(o.pocCycle?.length ?? 0);
    for (const c of o.pocCycle ?? []) w.se(c);
  }
  w.ue(4).u(1, 0).ue(o.widthMbs - 1).ue(o.heightUnits - 1);
  const frameMbsOnly = o.frameMbsOnly ?? true;
  w.u(1, frameMbsOnly ? 1 : 0);
  if (!frameMbsOnly) w.u(1, 1);
  w.u(1, 1);
  if (o.crop) {
    w.u(1, 1);
    for (const c of o.crop) w.ue(c);
  } else w.u(1, 0);
  w.u(1, 0); // vui_parameters_present_flag
  return escapeRbsp(w.trailing().bytes());
}

describe('parseSps on constructed SPSes (H.264 §7.3.2.1.1, §7.4.2.1.1 crop units)', () => {
  it('4:2:0 progressive crop: 2 luma samples per crop unit both ways', () => {
    expect(parseSps(sps({ widthMbs: 80, heightUnits: 45, crop: [1, 2, 3, 4] }))).toMatchObject({ ok: true, value: { width: 1280 - 6, height: 720 - 14 } });
  });
  it('4:2:0 field coding: map units are field macroblock rows and vertical crop units are 4 rows', () => {
    expect(parseSps(sps({ widthMbs: 120, heightUnits: 34, frameMbsOnly: false, crop: [0, 0, 0, 2] }))).toMatchObject({
      ok: true,
      value: { codedHeight: 1088, height: 1080, frameMbsOnly: false },
    });
  });
  it('4:2:2: horizontal crop unit 2, vertical 1', () => {
    expect(parseSps(sps({ profile: 122, chroma: 2, widthMbs: 10, heightUnits: 10, crop: [1, 0, 1, 0] }))).toMatchObject({ ok: true, value: { width: 158, height: 159 } });
  });
  it('4:4:4 and separate colour planes (ChromaArrayType 0): crop unit 1', () => {
    expect(parseSps(sps({ profile: 244, chroma: 3, widthMbs: 10, heightUnits: 10, crop: [1, 1, 1, 1] }))).toMatchObject({ ok: true, value: { width: 158, height: 158 } });
    expect(parseSps(sps({ profile: 244, chroma: 3, separatePlanes: true, widthMbs: 10, heightUnits: 10, crop: [1, 1, 1, 1] }))).toMatchObject({
      ok: true,
      value: { width: 158, height: 158, separateColourPlane: true },
    });
  });
  it('frame_num width: log2_max_frame_num_minus4 + 4, from 4 to 16 bits', () => {
    for (const bits of [4, 9, 16]) {
      expect(parseSps(sps({ widthMbs: 10, heightUnits: 10, log2MaxFrameNum: bits }))).toMatchObject({ ok: true, value: { log2MaxFrameNum: bits, separateColourPlane: false } });
    }
  });
  it('4:0:0 monochrome: crop unit 1 across, 1 down (frame coding)', () => {
    expect(parseSps(sps({ profile: 100, chroma: 0, widthMbs: 10, heightUnits: 10, crop: [3, 0, 3, 0] }))).toMatchObject({ ok: true, value: { width: 157, height: 157 } });
  });
  it('skips 8 and 12 scaling lists with extreme deltas', () => {
    expect(parseSps(sps({ scaling: true, widthMbs: 40, heightUnits: 30 }))).toMatchObject({ ok: true, value: { width: 640, height: 480 } });
    expect(parseSps(sps({ profile: 244, chroma: 3, scaling: true, widthMbs: 40, heightUnits: 30 }))).toMatchObject({ ok: true, value: { width: 640, height: 480 } });
  });
  it('pic_order_cnt_type 1 with a cycle, and type 2', () => {
    expect(parseSps(sps({ pocType: 1, pocCycle: [1, -2, 300], widthMbs: 22, heightUnits: 18 }))).toMatchObject({ ok: true, value: { width: 352, height: 288 } });
    expect(parseSps(sps({ profile: 66, pocType: 2, widthMbs: 22, heightUnits: 18 }))).toMatchObject({ ok: true, value: { width: 352, height: 288 } });
  });
  it('refuses a crop that leaves nothing and a picture over 16384 on a side', () => {
    expect(parseSps(sps({ widthMbs: 1, heightUnits: 1, crop: [4, 4, 0, 0] })).ok).toBe(false);
    expect(parseSps(sps({ widthMbs: 1100, heightUnits: 10 })).ok).toBe(false);
  });
  it('refuses what is not an SPS', () => {
    expect(parseSps(new Uint8Array())).toMatchObject({ ok: false });
    expect(parseSps(Uint8Array.of(0x68, 0xee))).toMatchObject({ ok: false, message: expect.stringContaining('not an SPS') });
    expect(parseSps(Uint8Array.of(0xe7, 0x64))).toMatchObject({ ok: false, message: expect.stringContaining('forbidden_zero_bit') });
  });
  it('refuses an Exp-Golomb code longer than 32 bits', () => {
    expect(parseSps(Uint8Array.of(0x67, 100, 0, 40, 0, 0, 0, 0, 0, 0x80))).toMatchObject({ ok: false, message: expect.stringContaining('Exp-Golomb') });
  });
  it('every truncation of a valid SPS fails cleanly, never throws', () => {
    const full = sps({ scaling: true, pocType: 1, pocCycle: [1, 2], widthMbs: 40, heightUnits: 30, crop: [0, 0, 0, 4] });
    for (let n = 0; n < full.length - 1; n++) expect(parseSps(full.subarray(0, n)).ok).toBe(false);
  });
  it('never throws on arbitrary bytes behind an SPS header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        const r = parseSps(Uint8Array.of(0x67, ...tail));
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('unescapeRbsp (H.264 §7.4.1)', () => {
  it('drops the 03 of each 00 00 03 and nothing else', () => {
    expect([...unescapeRbsp(Uint8Array.of(0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 3, 0, 3))]).toEqual([0, 0, 1, 0, 0, 0, 0, 3, 0, 3]);
  });
  it('inverts the test writer escaping', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
        expect([...unescapeRbsp(escapeRbsp(raw))]).toEqual([...raw]);
      }),
    );
  });
});

describe('parseAvcC (ISO/IEC 14496-15 §5.3.3.1)', () => {
  const { avcC } = videoFixture();

  it('reads the fixture record', () => {
    const r = parseAvcC(avcC);
    expect(r).toMatchObject({ ok: true, value: { profileIndication: 100, profileCompatibility: 0, levelIndication: 30, nalLengthSize: 4 } });
    if (r.ok) expect([r.value.sps.length, r.value.pps.length]).toEqual([1, 1]);
  });
  it('accepts the High-profile extension after the PPS list, and nothing else there', () => {
    expect(parseAvcC(Uint8Array.of(...avcC, 0xfd, 0xf8, 0xf8, 0x00)).ok).toBe(true);
    expect(parseAvcC(Uint8Array.of(...avcC, 0xfd, 0xf8, 0xf8, 0x01, 0x00, 0x02, 0x6d, 0x00)).ok).toBe(true);
    expect(parseAvcC(Uint8Array.of(...avcC, 0xfd, 0xf8, 0xf8, 0x00, 0x00))).toMatchObject({ ok: false, message: expect.stringContaining('after its High-profile extension') });
    expect(parseAvcC(Uint8Array.of(...avcC, 0xfd, 0xf8))).toMatchObject({ ok: false });
    const main = Uint8Array.of(avcC[0]!, 77, ...avcC.subarray(2));
    expect(parseAvcC(Uint8Array.of(...main, 0xfd, 0xf8, 0xf8, 0x00))).toMatchObject({ ok: false, message: expect.stringContaining('after its PPS list') });
  });
  it('refuses a wrong version, a 3-byte NAL length, no SPS, a PPS where the SPS should be', () => {
    expect(parseAvcC(Uint8Array.of(0, ...avcC.subarray(1))).ok).toBe(false);
    expect(parseAvcC(Uint8Array.of(...avcC.subarray(0, 4), 0xfe, ...avcC.subarray(5)))).toMatchObject({ ok: false, message: expect.stringContaining('lengthSizeMinusOne') });
    expect(parseAvcC(Uint8Array.of(1, 100, 0, 30, 0xff, 0xe0, 0))).toMatchObject({ ok: false, message: 'the avcC has no SPS' });
    const { sps: s, pps } = videoFixture();
    expect(parseAvcC(buildAvcC(pps, s)).ok).toBe(false);
  });
  it('every truncation fails cleanly', () => {
    for (let n = 0; n < avcC.length; n++) expect(parseAvcC(avcC.subarray(0, n)).ok).toBe(false);
  });
  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => typeof parseAvcC(Uint8Array.of(1, ...b)).ok === 'boolean'), { numRuns: 2000 });
  });
});

describe('codec strings and profile names', () => {
  it('formats RFC 6381 avc1.PPCCLL', () => {
    expect(avcCodecString('avc1', 0x64, 0x00, 0x1f)).toBe('avc1.64001f');
    expect(avcCodecString('avc3', 66, 0xc0, 30)).toBe('avc3.42c01e');
  });
  it('names profiles as ffprobe does', () => {
    expect(avcProfileName(66, 0x40)).toBe('Constrained Baseline');
    expect(avcProfileName(66, 0)).toBe('Baseline');
    expect(avcProfileName(77, 0)).toBe('Main');
    expect(avcProfileName(100, 0)).toBe('High');
    expect(avcProfileName(110, 0x10)).toBe('High 10 Intra');
    expect(avcProfileName(244, 0)).toBe('High 4:4:4 Predictive');
    expect(avcProfileName(9, 0)).toBe('Profile 9');
  });
});
