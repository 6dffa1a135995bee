// The WebSocket backlog bound (STYLE habit 7): about one second of media. That is a second of the encoder's bitrate,
// or of the link's speed when the link has been seen to be slower (on a slow link the bitrate takes a few steps to
// come down, and until then a second of it is several seconds of the link's time).
//
// The link's speed is only known while the socket is the bottleneck: over an interval that starts and ends with
// bytes still queued, what left the queue is what the link carried. Any other interval only says the link is at least
// as fast as what was sent, so it may raise the estimate but never lower it; otherwise an idle second, a static
// picture or a reconnect would read as a dead link, and the next keyframe would look like congestion.
// Pure: the caller passes the time, the bytes handed to the socket so far and its bufferedAmount.

export interface BacklogBoundOptions {
  /** Never below this, so one ordinary keyframe always fits. */
  minBytes?: number;
  /** bufferedAmount at both ends of an interval for it to count as the link's speed (a lone frame in flight does not). */
  backloggedBytes?: number;
}

export class BacklogBound {
  private rate: number | undefined;
  private last: { at: number; sent: number; buffered: number } | undefined;

  constructor(private readonly o: BacklogBoundOptions = {}) {}

  /** Bytes per second the link carries, as far as it has been measured. */
  get linkRate(): number | undefined {
    return this.rate;
  }

  /** A new socket: its queue starts empty and its path may differ, so start measuring afresh. */
  reset(): void {
    this.rate = undefined;
    this.last = undefined;
  }

  /** Called about once a second. `sent`: bytes handed to the socket so far (monotonic); `buffered`: bufferedAmount now. */
  sample(nowMs: number, sent: number, buffered: number): void {
    const last = this.last;
    this.last = { at: nowMs, sent, buffered };
    if (!last) return;
    const seconds = (nowMs - last.at) / 1000;
    if (seconds <= 0 || sent < last.sent) return;
    const drained = Math.max(0, (sent - last.sent - (buffered - last.buffered)) / seconds);
    const floor = this.o.backloggedBytes ?? 8 * 1024;
    if (last.buffered >= floor && buffered >= floor) {
      this.rate = this.rate === undefined ? drained : (this.rate + drained) / 2;
    } else if (this.rate !== undefined && drained > this.rate) {
      this.rate = drained;
    }
  }

  /** The bound in bytes for an encoder running at `bitrate` bits per second. */
  limit(bitrate: number): number {
    return Math.max(this.o.minBytes ?? 32 * 1024, Math.min(bitrate / 8, this.rate ?? Infinity));
  }
}
