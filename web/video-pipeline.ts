// Camera/screen/canvas frames → VideoEncoder (H.264, realtime, "avc" format: length-prefixed NAL units and the avcC
// in decoderConfig.description, which is what an fMP4 avc1 sample entry carries).
//
// The encoder is configured from the first frame, because only then is the source's real size known; the preset is
// a ceiling. Frames faster than the chosen rate are skipped, frames the encoder cannot keep up with are dropped (and
// counted) instead of queued, every frame is closed, and a keyframe comes every `keyframeIntervalMs` and on request.
import { avcCodec, avcLevel, fitSize } from './codec.ts';
import { PageError, encoderError } from './errors.ts';
import { EncoderLoop } from './encoder-loop.ts';
import { videoFrames } from './frames.ts';
import type { MediaClock } from './media-clock.ts';
import type { FrameRate, Preset, Profile } from './params.ts';
import type { PublishStats } from './stats.ts';

export interface VideoSettings {
  preset: Preset;
  fps: FrameRate;
  bitrate: number;
  profile: Profile;
  keyframeIntervalMs: number;
}

export interface VideoPipelineEvents {
  configured(config: VideoEncoderConfig): void;
  /** `mediaUs`: broadcast time of the frame. */
  output(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined, mediaUs: number): void;
  error(err: PageError): void;
}

/** More than this many frames waiting in the encoder means it is behind: drop rather than add latency. */
const MAX_ENCODE_QUEUE = 2;

/** Fraction of the frame interval below which a frame is skipped as "too soon" (decimating 30 → 15 fps, 60 → 30). */
export const MIN_GAP_FRACTION = 0.75;

export class VideoPipeline extends EncoderLoop<VideoFrame> {
  private encoder: VideoEncoder | undefined;
  private cfg: VideoEncoderConfig | undefined;
  private forceKey = false;
  private lastKeyUs: number | undefined;
  private lastEncodedUs: number | undefined;
  private readonly startedAt = new Map<number, number>();

  constructor(
    track: MediaStreamTrack,
    private readonly settings: VideoSettings,
    private readonly clock: MediaClock,
    private readonly stats: PublishStats,
    private readonly events: VideoPipelineEvents,
  ) {
    super('video', videoFrames(track), (err) => events.error(err));
  }

  protected override currentEncoder(): VideoEncoder | undefined {
    return this.encoder;
  }

  get config(): VideoEncoderConfig | undefined {
    return this.cfg;
  }

  requestKeyframe(): void {
    this.forceKey = true;
  }

  /** A new target bitrate (rate control). configure() keeps the size, so the avcC normally stays the same. */
  setBitrate(bitrate: number): void {
    if (!this.encoder || !this.cfg || this.encoder.state !== 'configured') return;
    this.cfg = { ...this.cfg, bitrate };
    this.encoder.configure(this.cfg);
    this.forceKey = true;
  }

  protected override async handle(frame: VideoFrame): Promise<void> {
    if (this.closed) return;
    const mediaUs = this.clock.observe('video', frame.timestamp);
    if (mediaUs === undefined) return;
    if (!this.encoder) {
      await this.configure(frame.displayWidth, frame.displayHeight);
      return; // this frame waited for isConfigSupported; the next one is fresh
    }
    const enc = this.encoder;
    if (enc.state !== 'configured') return;
    const interval = 1_000_000 / this.settings.fps;
    if (this.lastEncodedUs !== undefined && mediaUs - this.lastEncodedUs < interval * MIN_GAP_FRACTION) return;
    if (enc.encodeQueueSize > MAX_ENCODE_QUEUE) {
      this.stats.droppedFrames += 1;
      return;
    }
    const keyFrame = this.forceKey || this.lastKeyUs === undefined || mediaUs - this.lastKeyUs >= this.settings.keyframeIntervalMs * 1000;
    if (keyFrame) {
      this.forceKey = false;
      this.lastKeyUs = mediaUs;
    }
    this.lastEncodedUs = mediaUs;
    this.startedAt.set(frame.timestamp, performance.now());
    enc.encode(frame, { keyFrame });
  }

  private async configure(srcWidth: number, srcHeight: number): Promise<void> {
    const s = this.settings;
    const { width, height } = fitSize(srcWidth, srcHeight, s.preset);
    const level = avcLevel(width, height, s.fps, s.bitrate, s.profile);
    if (level === undefined) throw new PageError('codec-unsupported', `${width}×${height} at ${s.fps} fps is beyond H.264 level 5.2; pick a smaller preset or frame rate.`);
    const base: VideoEncoderConfig = {
      codec: avcCodec(s.profile, level),
      width,
      height,
      bitrate: s.bitrate,
      framerate: s.fps,
      latencyMode: 'realtime',
      avc: { format: 'avc' },
    };
    // Constant bitrate keeps each second near the target, which is what a bounded uplink wants; not every encoder
    // offers it, so fall back to the default (variable).
    let cfg: VideoEncoderConfig | undefined;
    for (const candidate of [{ ...base, bitrateMode: 'constant' as const }, base]) {
      const support = await VideoEncoder.isConfigSupported(candidate).catch(() => undefined);
      if (support?.supported) {
        cfg = candidate;
        break;
      }
    }
    if (this.closed) return;
    if (!cfg) {
      throw new PageError(
        'codec-unsupported',
        `This browser cannot encode H.264 ${s.profile} (${base.codec}) at ${width}×${height}, ${s.fps} fps: VideoEncoder.isConfigSupported() said no. Pick another profile or a smaller preset.`,
      );
    }
    const encoder = new VideoEncoder({
      output: (chunk, meta) => this.onOutput(chunk, meta),
      error: (e) => this.fail(encoderError('video', e)),
    });
    encoder.configure(cfg);
    this.encoder = encoder;
    this.cfg = cfg;
    this.events.configured(cfg);
  }

  private onOutput(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined): void {
    const started = this.startedAt.get(chunk.timestamp);
    if (started !== undefined) {
      this.startedAt.delete(chunk.timestamp);
      this.stats.encoded(performance.now() - started);
    }
    // Bound the map even if an encoder never reports some frames.
    if (this.startedAt.size > 64) this.startedAt.clear();
    const mediaUs = this.clock.toMedia('video', chunk.timestamp);
    if (mediaUs === undefined) return;
    this.events.output(chunk, meta, mediaUs);
  }

}
