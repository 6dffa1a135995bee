// A sliding-window rate (bytes, frames...): buckets of one second over the last few seconds. Used for ingest kbit/s in the API
// and for --max-bandwidth admission.
export class RateMeter {
  private readonly buckets: number[];
  private bucketStart: number;
  private index = 0;
  private readonly startedAt: number;

  constructor(private readonly now: () => number, private readonly windowSeconds = 5) {
    this.buckets = new Array<number>(windowSeconds).fill(0);
    this.startedAt = now();
    this.bucketStart = Math.floor(this.startedAt / 1000);
  }

  add(bytes: number): void {
    this.roll();
    this.buckets[this.index] = (this.buckets[this.index] ?? 0) + bytes;
  }

  /**
   * Units per second over the full seconds of the window (the current, partial second is left out). A meter younger
   * than the window divides by the seconds it has seen, so a new stream does not read low for its first seconds.
   */
  perSecond(): number {
    this.roll();
    const age = (this.now() - this.startedAt) / 1000;
    if (age < this.windowSeconds - 1) {
      // Young meter: everything so far over the time so far (the buckets still hold all of it).
      let all = 0;
      for (const b of this.buckets) all += b;
      return age > 0.2 ? all / age : 0;
    }
    let sum = 0;
    for (let i = 0; i < this.windowSeconds; i++) if (i !== this.index) sum += this.buckets[i] ?? 0;
    return sum / (this.windowSeconds - 1);
  }

  /** When the units are bytes: kbit/s. */
  kbps(): number {
    return (this.perSecond() * 8) / 1000;
  }

  private roll(): void {
    const second = Math.floor(this.now() / 1000);
    let steps = Math.min(second - this.bucketStart, this.windowSeconds);
    while (steps-- > 0) {
      this.index = (this.index + 1) % this.windowSeconds;
      this.buckets[this.index] = 0;
    }
    if (second > this.bucketStart) this.bucketStart = second;
  }
}
