// Small pure builders for the ISO Base Media File Format boxes a live fragmented MP4 needs.
// Every builder returns a finished Uint8Array; nothing here keeps state or touches I/O.
// References: ISO/IEC 14496-12:2015 (ISOBMFF), ISO/IEC 14496-14 (esds), ISO/IEC 14496-15 (avcC),
// "Encapsulation of Opus in ISO Base Media File Format" v0.8.1 (dOps).

const ENCODER = new TextEncoder();

/** Big-endian byte writer with a fixed, pre-computed size (no reallocation). */
export class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(v: number): this {
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }
  u16(v: number): this {
    this.view.setUint16(this.pos, v);
    this.pos += 2;
    return this;
  }
  i16(v: number): this {
    this.view.setInt16(this.pos, v);
    this.pos += 2;
    return this;
  }
  u24(v: number): this {
    this.view.setUint8(this.pos, (v >>> 16) & 0xff);
    this.view.setUint16(this.pos + 1, v & 0xffff);
    this.pos += 3;
    return this;
  }
  u32(v: number): this {
    this.view.setUint32(this.pos, v >>> 0);
    this.pos += 4;
    return this;
  }
  i32(v: number): this {
    this.view.setInt32(this.pos, v | 0);
    this.pos += 4;
    return this;
  }
  /** 64-bit unsigned from a non-negative safe integer (split so no BigInt is needed). */
  u64(v: number): this {
    this.view.setUint32(this.pos, Math.floor(v / 0x1_0000_0000));
    this.view.setUint32(this.pos + 4, v % 0x1_0000_0000);
    this.pos += 8;
    return this;
  }
  fourcc(s: string): this {
    for (let i = 0; i < 4; i++) this.u8(s.charCodeAt(i) & 0xff);
    return this;
  }
  zeros(n: number): this {
    this.pos += n; // the buffer starts zero-filled
    return this;
  }
  raw(b: Uint8Array): this {
    this.bytes.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  get offset(): number {
    return this.pos;
  }
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** ISO/IEC 14496-12 §4.2 Box: 32-bit size + four-character type, then the payload. */
export function box(type: string, ...payload: readonly Uint8Array[]): Uint8Array {
  let n = 8;
  for (const p of payload) n += p.length;
  const w = new ByteWriter(n).u32(n).fourcc(type);
  for (const p of payload) w.raw(p);
  return w.bytes;
}

/** ISO/IEC 14496-12 §4.2 FullBox: a Box whose payload starts with version (8 bits) and flags (24 bits). */
export function fullBox(type: string, version: number, flags: number, ...payload: readonly Uint8Array[]): Uint8Array {
  const head = new ByteWriter(4).u8(version).u24(flags).bytes;
  return box(type, head, ...payload);
}

// ISO/IEC 14496-12 §8.2.2 mvhd / §8.3.2 tkhd: the unity transformation matrix in 16.16 / 2.30 fixed point.
const UNITY_MATRIX = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] as const;

/** ISO/IEC 14496-12 §4.3 ftyp. */
export function ftyp(major: string, minorVersion: number, compatible: readonly string[]): Uint8Array {
  const w = new ByteWriter(8 + 4 * compatible.length).fourcc(major).u32(minorVersion);
  for (const b of compatible) w.fourcc(b);
  return box('ftyp', w.bytes);
}

/** ISO/IEC 14496-12 §8.2.2 mvhd, version 0. Duration 0: a live movie's length is unknown (§8.8.1: fragments extend it). */
export function mvhd(timescale: number, nextTrackId: number): Uint8Array {
  const w = new ByteWriter(96)
    .u32(0) // creation_time
    .u32(0) // modification_time
    .u32(timescale)
    .u32(0) // duration
    .u32(0x0001_0000) // rate 1.0
    .u16(0x0100) // volume 1.0
    .zeros(2 + 8); // reserved
  for (const m of UNITY_MATRIX) w.u32(m);
  w.zeros(24) // pre_defined
    .u32(nextTrackId);
  return fullBox('mvhd', 0, 0, w.bytes);
}

/** ISO/IEC 14496-12 §8.3.2 tkhd, version 0, flags track_enabled|track_in_movie (0x3). */
export function tkhd(trackId: number, audio: boolean, width: number, height: number): Uint8Array {
  const w = new ByteWriter(80)
    .u32(0) // creation_time
    .u32(0) // modification_time
    .u32(trackId)
    .zeros(4) // reserved
    .u32(0) // duration
    .zeros(8) // reserved
    .u16(0) // layer
    .u16(0) // alternate_group
    .u16(audio ? 0x0100 : 0) // volume: 1.0 for audio, 0 otherwise
    .zeros(2);
  for (const m of UNITY_MATRIX) w.u32(m);
  // width and height are 16.16 fixed point
  w.u32((width & 0xffff) * 0x1_0000).u32((height & 0xffff) * 0x1_0000);
  return fullBox('tkhd', 0, 0x3, w.bytes);
}

/** ISO/IEC 14496-12 §8.4.2 mdhd, version 0, language 'und' (ISO 639-2/T packed as three 5-bit letters). */
export function mdhd(timescale: number): Uint8Array {
  const und = (('u'.charCodeAt(0) - 0x60) << 10) | (('n'.charCodeAt(0) - 0x60) << 5) | ('d'.charCodeAt(0) - 0x60);
  const w = new ByteWriter(20).u32(0).u32(0).u32(timescale).u32(0).u16(und).u16(0);
  return fullBox('mdhd', 0, 0, w.bytes);
}

/** ISO/IEC 14496-12 §8.4.3 hdlr. */
export function hdlr(handlerType: 'vide' | 'soun', name: string): Uint8Array {
  const nameBytes = ENCODER.encode(name);
  const w = new ByteWriter(20 + nameBytes.length + 1)
    .u32(0) // pre_defined
    .fourcc(handlerType)
    .zeros(12) // reserved
    .raw(nameBytes)
    .u8(0); // null-terminated UTF-8 name
  return fullBox('hdlr', 0, 0, w.bytes);
}

/** ISO/IEC 14496-12 §12.1.2 vmhd (flags = 1 as the spec requires). */
export function vmhd(): Uint8Array {
  return fullBox('vmhd', 0, 1, new Uint8Array(8)); // graphicsmode 0 + opcolor 0,0,0
}

/** ISO/IEC 14496-12 §12.2.2 smhd. */
export function smhd(): Uint8Array {
  return fullBox('smhd', 0, 0, new Uint8Array(4)); // balance 0 + reserved
}

/** ISO/IEC 14496-12 §8.7.1 dinf + §8.7.2 dref with one self-contained 'url ' entry (flags 1: media is in this file). */
export function dinf(): Uint8Array {
  const url = fullBox('url ', 0, 1);
  return box('dinf', fullBox('dref', 0, 0, new ByteWriter(4).u32(1).bytes, url));
}

/**
 * ISO/IEC 14496-12 §8.5 stbl for a fragmented file: the sample description and empty sample tables
 * (§8.6.1.2 stts, §8.7.4 stsc, §8.7.3.2 stsz, §8.7.5 stco); every sample lives in a movie fragment.
 */
export function stbl(sampleEntry: Uint8Array): Uint8Array {
  const stsd = fullBox('stsd', 0, 0, new ByteWriter(4).u32(1).bytes, sampleEntry);
  const empty4 = new Uint8Array(4);
  return box(
    'stbl',
    stsd,
    fullBox('stts', 0, 0, empty4),
    fullBox('stsc', 0, 0, empty4),
    fullBox('stsz', 0, 0, new Uint8Array(8)), // sample_size 0, sample_count 0
    fullBox('stco', 0, 0, empty4),
  );
}

/** ISO/IEC 14496-12 §8.5.2.2 VisualSampleEntry fields, without the codec's configuration box (avc1, hvc1/hev1). */
function visualSampleEntryFields(width: number, height: number): Uint8Array {
  return new ByteWriter(78)
    .zeros(6) // SampleEntry reserved
    .u16(1) // data_reference_index
    .u16(0) // pre_defined
    .u16(0) // reserved
    .zeros(12) // pre_defined
    .u16(width)
    .u16(height)
    .u32(0x0048_0000) // horizresolution 72 dpi
    .u32(0x0048_0000) // vertresolution 72 dpi
    .u32(0) // reserved
    .u16(1) // frame_count
    .zeros(32) // compressorname: a Pascal string, empty
    .u16(0x0018) // depth: colour, no alpha
    .i16(-1).bytes; // pre_defined
}

/**
 * ISO/IEC 14496-12 §8.5.2.2 VisualSampleEntry as specialised by ISO/IEC 14496-15 §5.4.2.1 (avc1),
 * followed by the avcC box (§5.4.2.1.2 AVCConfigurationBox) holding the AVCDecoderConfigurationRecord as is.
 */
export function avc1(avcC: Uint8Array, width: number, height: number): Uint8Array {
  return box('avc1', visualSampleEntryFields(width, height), box('avcC', avcC));
}

/**
 * ISO/IEC 14496-15 §8.4.1 HEVC sample entries: the §8.5.2.2 VisualSampleEntry fields (the same as avc1's) followed by
 * the hvcC box (HEVCConfigurationBox) holding the HEVCDecoderConfigurationRecord (§8.3.3.1) as is.
 * 'hvc1': every parameter set is in the hvcC (its parameter set arrays have array_completeness 1);
 * 'hev1': parameter sets may also, or only, travel in the samples. ffmpeg 5.1 writes 'hev1' unless told `-tag:v hvc1`;
 * Apple's players (Safari, QuickTime, AVFoundation) want 'hvc1'.
 */
export function hevcSampleEntry(type: 'hvc1' | 'hev1', hvcC: Uint8Array, width: number, height: number): Uint8Array {
  return box(type, visualSampleEntryFields(width, height), box('hvcC', hvcC));
}

/** The 'hvc1' sample entry: parameter sets only in the hvcC. */
export function hvc1(hvcC: Uint8Array, width: number, height: number): Uint8Array {
  return hevcSampleEntry('hvc1', hvcC, width, height);
}

/** The 'hev1' sample entry: parameter sets may also be in band. */
export function hev1(hvcC: Uint8Array, width: number, height: number): Uint8Array {
  return hevcSampleEntry('hev1', hvcC, width, height);
}

/** ISO/IEC 14496-12 §12.2.3.2 AudioSampleEntry (version 0) fields, without the codec's child boxes. */
function audioSampleEntryFields(channels: number, sampleRate: number, sampleSize = 16): Uint8Array {
  return new ByteWriter(28)
    .zeros(6) // SampleEntry reserved
    .u16(1) // data_reference_index
    .zeros(8) // reserved
    .u16(channels)
    .u16(sampleSize) // samplesize
    .u16(0) // pre_defined
    .u16(0) // reserved
    .u32((sampleRate & 0xffff) * 0x1_0000).bytes; // 16.16 fixed point
}

/**
 * Opus in ISOBMFF §4.3.1: the 'Opus' sample entry. Its samplerate field shall be 48000 whatever the input rate,
 * because Opus always decodes at 48 kHz; the input rate goes in dOps.
 */
export function opusSampleEntry(channels: number, preSkip: number, inputSampleRate: number): Uint8Array {
  // Opus in ISOBMFF §4.3.2 OpusSpecificBox (a Box, not a FullBox; big-endian, unlike Ogg's OpusHead).
  const dOps = new ByteWriter(11)
    .u8(0) // Version
    .u8(channels) // OutputChannelCount
    .u16(preSkip) // PreSkip, in 48 kHz samples
    .u32(inputSampleRate) // InputSampleRate (informational)
    .i16(0) // OutputGain, Q7.8 dB
    .u8(0).bytes; // ChannelMappingFamily 0: mono or stereo, no mapping table
  return box('Opus', audioSampleEntryFields(channels, 48000), box('dOps', dOps));
}

/** ISO/IEC 14496-1 §8.3.3: descriptor length as 7-bit groups with a continuation bit. */
function descriptor(tag: number, ...payload: readonly Uint8Array[]): Uint8Array {
  const body = concat(payload);
  const lenBytes: number[] = [];
  let n = body.length;
  do {
    lenBytes.unshift(n & 0x7f);
    n >>>= 7;
  } while (n > 0);
  for (let i = 0; i < lenBytes.length - 1; i++) lenBytes[i]! |= 0x80;
  return concat([Uint8Array.of(tag, ...lenBytes), body]);
}

/**
 * ISO/IEC 14496-14 §5.6 mp4a: MP4AudioSampleEntry + esds, whose ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5) holds a
 * DecoderConfigDescriptor (§7.2.6.6, objectTypeIndication 0x40 = MPEG-4 Audio, streamType 5 = audio) carrying the
 * AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) as DecoderSpecificInfo, and an SLConfigDescriptor (predefined 2).
 */
export function mp4aSampleEntry(trackId: number, channels: number, sampleRate: number, asc: Uint8Array): Uint8Array {
  const decoderConfig = descriptor(
    0x04,
    new ByteWriter(13)
      .u8(0x40) // objectTypeIndication: Audio ISO/IEC 14496-3
      .u8((0x05 << 2) | 0x01) // streamType audio, upStream 0, reserved 1
      .u24(0) // bufferSizeDB unknown
      .u32(0) // maxBitrate unknown
      .u32(0).bytes, // avgBitrate unknown (variable)
    descriptor(0x05, asc),
  );
  const es = descriptor(0x03, new ByteWriter(3).u16(trackId).u8(0).bytes, decoderConfig, descriptor(0x06, Uint8Array.of(0x02)));
  return box('mp4a', audioSampleEntryFields(channels, sampleRate), fullBox('esds', 0, 0, es));
}

/**
 * G.711 (ITU-T G.711, RTP's PCMA/PCMU) as the QuickTime sound sample entries 'alaw' / 'ulaw' with 8-bit samples:
 * what ffmpeg's mov muxer writes for pcm_alaw / pcm_mulaw and its demuxer reads back. ISOBMFF has no entry of its own.
 */
export function g711SampleEntry(law: 'alaw' | 'ulaw', channels: number, sampleRate: number): Uint8Array {
  return box(law, audioSampleEntryFields(channels, sampleRate, 8));
}

/** ISO/IEC 14496-12 §8.8.3 trex: per-track fragment defaults; ours are all zero because every trun says everything. */
export function trex(trackId: number): Uint8Array {
  const w = new ByteWriter(20).u32(trackId).u32(1).u32(0).u32(0).u32(0);
  return fullBox('trex', 0, 0, w.bytes);
}

/** ISO/IEC 14496-12 §8.8.5 mfhd. */
export function mfhd(sequence: number): Uint8Array {
  return fullBox('mfhd', 0, 0, new ByteWriter(4).u32(sequence).bytes);
}

/** ISO/IEC 14496-12 §8.8.7 tfhd flags. */
export const TFHD_BASE_DATA_OFFSET = 0x00_0001;
export const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x00_0002;
export const TFHD_DEFAULT_DURATION = 0x00_0008;
export const TFHD_DEFAULT_SIZE = 0x00_0010;
export const TFHD_DEFAULT_FLAGS = 0x00_0020;
export const TFHD_DURATION_IS_EMPTY = 0x01_0000;
export const TFHD_DEFAULT_BASE_IS_MOOF = 0x02_0000;

/** ISO/IEC 14496-12 §8.8.8 trun flags. */
export const TRUN_DATA_OFFSET = 0x00_0001;
export const TRUN_FIRST_SAMPLE_FLAGS = 0x00_0004;
export const TRUN_DURATION = 0x00_0100;
export const TRUN_SIZE = 0x00_0200;
export const TRUN_FLAGS = 0x00_0400;
export const TRUN_CTS_OFFSET = 0x00_0800;

/**
 * ISO/IEC 14496-12 §8.8.3.1 sample flags: reserved(4) is_leading(2) sample_depends_on(2) sample_is_depended_on(2)
 * sample_has_redundancy(2) sample_padding_value(3) sample_is_non_sync_sample(1) sample_degradation_priority(16).
 */
export const SAMPLE_FLAGS_SYNC = 2 << 24; // depends_on = 2 (does not depend on others, i.e. an I picture)
export const SAMPLE_FLAGS_NON_SYNC = (1 << 24) | 0x0001_0000; // depends_on = 1, is_non_sync_sample = 1
export const SAMPLE_IS_NON_SYNC = 0x0001_0000;

/** ISO/IEC 14496-12 §8.8.7 tfhd with only default-base-is-moof: data offsets count from the start of this moof. */
export function tfhd(trackId: number): Uint8Array {
  return fullBox('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF, new ByteWriter(4).u32(trackId).bytes);
}

/** ISO/IEC 14496-12 §8.8.12 tfdt, version 1 (64-bit baseMediaDecodeTime, so a long session never wraps). */
export function tfdt(baseMediaDecodeTime: number): Uint8Array {
  return fullBox('tfdt', 1, 0, new ByteWriter(8).u64(baseMediaDecodeTime).bytes);
}

export interface TrunSample {
  size: number;
  duration: number;
  flags: number;
  compositionOffset: number;
}

/**
 * ISO/IEC 14496-12 §8.8.8 trun with data-offset, duration, size and flags per sample, and composition offsets when any is
 * non-zero (version 1, signed, when any is negative). `dataOffset` counts from the tfhd base: the start of the moof.
 */
export function trun(samples: readonly TrunSample[], dataOffset: number): Uint8Array {
  const withCts = samples.some((s) => s.compositionOffset !== 0);
  const version = samples.some((s) => s.compositionOffset < 0) ? 1 : 0;
  const flags = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | (withCts ? TRUN_CTS_OFFSET : 0);
  const w = new ByteWriter(8 + samples.length * (withCts ? 16 : 12)).u32(samples.length).i32(dataOffset);
  for (const s of samples) {
    w.u32(s.duration).u32(s.size).u32(s.flags);
    if (withCts) {
      if (version === 1) w.i32(s.compositionOffset);
      else w.u32(s.compositionOffset);
    }
  }
  return fullBox('trun', version, flags, w.bytes);
}

/** Size of a trun built by `trun()` for these samples, so the moof size (and so the data offset) is known up front. */
export function trunSize(samples: readonly TrunSample[]): number {
  const withCts = samples.some((s) => s.compositionOffset !== 0);
  return 12 + 8 + samples.length * (withCts ? 16 : 12);
}

/** ISO/IEC 14496-12 §8.1.1 mdat header; the payload follows it. Uses a 64-bit largesize only when needed. */
export function mdatHeader(payloadSize: number): Uint8Array {
  if (payloadSize + 8 <= 0xffff_ffff) return new ByteWriter(8).u32(payloadSize + 8).fourcc('mdat').bytes;
  return new ByteWriter(16).u32(1).fourcc('mdat').u64(payloadSize + 16).bytes;
}
