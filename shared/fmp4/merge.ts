// Several checked media segments → one moof+mdat with a traf per track. The page sends a fragment per frame for
// latency; a consumer that does not need that latency (an RTMP ffmpeg, fed in 100 ms batches) is cheaper to feed one
// fragment per batch: ffmpeg's mov demuxer pays per moof, and keeps an index entry per moof for as long as it runs.
// Bare § numbers are ISO/IEC 14496-12.
import { box, concat, mdatHeader, mfhd, SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC, tfdt, tfhd, trun, trunSize, type TrunSample } from './boxes.ts';
import type { FragmentInfo } from './media-reader.ts';

export interface ParsedSegment {
  /** The bytes parseMediaSegment read. */
  bytes: Uint8Array;
  /** What it found in them. */
  parsed: FragmentInfo;
}

/** One track's samples for a fragment: trun entries, each sample's decode time, and its bytes (views). */
export interface TrackRun {
  trackId: number;
  entries: TrunSample[];
  decodeTimes: number[];
  data: Uint8Array[];
  bytes: number;
}

/**
 * One moof (sequence number `sequence`) and its mdat holding every sample of `segments`, in order, track by track,
 * as the chunks to write one after another: the moof and mdat header, then views of the samples in `segments` (their
 * bytes are not copied; adjacent ones are joined), for one gathered write (writev).
 * Each track's tfdt is its first sample's decode time; every later sample is placed by the durations before it (§8.8.8),
 * so each duration but the last is rewritten as the gap to the next sample's decode time, which keeps every sample at
 * the time its own fragment gave it (the page's durations are estimates). A track's last sample keeps its duration.
 */
export function mergeSegments(segments: readonly ParsedSegment[], sequence: number): Uint8Array[] {
  const runs = new Map<number, TrackRun>();
  for (const { bytes, parsed } of segments) {
    for (const t of parsed.tracks) {
      let run = runs.get(t.trackId);
      if (!run) {
        run = { trackId: t.trackId, entries: [], decodeTimes: [], data: [], bytes: 0 };
        runs.set(t.trackId, run);
      }
      const base = Number(t.baseDecodeTime);
      for (const s of t.sampleList) {
        run.decodeTimes.push(base + s.decodeOffset);
        run.entries.push({ size: s.size, duration: s.duration, flags: s.sync ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC, compositionOffset: s.compositionOffset });
        run.data.push(bytes.subarray(s.offset, s.offset + s.size));
        run.bytes += s.size;
      }
    }
  }
  return buildFragment([...runs.values()], sequence);
}

/**
 * One moof+mdat with a traf per run, as chunks for one gathered write: the moof and mdat header, then the sample views
 * (adjacent ones joined). Each run's tfdt is its first decode time; every duration but a run's last is rewritten as the
 * gap to the next sample's decode time (§8.8.8: samples are placed by the durations before them). Runs without
 * samples are left out; there must be at least one sample.
 */
export function buildFragment(runs: readonly TrackRun[], sequence: number): Uint8Array[] {
  const tracks = runs.filter((r) => r.entries.length > 0);
  if (tracks.length === 0) throw new Error('buildFragment: no samples');
  for (const r of tracks) {
    for (let i = 0; i + 1 < r.entries.length; i++) r.entries[i]!.duration = Math.max(0, r.decodeTimes[i + 1]! - r.decodeTimes[i]!);
  }
  // moof = 8 + mfhd 16 + per traf (8 + tfhd 16 + tfdt 20 + trun); data offsets count from the moof (default-base-is-moof).
  const moofSize = 8 + 16 + tracks.reduce((n, r) => n + 8 + 16 + 20 + trunSize(r.entries), 0);
  const payload = tracks.reduce((n, r) => n + r.bytes, 0);
  const mdat = mdatHeader(payload);
  let dataOffset = moofSize + mdat.length;
  const trafs = tracks.map((r) => {
    const traf = box('traf', tfhd(r.trackId), tfdt(r.decodeTimes[0]!), trun(r.entries, dataOffset));
    dataOffset += r.bytes;
    return traf;
  });
  const moof = box('moof', mfhd(sequence), ...trafs);
  if (moof.length !== moofSize) throw new Error(`buildFragment bug: moof is ${moof.length} bytes, expected ${moofSize}`);
  return [concat([moof, mdat]), ...joinAdjacent(tracks.flatMap((r) => r.data))];
}

/** Views that continue one another in the same buffer become one view. */
function joinAdjacent(views: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of views) {
    const last = out[out.length - 1];
    if (last && last.buffer === v.buffer && last.byteOffset + last.byteLength === v.byteOffset) {
      out[out.length - 1] = new Uint8Array(v.buffer, last.byteOffset, last.byteLength + v.byteLength);
    } else {
      out.push(v);
    }
  }
  return out;
}
