// One RTSP player per stream that counts video frames: RTP packets with the marker bit on the H.264 track (RFC 6184
// §5.1: set on the last packet of an access unit), and the frames missing between them, found from RTP timestamps
// (a constant-rate stream advances 90000/fps per frame, so a larger step is frames that never arrived).
import { parseRtpHeader, seqDelta } from '../server/protocols/rtp/packet.ts';
import { codecOf } from '../server/protocols/rtsp/sdp.ts';
import { RtspStatusError, RtspTestClient } from '../test/support/rtsp-client.ts';

export class FrameCounter {
  frames = 0;
  /** Frames missing between received ones (timestamp steps larger than one frame). */
  missing = 0;
  /** Video RTP packets missing (sequence-number gaps). */
  lostPackets = 0;
  lastFrameAt = 0;
  private lastTs: number | undefined;
  private lastSeq: number | undefined;

  private constructor(
    readonly client: RtspTestClient,
    private readonly videoTrack: number,
    private readonly ticksPerFrame: number,
  ) {
    client.onPacket = (track, packet) => this.onPacket(track, packet);
  }

  /** DESCRIBE until the stream exists (its publisher may still be starting), then PLAY over TCP. */
  static async attach(url: string, fps: number, timeoutMs = 20_000): Promise<FrameCounter> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = await RtspTestClient.connect(url);
      try {
        // Register before PLAY: the relay starts a new player at the cached keyframe, right after the response.
        let counter: FrameCounter | undefined;
        const pending: Array<[number, Uint8Array]> = [];
        client.onPacket = (t, p) => pending.push([t, Uint8Array.from(p)]);
        await client.play({ transport: 'tcp', countOnly: false });
        const video = client.sdp?.media.findIndex((m) => codecOf(m).codec === 'H264') ?? -1;
        if (video < 0) throw new Error(`${url} has no H.264 track`);
        counter = new FrameCounter(client, video, 90_000 / fps);
        for (const [t, p] of pending) counter.onPacket(t, p);
        return counter;
      } catch (err) {
        await client.close();
        if (!(err instanceof RtspStatusError) || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private onPacket(track: number, packet: Uint8Array): void {
    if (track !== this.videoTrack) return;
    const h = parseRtpHeader(packet);
    if (!h) return;
    if (this.lastSeq !== undefined) {
      const d = seqDelta(h.sequenceNumber, this.lastSeq);
      if (d > 1) this.lostPackets += d - 1;
    }
    this.lastSeq = h.sequenceNumber;
    if (!h.marker) return;
    this.frames++;
    this.lastFrameAt = performance.now();
    if (this.lastTs !== undefined) {
      // Unsigned 32-bit difference (RFC 3550 timestamps wrap).
      const step = (h.timestamp - this.lastTs) >>> 0;
      const frames = Math.round(step / this.ticksPerFrame);
      if (frames > 1 && frames < 90_000) this.missing += frames - 1;
    }
    this.lastTs = h.timestamp;
  }
}
