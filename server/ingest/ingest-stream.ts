// One browser-published stream: the init segment, the keyframe-group cache and one FfmpegOutput per destination.
// It outlives a WebSocket: when the page reconnects within the grace period with the same init segment, the same
// ffmpeg processes keep running, so RTSP players and RTMP platforms never notice the drop.
import { shiftDecodeTime, type FragmentInfo, type InitInfo, type TrackInfo } from '../../shared/fmp4/reader.ts';
import type { OutputStatus } from '../../shared/protocol.ts';
import type { Logger } from '../log.ts';
import { FfmpegOutput, type OutputSnapshot } from '../egress/ffmpeg-output.ts';
import type { OutputKind } from '../egress/output-url.ts';
import { RateMeter } from '../stream/rate.ts';
import { RTMP_COALESCE_MS, type Destination } from '../egress/stream-outputs.ts';

export type { Destination };
import { GopCache } from './gop-cache.ts';

/**
 * When a new publisher's clock does not follow on from the last one's, its fragments are moved to start this long
 * (at least) after the last sample sent: more than the lead one track of a page can have over the other at its start,
 * so neither track goes back in time.
 */
const MIN_REBASE_GAP_S = 0.5;

export interface IngestStreamOptions {
  name: string;
  init: Uint8Array;
  info: InitInfo;
  destinations: Destination[];
  logger: Logger;
  ffmpegPath?: string;
  maxGopBytes?: number;
  now?: () => number;
  /** Told when an output (re)starts, so the page can be asked for a keyframe. */
  onOutputStart?: () => void;
}

export type IngestState = 'live' | 'waiting' | 'closed';

export class IngestStream {
  readonly name: string;
  readonly init: Uint8Array;
  readonly info: InitInfo;
  readonly since: number;
  state: IngestState = 'live';
  fragments = 0;
  private readonly gop: GopCache;
  private readonly outputs: FfmpegOutput[];
  private readonly meter: RateMeter;
  private readonly videoFrames: RateMeter;
  private readonly hasVideo: boolean;
  private closing: Promise<void> | undefined;
  private readonly now: () => number;
  /** Seconds added to every fragment's time on the way to the outputs, so their timeline never goes back. */
  private shift = 0;
  /** A new publisher took over: its first fragment decides whether its clock follows on (see resumeFrom). */
  private rebase = false;
  /** Per track, in shifted seconds: when the last sample sent starts, and when it ends (by its declared duration). */
  private readonly trackLast = new Map<number, { start: number; end: number }>();
  /** When (wall clock, ms) the last fragment came. */
  private lastAt = 0;
  private readonly timescales: ReadonlyMap<number, number>;

  constructor(private readonly o: IngestStreamOptions) {
    this.name = o.name;
    this.init = o.init;
    this.info = o.info;
    const now = o.now ?? Date.now;
    this.now = now;
    this.since = now();
    this.meter = new RateMeter(now);
    this.videoFrames = new RateMeter(now);
    this.gop = new GopCache(o.maxGopBytes ?? 32 * 1024 * 1024);
    this.hasVideo = o.info.tracks.some((t) => t.kind === 'video');
    const audio = o.info.tracks.find((t) => t.kind === 'audio');
    this.timescales = new Map(o.info.tracks.map((t) => [t.id, t.timescale]));
    this.outputs = o.destinations.map(
      (d) =>
        new FfmpegOutput({
          name: o.name,
          url: d.url,
          kind: d.kind,
          hasAudio: audio !== undefined,
          hasVideo: this.hasVideo,
          audioIsAac: audio?.codec.startsWith('mp4a') === true,
          logger: o.logger.child({ component: 'egress', output: d.kind }),
          prelude: () => [this.init, ...this.gop.list()],
          coalesceMs: d.kind === 'rtmp' ? RTMP_COALESCE_MS : 0,
          ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
          onState: (state) => {
            if (state === 'starting') o.onOutputStart?.();
          },
        }),
    );
  }

  start(): void {
    for (const out of this.outputs) out.start();
  }

  /**
   * A checked media segment from the page. Never blocks: a slow output drops to its next keyframe by itself. `data` is
   * kept as it is (the keyframe-group cache, the ffmpeg queues), not copied: it is a view of what ws read from the
   * socket, which nothing writes to again (Node gives every read its own memory; ws hands out views or fresh copies).
   * Every byte copied here lived as long as the keyframe group, and V8 counts such memory towards its next full
   * collection (with five such copies per frame, bench:ingest's relay ran one twice a second).
   */
  write(data: Uint8Array, keyframe: boolean, videoSamples: number, parsed: FragmentInfo): { gopOverflow: boolean } {
    this.fragments++;
    this.meter.add(data.length);
    if (videoSamples > 0) this.videoFrames.add(videoSamples);
    // No destination, nothing to feed or restart: no cache.
    if (this.outputs.length === 0) return { gopOverflow: false };
    if (!this.retime(data, parsed)) return { gopOverflow: false };
    const kept = this.gop.add(data, keyframe, this.hasVideo);
    for (const out of this.outputs) out.write(data, keyframe, parsed);
    return { gopOverflow: !kept };
  }

  /**
   * A new publisher (a reconnecting or reloaded page, or another device taking over within the grace period) continues
   * this stream. A page that reconnects keeps its clock; a reloaded one starts again from its own zero, and a running
   * `-c copy` ffmpeg must never see time go back (its muxers refuse non-monotonic timestamps). So the new publisher's
   * first fragment decides: if its time follows on from the last one sent (not before it, and not further after it
   * than the time the stream was away), nothing changes; otherwise every track is moved by the same amount, keeping
   * audio and video in sync, to continue after the last sample plus the time away.
   */
  resumeFrom(): void {
    this.rebase = true;
  }

  /** Applies the shift to a fragment (its bytes and `parsed`); false when it must be dropped to keep time monotonic. */
  private retime(data: Uint8Array, parsed: FragmentInfo): boolean {
    const now = this.now();
    // parseMediaSegment accepts only tracks of the init segment, so every traf has a timescale.
    const scale = (trackId: number) => this.timescales.get(trackId) ?? 1;
    const seconds = (trackId: number, ticks: number) => ticks / scale(trackId);
    const lead = parsed.tracks[0];
    if (!lead) return false;
    if (this.rebase) {
      this.rebase = false;
      const first = seconds(lead.trackId, Number(lead.baseDecodeTime));
      const before = this.trackLast.get(lead.trackId);
      const end = Math.max(0, ...[...this.trackLast.values()].map((l) => l.end));
      const awayS = Math.max(0, (now - this.lastAt) / 1000);
      const at = first + this.shift;
      // Going back (a reloaded page), or jumping further ahead than the time away (another device's clock).
      if (before && (at < before.start || at > end + awayS + MIN_REBASE_GAP_S)) {
        this.shift = end + Math.max(awayS, MIN_REBASE_GAP_S) - first;
        this.o.logger.info('timeline-rebased', { stream: this.name, shiftSeconds: Math.round(this.shift * 1000) / 1000, awaySeconds: Math.round(awayS * 10) / 10 });
      }
    }
    for (const t of parsed.tracks) {
      const delta = Math.round(this.shift * scale(t.trackId));
      if (delta !== 0 && !shiftDecodeTime(data, t, delta)) {
        this.o.logger.warn('timeline-overflow', { stream: this.name, track: t.trackId, message: 'a fragment could not be moved in time (its tfdt field is too small); it was not sent to the outputs' });
        return false;
      }
      // Still before this track's last sample (a publisher whose tracks start far apart): not sent.
      if (seconds(t.trackId, Number(t.baseDecodeTime)) < (this.trackLast.get(t.trackId)?.start ?? -Infinity)) return false;
    }
    for (const t of parsed.tracks) {
      const base = Number(t.baseDecodeTime);
      const last = t.sampleList[t.sampleList.length - 1]?.decodeOffset ?? 0;
      this.trackLast.set(t.trackId, { start: seconds(t.trackId, base + last), end: seconds(t.trackId, base + t.duration) });
    }
    this.lastAt = now;
    return true;
  }

  /** Same codecs and parameters: the running ffmpegs can continue without a new init segment. */
  sameInit(init: Uint8Array): boolean {
    return Buffer.compare(Buffer.from(init.buffer, init.byteOffset, init.byteLength), Buffer.from(this.init.buffer, this.init.byteOffset, this.init.byteLength)) === 0;
  }

  ingestKbps(): number {
    return this.meter.kbps();
  }

  /** Video frames per second over the last few seconds. */
  fps(): number {
    return Math.round(this.videoFrames.perSecond());
  }

  track(kind: 'video' | 'audio'): TrackInfo | undefined {
    return this.info.tracks.find((t) => t.kind === kind);
  }

  outputStatus(): OutputStatus[] {
    return this.outputs.map((out) => toStatus(out.snapshot()));
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.state = 'closed';
      this.gop.clear();
      await Promise.all(this.outputs.map((out) => out.close()));
    })();
    return this.closing;
  }
}

function toStatus(s: OutputSnapshot): OutputStatus {
  return { url: s.url, kind: s.kind, state: s.state, restarts: s.restarts, ...(s.lastError !== undefined ? { lastError: s.lastError } : {}) };
}
