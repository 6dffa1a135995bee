// What an H.265 RTP payload carries, RFC 7798 §4.4, read from NAL unit headers only
// (ITU-T H.265 §7.3.1.2: forbidden_zero_bit(1) nal_unit_type(6) nuh_layer_id(6) nuh_temporal_id_plus1(3)).
// Never throws: a short or malformed payload reports nothing.
//
// Assumes sprop-max-don-diff = 0 (no DONL/DOND fields), which is what ffmpeg, GStreamer and
// cameras send; with DONL the AP/FU layouts shift by 2 bytes (RFC 7798 §4.4.2, §4.4.3).

/** NAL unit types, ITU-T H.265 Table 7-1, and RFC 7798 payload header types. */
export const H265_NAL = {
  /** IRAP pictures are BLA_W_LP(16) … CRA_NUT(21). */
  irapFirst: 16,
  irapLast: 21,
  idrWRadl: 19,
  idrNLp: 20,
  cra: 21,
  vps: 32,
  sps: 33,
  pps: 34,
  aud: 35,
  ap: 48,
  fu: 49,
  paci: 50,
} as const;

export interface H265Summary {
  irap: boolean;
  vps: boolean;
  sps: boolean;
  pps: boolean;
}

// Bit flags for the allocation-free form, h265Flags.
export const H265_FLAG_IRAP = 1;
export const H265_FLAG_VPS = 2;
export const H265_FLAG_SPS = 4;
export const H265_FLAG_PPS = 8;
/** This packet begins a new NAL unit (single NAL, AP, or FU with the S bit). */
export const H265_FLAG_STARTS = 16;

function typeFlags(type: number): number {
  if (type >= H265_NAL.irapFirst && type <= H265_NAL.irapLast) return H265_FLAG_IRAP;
  switch (type) {
    case H265_NAL.vps:
      return H265_FLAG_VPS;
    case H265_NAL.sps:
      return H265_FLAG_SPS;
    case H265_NAL.pps:
      return H265_FLAG_PPS;
    default:
      return 0;
  }
}

/** Allocation-free form of h265Summary: an OR of the H265_FLAG_* bits. PACI (50) reports 0. */
export function h265Flags(payload: Uint8Array): number {
  if (payload.length < 2) return 0;
  const type = (payload[0]! >> 1) & 0x3f;
  if (type < H265_NAL.ap) return H265_FLAG_STARTS | typeFlags(type);
  if (type === H265_NAL.ap) {
    // RFC 7798 §4.4.2: PayloadHdr(2), then (16-bit size, NAL unit)*. Only whole NAL units count.
    let flags = 0;
    let offset = 2;
    while (offset + 3 < payload.length) {
      const size = (payload[offset]! << 8) | payload[offset + 1]!;
      if (size < 2 || offset + 2 + size > payload.length) break;
      flags |= H265_FLAG_STARTS | typeFlags((payload[offset + 2]! >> 1) & 0x3f);
      offset += 2 + size;
    }
    return flags;
  }
  if (type === H265_NAL.fu) {
    // RFC 7798 §4.4.3: PayloadHdr(2), FU header (S E FuType(6)), fragment. Only the start
    // fragment says what the NAL unit is.
    if (payload.length < 3) return 0;
    const fuHeader = payload[2]!;
    if ((fuHeader & 0x80) === 0) return 0;
    return H265_FLAG_STARTS | typeFlags(fuHeader & 0x3f);
  }
  return 0;
}

export function h265Summary(payload: Uint8Array): H265Summary {
  const flags = h265Flags(payload);
  return {
    irap: (flags & H265_FLAG_IRAP) !== 0,
    vps: (flags & H265_FLAG_VPS) !== 0,
    sps: (flags & H265_FLAG_SPS) !== 0,
    pps: (flags & H265_FLAG_PPS) !== 0,
  };
}

export function isH265Keyframe(payload: Uint8Array): boolean {
  return (h265Flags(payload) & H265_FLAG_IRAP) !== 0;
}
