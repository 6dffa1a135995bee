// One ffmpeg destination fed from the stream hub: a reader of the hub's units that writes them to ffmpeg's stdin as
// fragmented MP4 (init segment, then moof+mdat), whatever the source (a browser, an RTSP publisher). Video is copied as
// the publisher encoded it; the ffmpeg command (argv.ts) copies or transcodes the audio as the destination needs.
//
// Its ffmpeg starts once every track it carries has a configuration (an RTSP publisher that sends SPS/PPS only in band
// gives them with its first keyframe), and starts again with a new init segment when one changes. Each (re)start
// replays the init segment and the hub's cached keyframe group, so ffmpeg always begins on a keyframe. The hub never
// waits for it: a backlog over the bound drops fragments until the next keyframe (ffmpeg-output.ts).
import type { Logger } from '../log.ts';
import type { Sample } from '../protocols/fmp4/sample.ts';
import { chooseTracks, TrackMux, type MuxSource } from '../protocols/fmp4/track-mux.ts';
import type { AccessUnit } from '../stream/access-unit.ts';
import type { ReaderEndReason, ReaderSink } from '../stream/reader.ts';
import { FfmpegOutput, type FfmpegOutputOptions, type OutputSnapshot } from './ffmpeg-output.ts';
import type { OutputKind } from './output-url.ts';

/** What the feed needs of the hub's stream. */
export interface FeedSource extends MuxSource {
  samplesOf(unit: AccessUnit): readonly Sample[] | null;
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

export class Fmp4Feed implements ReaderSink {
  /** The tracks carried, and the current ffmpeg run's muxer (a new one per run: each run starts from an init segment). */
  private readonly mux: TrackMux;
  private output: FfmpegOutput | undefined;
  /** Outputs replaced by a new configuration, still exiting. */
  private readonly retiring = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private waitingLogged = false;
  /** The last snapshot of a replaced output: restarts and errors stay visible across a new configuration. */
  private restartsBefore = 0;
  /** Why this destination cannot carry the stream (no ffmpeg runs), in words for the API and the page. */
  problem: string | undefined;
  /** The configuration versions `problem` is about: not tried again until one changes. */
  private refused: string | undefined;

  constructor(private readonly o: Fmp4FeedOptions) {
    // The first video and the first audio track whose codec MP4 carries (configurations may come later, in band).
    this.mux = new TrackMux(chooseTracks(o.source).carried);
  }

  /** The hub tracks this feed reads (give them to Stream.addReader). */
  trackSet(): ReadonlySet<number> {
    return this.mux.trackSet();
  }

  /** Whether the stream has anything this feed can carry. */
  carriesAnything(): boolean {
    return this.mux.tracks.length > 0;
  }

  snapshot(): OutputSnapshot | undefined {
    const s = this.output?.snapshot();
    return s && { ...s, restarts: s.restarts + this.restartsBefore };
  }

  // ReaderSink ------------------------------------------------------------------------------------------------------

  sendUnit(unit: AccessUnit): void {
    if (this.closed) return;
    const track = this.mux.tracks.find((t) => t.index === unit.track);
    if (!track) return;
    const samples = this.o.source.samplesOf(unit);
    if (!samples || samples.length === 0) return;
    // A new ffmpeg's prelude holds this unit when it is in the cached group; otherwise it follows below (audio-only
    // streams have no group), and the decode-time check drops it if the prelude had it.
    const ready = this.mux.readiness(this.o.source);
    if (ready.state === 'waiting' && !this.waitingLogged) {
      this.waitingLogged = true;
      this.o.logger.info('egress.waiting_for_config', { track: ready.track });
    }
    if (ready.state === 'changed' && this.versionsKey() !== this.refused) this.restart();
    if (!this.output) return;
    if (track.role === 'video' && unit.keyframe) this.flush(); // a keyframe opens a fragment: where a skip resumes
    this.mux.add(unit.track, samples);
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

  /** A new ffmpeg for the current configurations; the old one (if any) is ended. */
  private restart(): void {
    const old = this.output;
    if (old) {
      this.o.logger.info('egress.config_changed', { message: 'the codec configuration changed: ffmpeg restarts with a new init segment' });
      this.restartsBefore += old.snapshot().restarts + 1;
      const done = old.close().finally(() => this.retiring.delete(done));
      this.retiring.add(done);
    }
    const configs = this.mux.tracks.map((t) => this.o.source.sampleConfig(t.index)!);
    if (this.o.kind === 'rtmp' && configs.some((c) => c.codec === 'h265')) {
      // ffmpeg 5.1's FLV muxer has no HEVC (no enhanced RTMP), and video is never re-encoded.
      this.refuse('H.265 video cannot be restreamed over RTMP (FLV in ffmpeg 5.1 carries H.264 only); use an rtsp:// destination');
      return;
    }
    this.problem = undefined;
    this.refused = undefined;
    try {
      // Made here (the configurations are checked: MP4 may refuse one), and again at every (re)start of ffmpeg.
      this.mux.start(this.o.source);
    } catch (e) {
      this.refuse(`the stream's codec configuration cannot go into MP4: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const audio = this.mux.tracks.find((t) => t.role === 'audio');
    const audioCodec = audio && this.o.source.sampleConfig(audio.index)!.codec;
    this.output = new FfmpegOutput({
      name: this.o.name,
      url: this.o.url,
      kind: this.o.kind,
      hasAudio: audio !== undefined,
      hasVideo: this.mux.tracks.some((t) => t.role === 'video'),
      audioIsAac: audioCodec === 'aac',
      logger: this.o.logger,
      prelude: () => this.prelude(),
      ...pick(this.o, ['ffmpegPath', 'spawn', 'now', 'backoff', 'maxBacklogBytes', 'closeGraceMs']),
      // A restart after a failure begins with the cached group, which may be old by then: a fresh keyframe helps.
      // (A first start begins with the keyframe that made the configuration known.)
      onState: (state, previous) => {
        if (state === 'starting' && previous === 'backoff') this.o.onOutputStart?.();
      },
    });
    this.output.start();
  }

  /** This destination cannot carry the stream as it is configured now: say why, once, and run no ffmpeg. */
  private refuse(problem: string): void {
    this.problem = problem;
    this.refused = this.versionsKey();
    this.output = undefined;
    this.o.logger.error('egress.unsupported', { message: problem });
  }

  private versionsKey(): string {
    return this.mux.tracks.map((t) => this.o.source.sampleConfig(t.index)?.version ?? 0).join(',');
  }

  /** What a (re)started ffmpeg gets first: the init segment, then the cached keyframe group as one fragment. */
  private prelude(): Uint8Array[] {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const muxer = this.mux.start(this.o.source);
    for (const unit of this.o.source.cachedGroup()) {
      const samples = this.o.source.samplesOf(unit);
      if (samples) this.mux.add(unit.track, samples);
    }
    return [muxer.init, ...(muxer.fragment()?.chunks ?? [])];
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const fragment = this.mux.current?.fragment();
    if (fragment) this.output?.write(fragment.chunks, fragment.resumable);
  }
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
