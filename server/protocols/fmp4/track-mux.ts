// What every fMP4 reader of a stream does before and around its SampleMuxer (the ffmpeg feed, HTTP progressive, and
// the viewer and recorder to come): choose the tracks it carries (the first video and the first audio track MP4 can
// carry), wait until all their configurations are known, notice when one changes (a new init segment is due), and
// start each muxer's video on a keyframe. Pure: it reads the stream through MuxSource, which the hub's Stream
// satisfies, and does no I/O.
import { SampleMuxer, type MuxedFragment, type MuxTrackState } from './sample-muxer.ts';
import type { Sample, SampleCodec, SampleConfig } from './sample.ts';

/** What a TrackMux needs of a stream (stream/stream.ts's Stream has it). */
export interface MuxSource {
  readonly tracks: ReadonlyArray<{ index: number; codec: { kind: string; codec: string } }>;
  /** The track's codec when frame readers can carry it, else undefined (the track stays RTP-only). */
  sampleCodec(track: number): SampleCodec | undefined;
  /** The track's configuration once known (H.264: after an SPS and a PPS, from the SDP or in band). */
  sampleConfig(track: number): SampleConfig | undefined;
}

export interface MuxTrack {
  /** The stream's track index. */
  index: number;
  role: 'video' | 'audio';
}

export interface TrackChoice {
  carried: MuxTrack[];
  /** The stream's video and audio tracks left out, with their codec as the SDP names it. */
  left: Array<{ index: number; kind: 'video' | 'audio'; codec: string }>;
}

/**
 * The first video and the first audio track whose codec MP4 carries (at most one of each: SampleMuxer's shape), and
 * that `accepts` (a reader that plays fewer codecs than MP4 carries: the viewer page).
 */
export function chooseTracks(source: MuxSource, accepts: (codec: SampleCodec) => boolean = () => true): TrackChoice {
  const carried: MuxTrack[] = [];
  const left: TrackChoice['left'] = [];
  for (const role of ['video', 'audio'] as const) {
    for (const t of source.tracks) {
      if (t.codec.kind !== role) continue;
      const codec = source.sampleCodec(t.index);
      if (codec !== undefined && accepts(codec) && !carried.some((c) => c.role === role)) carried.push({ index: t.index, role });
      else left.push({ index: t.index, kind: role, codec: t.codec.codec || '(unknown)' });
    }
  }
  return { carried, left };
}

/**
 * A unit as fragmentOf sees it (stream/access-unit.ts's AccessUnit): its place in the stream, and the fragments made
 * of it so far, one per mux layout.
 */
export interface FragmentHost {
  /** Increases with every unit of the stream, across tracks: the fragments' sequence number. */
  readonly order: number;
  fragments?: Map<string, SharedFragment>;
}

export interface SharedFragment {
  /** The track's last decode time before it, in the muxer that made it: equal state, equal bytes. */
  prevDts: number;
  fragment: MuxedFragment;
  after: MuxTrackState;
}

/** Whether a TrackMux's muxer matches the stream: a track not configured yet, a configuration newer than it, or same. */
export type MuxReadiness = { state: 'waiting'; track: number } | { state: 'changed' } | { state: 'current' };

export class TrackMux {
  readonly tracks: readonly MuxTrack[];
  /** Configuration version each track's muxer was made for; 0 before the first. */
  private readonly versions: number[];
  private muxer: SampleMuxer | undefined;
  /** Which tracks at which configuration versions the current muxer carries: muxers with the same layout make the same bytes. */
  private layout = '';
  /** The current muxer has had its first video keyframe (a decoder cannot start on anything else). */
  private videoStarted = false;

  constructor(tracks: readonly MuxTrack[]) {
    this.tracks = tracks;
    this.versions = tracks.map(() => 0);
  }

  /** The stream tracks this mux reads (give them to Stream.addReader). */
  trackSet(): ReadonlySet<number> {
    return new Set(this.tracks.map((t) => t.index));
  }

  /** The muxer of the last start(), if any. */
  get current(): SampleMuxer | undefined {
    return this.muxer;
  }

  readiness(source: MuxSource): MuxReadiness {
    let changed = this.muxer === undefined;
    for (let i = 0; i < this.tracks.length; i++) {
      const t = this.tracks[i]!;
      const c = source.sampleConfig(t.index);
      if (!c) return { state: 'waiting', track: t.index };
      if (c.version !== this.versions[i]) changed = true;
    }
    return { state: changed ? 'changed' : 'current' };
  }

  /**
   * A new muxer for the tracks' current configurations (all known: see readiness). Throws Fmp4WriterError when MP4
   * cannot carry one of them; the previous muxer then stays current.
   */
  start(source: MuxSource): SampleMuxer {
    const configs = this.tracks.map((t) => {
      const c = source.sampleConfig(t.index);
      if (!c) throw new Error(`TrackMux.start: track ${t.index} has no configuration yet`);
      return c;
    });
    const muxer = new SampleMuxer(configs);
    configs.forEach((c, i) => (this.versions[i] = c.version));
    this.layout = this.tracks.map((t, i) => `${t.index}.${t.role}.${this.versions[i]}`).join('/');
    this.muxer = muxer;
    this.videoStarted = false;
    return muxer;
  }

  /**
   * A unit's samples for stream track `track`, added to the current muxer; false when none was taken (no muxer, a track
   * this mux does not carry, or video before the muxer's first keyframe).
   */
  add(track: number, samples: readonly Sample[]): boolean {
    const i = this.tracks.findIndex((t) => t.index === track);
    const muxer = this.muxer;
    if (i < 0 || !muxer || samples.length === 0) return false;
    if (this.tracks[i]!.role === 'video' && !this.videoStarted) {
      const k = samples.findIndex((s) => s.keyframe);
      if (k < 0) return false;
      this.videoStarted = true;
      samples = samples.slice(k);
    }
    muxer.add(i, samples);
    return true;
  }

  /**
   * One unit's samples as a fragment of their own, at once (HTTP players, viewers): the same object for every reader
   * of the stream whose muxer has the same layout and had the same last decode time on the track, because those
   * readers would make the same bytes (the sequence number is the unit's order in the stream). Made by the first such
   * reader, kept on the unit; the others only send it. undefined when nothing was taken (see add).
   */
  fragmentOf(host: FragmentHost, track: number, samples: readonly Sample[]): MuxedFragment | undefined {
    const i = this.tracks.findIndex((t) => t.index === track);
    const muxer = this.muxer;
    if (i < 0 || !muxer || samples.length === 0) return undefined;
    const video = this.tracks[i]!.role === 'video';
    // Before its first keyframe a muxer slices the unit (add), unless the unit starts with one; with samples of its
    // own waiting, or a sequence number of its own, the bytes differ too.
    const shareable = (!video || this.videoStarted || samples[0]!.keyframe) && !muxer.hasPending() && host.order >= muxer.nextSequence;
    const prevDts = muxer.lastDtsOf(i);
    if (shareable) {
      const hit = host.fragments?.get(this.layout);
      if (hit && hit.prevDts === prevDts) {
        muxer.adopt(i, hit.after, host.order);
        if (video) this.videoStarted = true;
        return hit.fragment;
      }
    }
    if (!this.add(track, samples)) return undefined;
    const fragment = muxer.fragment(host.order);
    if (fragment && shareable && !host.fragments?.has(this.layout)) (host.fragments ??= new Map()).set(this.layout, { prevDts, fragment, after: muxer.stateOf(i) });
    return fragment;
  }

}
