// H.264 parameter sets as the fMP4 reader meets them: the AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1)
// from an avcC box, and the sequence parameter set inside it (ITU-T H.264 §7.3.2.1.1) for profile, level and the
// displayed picture size. Pure and total: every function returns a result and never throws on bad input.
import { RbspReader, RbspStop } from './rbsp.ts';

export type AvcResult<T> = { ok: true; value: T } | { ok: false; message: string };

export interface AvcDecoderConfig {
  /** AVCProfileIndication: profile_idc of the SPS. */
  profileIndication: number;
  /** profile_compatibility: the constraint_set flags byte of the SPS. */
  profileCompatibility: number;
  /** AVCLevelIndication: level_idc, ten times the level number (31 = level 3.1). */
  levelIndication: number;
  /** Bytes in each NAL unit length prefix in the samples: 1, 2 or 4. */
  nalLengthSize: 1 | 2 | 4;
  sps: Uint8Array[];
  pps: Uint8Array[];
}

export interface SpsInfo {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  spsId: number;
  chromaFormatIdc: number;
  bitDepthLuma: number;
  bitDepthChroma: number;
  frameMbsOnly: boolean;
  /** Bits of frame_num in each slice header (log2_max_frame_num_minus4 + 4). */
  log2MaxFrameNum: number;
  /** separate_colour_plane_flag: slice headers then carry a 2-bit colour_plane_id before frame_num. */
  separateColourPlane: boolean;
  /** Decoded size in luma samples, before cropping (whole macroblocks). */
  codedWidth: number;
  codedHeight: number;
  /** Displayed size: coded size minus the frame cropping rectangle (H.264 §7.4.2.1.1, equations 7-19 to 7-22). */
  width: number;
  height: number;
}

/** The largest picture side accepted; H.264 level 6.2 tops out near 16,888 luma samples on a side. */
export const MAX_PICTURE_SIDE = 16384;

/** H.264 §7.4.1: drop each emulation_prevention_three_byte (the 03 in 00 00 03). */
export function unescapeRbsp(nal: Uint8Array): Uint8Array {
  const out = new Uint8Array(nal.length);
  let n = 0;
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    zeros = b === 0 ? zeros + 1 : 0;
    out[n++] = b;
  }
  return out.subarray(0, n);
}

// H.264 §7.3.2.1.1: these profiles carry chroma_format_idc, bit depths and scaling matrices in the SPS.
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** H.264 §7.3.2.1.1.1 scaling_list(): read only to skip it; the values do not matter here. */
function skipScalingList(r: RbspReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) {
      const delta = r.se();
      if (delta < -128 || delta > 127) throw new RbspStop(`delta_scale ${delta} is outside -128..127`);
      next = (last + delta + 256) % 256;
    }
    last = next === 0 ? last : next;
  }
}

/** Parses a sequence parameter set NAL unit (with its one-byte NAL header, emulation prevention bytes included). */
export function parseSps(nal: Uint8Array): AvcResult<SpsInfo> {
  const header = nal[0];
  if (header === undefined) return { ok: false, message: 'the SPS is empty' };
  if ((header & 0x80) !== 0) return { ok: false, message: 'the SPS NAL header has forbidden_zero_bit set' };
  if ((header & 0x1f) !== 7) return { ok: false, message: `NAL unit type ${header & 0x1f} is not an SPS (7)` };
  try {
    return { ok: true, value: readSps(new RbspReader(unescapeRbsp(nal.subarray(1)))) };
  } catch (e) {
    if (e instanceof RbspStop) return { ok: false, message: e.message };
    throw e;
  }
}

function readSps(r: RbspReader): SpsInfo {
  const profileIdc = r.u(8);
  const constraintFlags = r.u(8);
  const levelIdc = r.u(8);
  const spsId = r.ue();
  if (spsId > 31) throw new RbspStop(`seq_parameter_set_id ${spsId} is over 31`);
  let chromaFormatIdc = 1; // §7.4.2.1.1: inferred 4:2:0 when absent
  let separateColourPlane = 0;
  let bitDepthLuma = 8;
  let bitDepthChroma = 8;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = r.ue();
    if (chromaFormatIdc > 3) throw new RbspStop(`chroma_format_idc ${chromaFormatIdc} is over 3`);
    if (chromaFormatIdc === 3) separateColourPlane = r.u1();
    bitDepthLuma = 8 + r.ue();
    bitDepthChroma = 8 + r.ue();
    if (bitDepthLuma > 14 || bitDepthChroma > 14) throw new RbspStop('bit depth is over 14');
    r.u1(); // qpprime_y_zero_transform_bypass_flag
    if (r.u1() === 1) {
      // seq_scaling_matrix_present_flag: 6 4x4 lists, then 2 (4:2:0/4:2:2) or 6 (4:4:4) 8x8 lists
      const lists = chromaFormatIdc !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (r.u1() === 1) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
  }
  const log2MaxFrameNumMinus4 = r.ue();
  if (log2MaxFrameNumMinus4 > 12) throw new RbspStop(`log2_max_frame_num_minus4 ${log2MaxFrameNumMinus4} is over 12`);
  const pocType = r.ue();
  if (pocType === 0) {
    const log2MaxPocLsbMinus4 = r.ue();
    if (log2MaxPocLsbMinus4 > 12) throw new RbspStop(`log2_max_pic_order_cnt_lsb_minus4 ${log2MaxPocLsbMinus4} is over 12`);
  } else if (pocType === 1) {
    r.u1(); // delta_pic_order_always_zero_flag
    r.se(); // offset_for_non_ref_pic
    r.se(); // offset_for_top_to_bottom_field
    const cycle = r.ue();
    if (cycle > 255) throw new RbspStop(`num_ref_frames_in_pic_order_cnt_cycle ${cycle} is over 255`);
    for (let i = 0; i < cycle; i++) r.se(); // offset_for_ref_frame[i]
  } else if (pocType !== 2) {
    throw new RbspStop(`pic_order_cnt_type ${pocType} is over 2`);
  }
  r.ue(); // max_num_ref_frames
  r.u1(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.u1();
  if (frameMbsOnly === 0) r.u1(); // mb_adaptive_frame_field_flag
  r.u1(); // direct_8x8_inference_flag
  let crop = { left: 0, right: 0, top: 0, bottom: 0 };
  if (r.u1() === 1) crop = { left: r.ue(), right: r.ue(), top: r.ue(), bottom: r.ue() };
  // The VUI that follows carries nothing the reader needs.

  const codedWidth = widthMbs * 16;
  const codedHeight = (2 - frameMbsOnly) * heightMapUnits * 16; // §7.4.2.1.1 (7-18): field pairs when not frame_mbs_only
  // §7.4.2.1.1 (7-19..7-22): crop units depend on ChromaArrayType and field coding.
  const chromaArrayType = separateColourPlane === 1 ? 0 : chromaFormatIdc;
  let cropUnitX = 1;
  let cropUnitY = 2 - frameMbsOnly;
  if (chromaArrayType !== 0) {
    const subWidthC = chromaFormatIdc === 3 ? 1 : 2;
    const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
    cropUnitX = subWidthC;
    cropUnitY = subHeightC * (2 - frameMbsOnly);
  }
  const width = codedWidth - cropUnitX * (crop.left + crop.right);
  const height = codedHeight - cropUnitY * (crop.top + crop.bottom);
  if (codedWidth > MAX_PICTURE_SIDE || codedHeight > MAX_PICTURE_SIDE) {
    throw new RbspStop(`the coded picture ${codedWidth}x${codedHeight} is larger than ${MAX_PICTURE_SIDE} on a side`);
  }
  if (width <= 0 || height <= 0) throw new RbspStop(`the cropping rectangle leaves a ${width}x${height} picture`);
  return {
    profileIdc,
    constraintFlags,
    levelIdc,
    spsId,
    chromaFormatIdc,
    bitDepthLuma,
    bitDepthChroma,
    frameMbsOnly: frameMbsOnly === 1,
    log2MaxFrameNum: log2MaxFrameNumMinus4 + 4,
    separateColourPlane: separateColourPlane === 1,
    codedWidth,
    codedHeight,
    width,
    height,
  };
}

/** ISO/IEC 14496-15 §5.3.3.1 AVCDecoderConfigurationRecord. */
export function parseAvcC(b: Uint8Array): AvcResult<AvcDecoderConfig> {
  let p = 0;
  const need = (n: number): boolean => p + n <= b.length;
  if (!need(7)) return { ok: false, message: `the avcC is ${b.length} bytes; the record needs at least 7` };
  if (b[0] !== 1) return { ok: false, message: `avcC configurationVersion is ${b[0]}, not 1` };
  const profileIndication = b[1]!;
  const profileCompatibility = b[2]!;
  const levelIndication = b[3]!;
  // reserved '111111'b + lengthSizeMinusOne; the reserved bits are not checked because some writers leave them 0.
  const lengthSizeMinusOne = b[4]! & 0x03;
  if (lengthSizeMinusOne === 2) return { ok: false, message: 'avcC lengthSizeMinusOne is 2; NAL length prefixes must be 1, 2 or 4 bytes' };
  const nalLengthSize = (lengthSizeMinusOne + 1) as 1 | 2 | 4;
  p = 5;
  const readSets = (count: number, nalType: number, what: string): Uint8Array[] | string => {
    const sets: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (!need(2)) return `the avcC ends inside its ${what} list`;
      const len = (b[p]! << 8) | b[p + 1]!;
      p += 2;
      if (len === 0 || !need(len)) return `an avcC ${what} of ${len} bytes does not fit`;
      const nal = b.subarray(p, p + len);
      if ((nal[0]! & 0x1f) !== nalType) return `an avcC ${what} has NAL unit type ${nal[0]! & 0x1f}, not ${nalType}`;
      sets.push(nal);
      p += len;
    }
    return sets;
  };
  const sps = readSets(b[p++]! & 0x1f, 7, 'SPS'); // reserved '111'b + numOfSequenceParameterSets
  if (typeof sps === 'string') return { ok: false, message: sps };
  if (!need(1)) return { ok: false, message: 'the avcC ends before numOfPictureParameterSets' };
  const pps = readSets(b[p++]!, 8, 'PPS');
  if (typeof pps === 'string') return { ok: false, message: pps };
  if (sps.length === 0) return { ok: false, message: 'the avcC has no SPS' };
  if (pps.length === 0) return { ok: false, message: 'the avcC has no PPS' };
  // ISO/IEC 14496-15 §5.3.3.1.2: High profiles (100, 110, 122, 144) may append chroma_format, bit depths and SPS
  // extensions. Many writers (ffmpeg 5.1's ff_isom_write_avcc among them) omit the block, so it is optional; but when
  // present it must parse and end the record exactly, so a wrong avcC box size cannot hide behind it. The reserved
  // bits are not checked: not every writer sets them.
  if (p < b.length) {
    if (![100, 110, 122, 144].includes(profileIndication)) return { ok: false, message: `the avcC has ${b.length - p} bytes after its PPS list` };
    if (!need(4)) return { ok: false, message: 'the avcC ends inside its High-profile extension' };
    p += 3; // chroma_format, bit_depth_luma_minus8, bit_depth_chroma_minus8
    const ext = readSets(b[p++]!, 13, 'SPS extension');
    if (typeof ext === 'string') return { ok: false, message: ext };
    if (p !== b.length) return { ok: false, message: `the avcC has ${b.length - p} bytes after its High-profile extension` };
  }
  return { ok: true, value: { profileIndication, profileCompatibility, levelIndication, nalLengthSize, sps, pps } };
}

/** RFC 6381 §3.3 codec string: 'avc1.PPCCLL' with profile, compatibility and level as two hex digits each. */
export function avcCodecString(sampleEntry: 'avc1' | 'avc3', profile: number, compatibility: number, level: number): string {
  const hex = (n: number): string => n.toString(16).padStart(2, '0');
  return `${sampleEntry}.${hex(profile)}${hex(compatibility)}${hex(level)}`;
}

/** H.264 Annex A profile names, spelled as ffprobe prints them. constraint_set flags: set0 = 0x80 … set5 = 0x04. */
export function avcProfileName(profileIdc: number, constraintFlags: number): string {
  const set1 = (constraintFlags & 0x40) !== 0;
  const set3 = (constraintFlags & 0x10) !== 0;
  switch (profileIdc) {
    case 66:
      return set1 ? 'Constrained Baseline' : 'Baseline';
    case 77:
      return 'Main';
    case 88:
      return 'Extended';
    case 100:
      return 'High';
    case 110:
      return set3 ? 'High 10 Intra' : 'High 10';
    case 122:
      return set3 ? 'High 4:2:2 Intra' : 'High 4:2:2';
    case 244:
      return set3 ? 'High 4:4:4 Intra' : 'High 4:4:4 Predictive';
    case 44:
      return 'CAVLC 4:4:4';
    case 118:
      return 'Multiview High';
    case 128:
      return 'Stereo High';
    default:
      return `Profile ${profileIdc}`;
  }
}

/**
 * ISO/IEC 14496-15 §5.3.3.1 AVCDecoderConfigurationRecord from one SPS and one PPS (as RTP carries them: in the SDP's
 * sprop-parameter-sets or in band), with 4-byte NAL length prefixes. The High-profile extension block is left out,
 * as ffmpeg 5.1's ff_isom_write_avcc does. Undefined when the SPS is shorter than its 4-byte header.
 */
export function avcCFromParameterSets(sps: Uint8Array, pps: Uint8Array): Uint8Array | undefined {
  if (sps.length < 4 || pps.length < 1 || sps.length > 0xffff || pps.length > 0xffff) return undefined;
  const out = new Uint8Array(11 + sps.length + pps.length);
  out[0] = 1; // configurationVersion
  out[1] = sps[1]!; // AVCProfileIndication = profile_idc
  out[2] = sps[2]!; // profile_compatibility = constraint flags
  out[3] = sps[3]!; // AVCLevelIndication = level_idc
  out[4] = 0xff; // reserved '111111'b, lengthSizeMinusOne = 3
  out[5] = 0xe1; // reserved '111'b, numOfSequenceParameterSets = 1
  out[6] = sps.length >> 8;
  out[7] = sps.length & 0xff;
  out.set(sps, 8);
  let p = 8 + sps.length;
  out[p++] = 1; // numOfPictureParameterSets
  out[p++] = pps.length >> 8;
  out[p++] = pps.length & 0xff;
  out.set(pps, p);
  return out;
}
