// Video chunks → WebCodecs VideoDecoder (optimized for latency) → the canvas. The newest decoded frame is drawn on the
// next animation frame and older undrawn ones are closed, so the picture is always the live edge; a hidden tab draws
// nothing and holds at most one frame. When the page falls behind (live-edge.ts) or the decoder cannot keep up, the
// chunks up to the next keyframe are dropped.
import type { MediaChunk, VideoTrackConfig } from './demux.ts';

/** Chunks queued in the decoder beyond which it is not keeping up: skip to the next keyframe. */
const MAX_DECODE_QUEUE = 30;

export interface VideoCounters {
  /** Frames the decoder output. */
  decoded: number;
  /** Frames drawn on the canvas. */
  drawn: number;
  /** Chunks not decoded (behind, waiting for a keyframe, paused) and decoded frames never drawn. */
  dropped: number;
  width: number;
  height: number;
}

export interface VideoOutEvents {
  /** A frame was drawn: its decode time (s, for the latency estimate). */
  drawn(decodeTime: number): void;
  error(message: string): void;
}

export class VideoOut {
  readonly counters: VideoCounters = { decoded: 0, drawn: 0, dropped: 0, width: 0, height: 0 };
  private decoder: VideoDecoder | undefined;
  private config: VideoDecoderConfig | undefined;
  /** Drop chunks until a keyframe (at the start, after a skip, a pause or a decoder error). */
  private needKey = true;
  private pending: VideoFrame | undefined;
  private pendingDecodeTime: number | undefined;
  /** Decode time (s) of each chunk in the decoder, by its presentation timestamp (µs). */
  private readonly decodeTimes = new Map<number, number>();
  private raf = 0;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly events: VideoOutEvents,
  ) {
    const ctx = canvas.getContext('2d', { alpha: false, desynchronized: true });
    if (!ctx) throw new Error('this browser gives no 2D canvas');
    this.ctx = ctx;
  }

  /**
   * A new init segment's video track: a decoder for it at once (the keyframe group follows the init segment in the
   * same burst); a configuration the browser cannot decode ends in the decoder's error callback.
   */
  configure(track: VideoTrackConfig): void {
    this.config = {
      codec: track.codec,
      description: track.description,
      codedWidth: track.codedWidth,
      codedHeight: track.codedHeight,
      optimizeForLatency: true,
    };
    this.reopen();
  }

  /** One video chunk; `behind`: it arrived late (live-edge.ts), so the video skips to the next keyframe. */
  push(chunk: MediaChunk, behind: boolean): void {
    const decoder = this.decoder;
    if (!decoder || decoder.state !== 'configured') {
      this.counters.dropped++;
      return;
    }
    if ((behind || decoder.decodeQueueSize > MAX_DECODE_QUEUE) && !chunk.key) this.needKey = true;
    if (this.needKey && (!chunk.key || behind)) {
      this.counters.dropped++;
      return;
    }
    this.needKey = false;
    this.decodeTimes.set(chunk.timestamp, chunk.decodeTime);
    decoder.decode(new EncodedVideoChunk({ type: chunk.key ? 'key' : 'delta', timestamp: chunk.timestamp, duration: chunk.duration, data: chunk.data }));
  }

  /** Paused, or resumed: either way the next chunk decoded is a keyframe (the server resumes at one). */
  skipToKeyframe(): void {
    this.needKey = true;
  }

  close(): void {
    cancelAnimationFrame(this.raf);
    this.raf = 0;
    this.pending?.close();
    this.pending = undefined;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = undefined;
    this.decodeTimes.clear();
  }

  private reopen(): void {
    this.close();
    const config = this.config;
    if (!config) return;
    this.needKey = true;
    this.decoder = new VideoDecoder({
      output: (frame) => this.output(frame),
      error: (e) => {
        if (e.name === 'NotSupportedError') {
          this.events.error(`This browser cannot decode the stream's video (${config.codec}, ${config.codedWidth}x${config.codedHeight}).`);
          return;
        }
        // A corrupt chunk closes the decoder: start again at the next keyframe.
        this.events.error(`The video decoder failed (${e.message}); starting again at the next keyframe.`);
        queueMicrotask(() => this.reopen());
      },
    });
    this.decoder.configure(config);
  }

  private output(frame: VideoFrame): void {
    this.counters.decoded++;
    if (this.pending) {
      this.pending.close();
      this.counters.dropped++;
    }
    this.pending = frame;
    this.pendingDecodeTime = this.decodeTimes.get(frame.timestamp);
    // Frames come out in presentation order: what is not later than this one is done (B-frames leave none behind).
    for (const ts of this.decodeTimes.keys()) if (ts <= frame.timestamp) this.decodeTimes.delete(ts);
    if (this.raf === 0) this.raf = requestAnimationFrame(() => this.draw());
  }

  private draw(): void {
    this.raf = 0;
    const frame = this.pending;
    if (!frame) return;
    this.pending = undefined;
    const { displayWidth: w, displayHeight: h } = frame;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.ctx.drawImage(frame, 0, 0, w, h);
    this.counters.drawn++;
    this.counters.width = w;
    this.counters.height = h;
    const decodeTime = this.pendingDecodeTime;
    frame.close();
    if (decodeTime !== undefined) this.events.drawn(decodeTime);
  }
}
