// Test support for egress: a minimal ISO BMFF box walker that splits a fragmented MP4 file into the
// init segment (ftyp+moov) and one chunk per moof+mdat, says which chunks start with a video sync
// sample and when (decode time) each starts, and plays them in real time (PacedFeed) the way the
// ingest hands fragments to FfmpegOutput. Deliberately independent of shared/fmp4/reader.ts so the
// egress tests do not depend on code they are not testing.

export interface Fmp4Fragment {
  /** styp/prft/emsg (if any) + moof + mdat, exactly as in the file. */
  bytes: Uint8Array;
  /** True when the fragment carries video and its first video sample is a sync sample (IDR). */
  keyframe: boolean;
  /** True when the fragment has a traf for the video track. */
  video: boolean;
  /** Decode time of the earliest traf in this fragment, in seconds. */
  time: number;
}

export interface SplitFmp4 {
  init: Uint8Array;
  fragments: Fmp4Fragment[];
  videoTrackId: number;
  audioTrackId: number | undefined;
}

interface Box {
  type: string;
  start: number;
  /** Offset of the payload (after the header). */
  body: number;
  end: number;
}

function readBoxes(buf: Uint8Array, from: number, to: number): Box[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const boxes: Box[] = [];
  let at = from;
  while (at + 8 <= to) {
    let size = view.getUint32(at);
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    let body = at + 8;
    // ISO/IEC 14496-12 §4.2: size 1 means a 64-bit largesize follows; size 0 means "to the end".
    if (size === 1) {
      size = Number(view.getBigUint64(at + 8));
      body = at + 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < body - at || at + size > to) throw new Error(`bad box ${type} at ${at} (size ${size})`);
    boxes.push({ type, start: at, body, end: at + size });
    at += size;
  }
  return boxes;
}

function child(buf: Uint8Array, parent: Box, type: string): Box | undefined {
  return readBoxes(buf, parent.body, parent.end).find((b) => b.type === type);
}

function children(buf: Uint8Array, parent: Box, type: string): Box[] {
  return readBoxes(buf, parent.body, parent.end).filter((b) => b.type === type);
}

export function splitFmp4(file: Uint8Array): SplitFmp4 {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const top = readBoxes(file, 0, file.byteLength);
  const moov = top.find((b) => b.type === 'moov');
  if (!moov) throw new Error('no moov');

  // Track ids, handler types and timescales from moov/trak; default sample flags from mvex/trex.
  const timescale = new Map<number, number>();
  const trexFlags = new Map<number, number>();
  let videoTrackId: number | undefined;
  let audioTrackId: number | undefined;
  for (const trak of children(file, moov, 'trak')) {
    const tkhd = child(file, trak, 'tkhd');
    const mdia = child(file, trak, 'mdia');
    if (!tkhd || !mdia) throw new Error('trak without tkhd/mdia');
    // §8.3.2 tkhd: version(1) flags(3), then creation/modification times (4 or 8 bytes each), then track_ID.
    const version = file[tkhd.body]!;
    const trackId = view.getUint32(tkhd.body + 4 + (version === 1 ? 16 : 8));
    const mdhd = child(file, mdia, 'mdhd');
    const hdlr = child(file, mdia, 'hdlr');
    if (!mdhd || !hdlr) throw new Error('mdia without mdhd/hdlr');
    const mdhdVersion = file[mdhd.body]!;
    timescale.set(trackId, view.getUint32(mdhd.body + 4 + (mdhdVersion === 1 ? 16 : 8)));
    // §8.4.3 hdlr: version/flags(4), pre_defined(4), handler_type(4).
    const handler = String.fromCharCode(...file.subarray(hdlr.body + 8, hdlr.body + 12));
    if (handler === 'vide' && videoTrackId === undefined) videoTrackId = trackId;
    if (handler === 'soun' && audioTrackId === undefined) audioTrackId = trackId;
  }
  const mvex = child(file, moov, 'mvex');
  if (mvex) {
    for (const trex of children(file, mvex, 'trex')) {
      // §8.8.3 trex: version/flags, track_ID, default_sample_description_index, duration, size, flags.
      trexFlags.set(view.getUint32(trex.body + 4), view.getUint32(trex.body + 20));
    }
  }
  if (videoTrackId === undefined) throw new Error('no video track');

  const firstMoof = top.findIndex((b) => b.type === 'moof');
  if (firstMoof < 0) throw new Error('no moof: not a fragmented MP4');
  // Boxes before the first moof other than ftyp/moov (e.g. free) stay in the init segment.
  const init = file.slice(0, top[firstMoof]!.start);

  const fragments: Fmp4Fragment[] = [];
  let pendingStart = top[firstMoof]!.start;
  for (let i = firstMoof; i < top.length; i++) {
    const box = top[i]!;
    if (box.type === 'mfra') break;
    if (box.type !== 'moof') continue;
    const mdat = top[i + 1];
    if (!mdat || mdat.type !== 'mdat') throw new Error(`moof at ${box.start} not followed by mdat`);
    let keyframe = false;
    let video = false;
    let time = Infinity;
    for (const traf of children(file, box, 'traf')) {
      const tfhd = child(file, traf, 'tfhd');
      if (!tfhd) throw new Error('traf without tfhd');
      // §8.8.7 tfhd: optional fields in flag order 0x1 base_data_offset(8), 0x2 sdi(4),
      // 0x8 duration(4), 0x10 size(4), 0x20 flags(4).
      const tfFlags = view.getUint32(tfhd.body) & 0xffffff;
      const trackId = view.getUint32(tfhd.body + 4);
      let at = tfhd.body + 8;
      if (tfFlags & 0x1) at += 8;
      if (tfFlags & 0x2) at += 4;
      if (tfFlags & 0x8) at += 4;
      if (tfFlags & 0x10) at += 4;
      let defaultFlags = trexFlags.get(trackId) ?? 0;
      if (tfFlags & 0x20) defaultFlags = view.getUint32(at);

      const tfdt = child(file, traf, 'tfdt');
      if (tfdt) {
        const v = file[tfdt.body]!;
        const decodeTime = v === 1 ? Number(view.getBigUint64(tfdt.body + 4)) : view.getUint32(tfdt.body + 4);
        time = Math.min(time, decodeTime / (timescale.get(trackId) ?? 1));
      }
      if (trackId !== videoTrackId) continue;
      video = true;
      const trun = child(file, traf, 'trun');
      if (!trun) continue;
      // §8.8.8 trun: flags 0x1 data_offset(4), 0x4 first_sample_flags(4), then per sample
      // 0x100 duration, 0x200 size, 0x400 flags, 0x800 composition offset (4 bytes each).
      const trFlags = view.getUint32(trun.body) & 0xffffff;
      let p = trun.body + 8;
      if (trFlags & 0x1) p += 4;
      let firstFlags = defaultFlags;
      if (trFlags & 0x4) {
        firstFlags = view.getUint32(p);
      } else if (trFlags & 0x400) {
        if (trFlags & 0x100) p += 4;
        if (trFlags & 0x200) p += 4;
        firstFlags = view.getUint32(p);
      }
      // §8.8.3.1 sample_is_non_sync_sample is bit 16 of the sample flags.
      keyframe = (firstFlags & 0x10000) === 0;
    }
    fragments.push({
      bytes: file.slice(pendingStart, mdat.end),
      keyframe: video && keyframe,
      video,
      time: Number.isFinite(time) ? time : 0,
    });
    pendingStart = mdat.end;
    i++; // the mdat
  }
  return { init, fragments, videoTrackId, audioTrackId };
}

/**
 * Plays a split fMP4 in real time, the way the ingest hands fragments to egress: each fragment goes
 * to every sink when its decode time is due, and the current keyframe group (GOP) is kept so a sink
 * can be (re)started from `prelude()` = init segment + GOP.
 */
export class PacedFeed {
  readonly #split: SplitFmp4;
  readonly #sinks = new Set<(f: Fmp4Fragment) => void>();
  #gop: Uint8Array[] = [];
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  /** Fragments delivered so far. */
  delivered = 0;

  constructor(split: SplitFmp4) {
    this.#split = split;
  }

  /** Init segment then the fragments since the last video keyframe. */
  prelude = (): Uint8Array[] => [this.#split.init, ...this.#gop];

  add(sink: (f: Fmp4Fragment) => void): void {
    this.#sinks.add(sink);
  }

  /** Resolves when every fragment has been delivered or stop() was called. */
  async run(): Promise<void> {
    const frags = this.#split.fragments;
    const t0 = performance.now() - (frags[0]?.time ?? 0) * 1000;
    for (const f of frags) {
      const wait = t0 + f.time * 1000 - performance.now();
      if (wait > 1) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          this.#timer = setTimeout(resolve, wait);
        });
      }
      if (this.#stopped) return;
      if (f.keyframe) this.#gop = [f.bytes];
      else if (this.#gop.length > 0) this.#gop.push(f.bytes);
      for (const sink of this.#sinks) sink(f);
      this.delivered++;
    }
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#wake?.();
  }
}
