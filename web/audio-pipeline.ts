// Microphone samples → AudioEncoder (Opus, 20 ms packets, ~96 kbit/s). Configured from the first AudioData so the
// encoder's rate and channel count match what the microphone really delivers (WebCodecs refuses a mismatch).
import { PageError, encoderError } from './errors.ts';
import { EncoderLoop } from './encoder-loop.ts';
import { audioFrames } from './frames.ts';
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

export class AudioPipeline extends EncoderLoop<AudioData> {
  private encoder: AudioEncoder | undefined;
  private info: AudioTrackInfo | undefined;
  dropped = 0;

  constructor(
    track: MediaStreamTrack,
    private readonly clock: MediaClock,
    private readonly events: AudioPipelineEvents,
  ) {
    super('audio', audioFrames(track), (err) => events.error(err));
  }

  get trackInfo(): AudioTrackInfo | undefined {
    return this.info;
  }

  protected override currentEncoder(): AudioEncoder | undefined {
    return this.encoder;
  }

  protected override async handle(data: AudioData): Promise<void> {
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

}
