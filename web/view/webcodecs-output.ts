// The low-latency output: video chunks → VideoOut (VideoDecoder → canvas), audio chunks → AudioOut (AudioDecoder →
// an AudioWorklet), each dropped when it arrived behind the live edge.
import { AudioOut } from './audio-out.ts';
import type { MediaChunk, TrackConfig } from './demux.ts';
import type { Output, OutputCounters, OutputEvents } from './output.ts';
import { VideoOut } from './video-out.ts';

export class WebCodecsOutput implements Output {
  private readonly video: VideoOut;
  private readonly audio: AudioOut;

  constructor(canvas: HTMLCanvasElement, events: OutputEvents) {
    this.video = new VideoOut(canvas, { drawn: (t) => events.drawn(t), error: (m) => events.notice(m) });
    this.audio = new AudioOut((m) => events.notice(m));
  }

  get muted(): boolean {
    return this.audio.isMuted;
  }

  init(tracks: readonly TrackConfig[]): void {
    for (const t of tracks) {
      if (t.kind === 'video') this.video.configure(t);
      else this.audio.configure(t);
    }
  }

  media(_bytes: Uint8Array, chunks: readonly MediaChunk[], behind: (c: MediaChunk) => boolean): void {
    for (const c of chunks) {
      if (c.kind === 'video') this.video.push(c, behind(c));
      else this.audio.push(c, behind(c));
    }
  }

  async setMuted(muted: boolean): Promise<void> {
    if (muted) this.audio.mute();
    else await this.audio.unmute();
  }

  setPaused(paused: boolean): void {
    this.video.skipToKeyframe();
    this.audio.setPaused(paused);
  }

  counters(): OutputCounters {
    const v = this.video.counters;
    const a = this.audio.counters;
    const l = this.audio.levels;
    return {
      videoDecoded: v.decoded,
      videoDrawn: v.drawn,
      videoDropped: v.dropped,
      audioDecoded: a.decoded,
      audioPlayed: a.played,
      audioDropped: a.dropped,
      audioBufferedMs: l.bufferedMs,
      audioRenderedMs: l.renderedMs,
      audioUnderruns: l.underruns,
      audioSkippedMs: l.skippedMs,
      audioPeak: l.peak,
      width: v.width,
      height: v.height,
    };
  }

  close(): void {
    this.video.close();
    this.audio.close();
  }
}
