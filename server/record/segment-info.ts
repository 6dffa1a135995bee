// What a recorded segment holds, read from the file itself: its init segment (codecs, track timescales) and each
// complete fragment's tracks and samples (shared/fmp4's checking reader), for the recordings API and playback.
import { open, type FileHandle } from 'node:fs/promises';
import { parseInitSegment, parseMediaSegment, type FragmentInfo, type InitInfo } from '../../shared/fmp4/reader.ts';
import { readAt, scanSegment, type FragmentSpan } from './segment-scan.ts';

export interface OpenSegment {
  fh: FileHandle;
  init: Uint8Array;
  info: InitInfo;
  fragments: FragmentSpan[];
  /** Track ID of the track whose times place a fragment: the video track, else the first. */
  keyTrack: number;
}

/** A segment file opened for reading, or undefined when it holds no whole init segment (being created, or damaged). */
export async function openSegment(path: string): Promise<OpenSegment | undefined> {
  const fh = await open(path, 'r');
  try {
    const layout = await scanSegment(fh);
    if (!layout) {
      await fh.close();
      return undefined;
    }
    const init = await readAt(fh, 0, layout.initSize);
    const parsed = parseInitSegment(init);
    if (!parsed.ok) {
      await fh.close();
      return undefined;
    }
    const info = parsed.value;
    const keyTrack = (info.tracks.find((t) => t.kind === 'video') ?? info.tracks[0]!).id;
    return { fh, init, info, fragments: layout.fragments, keyTrack };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

export interface ReadFragment {
  bytes: Uint8Array;
  parsed: FragmentInfo;
  /** Start of the fragment's key-track samples, ms from the segment start (0). */
  ms: number;
  /** Its key track starts with a keyframe (a video sync sample): playback can start here. */
  keyframe: boolean;
  /** End of its key-track samples, ms. */
  endMs: number;
}

/** Fragment `i` of an open segment, read and checked; undefined when it does not parse (it is then skipped). */
export async function readFragment(seg: OpenSegment, i: number): Promise<ReadFragment | undefined> {
  const span = seg.fragments[i]!;
  const bytes = await readAt(seg.fh, span.offset, span.size);
  const r = parseMediaSegment(bytes, seg.info);
  if (!r.ok) return undefined;
  const t = r.value.tracks.find((x) => x.trackId === seg.keyTrack) ?? r.value.tracks[0];
  const scale = seg.info.tracks.find((x) => x.id === t?.trackId)?.timescale ?? 1000;
  const base = t ? Number(t.baseDecodeTime) : 0;
  return { bytes, parsed: r.value, ms: (base * 1000) / scale, keyframe: t?.keyframe ?? false, endMs: t ? ((base + t.duration) * 1000) / scale : 0 };
}

export interface SegmentSummary {
  durationMs: number;
  codecs: string[];
  /** The init segment: two segments play as one MP4 only when theirs are the same. */
  init: Uint8Array;
}

/** Codecs and duration (the end of its last complete fragment) of a segment file. */
export async function summarizeSegment(path: string): Promise<SegmentSummary | undefined> {
  const seg = await openSegment(path);
  if (!seg) return undefined;
  try {
    const last = seg.fragments.length > 0 ? await readFragment(seg, seg.fragments.length - 1) : undefined;
    return { durationMs: last?.endMs ?? 0, codecs: seg.info.tracks.map((t) => t.codec), init: seg.init };
  } finally {
    await seg.fh.close();
  }
}
