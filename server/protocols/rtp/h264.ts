// What an H.264 RTP payload carries, RFC 6184 §5.2–5.8, read from NAL unit headers only
// (ITU-T H.264 §7.3.1: forbidden_zero_bit(1) nal_ref_idc(2) nal_unit_type(5)). The relay uses it
// to start new readers on a keyframe and to keep the last SPS/PPS. It never throws: a short or
// malformed payload just reports nothing.

/** NAL unit types, ITU-T H.264 Table 7-1, and RFC 6184 Table 1 packet types. */
export const H264_NAL = {
  nonIdrSlice: 1,
  idrSlice: 5,
  sei: 6,
  sps: 7,
  pps: 8,
  aud: 9,
  stapA: 24,
  stapB: 25,
  mtap16: 26,
  mtap24: 27,
  fuA: 28,
  fuB: 29,
} as const;

export interface NalSummary {
  idr: boolean;
  sps: boolean;
  pps: boolean;
  /** This packet begins a new NAL unit: a single NAL, a STAP-A, or an FU-A/FU-B with the S bit. */
  startsAccessUnit: boolean;
}

// Bit flags so the hot path can classify a packet without allocating (h264Flags / isH264Keyframe).
export const H264_FLAG_IDR = 1;
export const H264_FLAG_SPS = 2;
export const H264_FLAG_PPS = 4;
export const H264_FLAG_STARTS = 8;

function nalFlags(nalHeader: number): number {
  switch (nalHeader & 0x1f) {
    case H264_NAL.idrSlice:
      return H264_FLAG_IDR;
    case H264_NAL.sps:
      return H264_FLAG_SPS;
    case H264_NAL.pps:
      return H264_FLAG_PPS;
    default:
      return 0;
  }
}

/**
 * Allocation-free form of h264Summary: an OR of the H264_FLAG_* bits.
 * STAP-B and MTAP (interleaved mode, RFC 6184 §5.7.2; no real peer we relay sends them) report 0.
 */
export function h264Flags(payload: Uint8Array): number {
  if (payload.length === 0) return 0;
  const header = payload[0]!;
  const type = header & 0x1f;
  if (type >= 1 && type <= 23) return H264_FLAG_STARTS | nalFlags(header);
  if (type === H264_NAL.stapA) {
    // RFC 6184 §5.7.1: STAP-A header, then (16-bit size, NAL unit)*. Only NAL units that fit
    // entirely count, so a truncated packet never claims a keyframe it does not carry.
    let flags = 0;
    let offset = 1;
    while (offset + 2 < payload.length) {
      const size = (payload[offset]! << 8) | payload[offset + 1]!;
      if (size === 0 || offset + 2 + size > payload.length) break;
      flags |= H264_FLAG_STARTS | nalFlags(payload[offset + 2]!);
      offset += 2 + size;
    }
    return flags;
  }
  if (type === H264_NAL.fuA || type === H264_NAL.fuB) {
    // RFC 6184 §5.8: FU indicator, FU header (S E R type), [DON(16) for FU-B], fragment.
    // Only the start fragment says what the NAL unit is; middle and end fragments report nothing.
    if (payload.length < (type === H264_NAL.fuB ? 4 : 2)) return 0;
    const fuHeader = payload[1]!;
    if ((fuHeader & 0x80) === 0) return 0;
    return H264_FLAG_STARTS | nalFlags(fuHeader);
  }
  return 0;
}

export function h264Summary(payload: Uint8Array): NalSummary {
  const flags = h264Flags(payload);
  return {
    idr: (flags & H264_FLAG_IDR) !== 0,
    sps: (flags & H264_FLAG_SPS) !== 0,
    pps: (flags & H264_FLAG_PPS) !== 0,
    startsAccessUnit: (flags & H264_FLAG_STARTS) !== 0,
  };
}

/** True when the payload starts (or, in a STAP-A, contains) an IDR slice. */
export function isH264Keyframe(payload: Uint8Array): boolean {
  return (h264Flags(payload) & H264_FLAG_IDR) !== 0;
}
