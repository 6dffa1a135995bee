// A box-by-box validating reader for fragmented MP4 uploaded by untrusted publishers. The server runs every init
// segment and every fragment through it before a byte reaches ffmpeg, so it is strict: boxes are accepted from short
// allow-lists, every size is checked against its parent, every table against its box size, and anything that the
// writer (./writer.ts) or ffmpeg's own `-movflags frag_every_frame+empty_moov+default_base_moof` output does not
// produce is refused. It never throws: every input ends in `{ ok: true }` or an `Fmp4Error` with a stable code.
import { avcCodecString, avcProfileName, parseAvcC, parseSps } from './avc.ts';
import {
  SAMPLE_IS_NON_SYNC,
  TFHD_BASE_DATA_OFFSET,
  TFHD_DEFAULT_BASE_IS_MOOF,
  TFHD_DEFAULT_DURATION,
  TFHD_DEFAULT_FLAGS,
  TFHD_DEFAULT_SIZE,
  TFHD_DURATION_IS_EMPTY,
  TFHD_SAMPLE_DESCRIPTION_INDEX,
  TRUN_CTS_OFFSET,
  TRUN_DATA_OFFSET,
  TRUN_DURATION,
  TRUN_FIRST_SAMPLE_FLAGS,
  TRUN_FLAGS,
  TRUN_SIZE,
} from './boxes.ts';
import { parseEsds } from './esds.ts';

export type Fmp4ErrorCode = 'truncated' | 'bad-box' | 'unexpected-box' | 'too-large' | 'bad-init' | 'unsupported-codec' | 'bad-fragment';
export type Fmp4Error = { code: Fmp4ErrorCode; message: string };
export type Fmp4Result<T> = { ok: true; value: T } | { ok: false; error: Fmp4Error };

/** trex defaults (ISO/IEC 14496-12 §8.8.3), used when neither tfhd nor trun gives a value. */
export interface TrackFragmentDefaults {
  sampleDuration: number;
  sampleSize: number;
  sampleFlags: number;
}

export interface TrackInfo {
  id: number;
  kind: 'video' | 'audio';
  /** WebCodecs-style codec string: 'avc1.64001f', 'opus', 'mp4a.40.2'. */
  codec: string;
  timescale: number;
  /** Displayed size from the SPS (after cropping), which is what decoders and ffprobe report. */
  width?: number;
  height?: number;
  channels?: number;
  sampleRate?: number;
  /** H.264 profile name as ffprobe prints it, e.g. 'High'. */
  profile?: string;
  /** H.264 level_idc, as ffprobe prints it: 31 means level 3.1. */
  level?: number;
  /** From the track's trex; absent means all zero. */
  defaults?: TrackFragmentDefaults;
}

export interface InitInfo {
  tracks: TrackInfo[];
}

export interface FragmentTrackInfo {
  trackId: number;
  /** tfdt baseMediaDecodeTime; a bigint only past Number.MAX_SAFE_INTEGER. */
  baseDecodeTime: bigint | number;
  samples: number;
  /** The first sample is a sync sample. */
  keyframe: boolean;
  /** Sum of the sample durations, in the track timescale. */
  duration: number;
  /** Sum of the sample sizes. */
  bytes: number;
}

export interface FragmentInfo {
  /** mfhd sequence_number of the first moof. */
  sequence: number;
  /** mfhd sequence_number of the last moof (equal to `sequence` for one moof+mdat pair). */
  lastSequence: number;
  /** One entry per traf, in file order. */
  tracks: FragmentTrackInfo[];
}

export interface ReaderLimits {
  maxInitBytes: number;
  maxSegmentBytes: number;
  maxMoofBytes: number;
  maxMdatBytes: number;
  maxSamplesPerTrun: number;
  maxTrunsPerTraf: number;
}

export const DEFAULT_READER_LIMITS: Readonly<ReaderLimits> = {
  maxInitBytes: 1 << 20,
  maxSegmentBytes: 32 << 20,
  maxMoofBytes: 256 << 10,
  maxMdatBytes: 16 << 20,
  maxSamplesPerTrun: 1000,
  maxTrunsPerTraf: 16,
};

/** The deepest box the reader opens: file > moov > trak > mdia > minf > stbl > stsd > avc1 > avcC. */
const MAX_DEPTH = 9;

// ---------------------------------------------------------------------------------------------------------------
// Box headers

/** ISO/IEC 14496-12 §4.2: 32-bit size, 64-bit largesize (size 1), size 0 = to the end of the buffer; 'uuid' adds 16. */
export function readBoxHeader(buf: Uint8Array, offset: number): { type: string; size: number; headerSize: number } | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 8 > buf.length) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let size = view.getUint32(offset);
  const type = String.fromCharCode(buf[offset + 4]!, buf[offset + 5]!, buf[offset + 6]!, buf[offset + 7]!);
  let headerSize = 8;
  if (size === 1) {
    if (offset + 16 > buf.length) return undefined;
    size = view.getUint32(offset + 8) * 0x1_0000_0000 + view.getUint32(offset + 12); // may round past 2^53: still too big
    headerSize = 16;
  } else if (size === 0) {
    size = buf.length - offset;
  }
  if (type === 'uuid') {
    headerSize += 16; // extended_type
    if (offset + headerSize > buf.length) return undefined;
  }
  if (size < headerSize) return undefined;
  return { type, size, headerSize };
}

interface Box {
  type: string;
  start: number;
  /** First payload byte (after size, type, largesize, extended_type). */
  payload: number;
  end: number;
  depth: number;
}

class ParseFail {
  constructor(readonly error: Fmp4Error) {}
}

function fail(code: Fmp4ErrorCode, message: string): never {
  throw new ParseFail({ code, message });
}

function show(type: string): string {
  return JSON.stringify(type);
}

/**
 * The boxes that exactly fill [start, end) of `parent`. A type outside `allowed` is refused before its size is looked
 * at, so text (an HLS playlist, an ffconcat script) fails as "unexpected box" rather than as a giant size.
 * At the top level a box that runs past the buffer is `truncated`; inside a box it is `bad-box`.
 */
function children(buf: Uint8Array, parent: Box, allowed: ReadonlySet<string> | 'any'): Box[] {
  const depth = parent.depth + 1;
  if (depth > MAX_DEPTH) fail('bad-box', `boxes are nested more than ${MAX_DEPTH} deep`);
  const topLevel = parent.depth === 0;
  const out: Box[] = [];
  let at = parent.payload;
  while (at < parent.end) {
    const left = parent.end - at;
    if (left < 8) fail(topLevel ? 'truncated' : 'bad-box', `${left} stray bytes at the end of ${where(parent)}`);
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    if (allowed !== 'any' && !allowed.has(type)) fail('unexpected-box', `box ${show(type)} is not allowed in ${where(parent)}`);
    const raw = new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0);
    // §4.2: size 0 ("to the end of the file") is only meaningful for the last top-level box.
    if (raw === 0 && !topLevel) fail('bad-box', `box ${show(type)} in ${where(parent)} has size 0`);
    const h = readBoxHeader(buf.subarray(0, parent.end), at);
    if (!h) {
      if (raw === 1 || type === 'uuid') fail(topLevel ? 'truncated' : 'bad-box', `the header of ${show(type)} is cut off in ${where(parent)}`);
      fail('bad-box', `box ${show(type)} in ${where(parent)} has size ${raw}, smaller than its header`);
    }
    if (h.size > left) {
      fail(topLevel ? 'truncated' : 'bad-box', `box ${show(type)} in ${where(parent)} claims ${h.size} bytes but only ${left} remain`);
    }
    out.push({ type, start: at, payload: at + h.headerSize, end: at + h.size, depth });
    at += h.size;
  }
  return out;
}

function where(b: Box): string {
  return b.depth === 0 ? 'the top level' : show(b.type);
}

function only(boxes: readonly Box[], type: string, parent: Box, errorCode: Fmp4ErrorCode): Box {
  const found = boxes.filter((b) => b.type === type);
  if (found.length !== 1) fail(errorCode, `${where(parent)} must hold exactly one ${show(type)}, found ${found.length}`);
  return found[0]!;
}

function optional(boxes: readonly Box[], type: string, parent: Box, errorCode: Fmp4ErrorCode): Box | undefined {
  const found = boxes.filter((b) => b.type === type);
  if (found.length > 1) fail(errorCode, `${where(parent)} holds ${found.length} ${show(type)} boxes; at most one is allowed`);
  return found[0];
}

/** Reads a box's fields in order; running past the box end means the box is too small for what it declares. */
class Fields {
  private pos: number;
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly box: Box,
    start = box.payload,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private take(n: number): number {
    if (this.pos + n > this.box.end) fail('bad-box', `${show(this.box.type)} is too short for its fields`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.view.getUint8(this.take(1));
  }
  u16(): number {
    return this.view.getUint16(this.take(2));
  }
  i16(): number {
    return this.view.getInt16(this.take(2));
  }
  u24(): number {
    const at = this.take(3);
    return (this.view.getUint8(at) << 16) | this.view.getUint16(at + 1);
  }
  u32(): number {
    return this.view.getUint32(this.take(4));
  }
  i32(): number {
    return this.view.getInt32(this.take(4));
  }
  /** A 64-bit unsigned value: a number when exact, else a bigint. */
  u64(): number | bigint {
    const hi = this.u32();
    const lo = this.u32();
    const n = hi * 0x1_0000_0000 + lo;
    return Number.isSafeInteger(n) ? n : (BigInt(hi) << 32n) | BigInt(lo);
  }
  fourcc(): string {
    const at = this.take(4);
    return String.fromCharCode(this.buf[at]!, this.buf[at + 1]!, this.buf[at + 2]!, this.buf[at + 3]!);
  }
  skip(n: number): void {
    this.take(n);
  }
  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
  }
  /** FullBox header (§4.2): version and flags. */
  full(): { version: number; flags: number } {
    const version = this.u8();
    return { version, flags: this.u24() };
  }
  get offset(): number {
    return this.pos;
  }
  get left(): number {
    return this.box.end - this.pos;
  }
  /** Every field read and nothing left: a box of exactly the declared layout. */
  end(): void {
    if (this.pos !== this.box.end) fail('bad-box', `${show(this.box.type)} has ${this.box.end - this.pos} bytes past its fields`);
  }
}

function run<T>(parse: () => T): Fmp4Result<T> {
  try {
    return { ok: true, value: parse() };
  } catch (e) {
    if (e instanceof ParseFail) return { ok: false, error: e.error };
    // A bug here must not take the server down with an upload; the property tests look for this message.
    return { ok: false, error: { code: 'bad-box', message: `internal reader error: ${e instanceof Error ? e.message : 'unknown'}` } };
  }
}

function rootOf(buf: Uint8Array): Box {
  return { type: '', start: 0, payload: 0, end: buf.length, depth: 0 };
}

// ---------------------------------------------------------------------------------------------------------------
// Init segment

const INIT_TOP = new Set(['ftyp', 'moov', 'free', 'skip']);
// udta (§8.10.1) is accepted as opaque: ffmpeg writes an encoder tag there. Its contents are never parsed here.
const MOOV_CHILDREN = new Set(['mvhd', 'trak', 'mvex', 'udta', 'free', 'skip']);
const TRAK_CHILDREN = new Set(['tkhd', 'mdia', 'udta', 'free', 'skip']);
const MDIA_CHILDREN = new Set(['mdhd', 'hdlr', 'minf']);
const MINF_CHILDREN = new Set(['vmhd', 'smhd', 'dinf', 'stbl']);
const STBL_CHILDREN = new Set(['stsd', 'stts', 'stsc', 'stsz', 'stz2', 'stco', 'co64', 'stss', 'ctts']);
const MVEX_CHILDREN = new Set(['mehd', 'trex']);
const AVC_ENTRY_CHILDREN = new Set(['avcC', 'pasp', 'btrt', 'colr', 'clap']);
const OPUS_ENTRY_CHILDREN = new Set(['dOps', 'btrt']);
const MP4A_ENTRY_CHILDREN = new Set(['esds', 'btrt']);

/** Checks an init segment (ftyp, moov, and nothing but free/skip besides) and describes its tracks. */
export function parseInitSegment(buf: Uint8Array, limits: Partial<ReaderLimits> = {}): Fmp4Result<InitInfo> {
  return run(() => readInit(buf, { ...DEFAULT_READER_LIMITS, ...limits }));
}

function readInit(buf: Uint8Array, limits: ReaderLimits): InitInfo {
  if (buf.length > limits.maxInitBytes) fail('too-large', `the init segment is ${buf.length} bytes; the limit is ${limits.maxInitBytes}`);
  const root = rootOf(buf);
  const top = children(buf, root, INIT_TOP);
  const first = top[0];
  if (!first) fail('truncated', 'the init segment is empty');
  if (first.type !== 'ftyp') fail('unexpected-box', `an init segment starts with "ftyp", not ${show(first.type)}`);
  readBrands(buf, first);
  // Ending at a box boundary before the moov is what a cut-off upload looks like.
  if (!top.some((b) => b.type === 'moov')) fail('truncated', 'the init segment ends before its "moov"');
  const moov = only(top, 'moov', root, 'bad-init');
  if (top.filter((b) => b.type === 'ftyp').length !== 1) fail('bad-init', 'an init segment holds exactly one "ftyp"');

  // ISO/IEC 14496-12 §8.2.1 moov
  const moovKids = children(buf, moov, MOOV_CHILDREN);
  readMvhd(buf, only(moovKids, 'mvhd', moov, 'bad-init'));
  const tracks = moovKids.filter((b) => b.type === 'trak').map((t) => readTrak(buf, t));
  if (tracks.length === 0) fail('bad-init', 'the moov has no track');
  if (tracks.filter((t) => t.kind === 'video').length > 1 || tracks.filter((t) => t.kind === 'audio').length > 1) {
    fail('bad-init', 'at most one video and one audio track are accepted');
  }
  if (new Set(tracks.map((t) => t.id)).size !== tracks.length) fail('bad-init', 'two tracks share a track_ID');

  // ISO/IEC 14496-12 §8.8.1 mvex: its presence is what says movie fragments follow; §8.8.3 one trex per track.
  const mvex = optional(moovKids, 'mvex', moov, 'bad-init');
  if (!mvex) fail('bad-init', 'the moov has no "mvex", so it does not announce movie fragments');
  const mvexKids = children(buf, mvex, MVEX_CHILDREN);
  optional(mvexKids, 'mehd', mvex, 'bad-init');
  const seen = new Set<number>();
  for (const b of mvexKids.filter((k) => k.type === 'trex')) {
    const f = new Fields(buf, b);
    f.full();
    const trackId = f.u32();
    const descriptionIndex = f.u32();
    const defaults = { sampleDuration: f.u32(), sampleSize: f.u32(), sampleFlags: f.u32() };
    f.end();
    const track = tracks.find((t) => t.id === trackId);
    if (!track) fail('bad-init', `a "trex" names track ${trackId}, which the moov does not have`);
    if (seen.has(trackId)) fail('bad-init', `track ${trackId} has two "trex" boxes`);
    if (descriptionIndex !== 1) fail('bad-init', `trex default_sample_description_index is ${descriptionIndex}; only 1 exists`);
    seen.add(trackId);
    track.defaults = defaults;
  }
  for (const t of tracks) if (!seen.has(t.id)) fail('bad-init', `track ${t.id} has no "trex"`);
  return { tracks };
}

/** §4.3 ftyp / §8.16.2 styp: major_brand, minor_version, compatible_brands[]. */
function readBrands(buf: Uint8Array, b: Box): void {
  const len = b.end - b.payload;
  if (len < 8 || len % 4 !== 0) fail('bad-box', `${show(b.type)} has ${len} payload bytes; it must be 8 plus 4 per brand`);
  void buf;
}

/** §8.2.2 mvhd: 96 bytes after the FullBox header in version 0, 108 in version 1. */
function readMvhd(buf: Uint8Array, b: Box): void {
  const f = new Fields(buf, b);
  const { version } = f.full();
  if (version > 1) fail('bad-box', `mvhd version ${version} is unknown`);
  f.skip(version === 1 ? 28 : 16); // times, timescale, duration
  f.skip(80);
  f.end();
}

function readTrak(buf: Uint8Array, trak: Box): TrackInfo {
  const kids = children(buf, trak, TRAK_CHILDREN);
  // §8.3.2 tkhd
  const tkhd = new Fields(buf, only(kids, 'tkhd', trak, 'bad-init'));
  const { version } = tkhd.full();
  if (version > 1) fail('bad-box', `tkhd version ${version} is unknown`);
  tkhd.skip(version === 1 ? 16 : 8);
  const id = tkhd.u32();
  tkhd.skip(version === 1 ? 12 : 8); // reserved + duration
  tkhd.skip(60); // reserved, layer, alternate_group, volume, reserved, matrix, width, height
  tkhd.end();
  if (id === 0) fail('bad-init', 'track_ID 0 is reserved');

  // §8.4.1 mdia
  const mdia = only(kids, 'mdia', trak, 'bad-init');
  const mdiaKids = children(buf, mdia, MDIA_CHILDREN);
  const mdhd = new Fields(buf, only(mdiaKids, 'mdhd', mdia, 'bad-init')); // §8.4.2
  const mv = mdhd.full().version;
  if (mv > 1) fail('bad-box', `mdhd version ${mv} is unknown`);
  mdhd.skip(mv === 1 ? 16 : 8);
  const timescale = mdhd.u32();
  mdhd.skip(mv === 1 ? 8 : 4); // duration
  mdhd.skip(4); // pad, language, pre_defined
  mdhd.end();
  if (timescale === 0) fail('bad-init', `track ${id} has timescale 0`);

  const hdlr = new Fields(buf, only(mdiaKids, 'hdlr', mdia, 'bad-init')); // §8.4.3; the name runs to the end
  hdlr.full();
  hdlr.skip(4);
  const handler = hdlr.fourcc();
  hdlr.skip(12);
  if (handler !== 'vide' && handler !== 'soun') fail('unsupported-codec', `track ${id} has handler ${show(handler)}; only video and audio are accepted`);
  const kind = handler === 'vide' ? 'video' : 'audio';

  // §8.4.4 minf
  const minf = only(mdiaKids, 'minf', mdia, 'bad-init');
  const minfKids = children(buf, minf, MINF_CHILDREN);
  if (kind === 'video') {
    const v = new Fields(buf, only(minfKids, 'vmhd', minf, 'bad-init')); // §12.1.2
    v.full();
    v.skip(8);
    v.end();
    if (minfKids.some((k) => k.type === 'smhd')) fail('bad-init', `video track ${id} has an "smhd"`);
  } else {
    const s = new Fields(buf, only(minfKids, 'smhd', minf, 'bad-init')); // §12.2.2
    s.full();
    s.skip(4);
    s.end();
    if (minfKids.some((k) => k.type === 'vmhd')) fail('bad-init', `audio track ${id} has a "vmhd"`);
  }
  readDinf(buf, only(minfKids, 'dinf', minf, 'bad-init'));
  const stbl = only(minfKids, 'stbl', minf, 'bad-init');
  const track = readStbl(buf, stbl, id, kind);
  return { id, kind, timescale, ...track };
}

/** §8.7.1 dinf / §8.7.2 dref: exactly one self-contained 'url ' entry; an external data reference is meaningless here. */
function readDinf(buf: Uint8Array, dinf: Box): void {
  const dref = only(children(buf, dinf, new Set(['dref'])), 'dref', dinf, 'bad-init');
  const f = new Fields(buf, dref);
  f.full();
  const count = f.u32();
  if (count !== 1) fail('bad-init', `dref has ${count} entries; exactly one self-contained entry is accepted`);
  const entries = children(buf, { ...dref, payload: f.offset }, new Set(['url ']));
  const url = entries[0];
  if (entries.length !== 1 || !url) fail('bad-init', 'dref must hold one "url " entry');
  const u = new Fields(buf, url);
  if ((u.full().flags & 1) !== 1) fail('bad-init', 'the data reference points outside the file (url flag 1 is not set)');
  u.end();
}

type SampleEntryInfo = Omit<TrackInfo, 'id' | 'kind' | 'timescale'>;

/** §8.5.1 stbl. A fragmented file keeps its samples in fragments, so every sample table must be empty. */
function readStbl(buf: Uint8Array, stbl: Box, id: number, kind: 'video' | 'audio'): SampleEntryInfo {
  const kids = children(buf, stbl, STBL_CHILDREN);
  for (const k of kids) {
    if (k.type === 'stsd') continue;
    const f = new Fields(buf, k);
    f.full();
    // §8.7.3.2 stsz: sample_size then sample_count; §8.7.3.3 stz2: reserved/field_size then sample_count;
    // the others (§8.6.1.2 stts, §8.6.1.3 ctts, §8.6.2 stss, §8.7.4 stsc, §8.7.5 stco/co64) start with entry_count.
    if (k.type === 'stsz' || k.type === 'stz2') f.skip(4);
    const count = f.u32();
    if (count !== 0) fail('bad-init', `track ${id}: ${show(k.type)} lists ${count} samples; an init segment for fragments has none`);
    f.end();
  }
  // §8.5.2 stsd
  const stsd = only(kids, 'stsd', stbl, 'bad-init');
  const f = new Fields(buf, stsd);
  f.full();
  const count = f.u32();
  if (count !== 1) fail('bad-init', `track ${id} has ${count} sample descriptions; exactly one is accepted`);
  const entries = children(buf, { ...stsd, payload: f.offset }, 'any');
  const entry = entries[0];
  if (entries.length !== 1 || !entry) fail('bad-init', `track ${id}: stsd declares one entry but holds ${entries.length}`);
  if (kind === 'video') {
    if (entry.type === 'avc1' || entry.type === 'avc3') return readAvcEntry(buf, entry, id);
    fail('unsupported-codec', `video track ${id} is ${show(entry.type)}; only H.264 ("avc1", "avc3") is accepted`);
  }
  if (entry.type === 'Opus') return readOpusEntry(buf, entry, id);
  if (entry.type === 'mp4a') return readMp4aEntry(buf, entry, id);
  return fail('unsupported-codec', `audio track ${id} is ${show(entry.type)}; only Opus and AAC ("mp4a") are accepted`);
}

/** §8.5.2.2 VisualSampleEntry + ISO/IEC 14496-15 §5.4.2.1 AVCSampleEntry. */
function readAvcEntry(buf: Uint8Array, entry: Box, id: number): SampleEntryInfo {
  const f = new Fields(buf, entry);
  f.skip(6);
  if (f.u16() !== 1) fail('bad-init', `track ${id}: data_reference_index must be 1`);
  f.skip(70); // pre_defined, reserved, width, height, resolutions, frame_count, compressorname, depth, pre_defined
  const kids = children(buf, { ...entry, payload: f.offset }, AVC_ENTRY_CHILDREN);
  for (const t of AVC_ENTRY_CHILDREN) optional(kids, t, entry, 'bad-init');
  for (const k of kids) if (k.type !== 'avcC') readFixedEntryBox(buf, k);
  const avcCBox = optional(kids, 'avcC', entry, 'bad-init');
  if (!avcCBox) fail('bad-init', `track ${id}: ${show(entry.type)} has no "avcC"`);
  const avcC = parseAvcC(buf.subarray(avcCBox.payload, avcCBox.end));
  if (!avcC.ok) fail('bad-init', `track ${id}: ${avcC.message}`);
  const sps = parseSps(avcC.value.sps[0]!);
  if (!sps.ok) fail('bad-init', `track ${id}: the SPS does not parse: ${sps.message}`);
  const c = avcC.value;
  return {
    codec: avcCodecString(entry.type === 'avc3' ? 'avc3' : 'avc1', c.profileIndication, c.profileCompatibility, c.levelIndication),
    width: sps.value.width,
    height: sps.value.height,
    profile: avcProfileName(sps.value.profileIdc, sps.value.constraintFlags),
    level: sps.value.levelIdc,
  };
}

/**
 * The small boxes ffmpeg and browsers put next to avcC/dOps/esds, each checked for its exact size so that a wrong
 * size field cannot swallow or hide a neighbour: §12.1.4 pasp (hSpacing, vSpacing), §8.5.2.2 btrt (bufferSizeDB,
 * maxBitrate, avgBitrate), §12.1.4 clap (4 fractions), §12.1.5 colr of type nclx or nclc (ICC profiles are refused).
 */
function readFixedEntryBox(buf: Uint8Array, b: Box): void {
  const f = new Fields(buf, b);
  if (b.type === 'pasp') f.skip(8);
  else if (b.type === 'btrt') f.skip(12);
  else if (b.type === 'clap') f.skip(32);
  else if (b.type === 'colr') {
    const colourType = f.fourcc();
    if (colourType === 'nclx') f.skip(7);
    else if (colourType === 'nclc') f.skip(6);
    else fail('bad-init', `colr of type ${show(colourType)} is not accepted; only nclx and nclc`);
  } else fail('unexpected-box', `${show(b.type)} is not expected in a sample entry`);
  f.end();
}

/** §12.2.3.2 AudioSampleEntry (version 0; QuickTime's versions 1 and 2 have other layouts). Returns channelcount. */
function readAudioEntryFields(f: Fields, id: number): { channels: number; sampleRate: number } {
  f.skip(6);
  if (f.u16() !== 1) fail('bad-init', `track ${id}: data_reference_index must be 1`);
  const version = f.u16();
  if (version !== 0) fail('bad-init', `track ${id}: audio sample entry version ${version} is QuickTime's, not ISOBMFF's`);
  f.skip(6);
  const channels = f.u16();
  f.skip(6); // samplesize, pre_defined, reserved
  const sampleRate = f.u32() >>> 16; // 16.16 fixed point
  return { channels, sampleRate };
}

/** Opus in ISOBMFF §4.3.1 'Opus' sample entry and §4.3.2 dOps. */
function readOpusEntry(buf: Uint8Array, entry: Box, id: number): SampleEntryInfo {
  const f = new Fields(buf, entry);
  readAudioEntryFields(f, id);
  const kids = children(buf, { ...entry, payload: f.offset }, OPUS_ENTRY_CHILDREN);
  const btrt = optional(kids, 'btrt', entry, 'bad-init');
  if (btrt) readFixedEntryBox(buf, btrt);
  const dOpsBox = optional(kids, 'dOps', entry, 'bad-init');
  if (!dOpsBox) fail('bad-init', `track ${id}: "Opus" has no "dOps"`);
  const d = new Fields(buf, dOpsBox);
  const version = d.u8();
  if (version !== 0) fail('bad-init', `track ${id}: dOps version ${version} is not 0`);
  const channels = d.u8();
  d.skip(2 + 4 + 2); // PreSkip, InputSampleRate, OutputGain
  const family = d.u8();
  if (channels === 0) fail('bad-init', `track ${id}: dOps OutputChannelCount is 0`);
  if (family === 0) {
    if (channels > 2) fail('bad-init', `track ${id}: channel mapping family 0 allows 1 or 2 channels, not ${channels}`);
  } else {
    d.skip(2 + channels); // StreamCount, CoupledCount, ChannelMapping[OutputChannelCount]
  }
  d.end();
  // Opus decodes at 48 kHz whatever the input rate was (RFC 7845 §5.1, Opus in ISOBMFF §4.3.1).
  return { codec: 'opus', channels, sampleRate: 48000 };
}

/** ISO/IEC 14496-14 §5.6 MP4AudioSampleEntry with its esds. */
function readMp4aEntry(buf: Uint8Array, entry: Box, id: number): SampleEntryInfo {
  const f = new Fields(buf, entry);
  const fields = readAudioEntryFields(f, id);
  const kids = children(buf, { ...entry, payload: f.offset }, MP4A_ENTRY_CHILDREN);
  const btrt = optional(kids, 'btrt', entry, 'bad-init');
  if (btrt) readFixedEntryBox(buf, btrt);
  const esdsBox = optional(kids, 'esds', entry, 'bad-init');
  if (!esdsBox) fail('bad-init', `track ${id}: "mp4a" has no "esds"`);
  const e = new Fields(buf, esdsBox);
  if (e.full().version !== 0) fail('bad-box', 'esds version must be 0');
  const esds = parseEsds(e.bytes(e.left));
  if (!esds.ok) fail(esds.unsupported ? 'unsupported-codec' : 'bad-init', `track ${id}: ${esds.message}`);
  return {
    codec: `mp4a.40.${esds.value.audioObjectType}`,
    channels: esds.value.channels ?? fields.channels,
    sampleRate: esds.value.sampleRate,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Media segments

const MEDIA_TOP = new Set(['styp', 'prft', 'free', 'skip', 'moof', 'mdat']);
const MOOF_CHILDREN = new Set(['mfhd', 'traf']);
const TRAF_CHILDREN = new Set(['tfhd', 'tfdt', 'trun']);
const TFHD_KNOWN =
  TFHD_BASE_DATA_OFFSET | TFHD_SAMPLE_DESCRIPTION_INDEX | TFHD_DEFAULT_DURATION | TFHD_DEFAULT_SIZE | TFHD_DEFAULT_FLAGS | TFHD_DURATION_IS_EMPTY | TFHD_DEFAULT_BASE_IS_MOOF;
const TRUN_KNOWN = TRUN_DATA_OFFSET | TRUN_FIRST_SAMPLE_FLAGS | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_CTS_OFFSET;

/**
 * Checks one or more (moof, mdat) pairs that exactly fill `buf` (styp, prft, free and skip may precede a moof) against
 * the tracks of `init`, and sums them up per traf.
 */
export function parseMediaSegment(buf: Uint8Array, init: InitInfo, limits: Partial<ReaderLimits> = {}): Fmp4Result<FragmentInfo> {
  return run(() => readMedia(buf, init, { ...DEFAULT_READER_LIMITS, ...limits }));
}

function readMedia(buf: Uint8Array, init: InitInfo, limits: ReaderLimits): FragmentInfo {
  if (buf.length > limits.maxSegmentBytes) fail('too-large', `the segment is ${buf.length} bytes; the limit is ${limits.maxSegmentBytes}`);
  if (buf.length === 0) fail('truncated', 'the segment is empty');
  const root = rootOf(buf);
  const top = children(buf, root, MEDIA_TOP);
  const tracks: FragmentTrackInfo[] = [];
  const lastTime = new Map<number, bigint>();
  let sequence: number | undefined;
  let lastSequence: number | undefined;
  for (let i = 0; i < top.length; i++) {
    const b = top[i]!;
    if (b.type === 'styp') readBrands(buf, b);
    else if (b.type === 'prft') readPrft(buf, b);
    else if (b.type === 'mdat') fail('unexpected-box', 'an "mdat" must follow a "moof"');
    else if (b.type === 'moof') {
      const mdat = top[i + 1];
      if (!mdat) fail('truncated', 'the segment ends after a "moof" without its "mdat"');
      if (mdat.type !== 'mdat') fail('unexpected-box', `a "moof" is followed by ${show(mdat.type)}, not "mdat"`);
      i += 1;
      const frag = readMoof(buf, b, mdat, init, limits);
      if (lastSequence !== undefined && frag.sequence <= lastSequence) {
        fail('bad-fragment', `fragment sequence ${frag.sequence} follows ${lastSequence}; sequence numbers must increase`);
      }
      sequence ??= frag.sequence;
      lastSequence = frag.sequence;
      for (const t of frag.tracks) {
        const time = BigInt(t.baseDecodeTime);
        const prev = lastTime.get(t.trackId);
        // Not strictly increasing: ffmpeg 5.1's own frag_every_frame output flushes an audio sample with duration 0
        // when it does not yet know the duration, then starts the next fragment at the same tfdt.
        if (prev !== undefined && time < prev) fail('bad-fragment', `track ${t.trackId} decode time ${time} goes back before ${prev}`);
        lastTime.set(t.trackId, time);
        tracks.push(t);
      }
    }
    // free / skip: ignored (§8.1.2)
  }
  if (sequence === undefined || lastSequence === undefined) fail('bad-fragment', 'the segment has no "moof"+"mdat" pair');
  const last = top[top.length - 1];
  if (last && last.type !== 'mdat') fail('unexpected-box', `the segment ends with ${show(last.type)} after its last "mdat"`);
  return { sequence, lastSequence, tracks };
}

/** §8.16.5 prft: reference_track_ID, ntp_timestamp (64), media_time (32 or 64 by version). */
function readPrft(buf: Uint8Array, b: Box): void {
  const f = new Fields(buf, b);
  const { version } = f.full();
  if (version > 1) fail('bad-box', `prft version ${version} is unknown`);
  f.skip(4 + 8 + (version === 1 ? 8 : 4));
  f.end();
}

interface Run {
  start: number;
  end: number;
}

function readMoof(buf: Uint8Array, moof: Box, mdat: Box, init: InitInfo, limits: ReaderLimits): { sequence: number; tracks: FragmentTrackInfo[] } {
  if (moof.end - moof.start > limits.maxMoofBytes) fail('too-large', `a moof of ${moof.end - moof.start} bytes is over the ${limits.maxMoofBytes} limit`);
  const mdatBytes = mdat.end - mdat.payload;
  if (mdatBytes > limits.maxMdatBytes) fail('too-large', `an mdat of ${mdatBytes} bytes is over the ${limits.maxMdatBytes} limit`);
  const kids = children(buf, moof, MOOF_CHILDREN);
  // §8.8.5 mfhd comes first in a moof.
  const mfhdBox = only(kids, 'mfhd', moof, 'bad-fragment');
  if (kids[0] !== mfhdBox) fail('bad-fragment', '"mfhd" must be the first box in a "moof"');
  const m = new Fields(buf, mfhdBox);
  m.full();
  const sequence = m.u32();
  m.end();
  const trafs = kids.filter((k) => k.type === 'traf');
  if (trafs.length === 0) fail('bad-fragment', 'the moof has no "traf"');

  const runs: Run[] = [];
  const tracks: FragmentTrackInfo[] = [];
  // §8.8.7.1: without default-base-is-moof, the first traf's base is the moof and each later traf's base is the end
  // of the data of the traf before it.
  let implicitBase = moof.start;
  for (const traf of trafs) {
    const t = readTraf(buf, traf, moof, mdat, implicitBase, init, limits, runs);
    if (tracks.some((x) => x.trackId === t.info.trackId)) fail('bad-fragment', `track ${t.info.trackId} has two "traf" boxes in one moof`);
    tracks.push(t.info);
    implicitBase = t.dataEnd;
  }
  // The runs must tile the mdat payload exactly: no byte described twice, none left over, none outside.
  runs.sort((a, b) => a.start - b.start);
  let at = mdat.payload;
  for (const r of runs) {
    if (r.start !== at) {
      fail('bad-fragment', r.start < at ? 'two track runs describe the same mdat bytes' : `${r.start - at} mdat bytes belong to no sample`);
    }
    at = r.end;
  }
  if (at !== mdat.end) fail('bad-fragment', `the samples add up to ${at - mdat.payload} bytes but the mdat holds ${mdatBytes}`);
  return { sequence, tracks };
}

function readTraf(
  buf: Uint8Array,
  traf: Box,
  moof: Box,
  mdat: Box,
  implicitBase: number,
  init: InitInfo,
  limits: ReaderLimits,
  runs: Run[],
): { info: FragmentTrackInfo; dataEnd: number } {
  const kids = children(buf, traf, TRAF_CHILDREN);
  const tfhdBox = only(kids, 'tfhd', traf, 'bad-fragment');
  if (kids[0] !== tfhdBox) fail('bad-fragment', '"tfhd" must be the first box in a "traf"');

  // §8.8.7 tfhd
  const h = new Fields(buf, tfhdBox);
  const { flags } = h.full();
  if ((flags & ~TFHD_KNOWN) !== 0) fail('bad-fragment', `tfhd flags 0x${flags.toString(16)} include unknown bits`);
  const trackId = h.u32();
  const track = init.tracks.find((t) => t.id === trackId);
  if (!track) fail('bad-fragment', `a fragment is for track ${trackId}, which the init segment does not have`);
  // An absolute base_data_offset counts from the start of a file the server never sees whole; refuse it.
  if (flags & TFHD_BASE_DATA_OFFSET) fail('bad-fragment', 'tfhd base-data-offset is not accepted; use default-base-is-moof');
  if (flags & TFHD_DURATION_IS_EMPTY) fail('bad-fragment', 'tfhd duration-is-empty: a fragment must carry samples');
  if (flags & TFHD_SAMPLE_DESCRIPTION_INDEX) {
    const index = h.u32();
    if (index !== 1) fail('bad-fragment', `sample_description_index ${index} does not exist; only 1 does`);
  }
  const defaults = track.defaults ?? { sampleDuration: 0, sampleSize: 0, sampleFlags: 0 };
  const defaultDuration = flags & TFHD_DEFAULT_DURATION ? h.u32() : defaults.sampleDuration;
  const defaultSize = flags & TFHD_DEFAULT_SIZE ? h.u32() : defaults.sampleSize;
  const defaultFlags = flags & TFHD_DEFAULT_FLAGS ? h.u32() : defaults.sampleFlags;
  h.end();
  const base = flags & TFHD_DEFAULT_BASE_IS_MOOF ? moof.start : implicitBase;

  // §8.8.12 tfdt: required here, because a live receiver has no other way to place the fragment in time.
  const tfdtBox = optional(kids, 'tfdt', traf, 'bad-fragment');
  if (!tfdtBox) fail('bad-fragment', `the traf of track ${trackId} has no "tfdt"`);
  const d = new Fields(buf, tfdtBox);
  const { version } = d.full();
  if (version > 1) fail('bad-box', `tfdt version ${version} is unknown`);
  const baseDecodeTime = version === 1 ? d.u64() : d.u32();
  d.end();

  // §8.8.8 trun
  const truns = kids.filter((k) => k.type === 'trun');
  if (truns.length === 0) fail('bad-fragment', `the traf of track ${trackId} has no "trun"`);
  if (truns.length > limits.maxTrunsPerTraf) fail('too-large', `${truns.length} truns in one traf; the limit is ${limits.maxTrunsPerTraf}`);
  let samples = 0;
  let duration = 0;
  let bytes = 0;
  let keyframe = false;
  let dataEnd = base;
  for (const [n, trunBox] of truns.entries()) {
    const r = new Fields(buf, trunBox);
    const full = r.full();
    if (full.version > 1) fail('bad-box', `trun version ${full.version} is unknown`);
    const tf = full.flags;
    if ((tf & ~TRUN_KNOWN) !== 0) fail('bad-fragment', `trun flags 0x${tf.toString(16)} include unknown bits`);
    if (tf & TRUN_FIRST_SAMPLE_FLAGS && tf & TRUN_FLAGS) fail('bad-fragment', 'trun has both first-sample-flags and per-sample flags');
    const count = r.u32();
    if (count === 0) fail('bad-fragment', `an empty trun in track ${trackId}`);
    if (count > limits.maxSamplesPerTrun) fail('too-large', `a trun of ${count} samples is over the ${limits.maxSamplesPerTrun} limit`);
    const perSample = 4 * [TRUN_DURATION, TRUN_SIZE, TRUN_FLAGS, TRUN_CTS_OFFSET].filter((bit) => tf & bit).length;
    const expected = (tf & TRUN_DATA_OFFSET ? 4 : 0) + (tf & TRUN_FIRST_SAMPLE_FLAGS ? 4 : 0) + count * perSample;
    if (r.left !== expected) fail('bad-box', `trun declares ${count} samples (${expected} bytes of fields) but has ${r.left}`);
    // §8.8.8.1: without data_offset the run starts where the previous run of this traf ended, or at the base.
    const start = tf & TRUN_DATA_OFFSET ? base + r.i32() : dataEnd;
    const firstFlags = tf & TRUN_FIRST_SAMPLE_FLAGS ? r.u32() : undefined;
    let runBytes = 0;
    for (let i = 0; i < count; i++) {
      duration += tf & TRUN_DURATION ? r.u32() : defaultDuration;
      runBytes += tf & TRUN_SIZE ? r.u32() : defaultSize;
      const sampleFlags = tf & TRUN_FLAGS ? r.u32() : i === 0 && firstFlags !== undefined ? firstFlags : defaultFlags;
      if (tf & TRUN_CTS_OFFSET) r.u32();
      if (n === 0 && i === 0) keyframe = (sampleFlags & SAMPLE_IS_NON_SYNC) === 0;
    }
    r.end();
    if (start < mdat.payload || start + runBytes > mdat.end) {
      fail('bad-fragment', `track ${trackId}: a run of ${runBytes} bytes at offset ${start - base} lies outside the mdat payload`);
    }
    if (runBytes > 0) runs.push({ start, end: start + runBytes });
    samples += count;
    bytes += runBytes;
    dataEnd = start + runBytes;
  }
  return { info: { trackId, baseDecodeTime, samples, keyframe, duration, bytes }, dataEnd };
}
