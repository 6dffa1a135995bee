// The optional local copy: a full-quality MP4 of the broadcast made with mp4-muxer from the same encoder output the
// uplink sends (so it costs no second encode), before any uplink drop. mp4-muxer's 'in-memory' fast start writes a
// normal progressive MP4 (moov first) that every player opens; the price is holding the broadcast in memory.
import { ArrayBufferTarget, Muxer } from 'mp4-muxer';

export interface RecorderTracks {
  video: {
    width: number;
    height: number;
    framerate: number;
    /**
     * The encoder's configuration so far, if it has output anything. WebCodecs puts decoderConfig only on the first
     * output after configure() (WebCodecs §6.5 "output EncodedVideoChunks"), which may have gone by before this
     * recorder existed.
     */
    decoderConfig?: VideoDecoderConfig | undefined;
  };
  audio?: { channels: number; sampleRate: number };
}

/**
 * How many bytes of media the recording holds at most. mp4-muxer keeps every sample until finalize() and then writes
 * the file into an ArrayBuffer that grows by doubling, so just under 1 GiB of media (about 50 min at 2.5 Mbit/s)
 * keeps that buffer at 1 GiB instead of 2.
 */
export const MAX_RECORDING_BYTES = 960 * 1024 * 1024;

export class LocalRecorder {
  private readonly muxer: Muxer<ArrayBufferTarget>;
  private started = false;
  private startUs = 0;
  private finished = false;
  /** Why recording stopped early, if it did; the broadcast itself goes on. */
  failure: string | undefined;
  /** Set when the recording reached its size bound: it keeps what it has and takes no more; the broadcast goes on. */
  full = false;
  private bytes = 0;
  /** Made without audio (the microphone was late or absent): audio that turns up later is left out, not an error. */
  private readonly hasAudio: boolean;
  private decoderConfig: VideoDecoderConfig | undefined;

  constructor(
    tracks: RecorderTracks,
    /** The bound on held media, in bytes. */
    readonly maxBytes = MAX_RECORDING_BYTES,
  ) {
    this.decoderConfig = tracks.video.decoderConfig;
    this.hasAudio = tracks.audio !== undefined;
    this.muxer = new Muxer({
      target: new ArrayBufferTarget(),
      fastStart: 'in-memory',
      // Times are already broadcast times (from 0 at Go live); the file starts at its first keyframe.
      firstTimestampBehavior: 'cross-track-offset',
      video: { codec: 'avc', width: tracks.video.width, height: tracks.video.height },
      ...(tracks.audio ? { audio: { codec: 'opus', numberOfChannels: tracks.audio.channels, sampleRate: tracks.audio.sampleRate } } : {}),
    });
  }

  /** Bytes of media held so far. */
  get size(): number {
    return this.bytes;
  }

  addVideo(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined, timestampUs: number): void {
    if (this.finished || this.isFull(chunk.byteLength)) return;
    if (meta?.decoderConfig) this.decoderConfig = meta.decoderConfig;
    if (!this.started) {
      // A file must open on a keyframe and hand mp4-muxer the decoder configuration (the avcC) with it.
      const decoderConfig = this.decoderConfig;
      if (chunk.type !== 'key' || !decoderConfig) return;
      meta = { ...meta, decoderConfig };
      this.started = true;
      this.startUs = timestampUs;
    }
    this.guard(() => this.muxer.addVideoChunk(chunk, meta, timestampUs));
    this.bytes += chunk.byteLength;
  }

  addAudio(chunk: EncodedAudioChunk, meta: EncodedAudioChunkMetadata | undefined, timestampUs: number): void {
    // Audio from before the first keyframe would move the file's time origin under the video already written.
    if (!this.hasAudio || this.finished || !this.started || timestampUs < this.startUs || this.isFull(chunk.byteLength)) return;
    this.guard(() => this.muxer.addAudioChunk(chunk, meta, timestampUs));
    this.bytes += chunk.byteLength;
  }

  /** The finished file, or undefined when no keyframe was ever recorded. */
  finish(): Blob | undefined {
    if (this.finished) return undefined;
    this.finished = true;
    if (!this.started) return undefined;
    if (this.failure !== undefined) return undefined;
    this.muxer.finalize();
    return new Blob([this.muxer.target.buffer], { type: 'video/mp4' });
  }

  /** True once adding `bytes` more would pass the bound; the file then ends at the last sample it took. */
  private isFull(bytes: number): boolean {
    if (!this.full && this.bytes + bytes > this.maxBytes) this.full = true;
    return this.full;
  }

  private guard(add: () => void): void {
    if (this.failure !== undefined) return;
    try {
      add();
    } catch (err) {
      this.failure = err instanceof Error ? err.message : String(err);
      this.finished = true;
    }
  }
}
