import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { H265_FLAG_STARTS, h265Flags, h265Summary, isH265Keyframe, type H265Summary } from '../../../../server/protocols/rtp/h265.ts';

// Hand-made payloads (RFC 7798). NAL header: F(1) type(6) layer(6) TID+1(3); layer 0, TID 0.
const hdr = (type: number): number[] => [type << 1, 0x01];
const nal = (type: number, body: number[] = [0xaf, 0x01]): number[] => [...hdr(type), ...body];
const VPS = nal(32, [0x0c, 0x01, 0xff]);
const SPS = nal(33, [0x01, 0x01, 0x60]);
const PPS = nal(34, [0xc1, 0x72]);
const IDR = nal(19);
const CRA = nal(21);
const TRAIL = nal(1);

/** Aggregation packet (§4.4.2): PayloadHdr type 48, then (u16 size, NAL)*. */
function ap(...nals: number[][]): number[] {
  const out = hdr(48);
  for (const n of nals) out.push(n.length >> 8, n.length & 0xff, ...n);
  return out;
}
/** Fragmentation unit (§4.4.3): PayloadHdr type 49, FU header S E FuType(6), fragment. */
const fu = (type: number, s: boolean, e: boolean, body: number[] = [0x33, 0x44]): number[] => [
  ...hdr(49),
  (s ? 0x80 : 0) | (e ? 0x40 : 0) | type,
  ...body,
];

const none: H265Summary = { irap: false, vps: false, sps: false, pps: false };

const cases: Array<[string, number[], H265Summary]> = [
  ['empty', [], none],
  ['one byte', [0x26], none],
  ['single NAL: IDR_W_RADL (19)', IDR, { ...none, irap: true }],
  ['single NAL: IDR_N_LP (20)', nal(20), { ...none, irap: true }],
  ['single NAL: CRA (21, x265 open-GOP keyframes)', CRA, { ...none, irap: true }],
  ['single NAL: BLA_W_LP (16)', nal(16), { ...none, irap: true }],
  ['single NAL: BLA_W_RADL (17)', nal(17), { ...none, irap: true }],
  ['single NAL: BLA_N_LP (18)', nal(18), { ...none, irap: true }],
  ['single NAL: reserved IRAP 22 is not counted', nal(22), none],
  ['single NAL: RASL_N (8)', nal(8), none],
  ['single NAL: TRAIL_R (1)', TRAIL, none],
  ['single NAL: TRAIL_N (0)', nal(0), none],
  ['single NAL: VPS (32)', VPS, { ...none, vps: true }],
  ['single NAL: SPS (33)', SPS, { ...none, sps: true }],
  ['single NAL: PPS (34)', PPS, { ...none, pps: true }],
  ['single NAL: prefix SEI (39)', nal(39), none],
  ['single NAL: header only', hdr(19), { ...none, irap: true }],
  ['single NAL: nuh_layer_id high bit set does not change the type', [(19 << 1) | 1, 0x01], { ...none, irap: true }],
  ['AP: VPS + SPS + PPS (ffmpeg before each IRAP)', ap(VPS, SPS, PPS), { irap: false, vps: true, sps: true, pps: true }],
  ['AP: VPS + SPS + PPS + IDR (GStreamer)', ap(VPS, SPS, PPS, IDR), { irap: true, vps: true, sps: true, pps: true }],
  ['AP: two trailing pictures', ap(TRAIL, TRAIL), none],
  ['AP: header only', hdr(48), none],
  ['AP truncated: IDR declared longer than the packet', ap(VPS, IDR).slice(0, -1), { ...none, vps: true }],
  ['AP truncated: NAL header cut', [...hdr(48), 0x00, 0x02, 0x26], none],
  ['AP: one-byte NAL unit is invalid and ends the walk', [...hdr(48), 0x00, 0x01, 0x26, ...ap(SPS).slice(2)], none],
  ['FU start, IDR', fu(19, true, false), { ...none, irap: true }],
  ['FU middle, IDR', fu(19, false, false), none],
  ['FU end, IDR', fu(19, false, true), none],
  ['FU start, CRA', fu(21, true, false), { ...none, irap: true }],
  ['FU start, TRAIL_R', fu(1, true, false), none],
  ['FU start, prefix SEI', fu(39, true, false), none],
  ['FU without FU header', hdr(49), none],
  ['PACI (50) is ignored', [...hdr(50), 0x00, 0x00, ...IDR], none],
  ['reserved type 63', nal(63), none],
];

describe('h265Summary', () => {
  it.each(cases)('%s', (_name, payload, want) => {
    const bytes = new Uint8Array(payload);
    expect(h265Summary(bytes)).toEqual(want);
    expect(isH265Keyframe(bytes)).toBe(want.irap);
  });

  it.each([
    ['single NAL', TRAIL, true],
    ['AP', ap(TRAIL), true],
    ['FU start', fu(1, true, false), true],
    ['FU middle', fu(1, false, false), false],
    ['empty AP', hdr(48), false],
  ] as const)('h265Flags STARTS bit: %s', (_name, payload, want) => {
    expect((h265Flags(new Uint8Array(payload)) & H265_FLAG_STARTS) !== 0).toBe(want);
  });

  it('never throws on random bytes (fast-check)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => void h265Summary(bytes)), { numRuns: 10000 });
  });

  it('never throws on random AP / FU / PACI bodies (fast-check)', () => {
    fc.assert(
      fc.property(fc.constantFrom(48, 49, 50), fc.uint8Array({ maxLength: 64 }), (type, rest) => {
        h265Summary(new Uint8Array([type << 1, 0x01, ...rest]));
      }),
      { numRuns: 10000 },
    );
  });

  it('finds every parameter set and IRAP in a well-formed AP (fast-check)', () => {
    const nalArb = fc
      .tuple(fc.integer({ min: 0, max: 40 }), fc.uint8Array({ maxLength: 16 }))
      .map(([type, body]) => nal(type, Array.from(body)));
    fc.assert(
      fc.property(fc.array(nalArb, { minLength: 1, maxLength: 6 }), (nals) => {
        const types = nals.map((n) => n[0]! >> 1);
        expect(h265Summary(new Uint8Array(ap(...nals)))).toEqual({
          irap: types.some((t) => t >= 16 && t <= 21),
          vps: types.includes(32),
          sps: types.includes(33),
          pps: types.includes(34),
        });
      }),
    );
  });
});
