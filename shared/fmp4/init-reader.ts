// Init segment validation (ftyp + moov): see reader.ts for the policy. Bare § numbers are ISO/IEC 14496-12:2015.
import { avcCodecString, avcProfileName, parseAvcC, parseSps } from './avc.ts';
import {
  DEFAULT_READER_LIMITS,
  Fields,
  children,
  fail,
  only,
  optional,
  readBrands,
  rootOf,
  run,
  show,
  type Box,
  type Fmp4Result,
  type ReaderLimits,
} from './box-reader.ts';
import { parseEsds } from './esds.ts';

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
  /** H.264 only: bytes in each NAL unit length prefix (avcC lengthSizeMinusOne + 1); the samples are checked with it. */
  nalLengthSize?: number;
  /** H.264 only: the avcC's parameter sets, which avc1 samples do not repeat (RTP's sprop-parameter-sets). */
  parameterSets?: { sps: Uint8Array[]; pps: Uint8Array[] };
  /** AAC only: the AudioSpecificConfig from the esds. */
  aacConfig?: Uint8Array;
  /** From the track's trex; absent means all zero. */
  defaults?: TrackFragmentDefaults;
}

export interface InitInfo {
  tracks: TrackInfo[];
}

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
  readBrands(first);
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
  const mehd = optional(mvexKids, 'mehd', mvex, 'bad-init');
  if (mehd) {
    // §8.8.2 mehd: fragment_duration, 32 or 64 bits by version
    const f = new Fields(buf, mehd);
    const { version } = f.full();
    if (version > 1) fail('bad-box', `mehd version ${version} is unknown`);
    f.skip(version === 1 ? 8 : 4);
    f.end();
  }
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
    nalLengthSize: c.nalLengthSize,
    parameterSets: { sps: c.sps.map((n) => n.slice()), pps: c.pps.map((n) => n.slice()) },
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
    aacConfig: esds.value.specificConfig,
  };
}
