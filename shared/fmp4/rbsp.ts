// An MSB-first bit reader over an RBSP (emulation prevention bytes already removed: avc.ts unescapeRbsp), for the
// parameter-set parsers (H.264 SPS in avc.ts, H.265 SPS/VPS in hevc.ts). It throws RbspStop, which those parsers catch
// at their exported functions, so a bad input always ends as { ok: false, message }.

/** Thrown by the reader and the parsers built on it; never escapes an exported parse function. */
export class RbspStop {
  constructor(readonly message: string) {}
}

export class RbspReader {
  private bit = 0;

  /** `what`: the structure being read, for messages ("the SPS ends early"). */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what = 'SPS',
  ) {}

  u1(): number {
    const byte = this.bytes[this.bit >>> 3];
    if (byte === undefined) throw new RbspStop(`the ${this.what} ends early`);
    const v = (byte >>> (7 - (this.bit & 7))) & 1;
    this.bit += 1;
    return v;
  }

  /** u(n), n <= 32: exact in a double. */
  u(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.u1();
    return v;
  }

  skip(n: number): void {
    for (let i = 0; i < n; i++) this.u1();
  }

  /**
   * H.264 §9.1 / H.265 §9.2 ue(v): Exp-Golomb. No parameter-set syntax element goes past 2^32 − 2, so more than 31
   * leading zeros are an error.
   */
  ue(): number {
    let zeros = 0;
    while (this.u1() === 0) {
      zeros += 1;
      if (zeros > 31) throw new RbspStop(`an Exp-Golomb code in the ${this.what} is longer than 32 bits`);
    }
    return 2 ** zeros - 1 + this.u(zeros);
  }

  /** H.264 §9.1.1 se(v): k ↦ (−1)^(k+1) Ceil(k ÷ 2). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
