// Counters the page shows once a second and sends to the server as a `stats` message. Rates are over the time since
// the previous snapshot, so they follow the link within a second.
export interface StatsSnapshot {
  sentKbps: number;
  fps: number;
  /** Mean time from encode() to the encoded chunk, ms. */
  encodeMs: number;
  droppedFrames: number;
  bufferedBytes: number;
  /** The encoder's current target, bits per second. */
  bitrate: number;
  width: number;
  height: number;
}

export class PublishStats {
  bytesSent = 0;
  videoSent = 0;
  droppedFrames = 0;
  audioDropped = 0;
  private encodeMsAvg = 0;
  private last: { at: number; bytes: number; frames: number } | undefined;

  /** An encode took `ms`; an exponential mean with a ~1 s memory at 30 fps. */
  encoded(ms: number): void {
    this.encodeMsAvg = this.encodeMsAvg === 0 ? ms : this.encodeMsAvg + (ms - this.encodeMsAvg) / 30;
  }

  snapshot(nowMs: number, bufferedBytes: number, bitrate: number, size: { width: number; height: number }): StatsSnapshot {
    const prev = this.last ?? { at: nowMs, bytes: this.bytesSent, frames: this.videoSent };
    const seconds = Math.max(0.001, (nowMs - prev.at) / 1000);
    const snap: StatsSnapshot = {
      sentKbps: this.last ? Math.round(((this.bytesSent - prev.bytes) * 8) / 1000 / seconds) : 0,
      fps: this.last ? Math.round(((this.videoSent - prev.frames) / seconds) * 10) / 10 : 0,
      encodeMs: Math.round(this.encodeMsAvg * 10) / 10,
      droppedFrames: this.droppedFrames,
      bufferedBytes,
      bitrate,
      width: size.width,
      height: size.height,
    };
    this.last = { at: nowMs, bytes: this.bytesSent, frames: this.videoSent };
    return snap;
  }
}
