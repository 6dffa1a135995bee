// Encoder bitrate under a slow uplink: step down (×0.7, not below a floor) each time the WebSocket backlog passes its
// bound, at most once per `downEveryMs`; step back up (+10 %) after `upEveryMs` without congestion, until the target.
// Pure: the caller passes the time and applies the returned bitrate with VideoEncoder.configure().
export interface RateControlOptions {
  target: number;
  floor?: number;
  down?: number;
  up?: number;
  downEveryMs?: number;
  upEveryMs?: number;
}

export class RateControl {
  private current: number;
  private lastCongestion = -Infinity;
  private lastChange = -Infinity;
  private readonly floor: number;

  constructor(private readonly o: RateControlOptions) {
    this.current = o.target;
    this.floor = Math.min(o.floor ?? 250_000, o.target);
  }

  get bitrate(): number {
    return this.current;
  }

  /** The backlog passed its bound. Returns the new bitrate when it changes. */
  congested(nowMs: number): number | undefined {
    this.lastCongestion = nowMs;
    if (nowMs - this.lastChange < (this.o.downEveryMs ?? 1000)) return undefined;
    const next = Math.max(this.floor, Math.round(this.current * (this.o.down ?? 0.7)));
    if (next === this.current) return undefined;
    this.current = next;
    this.lastChange = nowMs;
    return next;
  }

  /** Called about once a second. Returns the new bitrate when it changes. */
  tick(nowMs: number): number | undefined {
    const every = this.o.upEveryMs ?? 3000;
    if (this.current >= this.o.target || nowMs - this.lastCongestion < every || nowMs - this.lastChange < every) return undefined;
    this.current = Math.min(this.o.target, Math.round(this.current * (this.o.up ?? 1.1)));
    this.lastChange = nowMs;
    return this.current;
  }
}
