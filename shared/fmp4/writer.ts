// A fragmented MP4 writer for live uplinks: one init segment, then one moof+mdat per encoded frame (a CMAF chunk),
// so the server sees each frame as soon as the encoder emits it (see ARCHITECTURE.md, "Per-frame fragments").
// Pure: takes bytes and numbers, returns bytes. The only state is the fragment sequence number and, per track,
// the last decode time (to refuse a clock that goes backwards).
import {
  SAMPLE_FLAGS_NON_SYNC,
  SAMPLE_FLAGS_SYNC,
  avc1,
  box,
  concat,
  dinf,
  ftyp,
  g711SampleEntry,
  hdlr,
  hvc1,
  mdatHeader,
  mdhd,
  mfhd,
  mp4aSampleEntry,
  mvhd,
  opusSampleEntry,
  smhd,
  stbl,
  tfdt,
  tfhd,
  tkhd,
  trex,
  trun,
  trunSize,
  vmhd,
  type TrunSample,
} from './boxes.ts';

export type VideoTrackConfig =
  | {
      kind: 'video';
      codec: 'avc1';
      /** AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), as WebCodecs gives in decoderConfig.description. */
      avcC: Uint8Array;
      width: number;
      height: number;
      /** Ticks per second of `timestamp`, `duration` and `compositionOffset`, e.g. 90000. */
      timescale: number;
    }
  | {
      kind: 'video';
      /** H.265 in an 'hvc1' sample entry (ISO/IEC 14496-15 §8.4.1): samples are 4-byte length-prefixed NAL units. */
      codec: 'hvc1';
      /** HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1), e.g. from hvcCFromParameterSets (hevc.ts), with
       *  every parameter set in it: 'hvc1' samples should carry none in band (array_completeness 1). */
      hvcC: Uint8Array;
      width: number;
      height: number;
      /** Ticks per second of `timestamp`, `duration` and `compositionOffset`, e.g. 90000. */
      timescale: number;
    };

export type AudioTrackConfig =
  | {
      kind: 'audio';
      codec: 'opus';
      channels: number;
      /** The encoder's input rate, recorded in dOps; Opus itself always decodes at 48000. */
      sampleRate: number;
      /** Samples at 48 kHz to drop from the decoder's start (RFC 7845 §4.2). Default 312, libopus' usual look-ahead. */
      preSkip?: number;
      timescale: number;
    }
  | {
      kind: 'audio';
      codec: 'mp4a';
      /** AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1), as WebCodecs gives in decoderConfig.description. */
      audioSpecificConfig: Uint8Array;
      channels: number;
      sampleRate: number;
      timescale: number;
    }
  | {
      kind: 'audio';
      /** G.711 A-law / µ-law, one byte per sample (RTP's PCMA / PCMU). */
      codec: 'alaw' | 'ulaw';
      channels: number;
      sampleRate: number;
      timescale: number;
    };

export interface Fmp4WriterOptions {
  video?: VideoTrackConfig;
  audio?: AudioTrackConfig;
}

export type TrackName = 'video' | 'audio';

export interface Fmp4Sample {
  data: Uint8Array;
  /** Decode time in the track timescale. */
  timestamp: number;
  /** In the track timescale. */
  duration: number;
  keyframe: boolean;
  /** Presentation minus decode time, in the track timescale; 0 (absent) without B-frames. */
  compositionOffset?: number;
}

export type Fmp4WriterErrorCode =
  | 'bad-config' // options the format cannot carry (no track, timescale 0, 3+ Opus channels …)
  | 'unknown-track' // a fragment for a track the writer was not configured with
  | 'bad-sample' // empty data, negative or fractional times, a duration that does not fit 32 bits
  | 'non-monotonic-timestamp'; // decode time did not move forward: the caller's clock must be fixed

export class Fmp4WriterError extends Error {
  readonly code: Fmp4WriterErrorCode;
  constructor(code: Fmp4WriterErrorCode, message: string) {
    super(message);
    this.name = 'Fmp4WriterError';
    this.code = code;
  }
}

interface TrackState {
  readonly id: number;
  /** Decode time of the last sample written, or undefined before the first. */
  lastDecodeTime: number | undefined;
}

export const DEFAULT_OPUS_PRE_SKIP = 312;

const U32_MAX = 0xffff_ffff;

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= U32_MAX;
}

export class Fmp4Writer {
  private readonly video: VideoTrackConfig | undefined;
  private readonly audio: AudioTrackConfig | undefined;
  private readonly tracks: { video?: TrackState; audio?: TrackState } = {};
  private sequence = 0;

  constructor(opts: Fmp4WriterOptions) {
    if (!opts.video && !opts.audio) throw new Fmp4WriterError('bad-config', 'Fmp4Writer needs a video track, an audio track or both.');
    this.video = opts.video;
    this.audio = opts.audio;
    if (opts.video) {
      checkVideo(opts.video);
      this.tracks.video = { id: 1, lastDecodeTime: undefined };
    }
    if (opts.audio) {
      checkAudio(opts.audio);
      // Track IDs: video 1, audio 2, or audio 1 when it is alone.
      this.tracks.audio = { id: opts.video ? 2 : 1, lastDecodeTime: undefined };
    }
  }

  /** Track ID used for `track` in this writer's output, or undefined when the writer has no such track. */
  trackId(track: TrackName): number | undefined {
    return this.tracks[track]?.id;
  }

  /** ftyp + moov: what a decoder needs before the first fragment. Calling it again returns the same bytes. */
  initSegment(): Uint8Array {
    // ISO/IEC 14496-12 §4.3 ftyp with brands from Annex E: iso5/iso6 are the brands that bring in the movie-fragment
    // features used here (default-base-is-moof, tfdt, trun version 1); isom and mp41 let generic MP4 readers in; avc1
    // announces AVC video stored per ISO/IEC 14496-15. ffmpeg writes 'iso5' + [iso5, iso6, mp41] for the same layout.
    // No codec brand for HEVC: ffmpeg 5.1 writes the same iso5 + [iso5, iso6, mp41] for an hvc1 or hev1 track
    // (test/fixtures/fmp4/ffmpeg-frag-hevc.mp4; hevc.test.ts checks it).
    const brands = ['iso6', 'iso5', 'isom', 'mp41'];
    if (this.video?.codec === 'avc1') brands.push('avc1');
    const traks: Uint8Array[] = [];
    const trexes: Uint8Array[] = [];
    if (this.video && this.tracks.video) {
      const v = this.video;
      const id = this.tracks.video.id;
      const entry = v.codec === 'avc1' ? avc1(v.avcC, v.width, v.height) : hvc1(v.hvcC, v.width, v.height);
      traks.push(trak(id, false, v.width, v.height, v.timescale, 'vide', 'VideoHandler', vmhd(), entry));
      trexes.push(trex(id));
    }
    if (this.audio && this.tracks.audio) {
      const a = this.audio;
      const id = this.tracks.audio.id;
      const entry =
        a.codec === 'opus'
          ? opusSampleEntry(a.channels, a.preSkip ?? DEFAULT_OPUS_PRE_SKIP, a.sampleRate)
          : a.codec === 'mp4a'
            ? mp4aSampleEntry(id, a.channels, a.sampleRate, a.audioSpecificConfig)
            : g711SampleEntry(a.codec, a.channels, a.sampleRate);
      traks.push(trak(id, true, 0, 0, a.timescale, 'soun', 'SoundHandler', smhd(), entry));
      trexes.push(trex(id));
    }
    // ISO/IEC 14496-12 §8.2.1 moov; the movie timescale only matters for durations, which are all 0 here.
    const moov = box('moov', mvhd(1000, traks.length + 1), ...traks, box('mvex', ...trexes)); // §8.8.1 mvex: fragments follow
    return concat([ftyp('iso6', 0, brands), moov]);
  }

  /** One fragment with one sample: moof(mfhd, traf(tfhd, tfdt, trun)) + mdat. */
  fragment(track: TrackName, sample: Fmp4Sample): Uint8Array {
    return this.fragmentSamples(track, [sample]);
  }

  /**
   * One fragment with several consecutive samples of one track (e.g. a few 20 ms Opus packets).
   * The fragment's tfdt is the first sample's timestamp; ISOBMFF places the others by the durations before them,
   * so each sample but the last is written with the gap to the next sample's timestamp as its duration, keeping
   * the file's timeline equal to the caller's timestamps; the last sample keeps its own `duration`.
   */
  fragmentSamples(track: TrackName, samples: readonly Fmp4Sample[]): Uint8Array {
    const state = this.tracks[track];
    if (!state) throw new Fmp4WriterError('unknown-track', `This writer has no ${track} track.`);
    if (samples.length === 0) throw new Fmp4WriterError('bad-sample', 'A fragment needs at least one sample.');
    let previous = state.lastDecodeTime;
    const entries: TrunSample[] = [];
    for (const [i, s] of samples.entries()) {
      checkSample(track, s);
      if (previous !== undefined && s.timestamp <= previous) {
        throw new Fmp4WriterError(
          'non-monotonic-timestamp',
          `${track} sample decode time ${s.timestamp} is not after the previous one (${previous}); decode times must strictly increase.`,
        );
      }
      previous = s.timestamp;
      const next = samples[i + 1];
      const duration = next ? next.timestamp - s.timestamp : s.duration;
      if (!isU32(duration)) throw new Fmp4WriterError('bad-sample', `${track} sample duration ${duration} does not fit in 32 bits.`);
      entries.push({
        size: s.data.length,
        duration,
        flags: s.keyframe ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC,
        compositionOffset: s.compositionOffset ?? 0,
      });
    }
    const first = samples[0]!; // non-empty, checked above
    const payload = samples.reduce((n, s) => n + s.data.length, 0);

    // moof = 8 + mfhd 16 + traf(8 + tfhd 16 + tfdt 20 + trun); the data offset (from the moof start, default-base-is-moof)
    // points just past the mdat header.
    const moofSize = 8 + 16 + 8 + 16 + 20 + trunSize(entries);
    const mdat = mdatHeader(payload);
    const sequence = this.sequence + 1;
    const moof = box('moof', mfhd(sequence), box('traf', tfhd(state.id), tfdt(first.timestamp), trun(entries, moofSize + mdat.length)));
    // moofSize above must agree with what the builders produced, or every data offset would be wrong.
    if (moof.length !== moofSize) throw new Error(`fmp4 writer bug: moof is ${moof.length} bytes, expected ${moofSize}`);

    this.sequence = sequence;
    state.lastDecodeTime = previous;
    return concat([moof, mdat, ...samples.map((s) => s.data)]);
  }
}

function trak(
  id: number,
  audio: boolean,
  width: number,
  height: number,
  timescale: number,
  handler: 'vide' | 'soun',
  handlerName: string,
  mediaHeader: Uint8Array,
  sampleEntry: Uint8Array,
): Uint8Array {
  // ISO/IEC 14496-12 §8.3.1 trak > §8.4.1 mdia > §8.4.4 minf > §8.5.1 stbl
  return box(
    'trak',
    tkhd(id, audio, width, height),
    box('mdia', mdhd(timescale), hdlr(handler, handlerName), box('minf', mediaHeader, dinf(), stbl(sampleEntry))),
  );
}

function checkTimescale(kind: string, timescale: number): void {
  if (!isU32(timescale) || timescale === 0) throw new Fmp4WriterError('bad-config', `The ${kind} timescale must be a positive 32-bit integer, not ${timescale}.`);
}

function checkVideo(v: VideoTrackConfig): void {
  checkTimescale('video', v.timescale);
  for (const [name, n] of [['width', v.width], ['height', v.height]] as const) {
    // VisualSampleEntry width/height are 16-bit (ISO/IEC 14496-12 §8.5.2.2).
    if (!Number.isInteger(n) || n <= 0 || n > 0xffff) throw new Fmp4WriterError('bad-config', `Video ${name} must be 1..65535, not ${n}.`);
  }
  if (v.codec === 'hvc1') {
    // ISO/IEC 14496-15 §8.3.3.1: 23 bytes of fields before the arrays; configurationVersion 1.
    if (v.hvcC.length < 23 || v.hvcC[0] !== 1) {
      throw new Fmp4WriterError('bad-config', 'The hvcC is not an HEVCDecoderConfigurationRecord (23+ bytes, configurationVersion 1); build it with hvcCFromParameterSets.');
    }
    return;
  }
  if (v.avcC.length < 7 || v.avcC[0] !== 1) {
    throw new Fmp4WriterError('bad-config', 'The avcC is not an AVCDecoderConfigurationRecord (configurationVersion must be 1); pass decoderConfig.description from an encoder in "avc" format.');
  }
}

function checkAudio(a: AudioTrackConfig): void {
  checkTimescale('audio', a.timescale);
  if (!Number.isInteger(a.sampleRate) || a.sampleRate <= 0 || a.sampleRate > U32_MAX) {
    throw new Fmp4WriterError('bad-config', `Audio sample rate must be a positive integer, not ${a.sampleRate}.`);
  }
  if (a.codec === 'opus') {
    // ChannelMappingFamily 0 (Opus in ISOBMFF §4.3.2, RFC 7845 §5.1.1.1) carries mono or stereo only; more channels
    // need family 1 with stream counts that only the encoder knows.
    if (a.channels !== 1 && a.channels !== 2) throw new Fmp4WriterError('bad-config', `Opus with channel mapping family 0 carries 1 or 2 channels, not ${a.channels}.`);
    const preSkip = a.preSkip ?? DEFAULT_OPUS_PRE_SKIP;
    if (!Number.isInteger(preSkip) || preSkip < 0 || preSkip > 0xffff) throw new Fmp4WriterError('bad-config', `Opus pre-skip must be 0..65535, not ${preSkip}.`);
  } else {
    const name = a.codec === 'mp4a' ? 'AAC' : 'G.711';
    if (!Number.isInteger(a.channels) || a.channels < 1 || a.channels > 0xffff) throw new Fmp4WriterError('bad-config', `${name} channel count must be 1..65535, not ${a.channels}.`);
    if (a.codec === 'mp4a' && (a.audioSpecificConfig.length < 2 || a.audioSpecificConfig.length > 0x0fff_ffff)) {
      throw new Fmp4WriterError('bad-config', 'The AudioSpecificConfig must be at least 2 bytes (ISO/IEC 14496-3 §1.6.2.1).');
    }
  }
}

function checkSample(track: TrackName, s: Fmp4Sample): void {
  if (s.data.length === 0) throw new Fmp4WriterError('bad-sample', `A ${track} sample has no data.`);
  if (s.data.length > U32_MAX) throw new Fmp4WriterError('bad-sample', `A ${track} sample of ${s.data.length} bytes does not fit a trun.`);
  if (!Number.isSafeInteger(s.timestamp) || s.timestamp < 0) {
    throw new Fmp4WriterError('bad-sample', `A ${track} sample timestamp must be a non-negative integer in the track timescale, not ${s.timestamp}.`);
  }
  if (!isU32(s.duration)) throw new Fmp4WriterError('bad-sample', `A ${track} sample duration must be a 32-bit non-negative integer, not ${s.duration}.`);
  const cto = s.compositionOffset ?? 0;
  if (!Number.isInteger(cto) || cto < -0x8000_0000 || cto > 0x7fff_ffff) {
    throw new Fmp4WriterError('bad-sample', `A ${track} composition offset must be a 32-bit signed integer, not ${cto}.`);
  }
}
