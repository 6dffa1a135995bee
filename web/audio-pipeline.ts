// Microphone samples → AudioEncoder (Opus, 20 ms packets, ~96 kbit/s). Configured from the first AudioData so the
// encoder's rate and channel count match what the microphone really delivers (WebCodecs refuses a mismatch).
import { PageError, encoderError } from './errors.ts';
import { audioFrames, type FrameSource } from './frames.ts';
import type { MediaClock } from './media-clock.ts';

export const OPUS_BITRATE = 96_000;
export const OPUS_FRAME_US = 20_000;

export interface AudioTrackInfo {
  sampleRate: number;
  channels: number;
}

export interface AudioPipelineEvents {
  configured(info: AudioTrackInfo): void;
  output(chunk: EncodedAudioChunk, meta: EncodedAudioChunkMetadata | undefined, mediaUs: number): void;
  error(err: PageError): void;
}

const MAX_ENCODE_QUEUE = 10;

export class AudioPipeline {
  private encoder: AudioEncoder | undefined;
  private info: AudioTrackInfo | undefined;
  private readonly frames: FrameSource<AudioData>;
  private closed = false;
  private closing: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  dropped = 0;

  constructor(
    track: MediaStreamTrack,
    private readonly clock: MediaClock,
    private readonly events: AudioPipelineEvents,
  ) {
    this.frames = audioFrames(track);
  }

  get trackInfo(): AudioTrackInfo | undefined {
    return this.info;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Idempotent, and also after a failure: fail() only stops the loop, the encoder is closed here. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.frames.close();
    await this.loop?.catch(() => {});
    const enc = this.encoder;
    if (enc && enc.state === 'configured') await enc.flush().catch(() => {});
    if (enc && enc.state !== 'closed') enc.close();
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      const data = await this.frames.read().catch(() => undefined);
      if (!data) break;
      try {
        await this.handle(data);
      } catch (err) {
        this.fail(encoderError('audio', err));
      } finally {
        data.close();
      }
    }
  }

  private async handle(data: AudioData): Promise<void> {
    if (this.closed) return;
    if (this.clock.observe('audio', data.timestamp) === undefined) return;
    if (!this.encoder) {
      await this.configure(data.sampleRate, data.numberOfChannels);
      if (this.closed) return;
    }
    const enc = this.encoder;
    if (!enc || enc.state !== 'configured') return;
    if (enc.encodeQueueSize > MAX_ENCODE_QUEUE) {
      this.dropped += 1;
      return;
    }
    enc.encode(data);
  }

  private async configure(sampleRate: number, channels: number): Promise<void> {
    if (channels > 2) {
      throw new PageError('codec-unsupported', `The microphone delivers ${channels} channels; Opus in MP4 here carries mono or stereo. Pick another microphone or "No microphone".`);
    }
    const cfg: AudioEncoderConfig = { codec: 'opus', sampleRate, numberOfChannels: channels, bitrate: OPUS_BITRATE, opus: { frameDuration: OPUS_FRAME_US } };
    const support = await AudioEncoder.isConfigSupported(cfg).catch(() => undefined);
    if (!support?.supported) throw new PageError('codec-unsupported', `This browser cannot encode Opus at ${sampleRate} Hz with ${channels} channel(s). Choose "No microphone".`);
    if (this.closed) return;
    const encoder = new AudioEncoder({
      output: (chunk, meta) => {
        const mediaUs = this.clock.toMedia('audio', chunk.timestamp);
        if (mediaUs !== undefined) this.events.output(chunk, meta, mediaUs);
      },
      error: (e) => this.fail(encoderError('audio', e)),
    });
    encoder.configure(cfg);
    this.encoder = encoder;
    this.info = { sampleRate, channels };
    this.events.configured(this.info);
  }

  private fail(err: PageError): void {
    if (this.closed) return;
    this.closed = true;
    this.frames.close();
    this.events.error(err);
  }
}
