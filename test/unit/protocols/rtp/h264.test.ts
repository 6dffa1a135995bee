import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  H264_FLAG_IDR,
  H264_FLAG_PPS,
  H264_FLAG_SPS,
  H264_FLAG_STARTS,
  h264Flags,
  h264Summary,
  isH264Keyframe,
  type NalSummary,
} from '../../../../server/protocols/rtp/h264.ts';

// Hand-made payloads (RFC 6184). NAL header: F(1) NRI(2) type(5).
const nal = (type: number, body: number[] = [0xaa, 0xbb, 0xcc], nri = 3): number[] => [(nri << 5) | type, ...body];
const SPS = nal(7, [0x64, 0x00, 0x1f, 0xac]);
const PPS = nal(8, [0xeb, 0xe3, 0xcb]);
const IDR = nal(5, [0x88, 0x84, 0x00, 0x33]);
const SLICE = nal(1, [0x9a, 0x21]);
const SEI = nal(6, [0x05, 0x10], 0);

/** STAP-A (§5.7.1): header byte 24 with the highest NRI, then (u16 size, NAL)*. */
function stapA(...nals: number[][]): number[] {
  const out = [0x78];
  for (const n of nals) out.push(n.length >> 8, n.length & 0xff, ...n);
  return out;
}
/** FU-A (§5.8): indicator (NRI, type 28), header S E R type, fragment. */
const fuA = (type: number, s: boolean, e: boolean, body: number[] = [0x11, 0x22]): number[] => [
  0x7c,
  (s ? 0x80 : 0) | (e ? 0x40 : 0) | type,
  ...body,
];
/** FU-B (§5.8): like FU-A with type 29 and a 16-bit DON after the FU header. */
const fuB = (type: number, s: boolean, e: boolean, body: number[] = [0x11]): number[] => [
  0x7d,
  (s ? 0x80 : 0) | (e ? 0x40 : 0) | type,
  0x00,
  0x07,
  ...body,
];

const none: NalSummary = { idr: false, sps: false, pps: false, startsAccessUnit: false };
const starts: NalSummary = { ...none, startsAccessUnit: true };

const cases: Array<[string, number[], NalSummary]> = [
  ['empty payload', [], none],
  ['single NAL: IDR slice (5)', IDR, { ...starts, idr: true }],
  ['single NAL: IDR slice, header byte only', [0x65], { ...starts, idr: true }],
  ['single NAL: non-IDR slice (1)', SLICE, starts],
  ['single NAL: non-IDR slice with NRI 0', nal(1, [1], 0), starts],
  ['single NAL: SPS (7)', SPS, { ...starts, sps: true }],
  ['single NAL: PPS (8)', PPS, { ...starts, pps: true }],
  ['single NAL: SEI (6)', SEI, starts],
  ['single NAL: access unit delimiter (9)', nal(9, [0xf0]), starts],
  ['single NAL: type 23 (last single-NAL type)', nal(23), starts],
  ['reserved type 0', [0x00, 1, 2], none],
  ['reserved type 30', [0x7e, 1, 2], none],
  ['reserved type 31', [0x7f, 1, 2], none],
  ['STAP-A: SPS + PPS + IDR', stapA(SPS, PPS, IDR), { idr: true, sps: true, pps: true, startsAccessUnit: true }],
  ['STAP-A: SPS + PPS (GStreamer before an FU-A IDR)', stapA(SPS, PPS), { ...starts, sps: true, pps: true }],
  ['STAP-A: SPS + PPS + SEI (ffmpeg first keyframe)', stapA(SPS, PPS, SEI), { ...starts, sps: true, pps: true }],
  ['STAP-A: two non-IDR slices', stapA(SLICE, SLICE), starts],
  ['STAP-A: one-byte NAL units', stapA([0x67], [0x68], [0x65]), { idr: true, sps: true, pps: true, startsAccessUnit: true }],
  ['STAP-A: header only', [0x78], none],
  ['STAP-A: size field cut after one byte', [0x78, 0x00], none],
  ['STAP-A: size but no NAL bytes', [0x78, 0x00, 0x04], none],
  ['STAP-A truncated: IDR declared longer than the packet', stapA(SPS, PPS, IDR).slice(0, -1), { ...starts, sps: true, pps: true }],
  ['STAP-A truncated: first NAL cut', stapA(IDR).slice(0, 5), none],
  ['STAP-A truncated: second size field cut', [...stapA(SPS), 0x00], { ...starts, sps: true }],
  ['STAP-A: zero-size entry ends the walk', [...stapA(SPS), 0, 0, ...stapA(IDR).slice(1)], { ...starts, sps: true }],
  ['STAP-A: size 0xffff', [0x78, 0xff, 0xff, 0x65, 1], none],
  ['STAP-A: trailing byte after the last NAL', [...stapA(SPS, IDR), 0x00], { ...starts, sps: true, idr: true }],
  ['STAP-A: nested FU-A type is not a NAL we know', stapA(fuA(5, true, false)), starts],
  ['STAP-B (25) is ignored', [0x79, 0x00, 0x01, ...stapA(IDR).slice(1)], none],
  ['MTAP16 (26) is ignored', [0x7a, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, ...IDR], none],
  ['MTAP24 (27) is ignored', [0x7b, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, ...IDR], none],
  ['FU-A start, IDR', fuA(5, true, false), { ...starts, idr: true }],
  ['FU-A middle, IDR', fuA(5, false, false), none],
  ['FU-A end, IDR', fuA(5, false, true), none],
  ['FU-A start, non-IDR', fuA(1, true, false), starts],
  ['FU-A middle, non-IDR', fuA(1, false, false), none],
  ['FU-A end, non-IDR', fuA(1, false, true), none],
  ['FU-A start, SPS (odd, but says what it is)', fuA(7, true, false), { ...starts, sps: true }],
  ['FU-A start with no fragment bytes', fuA(5, true, false, []), { ...starts, idr: true }],
  ['FU-A indicator only', [0x7c], none],
  ['FU-B start, IDR (DON present)', fuB(5, true, false), { ...starts, idr: true }],
  ['FU-B start, non-IDR', fuB(1, true, false), starts],
  ['FU-B cut inside the DON', fuB(5, true, false).slice(0, 3), none],
  ['FU-B not start', fuB(5, false, true), none],
];

describe('h264Summary', () => {
  it.each(cases)('%s', (_name, payload, want) => {
    expect(h264Summary(new Uint8Array(payload))).toEqual(want);
  });

  it.each(cases)('isH264Keyframe and h264Flags agree with h264Summary: %s', (_name, payload, want) => {
    const bytes = new Uint8Array(payload);
    expect(isH264Keyframe(bytes)).toBe(want.idr);
    const flags = h264Flags(bytes);
    expect((flags & H264_FLAG_IDR) !== 0).toBe(want.idr);
    expect((flags & H264_FLAG_SPS) !== 0).toBe(want.sps);
    expect((flags & H264_FLAG_PPS) !== 0).toBe(want.pps);
    expect((flags & H264_FLAG_STARTS) !== 0).toBe(want.startsAccessUnit);
  });

  it('ignores the forbidden_zero_bit (classification only)', () => {
    expect(h264Summary(new Uint8Array([0xe5, 1]))).toEqual({ ...starts, idr: true });
  });

  it('reads a subarray at its own offset', () => {
    const packet = new Uint8Array([0x80, 0x60, 0, 1, ...fuA(5, true, false)]);
    expect(isH264Keyframe(packet.subarray(4))).toBe(true);
  });

  it('never throws on random bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const s = h264Summary(bytes);
        // Anything that names a NAL unit also says a NAL unit starts here.
        if (s.idr || s.sps || s.pps) expect(s.startsAccessUnit).toBe(true);
      }),
      { numRuns: 10000 },
    );
  });

  it('never throws on random STAP-A / FU-A / FU-B bodies (fast-check)', () => {
    fc.assert(
      fc.property(fc.constantFrom(0x78, 0x7c, 0x7d, 0x79, 0x7a, 0x7b), fc.uint8Array({ maxLength: 64 }), (type, rest) => {
        h264Summary(new Uint8Array([type, ...rest]));
      }),
      { numRuns: 10000 },
    );
  });

  it('finds an IDR in any well-formed STAP-A that carries one, wherever it sits (fast-check)', () => {
    const nalArb = fc
      .tuple(fc.integer({ min: 1, max: 23 }), fc.uint8Array({ maxLength: 20 }))
      .map(([type, body]) => [0x60 | type, ...body]);
    fc.assert(
      fc.property(fc.array(nalArb, { minLength: 1, maxLength: 6 }), (nals) => {
        const s = h264Summary(new Uint8Array(stapA(...nals)));
        expect(s.idr).toBe(nals.some((n) => (n[0]! & 0x1f) === 5));
        expect(s.sps).toBe(nals.some((n) => (n[0]! & 0x1f) === 7));
        expect(s.pps).toBe(nals.some((n) => (n[0]! & 0x1f) === 8));
        expect(s.startsAccessUnit).toBe(true);
      }),
    );
  });
});
