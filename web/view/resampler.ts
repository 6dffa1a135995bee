// A linear-interpolation resampler, carried across frames (the last input sample and the output phase are kept, so
// frame edges do not click). Used only when the stream's rate differs from the AudioContext's, which the page avoids by
// opening the context at the stream's rate; linear is crude for large ratios, but this is the rare path (a stream
// whose rate changed after the context was made, or a browser that would not open the context at that rate).

export class LinearResampler {
  /** Input samples per output sample. */
  private readonly step: number;
  /** Where the next output sample falls, in input samples from the start of the next frame (−1: the last kept one). */
  private position = 0;
  private readonly last: Float32Array;

  constructor(
    readonly fromRate: number,
    readonly toRate: number,
    readonly channels: number,
  ) {
    if (!(fromRate > 0 && toRate > 0)) throw new RangeError(`cannot resample ${fromRate} Hz to ${toRate} Hz`);
    this.step = fromRate / toRate;
    this.last = new Float32Array(channels);
  }

  /** One frame's samples (one array per channel, all of one length) at `fromRate` → the same stretch at `toRate`. */
  process(input: readonly Float32Array[]): Float32Array[] {
    const n = input[0]?.length ?? 0;
    // Outputs at position + k·step for every k with that position ≤ n − 1 (the last input sample of this frame).
    const count = n === 0 || this.position > n - 1 ? 0 : Math.floor((n - 1 - this.position) / this.step) + 1;
    const output: Float32Array[] = [];
    for (let c = 0; c < this.channels; c++) {
      const src = input[Math.min(c, input.length - 1)] ?? new Float32Array(n);
      const out = new Float32Array(count);
      const before = this.last[c] ?? 0;
      for (let k = 0; k < count; k++) {
        const x = this.position + k * this.step;
        const i = Math.floor(x);
        const f = x - i;
        const a = i < 0 ? before : src[i]!;
        const b = i + 1 < n ? src[i + 1]! : a;
        out[k] = a + (b - a) * f;
      }
      if (n > 0) this.last[c] = src[n - 1]!;
      output.push(out);
    }
    if (n > 0) this.position += count * this.step - n;
    return output;
  }
}
