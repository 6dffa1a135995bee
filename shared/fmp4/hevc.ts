// H.265 parameter sets as the fMP4 writer needs them: the sequence parameter set (ITU-T H.265 §7.3.2.2) for the
// displayed picture size and the profile, tier and level, and the HEVCDecoderConfigurationRecord (ISO/IEC 14496-15
// §8.3.3.1) built from one VPS, SPS and PPS, as RTP carries them (in band, or in the SDP's sprop-vps / sprop-sps /
// sprop-pps, RFC 7798 §7.1). Pure and total: every function returns a result and never throws on bad input.
//
// Section numbers are those of ITU-T H.265 (V8, 08/2021) and ISO/IEC 14496-15:2019; the syntax cited has not moved
// since the first editions.
import { MAX_PICTURE_SIDE, unescapeRbsp } from './avc.ts';
import { RbspReader, RbspStop } from './rbsp.ts';

export type HevcResult<T> = { ok: true; value: T } | { ok: false; message: string };

export interface HevcSpsInfo {
  /** sps_video_parameter_set_id: the VPS this SPS refers to. */
  vpsId: number;
  /** sps_seq_parameter_set_id, 0..15: what a PPS refers to. */
  spsId: number;
  /** sps_max_sub_layers_minus1, 0..6: temporal sub-layers in the coded video sequence, minus one. */
  maxSubLayersMinus1: number;
  /** sps_temporal_id_nesting_flag (§7.4.3.2.1). */
  temporalIdNesting: boolean;
  // §7.3.3 profile_tier_level(1, sps_max_sub_layers_minus1): the general_* fields, which the hvcC copies.
  /** general_profile_space, 0..3 (0 in every profile H.265 defines). */
  profileSpace: number;
  /** general_tier_flag: 0 Main tier, 1 High tier. */
  tierFlag: number;
  /** general_profile_idc: 1 Main, 2 Main 10, 3 Main Still Picture, 4 format range extensions (Rext), … (Annex A). */
  profileIdc: number;
  /** general_profile_compatibility_flag[0..31] as one unsigned 32-bit number, flag j at bit 31 − j (as written). */
  profileCompatibilityFlags: number;
  /** The 48 bits after the compatibility flags (progressive_source … general_inbld/reserved flag), as written. */
  constraintIndicatorFlags: Uint8Array;
  /** general_level_idc: thirty times the level number (93 = level 3.1). */
  levelIdc: number;
  /** chroma_format_idc: 0 monochrome, 1 4:2:0, 2 4:2:2, 3 4:4:4 (§6.2, Table 6-1). */
  chromaFormatIdc: number;
  separateColourPlane: boolean;
  bitDepthLuma: number;
  bitDepthChroma: number;
  /** pic_width/height_in_luma_samples: the decoded size, before the conformance window. */
  codedWidth: number;
  codedHeight: number;
  /** The displayed size: the coded size less the conformance window (§7.4.3.2.1 conf_win_*_offset). */
  width: number;
  height: number;
}

/** H.265 Table 7-1 nal_unit_type values of the parameter sets. */
const NAL_VPS = 32;
const NAL_SPS = 33;
const NAL_PPS = 34;

/**
 * Why a 2-byte NAL unit header (§7.3.1.2: forbidden_zero_bit, nal_unit_type(6), nuh_layer_id(6),
 * nuh_temporal_id_plus1(3)) is not a base-layer parameter set of `type`, or undefined when it is.
 */
function headerFault(nal: Uint8Array, type: number, what: string): string | undefined {
  if (nal.length < 2) return `the ${what} is ${nal.length} bytes, shorter than its 2-byte NAL unit header`;
  const b0 = nal[0]!;
  const b1 = nal[1]!;
  if ((b0 & 0x80) !== 0) return `the ${what} NAL unit header has forbidden_zero_bit set`;
  const t = (b0 >> 1) & 0x3f;
  if (t !== type) return `NAL unit type ${t} is not a ${what} (${type})`;
  // §7.4.2.2: nuh_temporal_id_plus1 shall not be 0 (it keeps a 1 bit in the header, so 00 00 never starts it).
  if ((b1 & 0x07) === 0) return `the ${what} NAL unit header has nuh_temporal_id_plus1 0`;
  // Layers above 0 (Annex F, multi-layer extensions) code their SPS differently (sps_ext_or_max_sub_layers_minus1)
  // and are not what a single-layer hvcC describes.
  const layer = ((b0 & 1) << 5) | (b1 >> 3);
  if (layer !== 0) return `the ${what} belongs to layer ${layer}; only the base layer (0) is taken`;
  return undefined;
}

/** Runs a reader, turning its RbspStop into { ok: false }. Any other exception is a bug in this module and is rethrown. */
function attempt<T>(read: () => T): HevcResult<T> {
  try {
    return { ok: true, value: read() };
  } catch (e) {
    if (e instanceof RbspStop) return { ok: false, message: e.message };
    throw e;
  }
}

/** Parses a sequence parameter set NAL unit (with its 2-byte NAL unit header, emulation prevention bytes included). */
export function parseHevcSps(nal: Uint8Array): HevcResult<HevcSpsInfo> {
  const fault = headerFault(nal, NAL_SPS, 'SPS');
  if (fault !== undefined) return { ok: false, message: fault };
  return attempt(() => readSps(new RbspReader(unescapeRbsp(nal.subarray(2)), 'SPS')));
}

function readSps(r: RbspReader): HevcSpsInfo {
  // §7.3.2.2.1 seq_parameter_set_rbsp()
  const vpsId = r.u(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.u(3);
  // §7.4.3.2.1: "shall be in the range of 0 to 6"; 7 would also overrun the 8-entry sub-layer loops below.
  if (maxSubLayersMinus1 > 6) throw new RbspStop(`sps_max_sub_layers_minus1 ${maxSubLayersMinus1} is over 6`);
  const temporalIdNesting = r.u1() === 1;

  // §7.3.3 profile_tier_level(profilePresentFlag = 1, maxNumSubLayersMinus1)
  const profileSpace = r.u(2);
  const tierFlag = r.u1();
  const profileIdc = r.u(5);
  const profileCompatibilityFlags = r.u(32);
  // progressive_source, interlaced_source, non_packed_constraint, frame_only_constraint (4 bits), then 43 bits of
  // profile-specific constraint flags or reserved_zero_43bits, then general_inbld_flag or reserved_zero_bit: the
  // 48 bits ISO/IEC 14496-15 calls general_constraint_indicator_flags, copied as they are.
  const constraintIndicatorFlags = new Uint8Array(6);
  for (let i = 0; i < 6; i++) constraintIndicatorFlags[i] = r.u(8);
  const levelIdc = r.u(8);
  const subLayerProfilePresent: boolean[] = [];
  const subLayerLevelPresent: boolean[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    subLayerProfilePresent.push(r.u1() === 1);
    subLayerLevelPresent.push(r.u1() === 1);
  }
  if (maxSubLayersMinus1 > 0) r.skip(2 * (8 - maxSubLayersMinus1)); // reserved_zero_2bits[i] for i = max..7
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    // sub_layer_profile_space(2) tier(1) profile_idc(5) compatibility(32) + 4 source/constraint flags + 43 + 1 bits
    if (subLayerProfilePresent[i]) r.skip(88);
    if (subLayerLevelPresent[i]) r.skip(8); // sub_layer_level_idc
  }

  const spsId = r.ue();
  if (spsId > 15) throw new RbspStop(`sps_seq_parameter_set_id ${spsId} is over 15`);
  const chromaFormatIdc = r.ue();
  if (chromaFormatIdc > 3) throw new RbspStop(`chroma_format_idc ${chromaFormatIdc} is over 3`);
  const separateColourPlane = chromaFormatIdc === 3 && r.u1() === 1;
  const codedWidth = r.ue(); // pic_width_in_luma_samples
  const codedHeight = r.ue(); // pic_height_in_luma_samples
  // §7.4.3.2.1: neither shall be 0 (and each is a multiple of MinCbSizeY, which comes later in the SPS and is not
  // checked: the decoder refuses such a stream anyway, and the size here only labels the track).
  if (codedWidth === 0 || codedHeight === 0) throw new RbspStop(`the coded picture is ${codedWidth}x${codedHeight}`);
  if (codedWidth > MAX_PICTURE_SIDE || codedHeight > MAX_PICTURE_SIDE) {
    throw new RbspStop(`the coded picture ${codedWidth}x${codedHeight} is larger than ${MAX_PICTURE_SIDE} on a side`);
  }
  let window = { left: 0, right: 0, top: 0, bottom: 0 };
  if (r.u1() === 1) window = { left: r.ue(), right: r.ue(), top: r.ue(), bottom: r.ue() }; // conformance_window_flag
  const bitDepthLuma = 8 + r.ue();
  const bitDepthChroma = 8 + r.ue();
  // §7.4.3.2.1: bit_depth_luma_minus8 and bit_depth_chroma_minus8 "shall be in the range of 0 to 8".
  if (bitDepthLuma > 16 || bitDepthChroma > 16) throw new RbspStop(`bit depth ${bitDepthLuma}/${bitDepthChroma} is over 16`);
  // What follows (POC, sub-layer ordering, block sizes, reference picture sets, VUI) is not needed for the hvcC.

  // §7.4.3.2.1: the conformance window is in chroma sample units, SubWidthC × SubHeightC luma samples (Table 6-1:
  // 4:2:0 2×2, 4:2:2 2×1, monochrome, 4:4:4 and separate colour planes 1×1).
  const subWidthC = chromaFormatIdc === 1 || chromaFormatIdc === 2 ? 2 : 1;
  const subHeightC = chromaFormatIdc === 1 ? 2 : 1;
  const width = codedWidth - subWidthC * (window.left + window.right);
  const height = codedHeight - subHeightC * (window.top + window.bottom);
  if (width <= 0 || height <= 0) throw new RbspStop(`the conformance window leaves a ${width}x${height} picture of ${codedWidth}x${codedHeight}`);
  return {
    vpsId,
    spsId,
    maxSubLayersMinus1,
    temporalIdNesting,
    profileSpace,
    tierFlag,
    profileIdc,
    profileCompatibilityFlags,
    constraintIndicatorFlags,
    levelIdc,
    chromaFormatIdc,
    separateColourPlane,
    bitDepthLuma,
    bitDepthChroma,
    codedWidth,
    codedHeight,
    width,
    height,
  };
}

/** §7.3.2.1 video_parameter_set_rbsp(), its first 16 bits: vps_video_parameter_set_id and vps_max_sub_layers_minus1. */
function readVps(nal: Uint8Array): HevcResult<{ id: number; maxSubLayersMinus1: number }> {
  const fault = headerFault(nal, NAL_VPS, 'VPS');
  if (fault !== undefined) return { ok: false, message: fault };
  return attempt(() => {
    const r = new RbspReader(unescapeRbsp(nal.subarray(2)), 'VPS');
    const id = r.u(4);
    r.skip(8); // vps_base_layer_internal_flag, vps_base_layer_available_flag, vps_max_layers_minus1(6)
    const maxSubLayersMinus1 = r.u(3);
    if (maxSubLayersMinus1 > 6) throw new RbspStop(`vps_max_sub_layers_minus1 ${maxSubLayersMinus1} is over 6`);
    return { id, maxSubLayersMinus1 };
  });
}

/** §7.3.2.3.1 pic_parameter_set_rbsp(), its first two fields. */
function readPps(nal: Uint8Array): HevcResult<{ id: number; spsId: number }> {
  const fault = headerFault(nal, NAL_PPS, 'PPS');
  if (fault !== undefined) return { ok: false, message: fault };
  return attempt(() => {
    const r = new RbspReader(unescapeRbsp(nal.subarray(2)), 'PPS');
    const id = r.ue();
    if (id > 63) throw new RbspStop(`pps_pic_parameter_set_id ${id} is over 63`);
    const spsId = r.ue();
    if (spsId > 15) throw new RbspStop(`pps_seq_parameter_set_id ${spsId} is over 15`);
    return { id, spsId };
  });
}

/** Bytes of the HEVCDecoderConfigurationRecord before its arrays. */
const HVCC_HEADER_BYTES = 23;

/**
 * ISO/IEC 14496-15 §8.3.3.1 HEVCDecoderConfigurationRecord with arrays [VPS, SPS, PPS], each one NAL unit with
 * array_completeness 1, and lengthSizeMinusOne 3 (4-byte NAL unit lengths in the samples). §8.3.3.1.2:
 * array_completeness 1 says all NAL units of the type are in the array and none are in the stream; it is the
 * mandatory value for parameter set arrays under an 'hvc1' sample entry. So a writer of 'hvc1' samples should drop
 * in-band VPS/SPS/PPS copies (decoders, ffmpeg's among them, accept them when they repeat the record's).
 *
 * The fields follow ffmpeg 5.1's ff_isom_write_hvcc (libavformat/hevc.c), so the two records agree byte for byte
 * on what x265 sends (test/unit/fmp4/hevc.test.ts), with these choices:
 * - profile, tier, level and flags come from the SPS. ffmpeg also folds in the VPS's profile_tier_level (highest
 *   tier and level, AND of the flags); encoders write the same one in both, and the SPS is what the decoder uses.
 * - min_spatial_segmentation_idc 0 and parallelismType 0: "no information" (§8.3.3.1.2). ffmpeg reads the first
 *   from the VUI bitstream_restriction and the second from the PPS, and writes 0 for both when the VUI has no
 *   restriction, which is what x265 sends; saying nothing is never wrong, only less helpful to a parallel decoder.
 * - avgFrameRate 0 and constantFrameRate 0 ("unspecified"), as ffmpeg.
 * - numTemporalLayers: the larger of vps_max_sub_layers_minus1 and sps_max_sub_layers_minus1, plus one, as ffmpeg;
 *   temporalIdNested: sps_temporal_id_nesting_flag.
 * - no SEI arrays: x265's "user data unregistered" SEI with its settings, which ffmpeg copies into the record from
 *   the encoder's extradata, is not a parameter set and RTP does not deliver it as one.
 */
export function hvcCFromParameterSets(vps: Uint8Array, sps: Uint8Array, pps: Uint8Array): HevcResult<Uint8Array> {
  const v = readVps(vps);
  if (!v.ok) return v;
  const s = parseHevcSps(sps);
  if (!s.ok) return s;
  const p = readPps(pps);
  if (!p.ok) return p;
  const info = s.value;
  if (info.vpsId !== v.value.id) return { ok: false, message: `the SPS refers to VPS ${info.vpsId}, but the VPS given is ${v.value.id}` };
  if (p.value.spsId !== info.spsId) return { ok: false, message: `the PPS refers to SPS ${p.value.spsId}, but the SPS given is ${info.spsId}` };
  // The record's fields are 3 bits wide: bit depths up to 15. H.265 allows 16 (bit_depth_*_minus8 = 8).
  if (info.bitDepthLuma > 15 || info.bitDepthChroma > 15) {
    return { ok: false, message: `bit depth ${info.bitDepthLuma}/${info.bitDepthChroma} does not fit the record's 3-bit bitDepthMinus8 fields` };
  }
  for (const [name, nal] of [['VPS', vps], ['SPS', sps], ['PPS', pps]] as const) {
    if (nal.length > 0xffff) return { ok: false, message: `the ${name} is ${nal.length} bytes; the record's nalUnitLength is 16 bits` };
  }

  const numTemporalLayers = Math.max(v.value.maxSubLayersMinus1, info.maxSubLayersMinus1) + 1; // 1..7
  const out = new Uint8Array(HVCC_HEADER_BYTES + 3 * 5 + vps.length + sps.length + pps.length);
  const view = new DataView(out.buffer);
  out[0] = 1; // configurationVersion
  out[1] = (info.profileSpace << 6) | (info.tierFlag << 5) | info.profileIdc;
  view.setUint32(2, info.profileCompatibilityFlags);
  out.set(info.constraintIndicatorFlags, 6); // general_constraint_indicator_flags (48 bits)
  out[12] = info.levelIdc;
  view.setUint16(13, 0xf000); // reserved '1111'b, min_spatial_segmentation_idc 0
  out[15] = 0xfc; // reserved '111111'b, parallelismType 0
  out[16] = 0xfc | info.chromaFormatIdc; // reserved '111111'b, chromaFormat
  out[17] = 0xf8 | (info.bitDepthLuma - 8); // reserved '11111'b, bitDepthLumaMinus8
  out[18] = 0xf8 | (info.bitDepthChroma - 8); // reserved '11111'b, bitDepthChromaMinus8
  view.setUint16(19, 0); // avgFrameRate
  // constantFrameRate(2) = 0, numTemporalLayers(3), temporalIdNested(1), lengthSizeMinusOne(2) = 3
  out[21] = (numTemporalLayers << 3) | ((info.temporalIdNesting ? 1 : 0) << 2) | 3;
  out[22] = 3; // numOfArrays
  let at = HVCC_HEADER_BYTES;
  for (const [type, nal] of [[NAL_VPS, vps], [NAL_SPS, sps], [NAL_PPS, pps]] as const) {
    out[at] = 0x80 | type; // array_completeness 1, reserved 0, NAL_unit_type
    view.setUint16(at + 1, 1); // numNalus
    view.setUint16(at + 3, nal.length); // nalUnitLength
    out.set(nal, at + 5); // the NAL unit as sent: header and emulation prevention bytes included
    at += 5 + nal.length;
  }
  return { ok: true, value: out };
}
