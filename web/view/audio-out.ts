// Audio chunks → WebCodecs AudioDecoder → Web Audio. Decoding runs from the start (so the page knows the audio works
// and counts it); sound needs an AudioContext, which browsers start only from a click, so the page starts muted and
// unmute() makes the context. Each decoded frame is scheduled right after the last one on an AudioBufferSourceNode,
// a short lead ahead of the output clock; a frame that would queue beyond the lead is dropped, which keeps the sound
// at the live edge (it catches up instead of drifting behind).
import type { AudioTrackConfig, MediaChunk } from './demux.ts';

/** How far ahead of the output the first frame after a gap is scheduled: room for the next frame to arrive. */
const START_LEAD_S = 0.06;
/** A frame that would start later than this ahead of the output is dropped (what is queued is enough). */
const MAX_LEAD_S = 0.15;

export interface AudioCounters {
  /** Frames the decoder output. */
  decoded: number;
  /** Frames scheduled to be heard. */
  played: number;
  /** Frames not decoded (behind) or not played (muted, paused, too far ahead). */
  dropped: number;
}

export class AudioOut {
  readonly counters: AudioCounters = { decoded: 0, played: 0, dropped: 0 };
  private decoder: AudioDecoder | undefined;
  private context: AudioContext | undefined;
  private gain: GainNode | undefined;
  private nextTime = 0;
  private muted = true;
  private paused = false;

  constructor(private readonly onError: (message: string) => void) {}

  get isMuted(): boolean {
    return this.muted;
  }

  /** A new init segment's audio track: a decoder for it at once (chunks follow in the same burst). */
  configure(track: AudioTrackConfig): void {
    const config: AudioDecoderConfig = {
      codec: track.codec,
      sampleRate: track.sampleRate,
      numberOfChannels: track.numberOfChannels,
      ...(track.description ? { description: track.description } : {}),
    };
    this.closeDecoder();
    this.decoder = new AudioDecoder({
      output: (data) => this.output(data),
      error: (e) =>
        this.onError(
          e.name === 'NotSupportedError'
            ? `This browser cannot decode the stream's audio (${track.codec}); the picture plays without sound.`
            : `The audio decoder failed (${e.message}); the picture plays on without sound.`,
        ),
    });
    this.decoder.configure(config);
  }

  /** One audio chunk; `behind`: it arrived late, and is dropped (audio frames stand alone). */
  push(chunk: MediaChunk, behind: boolean): void {
    const decoder = this.decoder;
    if (!decoder || decoder.state !== 'configured' || behind) {
      this.counters.dropped++;
      return;
    }
    decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: chunk.timestamp, duration: chunk.duration, data: chunk.data }));
  }

  /** Must run in a click handler: browsers start sound only from a user gesture. */
  async unmute(): Promise<void> {
    if (!this.context) {
      this.context = new AudioContext({ latencyHint: 'interactive' });
      this.gain = this.context.createGain();
      this.gain.connect(this.context.destination);
    }
    this.muted = false;
    this.nextTime = 0;
    await this.context.resume();
  }

  mute(): void {
    this.muted = true;
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.nextTime = 0;
  }

  close(): void {
    this.closeDecoder();
    void this.context?.close();
    this.context = undefined;
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = undefined;
  }

  private output(data: AudioData): void {
    this.counters.decoded++;
    try {
      const ctx = this.context;
      if (this.muted || this.paused || !ctx || !this.gain || ctx.state !== 'running') {
        this.counters.dropped++;
        return;
      }
      const now = ctx.currentTime;
      const start = Math.max(this.nextTime, now + START_LEAD_S);
      if (start - now > MAX_LEAD_S) {
        this.counters.dropped++;
        return;
      }
      const buffer = ctx.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
      for (let ch = 0; ch < data.numberOfChannels; ch++) {
        data.copyTo(buffer.getChannelData(ch), { planeIndex: ch, format: 'f32-planar' });
      }
      const source = ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.gain);
      source.start(start);
      this.nextTime = start + buffer.duration;
      this.counters.played++;
    } finally {
      data.close();
    }
  }
}
