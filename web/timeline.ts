// The last guard before the fMP4 writer: per track, decode times that strictly increase and never overlap.
//
// The writer refuses a tfdt that does not move forward, and the server refuses a fragment that starts before the
// previous one ended (tfdt + duration), so a sample is placed at max(its time, end of the previous sample). Audio packets
// that arrive within `snapTicks` of the end of the previous one are laid end to end (capture timestamps jitter by a
// few hundred µs; Opus packets are exactly 20 ms). A clock that jumps back by more than `jumpTicks` (a device switch,
// a suspended laptop) is rebased so the track continues from where it was instead of crawling forward sample by sample.
export interface TimelineOptions {
  snapTicks?: number;
  jumpTicks: number;
}

export interface Placed {
  timestamp: number;
  duration: number;
  /** True when the sample had to be moved later than its capture time. */
  nudged: boolean;
}

export class TrackTimeline {
  private end: number | undefined;
  private offset = 0;

  constructor(private readonly o: TimelineOptions) {}

  /** Where a sample captured at `ticks` lasting `duration` ticks goes. */
  place(ticks: number, duration: number): Placed {
    let t = Math.round(ticks) + this.offset;
    let nudged = false;
    const d = Math.max(1, Math.round(duration));
    if (this.end !== undefined) {
      if (t < this.end - this.o.jumpTicks) {
        this.offset += this.end - t;
        t = this.end;
        nudged = true;
      } else if (this.o.snapTicks !== undefined && Math.abs(t - this.end) <= this.o.snapTicks) {
        t = this.end;
      } else if (t < this.end) {
        t = this.end;
        nudged = true;
      }
    }
    this.end = t + d;
    return { timestamp: t, duration: d, nudged };
  }
}
