// The fallback output where a browser has no WebCodecs: the same init segments and fragments appended to a
// SourceBuffer (Media Source Extensions; ManagedMediaSource on Safari) behind a <video>. The browser buffers more
// than WebCodecs would, so this output chases the live edge: it plays a little faster while it is behind, jumps to
// the end when it is far behind, drops fragments up to the next keyframe when they arrive late or pile up, and
// trims what it has played so the buffer stays small.
import type { MediaChunk, TrackConfig } from './demux.ts';
import type { Output, OutputCounters, OutputEvents } from './output.ts';

/** Appends waiting beyond this many: the browser is not keeping up; skip to the next keyframe. */
const MAX_QUEUE = 90;
/** Behind the buffered end by more than this (s): jump; by more than CATCH_UP_S: play at CATCH_UP_RATE. */
const JUMP_S = 1.0;
const CATCH_UP_S = 0.3;
const CATCH_UP_RATE = 1.1;
/** Keep this much already played (s) in the buffer; trim the rest every TRIM_EVERY_S. */
const KEEP_S = 10;
const TRIM_EVERY_S = 10;

type MediaSourceClass = typeof MediaSource;

/** The browser's MediaSource: ManagedMediaSource (Safari 17+, iOS) where there is one, else MediaSource. */
export function mediaSourceClass(): MediaSourceClass | undefined {
  const w = window as unknown as { ManagedMediaSource?: MediaSourceClass; MediaSource?: MediaSourceClass };
  return w.ManagedMediaSource ?? w.MediaSource;
}

export class MseOutput implements Output {
  private source: MediaSource | undefined;
  private url: string | undefined;
  private buffer: SourceBuffer | undefined;
  private mime = '';
  private queue: Uint8Array[] = [];
  private needKey = true;
  private paused = false;
  private skipped = 0;
  private audioAppended = 0;
  private lastTrim = 0;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly events: OutputEvents,
  ) {
    video.muted = true;
    video.playsInline = true;
    video.disableRemotePlayback = true;
    const onFrame = (_now: number, meta: VideoFrameCallbackMetadata): void => {
      events.drawn(meta.mediaTime);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  get muted(): boolean {
    return this.video.muted;
  }

  init(tracks: readonly TrackConfig[], bytes: Uint8Array): void {
    const kind = tracks.some((t) => t.kind === 'video') ? 'video' : 'audio';
    const mime = `${kind}/mp4; codecs="${tracks.map((t) => t.codec).join(',')}"`;
    const MS = mediaSourceClass();
    if (!MS?.isTypeSupported(mime)) {
      this.events.notice(`This browser cannot play ${mime} with Media Source Extensions.`);
      return;
    }
    this.needKey = true;
    if (this.source && mime === this.mime) {
      // Same codecs, new parameters (a returning publisher): the new init segment goes in line.
      this.queue.push(bytes);
      this.pump();
      return;
    }
    // Other codecs: a new MediaSource (changeType() is not everywhere, nor reliable mid-stream).
    this.detach();
    this.mime = mime;
    this.queue = [bytes];
    const source = new MS();
    this.source = source;
    this.url = URL.createObjectURL(source);
    this.video.src = this.url;
    source.addEventListener('sourceopen', () => {
      if (this.source !== source) return;
      const buffer = source.addSourceBuffer(mime);
      buffer.mode = 'segments';
      buffer.addEventListener('updateend', () => this.updated());
      this.buffer = buffer;
      this.pump();
    });
  }

  media(bytes: Uint8Array, chunks: readonly MediaChunk[], behind: (c: MediaChunk) => boolean): void {
    if (!this.source) return;
    const late = chunks.some(behind);
    const video = chunks.find((c) => c.kind === 'video');
    if (video) {
      if (late || this.paused || this.queue.length > MAX_QUEUE) this.needKey = true;
      if (this.needKey && (!video.key || late || this.paused)) {
        this.skipped++;
        return;
      }
      this.needKey = false;
    } else if (late || this.paused) {
      return;
    } else {
      this.audioAppended += chunks.length;
    }
    this.queue.push(bytes);
    this.pump();
  }

  async setMuted(muted: boolean): Promise<void> {
    this.video.muted = muted;
    if (!muted) await this.video.play().catch(() => undefined);
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.needKey = true;
    if (paused) this.video.pause();
    else void this.video.play().catch(() => undefined);
  }

  counters(): OutputCounters {
    const q = this.video.getVideoPlaybackQuality();
    return {
      videoDecoded: q.totalVideoFrames,
      videoDrawn: q.totalVideoFrames - q.droppedVideoFrames,
      videoDropped: q.droppedVideoFrames + this.skipped,
      // MSE says nothing per audio frame: what was handed to the browser.
      audioDecoded: this.audioAppended,
      audioPlayed: this.video.muted ? 0 : this.audioAppended,
      audioDropped: 0,
      width: this.video.videoWidth,
      height: this.video.videoHeight,
    };
  }

  close(): void {
    this.detach();
  }

  private pump(): void {
    const buffer = this.buffer;
    if (!buffer || buffer.updating) return;
    const next = this.queue.shift();
    if (!next) return;
    try {
      // The socket's messages are ArrayBuffers (binaryType 'arraybuffer'), never shared memory.
      buffer.appendBuffer(next as Uint8Array<ArrayBuffer>);
    } catch (e) {
      // QuotaExceededError: the buffer is full (a tab in the background); start again at the next keyframe.
      this.queue = [];
      this.needKey = true;
      this.events.notice(`The browser refused more video (${e instanceof Error ? e.message : String(e)}); skipping ahead.`);
    }
  }

  /** After each append: chase the live edge, trim what was played, append the next. */
  private updated(): void {
    const v = this.video;
    const b = v.buffered;
    const buffer = this.buffer;
    if (b.length > 0 && buffer) {
      const end = b.end(b.length - 1);
      const lag = end - v.currentTime;
      if (v.currentTime < b.start(b.length - 1) || lag > JUMP_S) v.currentTime = Math.max(b.start(b.length - 1), end - 0.05);
      v.playbackRate = lag > CATCH_UP_S ? CATCH_UP_RATE : 1;
      if (v.paused && !this.paused) void v.play().catch(() => undefined);
      if (v.currentTime - this.lastTrim > TRIM_EVERY_S && v.currentTime - b.start(0) > KEEP_S + TRIM_EVERY_S) {
        this.lastTrim = v.currentTime;
        buffer.remove(0, v.currentTime - KEEP_S);
        return; // its updateend comes back here
      }
    }
    this.pump();
  }

  private detach(): void {
    this.buffer = undefined;
    this.source = undefined;
    this.queue = [];
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = undefined;
    this.video.removeAttribute('src');
    this.video.load();
  }
}
