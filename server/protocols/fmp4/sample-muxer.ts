// Samples → fragmented MP4 for one reader: the init segment from the tracks' configurations (ISO/IEC 14496-12 with
// 14496-15 avc1, 14496-14 mp4a, Opus in ISOBMFF, QuickTime alaw/ulaw), then moof+mdat fragments of whatever samples
// were added since the last one, as chunks for one gathered write (the samples are not copied). Decode times must
// increase per track: a sample at or before the last one written is left out (a keyframe group replayed to a reader
// that already has part of it). Pure: no I/O, no timers.
import { SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC } from '../../../shared/fmp4/boxes.ts';
import { buildFragment, type TrackRun } from '../../../shared/fmp4/merge.ts';
import { Fmp4Writer, type AudioTrackConfig, type VideoTrackConfig } from '../../../shared/fmp4/writer.ts';
import type { Sample, SampleConfig } from './sample.ts';

interface MuxTrack {
  trackId: number;
  video: boolean;
  pending: Sample[];
  /** Decode time of the last sample written; -1 before the first. */
  lastDts: number;
  /** Duration given to a fragment's last sample: the last gap seen, or a codec default. */
  lastDuration: number;
}

export interface MuxedFragment {
  /** moof + mdat header, then views of the samples. */
  chunks: Uint8Array[];
  /** It starts with a video keyframe, or there is no video: a reader that skipped can resume here. */
  resumable: boolean;
  bytes: number;
  /** The chunks in one buffer, made once on first use (see joinedBytes) and shared by whoever sends this fragment. */
  joined?: Uint8Array;
  /**
   * The fragment framed for a transport (an HTTP chunk, a WebSocket frame), made once by the first reader that sends it
   * and shared by the others; it lives and dies with the fragment.
   */
  framed?: Partial<Record<'http-chunk' | 'ws-frame', Uint8Array>>;
}

/** `f` framed as `kind` by `frame`, made once per fragment and kind. */
export function framedOnce(f: MuxedFragment, kind: 'http-chunk' | 'ws-frame', frame: (f: MuxedFragment) => Uint8Array): Uint8Array {
  const cache = (f.framed ??= {});
  return (cache[kind] ??= frame(f));
}

/** A fragment as one buffer (one write, one WebSocket message), copied once however many readers send it. */
export function joinedBytes(f: MuxedFragment): Uint8Array {
  return (f.joined ??= f.chunks.length === 1 ? f.chunks[0]! : Buffer.concat(f.chunks));
}

/** What a fragment left behind on one track: what the next fragment's first sample duration is computed from. */
export interface MuxTrackState {
  lastDts: number;
  lastDuration: number;
}

/** A sample's duration when nothing follows it yet: a frame at 30 fps, an AAC frame, 20 ms of Opus/G.711. */
function defaultDuration(config: SampleConfig): number {
  switch (config.codec) {
    case 'h264':
    case 'h265':
      return 3000;
    case 'aac':
      return 1024;
    default:
      return Math.round(config.clockRate / 50);
  }
}

export class SampleMuxer {
  readonly init: Uint8Array;
  private readonly tracks: MuxTrack[];
  private sequence = 0;

  /** `configs`: at most one video and one audio track, in that order (track IDs 1 and 2, or 1 alone). */
  constructor(configs: readonly SampleConfig[]) {
    let video: VideoTrackConfig | undefined;
    let audio: AudioTrackConfig | undefined;
    for (const c of configs) {
      if (c.codec === 'h264') video = { kind: 'video', codec: 'avc1', avcC: c.avcC, width: c.width, height: c.height, timescale: c.clockRate };
      else if (c.codec === 'h265') video = { kind: 'video', codec: 'hvc1', hvcC: c.hvcC, width: c.width, height: c.height, timescale: c.clockRate };
      else if (c.codec === 'aac') audio = { kind: 'audio', codec: 'mp4a', audioSpecificConfig: c.audioSpecificConfig, channels: c.channels, sampleRate: c.sampleRate, timescale: c.clockRate };
      else if (c.codec === 'opus') audio = { kind: 'audio', codec: 'opus', channels: c.channels, sampleRate: 48000, timescale: 48000 };
      else audio = { kind: 'audio', codec: c.codec === 'pcma' ? 'alaw' : 'ulaw', channels: c.channels, sampleRate: c.clockRate, timescale: c.clockRate };
    }
    // Throws Fmp4WriterError on a configuration MP4 cannot carry: the caller says so and carries nothing.
    const writer = new Fmp4Writer({ ...(video ? { video } : {}), ...(audio ? { audio } : {}) });
    this.init = writer.initSegment();
    this.tracks = configs.map((c, i) => ({ trackId: i + 1, video: c.codec === 'h264' || c.codec === 'h265', pending: [], lastDts: -1, lastDuration: defaultDuration(c) }));
  }

  /** Samples of track `i` (the index in the constructor's `configs`), held until the next fragment(). */
  add(i: number, samples: readonly Sample[]): void {
    this.tracks[i]?.pending.push(...samples);
  }

  /** Whether samples wait for the next fragment(). */
  hasPending(): boolean {
    return this.tracks.some((t) => t.pending.length > 0);
  }

  /** Decode time of the last sample written on track `i`; -1 before the first. */
  lastDtsOf(i: number): number {
    return this.tracks[i]?.lastDts ?? -1;
  }

  stateOf(i: number): MuxTrackState {
    const t = this.tracks[i];
    return { lastDts: t?.lastDts ?? -1, lastDuration: t?.lastDuration ?? 0 };
  }

  /** The sequence number the next fragment() takes at least (fragment(sequence) may give it a larger one). */
  get nextSequence(): number {
    return this.sequence + 1;
  }

  /**
   * Take a fragment another muxer made from the same samples, in the same state (TrackMux.fragmentOf): move on as if
   * this one had made it.
   */
  adopt(i: number, after: MuxTrackState, sequence: number): void {
    const t = this.tracks[i];
    if (!t) return;
    t.lastDts = after.lastDts;
    t.lastDuration = after.lastDuration;
    this.sequence = Math.max(this.sequence, sequence);
  }

  /**
   * The pending samples as one moof+mdat; undefined when none is new. `sequence`: the mfhd sequence number wanted
   * (the stream's unit order, so that readers' fragments of one unit are the same bytes); it is taken when it is
   * larger than the last one given, else the next number is.
   */
  fragment(sequence?: number): MuxedFragment | undefined {
    const runs: TrackRun[] = [];
    let resumable = !this.tracks.some((t) => t.video);
    for (const t of this.tracks) {
      const samples = t.pending;
      t.pending = [];
      const run: TrackRun = { trackId: t.trackId, entries: [], decodeTimes: [], data: [], bytes: 0 };
      for (const s of samples) {
        if (s.dts <= t.lastDts) continue;
        if (t.lastDts >= 0) t.lastDuration = s.dts - t.lastDts;
        if (run.entries.length === 0 && t.video) resumable = s.keyframe;
        t.lastDts = s.dts;
        run.decodeTimes.push(s.dts);
        // ISO/IEC 14496-12 §8.8.8: trun version 1 carries signed composition offsets (pts - dts).
        run.entries.push({ size: s.data.length, duration: t.lastDuration, flags: s.keyframe ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC, compositionOffset: s.pts - s.dts });
        run.data.push(s.data);
        run.bytes += s.data.length;
      }
      runs.push(run);
    }
    if (runs.every((r) => r.entries.length === 0)) return undefined;
    this.sequence = Math.max(this.sequence + 1, sequence ?? 0);
    const chunks = buildFragment(runs, this.sequence);
    return { chunks, resumable, bytes: chunks.reduce((n, c) => n + c.length, 0) };
  }
}
