// Decode timestamps for H.264 and H.265 access units that arrive with a presentation time only, as RTP carries them
// (RFC 6184 §5.1 / RFC 7798 §4.1: the RTP timestamp is the sampling, i.e. presentation, time). With B-frames the
// decode order differs from the presentation order, and an fMP4 sample needs a DTS that increases strictly and a
// composition offset pts - dts >= 0 (ISO/IEC 14496-12 §8.6.1.3 ctts, §8.8.8 trun).
//
// Method. A decoder with a reorder depth of D frames (H.264 §E.2.1 max_num_reorder_frames, H.265 §7.4.3.2.1
// sps_max_num_reorder_pics: the most frames that precede a frame in decoding order and follow it in output order)
// can output a frame as soon as D later frames have been decoded. So the DTS of the n-th frame in decode order is
// the (D+1)-th largest PTS among the frames decoded so far: strictly increasing whenever PTS values differ, never
// above the current PTS while the stream keeps within D, and for a constant frame rate exactly `pts of the n-th
// frame in presentation order - D frame durations`, which is what x264/x265 and ffmpeg's muxers write (ffmpeg's
// libavformat derives missing DTS the same way, from a sorted buffer of has_b_frames + 1 PTS values). Before D frames
// have been seen, the missing PTS values are stood in for by "virtual" frames one frame duration apart before the
// first random access point; the duration comes from the VUI timing (H.264 §E.2.1 num_units_in_tick/time_scale,
// H.265 §E.3.1), or is a guess that only changes the DTS of those first D frames.
//
// D comes from the SPS. H.264 streams without VUI bitstream_restriction do not say it, so, like mediamtx's
// h264.DTSExtractor (bluenviron/mediacommon), the picture order count (H.264 §8.2.1) predicts it: a frame whose POC
// jumps past values not yet decoded means frames decoded later will be presented before it (the B-frames of a
// mini-GOP after its P-frame), and those frames will follow in output order every frame decoded before them above
// the gap. Raising D later costs a few tiny DTS steps (1 tick each) until the sorted PTS catch up; a frame that
// would need DTS > PTS instead ends the timeline until the next random access point, with D raised for next time.
//
// What the caller must know: PTS are whole 90 kHz ticks on an unwrapped timeline; the first DTS lies D frames before
// the first PTS (as in ffmpeg's MP4s, where it is negative), so a writer that cannot store that shifts both or uses
// an edit list; after ok: false the caller drops access units until the next keyframe; after a known discontinuity
// (new SSRC, timestamps going back) it calls reset(). Not handled: H.264 field pictures (PAFF; MBAFF frames are
// fine), starting an H.264 timeline at a recovery point SEI instead of an IDR, memory_management_control_operation 5
// (it only skews the POC prediction), H.265 layers above 0.
//
// Pure and total: no I/O, no timers, never throws; every refusal is { ok: false, message }.

import { unescapeRbsp } from '../../../shared/fmp4/avc.ts';

export type DtsResult = { ok: true; dts: number } | { ok: false; message: string };

/** H.264 §A.3.1 (MaxDpbFrames = Min(…, 16)) and H.265 §A.4.2 (maxDpbSize <= 16): no stream reorders more frames. */
const MAX_REORDER = 16;
/** Frame duration assumed for the virtual frames before the first random access point when the VUI has no timing:
 *  30 fps in 90 kHz ticks. Only the DTS of the first D frames depends on it. */
const DEFAULT_FRAME_TICKS = 3000;
/** A slice header's fields up to the picture order count fit in far fewer bytes (mediamtx reads 22); unescaping only
 *  the head keeps a 100 KB slice from being copied. */
const SLICE_HEAD_BYTES = 64;

const fail = (message: string): DtsResult => ({ ok: false, message });

/** Whole ticks, far enough inside Number.MAX_SAFE_INTEGER that pts - 16 frames and dts + 1 stay exact. The caller
 *  unwraps the 32-bit RTP timestamp (RFC 3550 §5.1) into this range. */
const validPts = (pts: number): boolean => Number.isInteger(pts) && Math.abs(pts) <= 2 ** 52;

/** MSB-first reader over an RBSP. Never throws: reading past the end yields zeros and sets `overrun`, and so does an
 *  Exp-Golomb code longer than 32 bits (H.264 §9.1, H.265 §9.2), so a caller checks `overrun` once at the end. */
class RbspReader {
  private bit = 0;
  overrun = false;
  constructor(private readonly bytes: Uint8Array) {}

  u1(): number {
    const byte = this.bytes[this.bit >>> 3];
    if (byte === undefined) {
      this.overrun = true;
      return 0;
    }
    const v = (byte >>> (7 - (this.bit & 7))) & 1;
    this.bit += 1;
    return v;
  }
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.u1();
    return v;
  }
  skip(n: number): void {
    this.bit += n;
    if (this.bit > this.bytes.length * 8) this.overrun = true;
  }
  ue(): number {
    let zeros = 0;
    while (this.u1() === 0) {
      zeros += 1;
      if (zeros > 31 || this.overrun) {
        this.overrun = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Frame duration in 90 kHz ticks from VUI timing, if it is present and plausible (1 tick to 1 s). */
function frameTicks(unitsPerFrame: number, timeScale: number): number | undefined {
  if (unitsPerFrame <= 0 || timeScale <= 0) return undefined;
  const ticks = Math.round((90000 * unitsPerFrame) / timeScale);
  return ticks >= 1 && ticks <= 90000 ? ticks : undefined;
}

/**
 * The codec-independent part: DTS = the (D+1)-th largest PTS decoded so far, kept strictly increasing.
 * `top` holds the largest MAX_REORDER + 1 PTS values, largest first, so D may grow at any time.
 */
class ReorderTimeline {
  private top: number[] = [];
  private depth = 0;
  private lastDts: number | undefined;
  private running = false;

  get started(): boolean {
    return this.running;
  }

  /** A new SPS: its own reorder depth applies from now on, not what was learned under the old one. */
  forgetDepth(): void {
    this.depth = 0;
  }

  /** Forget everything, including the last DTS: the next random access point starts a new timeline. */
  reset(): void {
    this.top = [];
    this.depth = 0;
    this.lastDts = undefined;
    this.running = false;
  }

  /** A random access point (H.264 IDR, H.265 IRAP): starts the timeline, or checks that it can go on. */
  randomAccess(pts: number, minDepth: number, ticks: number | undefined): DtsResult {
    // Nothing decoded before a random access point is presented after it (H.264 §C.4.4: an IDR outputs or drops every
    // earlier picture; H.265 §7.4.2.2: a picture before an IRAP in decoding order precedes it in output order), so a
    // larger earlier PTS means the timestamps jumped back: start over from this picture.
    if (this.running && this.top.some((t) => t >= pts)) this.running = false;
    if (!this.running) {
      if (this.lastDts !== undefined && pts <= this.lastDts) {
        return fail(`pts ${pts} is not after the last DTS ${this.lastDts}: the timestamps went back; call reset() at a discontinuity`);
      }
      const step = ticks ?? DEFAULT_FRAME_TICKS;
      this.top = Array.from({ length: MAX_REORDER }, (_, i) => pts - (i + 1) * step);
      this.running = true;
    }
    return this.next(pts, minDepth);
  }

  next(pts: number, minDepth: number): DtsResult {
    if (!this.running) return fail('waiting for a random access point (IDR or IRAP) to start the DTS timeline');
    this.depth = Math.min(MAX_REORDER, Math.max(this.depth, minDepth));
    let at = 0;
    while (at < this.top.length && this.top[at]! > pts) at++;
    this.top.splice(at, 0, pts);
    if (this.top.length > MAX_REORDER + 1) this.top.length = MAX_REORDER + 1;
    if (at > MAX_REORDER) {
      this.running = false;
      return fail(`pts ${pts} is below the last ${MAX_REORDER + 1} presentation times; no H.264/H.265 stream reorders that far`);
    }
    // `at` earlier frames are presented after this one: the stream reorders deeper than assumed.
    if (at > this.depth) this.depth = at;
    let dts = this.top[this.depth]!;
    // After D grew, the (D+1)-th largest PTS is below the last DTS for a few frames: step by one tick meanwhile.
    if (this.lastDts !== undefined && dts <= this.lastDts) dts = this.lastDts + 1;
    if (dts > pts) {
      this.running = false;
      return fail(`pts ${pts} is not after the last DTS ${this.lastDts}: the stream reorders ${this.depth} frames, more than the DTS so far left room for; waiting for the next random access point`);
    }
    this.lastDts = dts;
    return { ok: true, dts };
  }
}

/**
 * Predicts the reorder depth from H.264 picture order counts when the SPS does not state it. POC values above the
 * "frontier" (the highest POC below which no value is missing) wait for the frames that fill the gap; those frames
 * will be presented before every one of them, so D must be at least their number.
 */
class PocGaps {
  private frontier: { poc: number; pts: number } | undefined;
  private above: Array<{ poc: number; pts: number }> = [];
  /** POC units per frame: 2 for almost every H.264 encoder (x264, ffmpeg, cameras: frames count in field units),
   *  1 once an odd POC difference shows it. Streams that step by 4 are told apart by PTS when the VUI has timing. */
  private step = 2;
  private idrPoc = 0;

  reset(poc: number, pts: number): void {
    this.frontier = { poc, pts };
    this.above = [];
    this.idrPoc = poc;
  }

  /** Records a decoded frame; returns how many decoded frames wait above a gap (a lower bound for D). */
  add(poc: number, pts: number, ticks: number | undefined, cap: number): number {
    const f = this.frontier;
    if (f === undefined) return 0;
    if ((poc - this.idrPoc) % 2 !== 0) this.step = 1;
    if (poc <= f.poc) return Math.min(cap, this.above.length);
    let at = 0;
    while (at < this.above.length && this.above[at]!.poc < poc) at++;
    this.above.splice(at, 0, { poc, pts });
    let front = f;
    for (;;) {
      const low = this.above[0];
      if (low === undefined) break;
      // No gap: the next POC follows directly, or, with a known frame duration, is presented within 1.5 frames.
      const adjacent = low.poc - front.poc <= this.step || (ticks !== undefined && low.pts - front.pts < 1.5 * ticks);
      // A gap that more than MAX_REORDER frames have jumped is not waiting for anything: the encoder skipped values.
      if (!adjacent && this.above.length <= MAX_REORDER) break;
      front = low;
      this.above.shift();
    }
    this.frontier = front;
    return Math.min(cap, this.above.length);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// H.264

interface H264Sps {
  id: number;
  separateColourPlane: boolean;
  log2MaxFrameNum: number;
  pocType: number;
  log2MaxPocLsb: number;
  deltaPicOrderAlwaysZero: boolean;
  offsetForNonRefPic: number;
  offsetForTopToBottomField: number;
  offsetForRefFrame: number[];
  maxNumRefFrames: number;
  frameMbsOnly: boolean;
  /** VUI max_num_reorder_frames, when bitstream_restriction_flag is set. */
  maxNumReorderFrames: number | undefined;
  frameTicks: number | undefined;
}

interface H264Pps {
  id: number;
  spsId: number;
  bottomFieldPicOrderInFramePresent: boolean;
}

// H.264 §7.3.2.1.1: these profiles carry chroma_format_idc, bit depths and scaling matrices in the SPS.
const H264_HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** H.264 §E.1.2 hrd_parameters(), read only to reach what follows it. */
function skipH264Hrd(r: RbspReader): void {
  const cpbCnt = r.ue() + 1;
  if (cpbCnt > 32) r.overrun = true;
  r.skip(8); // bit_rate_scale, cpb_size_scale
  for (let i = 0; i < cpbCnt && !r.overrun; i++) {
    r.ue(); // bit_rate_value_minus1
    r.ue(); // cpb_size_value_minus1
    r.u1(); // cbr_flag
  }
  r.skip(20); // four 5-bit lengths and time_offset_length
}

/** H.264 §7.3.2.1.1 seq_parameter_set_data() up to the POC fields, and §E.1.1 vui_parameters() for D and timing. */
function parseH264Sps(nal: Uint8Array): H264Sps | string {
  if (nal.length < 4) return 'the SPS is shorter than its header';
  const r = new RbspReader(unescapeRbsp(nal.subarray(1)));
  const profileIdc = r.u(8);
  r.skip(16); // constraint_set flags, level_idc
  const id = r.ue();
  if (id > 31) return `seq_parameter_set_id ${id} is over 31`;
  let separateColourPlane = false;
  if (H264_HIGH_PROFILES.has(profileIdc)) {
    const chromaFormatIdc = r.ue();
    if (chromaFormatIdc === 3) separateColourPlane = r.u1() === 1;
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.u1(); // qpprime_y_zero_transform_bypass_flag
    if (r.u1() === 1) {
      // seq_scaling_matrix_present_flag: §7.3.2.1.1.1 scaling_list() for 6 4x4 and 2 or 6 8x8 lists, skipped.
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists && !r.overrun; i++) {
        if (r.u1() === 0) continue;
        let last = 8;
        let next = 8;
        for (let j = 0; j < (i < 6 ? 16 : 64) && !r.overrun; j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  const log2MaxFrameNum = r.ue() + 4;
  if (log2MaxFrameNum > 16) return `log2_max_frame_num_minus4 ${log2MaxFrameNum - 4} is over 12`;
  const pocType = r.ue();
  let log2MaxPocLsb = 0;
  let deltaPicOrderAlwaysZero = false;
  let offsetForNonRefPic = 0;
  let offsetForTopToBottomField = 0;
  const offsetForRefFrame: number[] = [];
  if (pocType === 0) {
    log2MaxPocLsb = r.ue() + 4;
    if (log2MaxPocLsb > 16) return `log2_max_pic_order_cnt_lsb_minus4 ${log2MaxPocLsb - 4} is over 12`;
  } else if (pocType === 1) {
    deltaPicOrderAlwaysZero = r.u1() === 1;
    offsetForNonRefPic = r.se();
    offsetForTopToBottomField = r.se();
    const cycle = r.ue();
    if (cycle > 255) return `num_ref_frames_in_pic_order_cnt_cycle ${cycle} is over 255`;
    for (let i = 0; i < cycle && !r.overrun; i++) offsetForRefFrame.push(r.se());
  } else if (pocType !== 2) {
    return `pic_order_cnt_type ${pocType} is over 2`;
  }
  const maxNumRefFrames = r.ue();
  r.u1(); // gaps_in_frame_num_value_allowed_flag
  r.ue(); // pic_width_in_mbs_minus1
  r.ue(); // pic_height_in_map_units_minus1
  const frameMbsOnly = r.u1() === 1;
  if (!frameMbsOnly) r.u1(); // mb_adaptive_frame_field_flag
  r.u1(); // direct_8x8_inference_flag
  if (r.u1() === 1) for (let i = 0; i < 4; i++) r.ue(); // frame_crop_*_offset
  if (r.overrun) return 'the SPS ends before its picture order count fields are complete';
  const sps: H264Sps = {
    id, separateColourPlane, log2MaxFrameNum, pocType, log2MaxPocLsb, deltaPicOrderAlwaysZero, offsetForNonRefPic,
    offsetForTopToBottomField, offsetForRefFrame, maxNumRefFrames, frameMbsOnly, maxNumReorderFrames: undefined, frameTicks: undefined,
  };
  if (r.u1() === 0) return sps; // vui_parameters_present_flag
  // §E.1.1 vui_parameters(). What cannot be read leaves D and the timing unknown; the SPS stays usable.
  if (r.u1() === 1 && r.u(8) === 255) r.skip(32); // aspect_ratio_info: idc, Extended_SAR width and height
  if (r.u1() === 1) r.u1(); // overscan_info_present_flag, overscan_appropriate_flag
  if (r.u1() === 1) {
    r.skip(4); // video_format, video_full_range_flag
    if (r.u1() === 1) r.skip(24); // colour_primaries, transfer_characteristics, matrix_coefficients
  }
  if (r.u1() === 1) {
    r.ue(); // chroma_sample_loc_type_top_field
    r.ue(); // chroma_sample_loc_type_bottom_field
  }
  let ticks: number | undefined;
  if (r.u1() === 1) {
    const numUnitsInTick = r.u(32);
    const timeScale = r.u(32);
    r.u1(); // fixed_frame_rate_flag
    // §E.2.1: a tick is a field period here (DeltaTfiDivisor 2 for a frame, Table E-6), so a frame lasts two.
    ticks = frameTicks(2 * numUnitsInTick, timeScale);
  }
  const nalHrd = r.u1() === 1;
  if (nalHrd) skipH264Hrd(r);
  const vclHrd = r.u1() === 1;
  if (vclHrd) skipH264Hrd(r);
  if (nalHrd || vclHrd) r.u1(); // low_delay_hrd_flag
  r.u1(); // pic_struct_present_flag
  if (r.overrun) return sps;
  sps.frameTicks = ticks;
  if (r.u1() === 1) {
    // bitstream_restriction_flag
    r.u1(); // motion_vectors_over_pic_boundaries_flag
    r.ue(); // max_bytes_per_pic_denom
    r.ue(); // max_bits_per_mb_denom
    r.ue(); // log2_max_mv_length_horizontal
    r.ue(); // log2_max_mv_length_vertical
    const maxNumReorderFrames = r.ue();
    r.ue(); // max_dec_frame_buffering
    if (!r.overrun && maxNumReorderFrames <= MAX_REORDER) sps.maxNumReorderFrames = maxNumReorderFrames;
  }
  return sps;
}

/** H.264 §7.3.2.2 pic_parameter_set_rbsp(), the head. */
function parseH264Pps(nal: Uint8Array): H264Pps | string {
  const r = new RbspReader(unescapeRbsp(nal.subarray(1, 1 + SLICE_HEAD_BYTES)));
  const id = r.ue();
  const spsId = r.ue();
  r.u1(); // entropy_coding_mode_flag
  const bottomFieldPicOrderInFramePresent = r.u1() === 1;
  if (r.overrun) return 'the PPS ends early';
  if (id > 255) return `pic_parameter_set_id ${id} is over 255`;
  if (spsId > 31) return `the PPS names seq_parameter_set_id ${spsId}, over 31`;
  return { id, spsId, bottomFieldPicOrderInFramePresent };
}

/** The parameter sets a slice refers to; `spsBytes` tells a changed SPS from a repeated one. */
interface H264ActiveSets {
  sps: H264Sps;
  spsBytes: Uint8Array;
  pps: H264Pps;
}

interface H264SliceHead {
  frameNum: number;
  fieldPic: boolean;
  pocLsb: number;
  deltaPocBottom: number;
  deltaPoc0: number;
  deltaPoc1: number;
}

/** H.264 §7.3.3 slice_header() up to the picture order count fields; the PPS it names picks the SPS. */
function parseH264SliceHead(
  nal: Uint8Array,
  idr: boolean,
  parameterSets: (ppsId: number) => H264ActiveSets | string,
): { head: H264SliceHead; sets: H264ActiveSets } | string {
  const r = new RbspReader(unescapeRbsp(nal.subarray(1, 1 + SLICE_HEAD_BYTES)));
  r.ue(); // first_mb_in_slice
  r.ue(); // slice_type
  const ppsId = r.ue();
  if (r.overrun) return 'the slice header ends before pic_parameter_set_id';
  const sets = parameterSets(ppsId);
  if (typeof sets === 'string') return sets;
  const { sps, pps } = sets;
  if (sps.separateColourPlane) r.skip(2); // colour_plane_id
  const frameNum = r.u(sps.log2MaxFrameNum);
  let fieldPic = false;
  if (!sps.frameMbsOnly) {
    fieldPic = r.u1() === 1;
    if (fieldPic) r.u1(); // bottom_field_flag
  }
  if (idr) r.ue(); // idr_pic_id
  const head: H264SliceHead = { frameNum, fieldPic, pocLsb: 0, deltaPocBottom: 0, deltaPoc0: 0, deltaPoc1: 0 };
  if (sps.pocType === 0) {
    head.pocLsb = r.u(sps.log2MaxPocLsb);
    if (pps.bottomFieldPicOrderInFramePresent && !fieldPic) head.deltaPocBottom = r.se();
  } else if (sps.pocType === 1 && !sps.deltaPicOrderAlwaysZero) {
    head.deltaPoc0 = r.se();
    if (pps.bottomFieldPicOrderInFramePresent && !fieldPic) head.deltaPoc1 = r.se();
  }
  return r.overrun ? 'the slice header ends before its picture order count' : { head, sets };
}

/**
 * H.264 decode timestamps. Feed every access unit in decode order; the DTS timeline starts at an IDR (NAL type 5)
 * and the SPS/PPS it refers to, in band or from setParameterSets (e.g. the SDP's sprop-parameter-sets, RFC 6184 §8.1).
 */
export class H264DtsExtractor {
  private readonly spsById = new Map<number, { bytes: Uint8Array; sps: H264Sps }>();
  private readonly ppsById = new Map<number, H264Pps>();
  private readonly timeline = new ReorderTimeline();
  private readonly gaps = new PocGaps();
  private activeSps: Uint8Array | undefined;
  private lastError = '';
  // H.264 §8.2.1.1 and §8.2.1.2 state, reset at each IDR.
  private prevPocMsb = 0;
  private prevPocLsb = 0;
  private prevFrameNum = 0;
  private prevFrameNumOffset = 0;

  setParameterSets(sps: Uint8Array, pps: Uint8Array): void {
    this.takeSps(sps);
    this.takePps(pps);
  }

  /** Forget the timeline (call at a known discontinuity, e.g. a new RTP SSRC); parameter sets are kept. */
  reset(): void {
    this.timeline.reset();
  }

  extract(nalus: readonly Uint8Array[], pts: number): DtsResult {
    if (!validPts(pts)) return fail(`pts ${pts} is not a whole number of ticks within ±2^52`);
    let slice: Uint8Array | undefined;
    let idr = false;
    for (const nal of nalus) {
      const header = nal[0];
      if (header === undefined || (header & 0x80) !== 0) continue; // empty, or forbidden_zero_bit set
      const type = header & 0x1f; // H.264 Table 7-1
      if (type === 7) this.takeSps(nal);
      else if (type === 8) this.takePps(nal);
      else if (type === 5 || type === 1) {
        // The first slice tells the picture's POC; every slice of a picture has the same (§7.4.3).
        if (type === 5) idr = true;
        slice ??= nal;
      }
    }
    if (slice === undefined) return fail('the access unit has no coded slice (NAL unit type 1 or 5)');
    if (!idr && !this.timeline.started) return fail('waiting for an IDR access unit to start the DTS timeline');
    const parsed = parseH264SliceHead(slice, idr, (ppsId) => {
      const pps = this.ppsById.get(ppsId);
      if (pps === undefined) return `no PPS ${ppsId} received yet${this.lastError}`;
      const sps = this.spsById.get(pps.spsId);
      if (sps === undefined) return `no SPS ${pps.spsId} received yet${this.lastError}`;
      return { sps: sps.sps, spsBytes: sps.bytes, pps };
    });
    if (typeof parsed === 'string') return fail(parsed);
    const { head, sets: { sps, spsBytes } } = parsed;
    if (head.fieldPic) return fail('field pictures (field_pic_flag = 1, PAFF) are not supported; frames and MBAFF are');
    if (spsBytes !== this.activeSps) {
      this.activeSps = spsBytes;
      this.timeline.forgetDepth();
    }
    const poc = sps.pocType === 2 ? 0 : this.pictureOrderCount(sps, head, idr, (slice[0]! & 0x60) !== 0);
    // Depth: none with POC type 2, where output order is decoding order (§8.2.1.3); else stated by the VUI, or
    // predicted from the POC.
    let depth = 0;
    if (sps.pocType !== 2) {
      if (sps.maxNumReorderFrames !== undefined) depth = sps.maxNumReorderFrames;
      else if (idr) this.gaps.reset(poc, pts);
      else {
        // A heuristic bound: frames held back for reordering are mostly reference frames, so a camera that steps its
        // POC by 4 and says nothing about timing is not given more delay than its references allow.
        const cap = Math.max(1, Math.min(MAX_REORDER, sps.maxNumRefFrames));
        depth = this.gaps.add(poc, pts, sps.frameTicks, cap);
      }
    }
    return idr ? this.timeline.randomAccess(pts, depth, sps.frameTicks) : this.timeline.next(pts, depth);
  }

  /** H.264 §8.2.1: the frame's POC, min(TopFieldOrderCnt, BottomFieldOrderCnt). memory_management_control_operation
   *  5 is not looked for (it needs the whole slice header); the rare encoders that use it may shift the POC. */
  private pictureOrderCount(sps: H264Sps, head: H264SliceHead, idr: boolean, reference: boolean): number {
    if (idr) {
      this.prevPocMsb = 0;
      this.prevPocLsb = 0;
      this.prevFrameNumOffset = 0;
      this.prevFrameNum = 0;
    }
    if (sps.pocType === 0) {
      // §8.2.1.1 (8-3)
      const maxLsb = 2 ** sps.log2MaxPocLsb;
      let msb = this.prevPocMsb;
      if (head.pocLsb < this.prevPocLsb && this.prevPocLsb - head.pocLsb >= maxLsb / 2) msb += maxLsb;
      else if (head.pocLsb > this.prevPocLsb && head.pocLsb - this.prevPocLsb > maxLsb / 2) msb -= maxLsb;
      if (reference) {
        this.prevPocMsb = msb;
        this.prevPocLsb = head.pocLsb;
      }
      const top = msb + head.pocLsb;
      return Math.min(top, top + head.deltaPocBottom);
    }
    // §8.2.1.2
    const maxFrameNum = 2 ** sps.log2MaxFrameNum;
    const frameNumOffset = idr ? 0 : this.prevFrameNumOffset + (this.prevFrameNum > head.frameNum ? maxFrameNum : 0);
    this.prevFrameNumOffset = frameNumOffset;
    this.prevFrameNum = head.frameNum;
    const cycle = sps.offsetForRefFrame.length;
    let absFrameNum = cycle !== 0 ? frameNumOffset + head.frameNum : 0;
    if (!reference && absFrameNum > 0) absFrameNum -= 1;
    let expected = 0;
    if (absFrameNum > 0) {
      const perCycle = sps.offsetForRefFrame.reduce((a, b) => a + b, 0);
      const cycleCnt = Math.floor((absFrameNum - 1) / cycle);
      const inCycle = (absFrameNum - 1) % cycle;
      expected = cycleCnt * perCycle;
      for (let i = 0; i <= inCycle; i++) expected += sps.offsetForRefFrame[i]!;
    }
    if (!reference) expected += sps.offsetForNonRefPic;
    const top = expected + head.deltaPoc0;
    return Math.min(top, top + sps.offsetForTopToBottomField + head.deltaPoc1);
  }

  private takeSps(nal: Uint8Array): void {
    if (nal.length === 0 || (nal[0]! & 0x1f) !== 7) return;
    // Encoders repeat the SPS before every IDR: the same bytes are not parsed again (at most 32 to compare).
    for (const known of this.spsById.values()) if (sameBytes(known.bytes, nal)) return;
    const sps = parseH264Sps(nal);
    if (typeof sps === 'string') {
      this.lastError = ` (an SPS was refused: ${sps})`;
      return;
    }
    // A copy: new Uint8Array, not slice(), whose Node Buffer version shares memory with the packet.
    this.spsById.set(sps.id, { bytes: new Uint8Array(nal), sps });
  }

  private takePps(nal: Uint8Array): void {
    if (nal.length === 0 || (nal[0]! & 0x1f) !== 8) return;
    const pps = parseH264Pps(nal);
    if (typeof pps === 'string') {
      this.lastError = ` (a PPS was refused: ${pps})`;
      return;
    }
    this.ppsById.set(pps.id, pps);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// H.265

interface H265Sps {
  id: number;
  /** sps_max_num_reorder_pics[HighestTid] (§7.4.3.2.1), always present in an H.265 SPS. */
  maxNumReorderPics: number;
  frameTicks: number | undefined;
}

/** H.265 §7.3.3 profile_tier_level(1, maxNumSubLayersMinus1), skipped. */
function skipProfileTierLevel(r: RbspReader, maxSubLayersMinus1: number): void {
  r.skip(88 + 8); // general profile space … general_inbld/reserved flags, general_level_idc
  const profile: boolean[] = [];
  const level: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profile.push(r.u1() === 1);
    level.push(r.u1() === 1);
  }
  if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits
  for (let i = 0; i < maxSubLayersMinus1; i++) r.skip((profile[i] ? 88 : 0) + (level[i] ? 8 : 0));
}

/** H.265 §7.3.4 scaling_list_data(), skipped. */
function skipH265ScalingListData(r: RbspReader): void {
  for (let sizeId = 0; sizeId < 4; sizeId++) {
    for (let matrixId = 0; matrixId < 6 && !r.overrun; matrixId += sizeId === 3 ? 3 : 1) {
      if (r.u1() === 0) {
        r.ue(); // scaling_list_pred_matrix_id_delta
        continue;
      }
      const coefNum = Math.min(64, 1 << (4 + (sizeId << 1)));
      if (sizeId > 1) r.se(); // scaling_list_dc_coef_minus8
      for (let i = 0; i < coefNum && !r.overrun; i++) r.se(); // scaling_list_delta_coef
    }
  }
}

/** H.265 §7.3.7 st_ref_pic_set(stRpsIdx) as it appears in the SPS; returns NumDeltaPocs (§7.4.8). */
function skipStRefPicSet(r: RbspReader, idx: number, numDeltaPocs: readonly number[]): number {
  if (idx !== 0 && r.u1() === 1) {
    // inter_ref_pic_set_prediction_flag: predicted from set idx - 1 (delta_idx_minus1 is only in slice headers)
    r.u1(); // delta_rps_sign
    r.ue(); // abs_delta_rps_minus1
    let n = 0;
    const ref = numDeltaPocs[idx - 1] ?? 0;
    for (let j = 0; j <= ref && !r.overrun; j++) {
      const used = r.u1() === 1;
      const useDelta = used || r.u1() === 1; // use_delta_flag is inferred 1 when absent
      if (used || useDelta) n++;
    }
    return n;
  }
  const negative = r.ue();
  const positive = r.ue();
  if (negative > 16 || positive > 16) {
    r.overrun = true;
    return 0;
  }
  for (let i = 0; i < negative + positive && !r.overrun; i++) {
    r.ue(); // delta_poc_s0/s1_minus1
    r.u1(); // used_by_curr_pic_s0/s1_flag
  }
  return negative + positive;
}

/** H.265 §7.3.2.2 seq_parameter_set_rbsp() up to the reorder depth, then on to §E.2.1 VUI timing if it can. */
function parseH265Sps(nal: Uint8Array): H265Sps | string {
  if (nal.length < 3) return 'the SPS is shorter than its header';
  const r = new RbspReader(unescapeRbsp(nal.subarray(2)));
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  if (maxSubLayersMinus1 > 6) return `sps_max_sub_layers_minus1 ${maxSubLayersMinus1} is over 6`;
  r.u1(); // sps_temporal_id_nesting_flag
  skipProfileTierLevel(r, maxSubLayersMinus1);
  const id = r.ue();
  if (id > 15) return `sps_seq_parameter_set_id ${id} is over 15`;
  if (r.ue() === 3) r.u1(); // chroma_format_idc, separate_colour_plane_flag
  r.ue(); // pic_width_in_luma_samples
  r.ue(); // pic_height_in_luma_samples
  if (r.u1() === 1) for (let i = 0; i < 4; i++) r.ue(); // conformance window offsets
  r.ue(); // bit_depth_luma_minus8
  r.ue(); // bit_depth_chroma_minus8
  const log2MaxPocLsb = r.ue() + 4;
  if (log2MaxPocLsb > 16) return `log2_max_pic_order_cnt_lsb_minus4 ${log2MaxPocLsb - 4} is over 12`;
  const allSubLayers = r.u1() === 1; // sps_sub_layer_ordering_info_present_flag
  let maxNumReorderPics = 0;
  for (let i = allSubLayers ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
    r.ue(); // sps_max_dec_pic_buffering_minus1
    maxNumReorderPics = r.ue(); // the last one is HighestTid's
    r.ue(); // sps_max_latency_increase_plus1
  }
  if (r.overrun) return 'the SPS ends before sps_max_num_reorder_pics';
  if (maxNumReorderPics > MAX_REORDER) return `sps_max_num_reorder_pics ${maxNumReorderPics} is over ${MAX_REORDER}`;
  const sps: H265Sps = { id, maxNumReorderPics, frameTicks: undefined };
  // The rest only leads to the VUI timing; anything unreadable leaves it unknown.
  for (let i = 0; i < 6; i++) r.ue(); // coding/transform block sizes, transform hierarchy depths
  if (r.u1() === 1 && r.u1() === 1) skipH265ScalingListData(r); // scaling_list_enabled, sps_scaling_list_data_present
  r.skip(2); // amp_enabled_flag, sample_adaptive_offset_enabled_flag
  if (r.u1() === 1) {
    r.skip(8); // pcm sample bit depths
    r.ue(); // log2_min_pcm_luma_coding_block_size_minus3
    r.ue(); // log2_diff_max_min_pcm_luma_coding_block_size
    r.u1(); // pcm_loop_filter_disabled_flag
  }
  const numShortTermRefPicSets = r.ue();
  if (numShortTermRefPicSets > 64) return sps;
  const numDeltaPocs: number[] = [];
  for (let i = 0; i < numShortTermRefPicSets && !r.overrun; i++) numDeltaPocs.push(skipStRefPicSet(r, i, numDeltaPocs));
  if (r.u1() === 1) {
    // long_term_ref_pics_present_flag
    const n = r.ue();
    if (n > 32) return sps;
    for (let i = 0; i < n && !r.overrun; i++) r.skip(log2MaxPocLsb + 1); // lt_ref_pic_poc_lsb_sps, used_by_curr_pic_lt_sps_flag
  }
  r.skip(2); // sps_temporal_mvp_enabled_flag, strong_intra_smoothing_enabled_flag
  if (r.overrun || r.u1() === 0) return sps; // vui_parameters_present_flag
  // §E.2.1 vui_parameters()
  if (r.u1() === 1 && r.u(8) === 255) r.skip(32); // aspect ratio, Extended_SAR
  if (r.u1() === 1) r.u1(); // overscan
  if (r.u1() === 1) {
    r.skip(4); // video_format, video_full_range_flag
    if (r.u1() === 1) r.skip(24); // colour description
  }
  if (r.u1() === 1) {
    r.ue(); // chroma_sample_loc_type_top_field
    r.ue(); // chroma_sample_loc_type_bottom_field
  }
  r.u1(); // neutral_chroma_indication_flag
  const fieldSeq = r.u1() === 1;
  r.u1(); // frame_field_info_present_flag
  if (r.u1() === 1) for (let i = 0; i < 4; i++) r.ue(); // default display window
  if (r.u1() === 1) {
    // vui_timing_info_present_flag: here a tick is one picture (§E.3.1); with field_seq_flag a picture is a field.
    const numUnitsInTick = r.u(32);
    const timeScale = r.u(32);
    if (!r.overrun) sps.frameTicks = frameTicks((fieldSeq ? 2 : 1) * numUnitsInTick, timeScale);
  }
  return sps;
}

/** H.265 §7.3.2.3.1: pps_pic_parameter_set_id and pps_seq_parameter_set_id. */
function parseH265Pps(nal: Uint8Array): { id: number; spsId: number } | string {
  const r = new RbspReader(unescapeRbsp(nal.subarray(2, 2 + SLICE_HEAD_BYTES)));
  const id = r.ue();
  const spsId = r.ue();
  if (r.overrun) return 'the PPS ends early';
  if (id > 63) return `pps_pic_parameter_set_id ${id} is over 63`;
  if (spsId > 15) return `the PPS names sps_seq_parameter_set_id ${spsId}, over 15`;
  return { id, spsId };
}

/** H.265 Table 7-1 */
const H265_RASL_N = 8;
const H265_RASL_R = 9;
const H265_BLA_FIRST = 16;
const H265_IDR_W_RADL = 19;
const H265_CRA = 21;
const H265_IRAP_LAST = 23; // 22 and 23 are reserved IRAP types
const H265_VPS = 32;
const H265_SPS = 33;
const H265_PPS = 34;

/**
 * H.265 decode timestamps. The timeline starts at an IRAP picture (IDR, CRA or BLA, §3.73); when it starts at a CRA
 * or BLA, that picture's RASL pictures reference pictures the stream never had and are refused (§8.1.3:
 * NoRaslOutputFlag = 1, they are not output), so the caller drops them. Open GOPs later in the stream (x265's
 * default: CRA with RASL pictures) are decodable and get a DTS like any other picture.
 */
export class H265DtsExtractor {
  private readonly spsById = new Map<number, { bytes: Uint8Array; sps: H265Sps }>();
  private readonly ppsById = new Map<number, { id: number; spsId: number }>();
  private readonly timeline = new ReorderTimeline();
  private activeSps: Uint8Array | undefined;
  private lastError = '';
  /** The last IRAP had NoRaslOutputFlag = 1 (it started the timeline, or was a BLA): its RASL pictures are refused. */
  private raslUndecodable = false;

  /** The VPS carries nothing the DTS needs (its timing repeats the SPS VUI); it is accepted for symmetry with RTP's
   *  sprop-vps/sprop-sps/sprop-pps (RFC 7798 §7.1). */
  setParameterSets(vps: Uint8Array, sps: Uint8Array, pps: Uint8Array): void {
    void vps;
    this.takeSps(sps);
    this.takePps(pps);
  }

  reset(): void {
    this.timeline.reset();
  }

  extract(nalus: readonly Uint8Array[], pts: number): DtsResult {
    if (!validPts(pts)) return fail(`pts ${pts} is not a whole number of ticks within ±2^52`);
    let slice: Uint8Array | undefined;
    for (const nal of nalus) {
      if (nal.length < 2 || (nal[0]! & 0x80) !== 0) continue; // too short for the header, or forbidden_zero_bit
      if ((((nal[0]! & 1) << 5) | (nal[1]! >> 3)) !== 0) continue; // nuh_layer_id > 0: another layer (Annex F)
      const type = (nal[0]! >> 1) & 0x3f;
      if (type === H265_SPS) this.takeSps(nal);
      else if (type === H265_PPS) this.takePps(nal);
      else if (type < H265_VPS && slice === undefined) slice = nal; // the first VCL NAL unit (types 0..31)
    }
    if (slice === undefined) return fail('the access unit has no coded slice segment (NAL unit types 0 to 31)');
    const type = (slice[0]! >> 1) & 0x3f;
    const irap = type >= H265_BLA_FIRST && type <= H265_IRAP_LAST;
    if (!irap && !this.timeline.started) return fail('waiting for an IRAP access unit (IDR, CRA or BLA) to start the DTS timeline');
    // §7.3.6.1: first_slice_segment_in_pic_flag, no_output_of_prior_pics_flag (IRAP only), slice_pic_parameter_set_id
    const r = new RbspReader(unescapeRbsp(slice.subarray(2, 2 + SLICE_HEAD_BYTES)));
    r.u1();
    if (irap) r.u1();
    const id = r.ue();
    const pps = this.ppsById.get(id);
    if (r.overrun || pps === undefined) return fail(`no PPS ${id} received yet${this.lastError}`);
    const entry = this.spsById.get(pps.spsId);
    if (entry === undefined) return fail(`no SPS ${pps.spsId} received yet${this.lastError}`);
    if (entry.bytes !== this.activeSps) {
      this.activeSps = entry.bytes;
      this.timeline.forgetDepth();
    }
    const { sps } = entry;
    if (irap) {
      const wasStarted = this.timeline.started;
      const result = this.timeline.randomAccess(pts, sps.maxNumReorderPics, sps.frameTicks);
      // §8.1.3: NoRaslOutputFlag is 1 for IDR and BLA, and for a CRA that starts decoding.
      // (IDR pictures have no RASL pictures; types 22 and 23 are reserved.)
      this.raslUndecodable = type < H265_IDR_W_RADL || (type === H265_CRA && !wasStarted);
      return result;
    }
    if ((type === H265_RASL_N || type === H265_RASL_R) && this.raslUndecodable) {
      return fail('a RASL picture of the CRA/BLA the timeline started at: it references pictures before the stream began; drop it');
    }
    return this.timeline.next(pts, sps.maxNumReorderPics);
  }

  private takeSps(nal: Uint8Array): void {
    if (nal.length < 2 || ((nal[0]! >> 1) & 0x3f) !== H265_SPS) return;
    for (const known of this.spsById.values()) if (sameBytes(known.bytes, nal)) return;
    const sps = parseH265Sps(nal);
    if (typeof sps === 'string') {
      this.lastError = ` (an SPS was refused: ${sps})`;
      return;
    }
    this.spsById.set(sps.id, { bytes: new Uint8Array(nal), sps });
  }

  private takePps(nal: Uint8Array): void {
    if (nal.length < 2 || ((nal[0]! >> 1) & 0x3f) !== H265_PPS) return;
    const pps = parseH265Pps(nal);
    if (typeof pps === 'string') {
      this.lastError = ` (a PPS was refused: ${pps})`;
      return;
    }
    this.ppsById.set(pps.id, pps);
  }
}
