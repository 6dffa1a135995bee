// Test helpers that turn an Annex-B H.264 elementary stream (ITU-T H.264 Annex B) into what WebCodecs hands the
// publisher page in "avc" format: an AVCDecoderConfigurationRecord and length-prefixed access units.

/** NAL units between 00 00 01 / 00 00 00 01 start codes (trailing zero bytes dropped). */
export function splitAnnexB(bytes: Uint8Array): Uint8Array[] {
  const starts: Array<{ at: number; len: number }> = [];
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0 && bytes[i + 1] === 0 && bytes[i + 2] === 1) {
      const four = i > 0 && bytes[i - 1] === 0;
      starts.push({ at: four ? i - 1 : i, len: four ? 4 : 3 });
      i += 2;
    }
  }
  return starts.map((s, k) => {
    let end = starts[k + 1]?.at ?? bytes.length;
    while (end > s.at + s.len && bytes[end - 1] === 0) end -= 1;
    return bytes.subarray(s.at + s.len, end);
  });
}

export const nalType = (nal: Uint8Array): number => nal[0]! & 0x1f;

export interface AccessUnit {
  /** NAL units without AUD, SPS and PPS (WebCodecs "avc" output keeps parameter sets in the description). */
  nals: Uint8Array[];
  keyframe: boolean;
}

/** Splits on access unit delimiters (NAL type 9; the fixture is encoded with x264 aud=1). */
export function accessUnits(nals: readonly Uint8Array[]): { aus: AccessUnit[]; sps: Uint8Array; pps: Uint8Array } {
  const aus: AccessUnit[] = [];
  let sps: Uint8Array | undefined;
  let pps: Uint8Array | undefined;
  for (const nal of nals) {
    const t = nalType(nal);
    if (t === 9) {
      aus.push({ nals: [], keyframe: false });
      continue;
    }
    if (t === 7) sps ??= nal;
    else if (t === 8) pps ??= nal;
    else {
      const au = aus[aus.length - 1];
      if (!au) throw new Error('the stream does not start with an access unit delimiter');
      au.nals.push(nal);
      if (t === 5) au.keyframe = true;
    }
  }
  if (!sps || !pps) throw new Error('the stream has no SPS or PPS');
  return { aus: aus.filter((a) => a.nals.length > 0), sps, pps };
}

/** ISO/IEC 14496-15 §5.3.3.1 AVCDecoderConfigurationRecord with one SPS and one PPS and 4-byte NAL lengths. */
export function buildAvcC(sps: Uint8Array, pps: Uint8Array): Uint8Array {
  return Uint8Array.from([1, sps[1]!, sps[2]!, sps[3]!, 0xff, 0xe1, sps.length >> 8, sps.length & 0xff, ...sps, 1, pps.length >> 8, pps.length & 0xff, ...pps]);
}

/** NAL units with 4-byte big-endian length prefixes (ISO/IEC 14496-15 §5.3.2). */
export function lengthPrefixed(nals: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(nals.reduce((n, x) => n + 4 + x.length, 0));
  const view = new DataView(out.buffer);
  let o = 0;
  for (const n of nals) {
    view.setUint32(o, n.length);
    out.set(n, o + 4);
    o += 4 + n.length;
  }
  return out;
}
