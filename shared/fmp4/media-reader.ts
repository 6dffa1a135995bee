// Media segment validation (moof + mdat pairs): see reader.ts for the policy. Bare § numbers are ISO/IEC 14496-12:2015.
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
import type { InitInfo } from './init-reader.ts';

/** One sample of a traf, located in the segment that was parsed. */
export interface SampleRef {
  /** Where its bytes start in the parsed buffer. */
  offset: number;
  size: number;
  /** Decode time relative to the traf's baseDecodeTime, in the track timescale. */
  decodeOffset: number;
  duration: number;
  /** Presentation minus decode time (trun sample_composition_time_offset; signed in trun version 1). */
  compositionOffset: number;
  sync: boolean;
}

export interface FragmentTrackInfo {
  trackId: number;
  /** tfdt baseMediaDecodeTime; a bigint only past Number.MAX_SAFE_INTEGER. */
  baseDecodeTime: bigint | number;
  /** Where baseMediaDecodeTime lies in the segment's bytes, and its size (tfdt version 1: 8, version 0: 4). */
  decodeTimeField: { offset: number; size: 4 | 8 };
  samples: number;
  /** The first sample is a sync sample. */
  keyframe: boolean;
  /** Sum of the sample durations, in the track timescale. */
  duration: number;
  /** Sum of the sample sizes. */
  bytes: number;
  /** Every sample, in decode order. */
  sampleList: SampleRef[];
}

export interface FragmentInfo {
  /** mfhd sequence_number of the first moof. */
  sequence: number;
  /** mfhd sequence_number of the last moof (equal to `sequence` for one moof+mdat pair). */
  lastSequence: number;
  /** One entry per traf, in file order. */
  tracks: FragmentTrackInfo[];
}
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
    if (b.type === 'styp') readBrands(b);
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
  const decodeTimeField = { offset: tfdtBox.payload + 4, size: version === 1 ? 8 : 4 } as const;
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
  const sampleList: SampleRef[] = [];
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
    const firstOfRun = sampleList.length;
    for (let i = 0; i < count; i++) {
      const sampleDuration = tf & TRUN_DURATION ? r.u32() : defaultDuration;
      const size = tf & TRUN_SIZE ? r.u32() : defaultSize;
      const sampleFlags = tf & TRUN_FLAGS ? r.u32() : i === 0 && firstFlags !== undefined ? firstFlags : defaultFlags;
      // §8.8.8.2: version 0 offsets are unsigned, version 1 signed.
      const cts = tf & TRUN_CTS_OFFSET ? (full.version === 1 ? r.i32() : r.u32()) : 0;
      const sync = (sampleFlags & SAMPLE_IS_NON_SYNC) === 0;
      if (n === 0 && i === 0) keyframe = sync;
      sampleList.push({ offset: start + runBytes, size, decodeOffset: duration, duration: sampleDuration, compositionOffset: cts, sync });
      duration += sampleDuration;
      runBytes += size;
    }
    r.end();
    if (start < mdat.payload || start + runBytes > mdat.end) {
      fail('bad-fragment', `track ${trackId}: a run of ${runBytes} bytes at offset ${start - base} lies outside the mdat payload`);
    }
    if (track.nalLengthSize !== undefined) checkNalFraming(buf, sampleList, firstOfRun, track.nalLengthSize, trackId);
    if (runBytes > 0) runs.push({ start, end: start + runBytes });
    samples += count;
    bytes += runBytes;
    dataEnd = start + runBytes;
  }
  return { info: { trackId, baseDecodeTime, decodeTimeField, samples, keyframe, duration, bytes, sampleList }, dataEnd };
}

/**
 * ISO/IEC 14496-15 §5.3.2 (for the samples of one run, from index `from`): an AVC sample is NAL units, each behind a big-endian length of avcC's lengthSizeMinusOne + 1
 * bytes, filling the sample exactly. Annex B data (start codes) put in an avc1 track by mistake, or a cut sample, fails
 * here instead of as a stream of decoder errors in ffmpeg.
 */
function checkNalFraming(buf: Uint8Array, samples: readonly SampleRef[], from: number, lengthSize: number, trackId: number): void {
  for (let n = from; n < samples.length; n++) {
    const { offset, size } = samples[n]!;
    const i = n - from; // the sample's index in its run, for the message
    const end = offset + size;
    for (let p = offset; p < end; ) {
      if (p + lengthSize > end) fail('bad-fragment', `track ${trackId} sample ${i}: a NAL unit length is cut off`);
      let len = 0;
      for (let k = 0; k < lengthSize; k++) len = len * 256 + buf[p + k]!;
      p += lengthSize;
      if (len === 0 || p + len > end) {
        fail('bad-fragment', `track ${trackId} sample ${i}: a NAL unit of ${len} bytes does not fit; samples must be length-prefixed NAL units, not Annex B`);
      }
      p += len;
    }
  }
}

/**
 * Move one track of a checked media segment in time by `delta` ticks of its timescale, in place: the tfdt in `bytes`
 * and `track.baseDecodeTime` (§8.8.12; the samples' times are relative to it). False, with nothing changed, when the
 * new time would be negative or not fit the field (a version 0 tfdt has 32 bits).
 */
export function shiftDecodeTime(bytes: Uint8Array, track: FragmentTrackInfo, delta: number): boolean {
  const time = BigInt(track.baseDecodeTime) + BigInt(delta);
  const { offset, size } = track.decodeTimeField;
  if (time < 0n || time >= 1n << BigInt(8 * size)) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (size === 8) view.setBigUint64(offset, time);
  else view.setUint32(offset, Number(time));
  track.baseDecodeTime = time <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(time) : time;
  return true;
}
