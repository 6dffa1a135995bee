// Where the live edge is, for a page that must play at it. Two measures, both pure (times are passed in):
//
// - Behind: how much later than its peers a chunk arrives. `arrival − media time` is constant for a page that keeps up
//   (plus jitter); its running minimum is the baseline. A chunk that arrives much later than the baseline says the
//   page fell behind (a background tab, a slow link), and the video is dropped to the next keyframe that arrives in
//   time. A burst that starts the stream (the server's cached keyframe group) only lowers the baseline: it is never
//   behind.
// - Latency: how long ago a frame reached the server, from the server's sync messages (the media time of a unit, its
//   arrival on the server clock) and the server clock's offset from ours (the smallest seen `our now − server now`, so
//   it includes the shortest one-way delay).

/** The baseline may rise this much per second of media: publisher and page clocks drift apart (±1 %). */
const DRIFT_PER_SECOND_MS = 10;

export class LiveEdge {
  private baseline: number | undefined;
  private baselineMedia = 0;
  private offsetMs: number | undefined;
  private anchor: { time: number; at: number } | undefined;

  constructor(private readonly behindLimitMs = 500) {}

  /** A new stream (a new init segment): what was learnt of the old timeline no longer holds. */
  reset(): void {
    this.baseline = undefined;
    this.anchor = undefined;
  }

  /** A chunk at media time `mediaSeconds` arrived at `nowMs` (page clock); true when it arrived behind the live edge. */
  arrived(mediaSeconds: number, nowMs: number): boolean {
    const d = nowMs - mediaSeconds * 1000;
    if (this.baseline === undefined) {
      this.baseline = d;
      this.baselineMedia = mediaSeconds;
      return false;
    }
    const relaxed = this.baseline + Math.max(0, mediaSeconds - this.baselineMedia) * DRIFT_PER_SECOND_MS;
    if (d <= relaxed) {
      this.baseline = d;
      this.baselineMedia = mediaSeconds;
      return false;
    }
    return d - relaxed > this.behindLimitMs;
  }

  /** The server's sync message, received at `nowMs`. */
  sync(m: { time: number; at: number; now: number }, nowMs: number): void {
    const offset = nowMs - m.now;
    this.offsetMs = this.offsetMs === undefined ? offset : Math.min(this.offsetMs, offset);
    this.anchor = { time: m.time, at: m.at };
  }

  /** How long ago (ms, at `nowMs`) the unit at `mediaSeconds` reached the server; undefined before the first sync. */
  latencyMs(mediaSeconds: number, nowMs: number): number | undefined {
    if (!this.anchor || this.offsetMs === undefined) return undefined;
    const reachedServer = this.anchor.at + (mediaSeconds - this.anchor.time) * 1000 + this.offsetMs;
    return Math.max(0, nowMs - reachedServer);
  }
}
