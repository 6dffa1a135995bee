// Bit-level helpers for building and editing H.264 parameter sets in tests, written separately from
// shared/fmp4/avc.ts so the parser is not checked against itself.

export class BitWriter {
  private readonly bits: number[] = [];
  u(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bits.push(Math.floor(v / 2 ** i) % 2);
    return this;
  }
  /** ue(v), H.264 §9.1 */
  ue(v: number): this {
    const x = v + 1;
    const len = Math.floor(Math.log2(x));
    this.u(len, 0);
    return this.u(len + 1, x);
  }
  /** se(v), H.264 §9.1.1 */
  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }
  pushBits(bits: readonly number[]): this {
    this.bits.push(...bits);
    return this;
  }
  /** rbsp_trailing_bits(): a 1 then zeros to the byte boundary. */
  trailing(): this {
    this.bits.push(1);
    while (this.bits.length % 8 !== 0) this.bits.push(0);
    return this;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(Math.ceil(this.bits.length / 8));
    this.bits.forEach((b, i) => {
      if (b) out[i >> 3]! |= 0x80 >> (i & 7);
    });
    return out;
  }
}

/** H.264 §7.4.1: insert emulation_prevention_three_byte where 00 00 is followed by 00..03. */
export function escapeRbsp(rbsp: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3);
      zeros = 0;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

export function unescape(nal: Uint8Array): Uint8Array {
  const out: number[] = [];
  let zeros = 0;
  for (const b of nal) {
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out.push(b);
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return Uint8Array.from(out);
}

function toBits(bytes: Uint8Array): number[] {
  const bits: number[] = [];
  for (const b of bytes) for (let i = 7; i >= 0; i--) bits.push((b >> i) & 1);
  return bits;
}

/** A scaling list as coded: the delta_scale values, stopping early when the list ends in "repeat the last". */
export type ScalingList = { kind: 'absent' } | { kind: 'default' } | { kind: 'explicit'; values: number[] };

/** The delta_scale sequence that codes `values` (H.264 §7.3.2.1.1.1), all explicit. */
export function scalingDeltas(values: readonly number[]): number[] {
  let last = 8;
  return values.map((v) => {
    let d = v - last;
    if (d > 127) d -= 256;
    if (d < -128) d += 256;
    last = v;
    return d;
  });
}

/**
 * Rewrites an SPS of a High-family profile whose seq_scaling_matrix_present_flag is 0 so that it carries `lists`
 * (8 for 4:2:0/4:2:2, 12 for 4:4:4). Everything after the flag is copied bit for bit, so slices still parse.
 */
export function insertScalingMatrix(spsNal: Uint8Array, lists: readonly ScalingList[]): Uint8Array {
  const bits = toBits(unescape(spsNal));
  let p = 8 + 24; // NAL header, profile_idc, constraint flags, level_idc
  const ue = (): number => {
    let zeros = 0;
    while (bits[p++] === 0) zeros++;
    let v = 0;
    for (let i = 0; i < zeros; i++) v = v * 2 + bits[p++]!;
    return 2 ** zeros - 1 + v;
  };
  ue(); // seq_parameter_set_id
  const chroma = ue();
  if (chroma === 3) p += 1; // separate_colour_plane_flag
  ue(); // bit_depth_luma_minus8
  ue(); // bit_depth_chroma_minus8
  p += 1; // qpprime_y_zero_transform_bypass_flag
  if (bits[p] !== 0) throw new Error('the SPS already has a scaling matrix');
  if (lists.length !== (chroma === 3 ? 12 : 8)) throw new Error(`chroma_format_idc ${chroma} needs ${chroma === 3 ? 12 : 8} lists`);
  const w = new BitWriter().pushBits(bits.slice(0, p)).u(1, 1);
  lists.forEach((l, i) => {
    if (l.kind === 'absent') {
      w.u(1, 0);
      return;
    }
    w.u(1, 1);
    if (l.kind === 'default') {
      w.se(-8); // nextScale becomes 0 on the first entry: useDefaultScalingMatrixFlag
      return;
    }
    const size = i < 6 ? 16 : 64;
    if (l.values.length !== size) throw new Error(`list ${i} needs ${size} values`);
    for (const d of scalingDeltas(l.values)) w.se(d);
  });
  // The rest, without the old rbsp_trailing_bits (last 1 bit and the zeros after it).
  let end = bits.length;
  while (bits[end - 1] === 0) end--;
  end--; // the stop bit
  w.pushBits(bits.slice(p + 1, end)).trailing();
  return escapeRbsp(w.bytes());
}
