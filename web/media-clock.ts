// Capture timestamps (VideoFrame.timestamp, AudioData.timestamp: µs on a capture clock) to broadcast time (µs since
// Go live). Audio and video must land on one timeline or they drift apart at the far end.
//
// Chromium 156 stamps frames from MediaStreamTrackProcessor on three different clocks (measured with the fake devices):
// microphone AudioData on the performance.now() timeline, camera VideoFrames on a monotonic clock since boot, and
// canvas-capture frames from 0 at the first frame. So each track's first sample ties its clock to the page's clock
// (`now`, µs), and when the two ties agree within `sameClockUs` the tracks evidently share a clock and the second
// reuses the first's offset exactly, keeping their true relative timing instead of the arrival jitter. The tolerance
// is small on purpose: a canvas that started at 0 while performance.now() was also small must not pass for the
// microphone's clock.
export type TrackKind = 'video' | 'audio';

export class MediaClock {
  private readonly offsets = new Map<TrackKind, number>();
  private origin: number | undefined;

  /** `now` is the page clock in µs (performance.now() × 1000 in the page). */
  constructor(
    private readonly now: () => number,
    private readonly sameClockUs = 100_000,
  ) {}

  /** Call for every captured sample before it is encoded. Returns its broadcast time (µs), or undefined to drop it. */
  observe(track: TrackKind, captureUs: number): number | undefined {
    if (!this.offsets.has(track)) {
      let offset = this.now() - captureUs;
      for (const [other, o] of this.offsets) {
        if (other !== track && Math.abs(o - offset) <= this.sameClockUs) offset = o;
      }
      this.offsets.set(track, offset);
      // The first sample of either track is time 0.
      this.origin ??= captureUs + offset;
    }
    return this.toMedia(track, captureUs);
  }

  /** Broadcast time (µs) of a capture timestamp on a track already observed; undefined before the origin. */
  toMedia(track: TrackKind, captureUs: number): number | undefined {
    const offset = this.offsets.get(track);
    if (offset === undefined || this.origin === undefined) return undefined;
    const t = captureUs + offset - this.origin;
    return t < 0 ? undefined : t;
  }
}

/** µs → ticks of a timescale (90000 for video, 48000 for audio), rounded to the nearest tick. */
export function toTicks(us: number, timescale: number): number {
  return Math.round((us * timescale) / 1_000_000);
}

export function toMicros(ticks: number, timescale: number): number {
  return (ticks * 1_000_000) / timescale;
}
