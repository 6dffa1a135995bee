// Is a stream of H.264 pictures missing a reference picture? H.264 §7.4.3: every picture after an IDR carries
// frame_num = (PrevRefFrameNum + 1) % MaxFrameNum, where PrevRefFrameNum is the frame_num of the last reference picture
// (nal_ref_idc ≠ 0); a dropped reference picture leaves a gap that a decoder cannot bridge (gaps_in_frame_num off).
// Dropped non-reference pictures leave no gap: they harm nothing. Timestamps cannot tell these apart from a capture
// that skipped frames, which is why tests that check "drops end at a keyframe" read frame_num instead.
import { parseSps, unescapeRbsp, type SpsInfo } from '../../shared/fmp4/avc.ts';
import { RbspReader } from '../../shared/fmp4/rbsp.ts';

export interface CodedPicture {
  idr: boolean;
  /** nal_ref_idc ≠ 0. */
  reference: boolean;
  frameNum: number;
}

export function spsOf(nal: Uint8Array): SpsInfo {
  const r = parseSps(nal);
  if (!r.ok) throw new Error(`SPS refused: ${r.message}`);
  return r.value;
}

/** The first slice of an AVCC sample (NAL units with `lengthSize`-byte big-endian length prefixes). */
export function codedPicture(sample: Uint8Array, lengthSize: number, sps: SpsInfo): CodedPicture {
  for (let at = 0; at + lengthSize <= sample.length; ) {
    let len = 0;
    for (let i = 0; i < lengthSize; i++) len = len * 256 + sample[at + i]!;
    const nal = sample.subarray(at + lengthSize, at + lengthSize + len);
    at += lengthSize + len;
    const type = nal[0]! & 0x1f;
    if (type !== 1 && type !== 5) continue;
    // §7.3.3 slice_header(): first_mb_in_slice, slice_type, pic_parameter_set_id, [colour_plane_id], frame_num
    const r = new RbspReader(unescapeRbsp(nal.subarray(1, 64)), 'slice header');
    r.ue();
    r.ue();
    r.ue();
    if (sps.separateColourPlane) r.skip(2);
    return { idr: type === 5, reference: (nal[0]! & 0x60) !== 0, frameNum: r.u(sps.log2MaxFrameNum) };
  }
  throw new Error('the sample has no coded slice');
}

/** Indices of pictures whose frame_num shows a reference picture missing right before them. */
export function frameNumGaps(pictures: readonly CodedPicture[], sps: SpsInfo): number[] {
  const max = 2 ** sps.log2MaxFrameNum;
  const gaps: number[] = [];
  let prevRef: number | undefined;
  pictures.forEach((p, i) => {
    if (p.idr) {
      prevRef = p.frameNum;
      return;
    }
    if (prevRef === undefined || p.frameNum !== (prevRef + 1) % max) gaps.push(i);
    if (p.reference) prevRef = p.frameNum;
  });
  return gaps;
}
