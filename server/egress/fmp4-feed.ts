// One ffmpeg destination fed from the stream hub: a reader of the hub's units that writes them to ffmpeg's stdin as
// fragmented MP4 (init segment, then moof+mdat), whatever the source (a browser, an RTSP publisher). Video is copied as
// the publisher encoded it; the ffmpeg command (argv.ts) copies or transcodes the audio as the destination needs.
//
// Its ffmpeg starts once every track it carries has a configuration (an RTSP publisher that sends SPS/PPS only in band
// gives them with its first keyframe), and starts again with a new init segment when one changes. Each (re)start
// replays the init segment and the hub's cached keyframe group, so ffmpeg always begins on a keyframe. The hub never
// waits for it: a backlog over the bound drops fragments until the next keyframe (ffmpeg-output.ts).
import { buildFragment, type TrackRun } from '../../shared/fmp4/merge.ts';
import { SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC } from '../../shared/fmp4/boxes.ts';
import { Fmp4Writer, type AudioTrackConfig, type VideoTrackConfig } from '../../shared/fmp4/writer.ts';
import type { Logger } from '../log.ts';
import type { AccessUnit } from '../stream/access-unit.ts';
import type { ReaderEndReason, ReaderSink } from '../stream/reader.ts';
import type { Sample, SampleCodec, SampleConfig } from '../stream/samples.ts';
import { FfmpegOutput, type FfmpegOutputOptions, type OutputSnapshot } from './ffmpeg-output.ts';
import type { OutputKind } from './output-url.ts';

/** What the feed needs of the hub's stream. */
export interface FeedSource {
  readonly tracks: ReadonlyArray<{ index: number; codec: { kind: string } }>;
  /** The track's codec when frame readers can carry it, else undefined (the track stays RTP-only). */
  sampleCodec(track: number): SampleCodec | undefined;
  samplesOf(unit: AccessUnit): readonly Sample[] | null;
  sampleConfig(track: number): SampleConfig | undefined;
  cachedGroup(): readonly AccessUnit[];
}

export interface Fmp4FeedOptions extends Pick<FfmpegOutputOptions, 'ffmpegPath' | 'spawn' | 'now' | 'backoff' | 'maxBacklogBytes' | 'closeGraceMs'> {
  name: string;
  url: string;
  kind: OutputKind;
  source: FeedSource;
  logger: Logger;
  /**
   * Hold samples this long and hand them to ffmpeg as one moof+mdat (0: a fragment per unit, at once). A platform's
   * own latency is seconds; ffmpeg pays per wake-up and per moof (see RTMP_COALESCE_MS).
   */
  coalesceMs: number;
  /** Told when ffmpeg restarts after a failure, so a browser publisher can be asked for a keyframe. */
  onOutputStart?: () => void;
}

interface FeedTrack {
  /** The hub's track index. */
  index: number;
  role: 'video' | 'audio';
  /** Track ID in our MP4 (video 1, audio 2; audio 1 alone): what Fmp4Writer gives. */
  trackId: number;
  pending: Sample[];
  /** Decode time of the last sample written in this ffmpeg run; -1 before the first. */
  lastDts: number;
  /** Duration given to a run's last sample: the last gap seen, or a codec default. */
  lastDuration: number;
  configVersion: number;
}

/** A sample's duration when nothing follows it yet: a frame at 30 fps, an AAC frame, 20 ms of Opus/G.711. */
function defaultDuration(config: SampleConfig): number {
  switch (config.codec) {
    case 'h264':
      return 3000;
    case 'aac':
      return 1024;
    default:
      return Math.round(config.clockRate / 50);
  }
}

export class Fmp4Feed implements ReaderSink {
  private readonly tracks: FeedTrack[];
  private output: FfmpegOutput | undefined;
  /** Outputs replaced by a new configuration, still exiting. */
  private readonly retiring = new Set<Promise<void>>();
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private waitingLogged = false;
  /** Whether the last fragment() began with a video keyframe. */
  private firstWasKeyframe = false;
  /** The last snapshot of a replaced output: restarts and errors stay visible across a new configuration. */
  private restartsBefore = 0;

  constructor(private readonly o: Fmp4FeedOptions) {
    // The first video and the first audio track whose codec MP4 carries (configurations may come later, in band).
    const video = o.source.tracks.find((t) => t.codec.kind === 'video' && o.source.sampleCodec(t.index) !== undefined);
    const audio = o.source.tracks.find((t) => t.codec.kind === 'audio' && o.source.sampleCodec(t.index) !== undefined);
    const tracks: FeedTrack[] = [];
    const make = (index: number, role: 'video' | 'audio', trackId: number): FeedTrack => ({ index, role, trackId, pending: [], lastDts: -1, lastDuration: 0, configVersion: 0 });
    if (video) tracks.push(make(video.index, 'video', 1));
    if (audio) tracks.push(make(audio.index, 'audio', video ? 2 : 1));
    this.tracks = tracks;
  }

  /** The hub tracks this feed reads (give them to Stream.addReader). */
  trackSet(): ReadonlySet<number> {
    return new Set(this.tracks.map((t) => t.index));
  }

  /** Whether the stream has anything this feed can carry. */
  carriesAnything(): boolean {
    return this.tracks.length > 0;
  }

  snapshot(): OutputSnapshot | undefined {
    const s = this.output?.snapshot();
    return s && { ...s, restarts: s.restarts + this.restartsBefore };
  }

  // ReaderSink ------------------------------------------------------------------------------------------------------

  sendUnit(unit: AccessUnit): void {
    if (this.closed) return;
    const track = this.tracks.find((t) => t.index === unit.track);
    if (!track) return;
    const samples = this.o.source.samplesOf(unit);
    if (!samples || samples.length === 0) return;
    // A new ffmpeg's prelude holds this unit when it is in the cached group; otherwise it follows below (audio-only
    // streams have no group), and the decode-time check drops it if the prelude had it.
    if (this.configChanged()) this.restart();
    if (!this.output) return;
    if (track.role === 'video' && unit.keyframe) this.flush(); // a keyframe opens a fragment: where a skip resumes
    track.pending.push(...samples);
    if (this.o.coalesceMs <= 0) this.flush();
    else this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.o.coalesceMs);
  }

  sendRtcp(): void {}

  /** ffmpeg's stdin has its own bound (skip to the next keyframe): the hub never needs to skip this reader. */
  backlog(): number {
    return 0;
  }

  end(reason: ReaderEndReason): void {
    this.o.logger.info('egress.feed_ended', { reason });
    void this.close();
  }

  // ------------------------------------------------------------------------------------------------------------------

  /** Stop for good: the pending samples go out, then ffmpeg is ended (and waited for). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.flush();
      this.closed = true;
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      await Promise.all([this.output?.close(), ...this.retiring]);
    })();
    return this.closing;
  }

  /** True when a carried track's configuration is new (first known, or changed in band). */
  private configChanged(): boolean {
    let changed = false;
    for (const t of this.tracks) {
      const c = this.o.source.sampleConfig(t.index);
      if (!c) {
        if (!this.waitingLogged) this.o.logger.info('egress.waiting_for_config', { track: t.index });
        this.waitingLogged = true;
        return false; // not all known yet: nothing to start
      }
      if (c.version !== t.configVersion) changed = true;
    }
    return changed;
  }

  /** A new ffmpeg for the current configurations; the old one (if any) is ended. */
  private restart(): void {
    for (const t of this.tracks) t.configVersion = this.o.source.sampleConfig(t.index)!.version;
    const old = this.output;
    if (old) {
      this.o.logger.info('egress.config_changed', { message: 'the codec configuration changed: ffmpeg restarts with a new init segment' });
      this.restartsBefore += old.snapshot().restarts + 1;
      const done = old.close().finally(() => this.retiring.delete(done));
      this.retiring.add(done);
    }
    const init = this.initSegment();
    if (!init) return;
    const audio = this.tracks.find((t) => t.role === 'audio');
    const audioCodec = audio && this.o.source.sampleConfig(audio.index)!.codec;
    this.output = new FfmpegOutput({
      name: this.o.name,
      url: this.o.url,
      kind: this.o.kind,
      hasAudio: audio !== undefined,
      hasVideo: this.tracks.some((t) => t.role === 'video'),
      audioIsAac: audioCodec === 'aac',
      logger: this.o.logger,
      prelude: () => this.prelude(init),
      ...pick(this.o, ['ffmpegPath', 'spawn', 'now', 'backoff', 'maxBacklogBytes', 'closeGraceMs']),
      // A restart after a failure begins with the cached group, which may be old by then: a fresh keyframe helps.
      // (A first start begins with the keyframe that made the configuration known.)
      onState: (state, previous) => {
        if (state === 'starting' && previous === 'backoff') this.o.onOutputStart?.();
      },
    });
    this.output.start();
  }

  private initSegment(): Uint8Array | undefined {
    let video: VideoTrackConfig | undefined;
    let audio: AudioTrackConfig | undefined;
    for (const t of this.tracks) {
      const c = this.o.source.sampleConfig(t.index)!;
      t.lastDuration = defaultDuration(c);
      if (c.codec === 'h264') video = { kind: 'video', codec: 'avc1', avcC: c.avcC, width: c.width, height: c.height, timescale: c.clockRate };
      else if (c.codec === 'aac') audio = { kind: 'audio', codec: 'mp4a', audioSpecificConfig: c.audioSpecificConfig, channels: c.channels, sampleRate: c.sampleRate, timescale: c.clockRate };
      else if (c.codec === 'opus') audio = { kind: 'audio', codec: 'opus', channels: c.channels, sampleRate: 48000, timescale: 48000 };
      else audio = { kind: 'audio', codec: c.codec === 'pcma' ? 'alaw' : 'ulaw', channels: c.channels, sampleRate: c.clockRate, timescale: c.clockRate };
    }
    try {
      return new Fmp4Writer({ ...(video ? { video } : {}), ...(audio ? { audio } : {}) }).initSegment();
    } catch (e) {
      this.o.logger.error('egress.init_failed', { message: e instanceof Error ? e.message : String(e) });
      return undefined;
    }
  }

  /** What a (re)started ffmpeg gets first: the init segment, then the cached keyframe group as one fragment. */
  private prelude(init: Uint8Array): Uint8Array[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.sequence = 0;
    for (const t of this.tracks) {
      t.pending = [];
      t.lastDts = -1;
    }
    for (const unit of this.o.source.cachedGroup()) {
      const t = this.tracks.find((x) => x.index === unit.track);
      const samples = t && this.o.source.samplesOf(unit);
      if (t && samples) t.pending.push(...samples);
    }
    return [init, ...this.fragment()];
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const output = this.output;
    const chunks = this.fragment();
    if (!output || chunks.length === 0) return;
    const video = this.tracks.find((t) => t.role === 'video');
    // A fragment ffmpeg can resume from after a skip: it starts with a video keyframe (or there is no video).
    output.write(chunks, this.firstWasKeyframe || !video);
  }

  /** The pending samples as one moof+mdat (chunks for one write); [] when none is new. */
  private fragment(): Uint8Array[] {
    const runs: TrackRun[] = [];
    this.firstWasKeyframe = false;
    for (const t of this.tracks) {
      const samples = t.pending;
      t.pending = [];
      const run: TrackRun = { trackId: t.trackId, entries: [], decodeTimes: [], data: [], bytes: 0 };
      for (const s of samples) {
        // ffmpeg's muxers refuse time going back; a sample it already has (the cached group replayed) is not resent.
        if (s.dts <= t.lastDts) continue;
        if (t.lastDts >= 0) t.lastDuration = s.dts - t.lastDts;
        if (run.entries.length === 0 && t.role === 'video') this.firstWasKeyframe = s.keyframe;
        t.lastDts = s.dts;
        run.decodeTimes.push(s.dts);
        run.entries.push({ size: s.data.length, duration: t.lastDuration, flags: s.keyframe ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC, compositionOffset: s.pts - s.dts });
        run.data.push(s.data);
        run.bytes += s.data.length;
      }
      runs.push(run);
    }
    if (runs.every((r) => r.entries.length === 0)) return [];
    return buildFragment(runs, ++this.sequence);
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
