// The samples of a stream's units, for every reader that needs frames rather than RTP packets (ffmpeg outputs, and
// the HTTP, viewer and recorder readers to come). Made lazily and once per unit: an RTSP → RTSP relay never pays for
// them, and every frame reader of a stream shares the same samples.
//
// Per track it keeps what depacketizing needs across units: the codec configuration (SPS/PPS from the SDP, updated
// when they come in band), whether a loss means waiting for the next keyframe, and the clock that puts every track on
// the stream's one timeline. No sockets, no timers.
import { avcCFromParameterSets, parseSps } from '../../shared/fmp4/avc.ts';
import { findSenderReport } from '../protocols/rtp/rtcp.ts';
import { depacketizeAac, depacketizeG711, depacketizeOpus, parseAacFmtp, type AacHbrParams } from '../protocols/rtp/depacketize-audio.ts';
import { hvcCFromParameterSets, parseHevcSps } from '../../shared/fmp4/hevc.ts';
import { depacketizeH264, lengthPrefixed } from '../protocols/rtp/depacketize-h264.ts';
import { depacketizeH265 } from '../protocols/rtp/depacketize-h265.ts';
import type { Depacketized } from '../protocols/rtp/depacketized.ts';
import { H264DtsExtractor, H265DtsExtractor, type DtsResult } from '../protocols/rtp/dts-extractor.ts';
import { H264_NAL } from '../protocols/rtp/h264.ts';
import { H265_NAL } from '../protocols/rtp/h265.ts';
import { parseRtpHeader, rtpPayload } from '../protocols/rtp/packet.ts';
import { fmtpParams, h264SpropParameterSets, type CodecInfo, type MediaDescription } from '../protocols/rtsp/sdp.ts';
import type { Sample, SampleCodec, SampleConfig } from '../protocols/fmp4/sample.ts';
import type { AccessUnit } from './access-unit.ts';

export type { Sample, SampleCodec, SampleConfig } from '../protocols/fmp4/sample.ts';

/** AAC-LC frames are 1024 samples (ISO/IEC 14496-3 §4.5.1.1, frameLengthFlag 0). */
const AAC_FRAME_SAMPLES = 1024;

/** The codec of a medium as frame readers know it, or undefined for one they cannot carry (it stays RTP-only). */
export function sampleCodecOf(codec: CodecInfo): SampleCodec | undefined {
  switch (codec.codec) {
    case 'H264':
      return 'h264';
    case 'H265':
      return 'h265';
    case 'MPEG4-GENERIC':
      return 'aac';
    case 'OPUS':
      return 'opus';
    case 'PCMA':
      return 'pcma';
    case 'PCMU':
      return 'pcmu';
    default:
      return undefined;
  }
}

type ParameterSet = 'vps' | 'sps' | 'pps';

/** What differs between H.264 and H.265 for a frame reader: NAL unit roles, depacketizing, parameter sets, config. */
interface VideoCodec {
  depacketize(payloads: readonly Uint8Array[]): Depacketized<Uint8Array[]>;
  /** A parameter set, a NAL unit samples leave out (access unit delimiters), or picture data. */
  role(nal: Uint8Array): ParameterSet | 'drop' | 'keep';
  /** The parameter sets an SDP gives (RFC 6184 §8.1 sprop-parameter-sets; RFC 7798 §7.1 sprop-vps/-sps/-pps). */
  sprops(fmtp: string | undefined): Uint8Array[];
  extractor(): { extract(nalus: readonly Uint8Array[], pts: number): DtsResult; reset(): void };
  config(sets: ReadonlyMap<ParameterSet, Uint8Array>, version: number): SampleConfig | string | undefined;
}

const H264: VideoCodec = {
  depacketize: (p) => depacketizeH264(p),
  role: (nal) => {
    const type = nal[0]! & 0x1f;
    return type === H264_NAL.sps ? 'sps' : type === H264_NAL.pps ? 'pps' : type === H264_NAL.aud ? 'drop' : 'keep';
  },
  sprops: (fmtp) => h264SpropParameterSets(fmtp),
  extractor: () => new H264DtsExtractor(),
  config: (sets, version) => {
    const spsNal = sets.get('sps');
    const ppsNal = sets.get('pps');
    if (!spsNal || !ppsNal) return undefined;
    const sps = parseSps(spsNal);
    const avcC = avcCFromParameterSets(spsNal, ppsNal);
    if (!sps.ok || !avcC) return sps.ok ? 'the SPS is too short' : `the SPS does not parse: ${sps.message}`;
    return { codec: 'h264', clockRate: 90000, avcC, width: sps.value.width, height: sps.value.height, version };
  },
};

const H265: VideoCodec = {
  depacketize: (p) => depacketizeH265(p),
  role: (nal) => {
    const type = (nal[0]! >> 1) & 0x3f;
    return type === H265_NAL.vps ? 'vps' : type === H265_NAL.sps ? 'sps' : type === H265_NAL.pps ? 'pps' : type === H265_NAL.aud ? 'drop' : 'keep';
  },
  sprops: (fmtp) => {
    const params = fmtpParams(fmtp);
    return ['sprop-vps', 'sprop-sps', 'sprop-pps'].flatMap((k) => base64List(params.get(k)));
  },
  extractor: () => new H265DtsExtractor(),
  config: (sets, version) => {
    const vps = sets.get('vps');
    const spsNal = sets.get('sps');
    const pps = sets.get('pps');
    if (!vps || !spsNal || !pps) return undefined;
    const sps = parseHevcSps(spsNal);
    const hvcC = hvcCFromParameterSets(vps, spsNal, pps);
    if (!sps.ok) return `the SPS does not parse: ${sps.message}`;
    if (!hvcC.ok) return hvcC.message;
    return { codec: 'h265', clockRate: 90000, hvcC: hvcC.value, width: sps.value.width, height: sps.value.height, version };
  },
};

/** Base64 NAL units, comma-separated; what is not base64 is skipped rather than decoded as garbage. */
function base64List(value: string | undefined): Uint8Array[] {
  if (value === undefined) return [];
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => /^[A-Za-z0-9+/]+={0,2}$/.test(v))
    .map((v) => new Uint8Array(Buffer.from(v, 'base64')))
    .filter((n) => n.length > 0);
}

/** Where a track's RTP clock meets the stream's timeline; fixed once, at the first sample made. */
interface Anchor {
  /** Unwrapped RTP time of the anchor. */
  rtp: number;
  /** Its time on the stream's timeline, in ms. */
  ms: number;
}

/** The stream's side of the timeline: when it started, and the last sender report of each track (restamped). */
export interface TimelineSource {
  since: number;
  senderReport(track: number): Uint8Array | undefined;
}

export class TrackSamples {
  readonly codec: SampleCodec;
  readonly clockRate: number;
  private config: SampleConfig | undefined;
  private version = 0;
  /** Video: the parameter sets held (from the SDP, replaced by those in band). */
  private readonly sets = new Map<ParameterSet, Uint8Array>();
  private readonly video: VideoCodec | undefined;
  private readonly aac: AacHbrParams | undefined;
  /** Last RTP time seen (32-bit) and its unwrapped value. */
  private lastTs = -1;
  private extTs = 0;
  private anchor: Anchor | undefined;
  private lastIndex = -1;
  /** Video only: a unit was lost, so nothing is made until the next keyframe. */
  private waitKeyframe = true;
  /** Video from RTP: decode times from the bitstream (B-frames arrive in decode order with presentation times). */
  private readonly dts: ReturnType<VideoCodec['extractor']> | undefined;
  /** Why the last unit gave no sample, for logs and tests. */
  lastProblem: string | undefined;

  constructor(
    readonly track: number,
    codec: SampleCodec,
    private readonly media: MediaDescription,
    private readonly info: CodecInfo,
    private readonly timeline: StreamTimeline,
  ) {
    this.codec = codec;
    this.clockRate = info.clockRate;
    this.video = codec === 'h264' ? H264 : codec === 'h265' ? H265 : undefined;
    this.dts = this.video?.extractor();
    if (this.video) {
      // The extractor takes parameter sets in band; the SDP's go ahead of the first unit (see make).
      for (const nal of this.video.sprops(media.fmtp)) this.parameterSet(nal);
    } else if (codec === 'aac') {
      const p = parseAacFmtp(media.fmtp ?? '');
      this.aac = p.ok ? p.value : undefined;
      if (!p.ok) this.lastProblem = p.error.message;
    }
    this.configure();
  }

  /** A returning publisher's description (same codecs): new SDP parameter sets make a new configuration. */
  updateMedia(media: MediaDescription): void {
    if (!this.video) return;
    let changed = false;
    for (const nal of this.video.sprops(media.fmtp)) changed = this.parameterSet(nal) || changed;
    if (changed) this.configure();
  }

  /** The next unit starts a new run (a new publisher took the stream): video waits for its next keyframe. */
  discontinuity(): void {
    this.waitKeyframe = true;
    this.lastIndex = -1;
    this.dts?.reset();
  }

  /** The configuration, once known (H.264: after an SPS and a PPS, from the SDP or in band). */
  sampleConfig(): SampleConfig | undefined {
    return this.config;
  }

  /** The unit's samples (memoised on the unit); null when it cannot give any (loss, waiting for a keyframe, garbage). */
  samplesOf(unit: AccessUnit): readonly Sample[] | null {
    if (unit.samples !== undefined) return unit.samples;
    const made = this.make(unit);
    unit.samples = made;
    return made;
  }

  private make(unit: AccessUnit): Sample[] | null {
    // A unit this track skipped (no frame reader then) is a discontinuity like a lost one.
    const continuous = unit.index === this.lastIndex + 1;
    this.lastIndex = unit.index;
    const rtp = this.unwrap(unit.timestamp);
    if (this.video) {
      if (unit.lost || !continuous) this.waitKeyframe = true;
      if (this.waitKeyframe && !unit.keyframe) return this.fail(unit.lost ? 'a packet was lost: waiting for the next keyframe' : 'waiting for a keyframe');
      const nalus = this.videoNalus(this.video, unit);
      if (!nalus) return null;
      if (!this.config) return this.fail('no parameter sets yet (neither in the SDP nor in band)');
      const pts = this.pts(unit, rtp);
      const video = this.video;
      const picture = unit.sample ?? lengthPrefixed(nalus.filter((n) => video.role(n) === 'keep'));
      if (picture.length === 0) return this.fail('an access unit with parameter sets only');
      // A browser's sample (unit.sample) never has B-frames (WebCodecs realtime): its decode time is its presentation time.
      const dts = unit.sample ? pts : this.decodeTime(nalus, pts, unit.keyframe);
      if (dts === undefined) return null;
      this.waitKeyframe = false;
      return [{ pts, dts, keyframe: unit.keyframe, data: picture }];
    }
    if (unit.lost && unit.sample === undefined) return this.fail('a packet was lost');
    if (!this.config) return this.fail(this.lastProblem ?? 'no configuration');
    const pts = this.pts(unit, rtp);
    if (unit.sample) return [{ pts, dts: pts, keyframe: true, data: unit.sample }];
    const payload = payloadOf(unit);
    if (!payload) return this.fail('not an RTP packet');
    if (this.codec === 'aac') {
      const r = depacketizeAac(payload, this.aac!);
      if (!r.ok) return this.fail(r.error.message);
      // RFC 3640 §3.2.3.2: the AUs of a packet follow one another, each a frame's duration after the last.
      return r.value.map((data, i) => ({ pts: pts + i * AAC_FRAME_SAMPLES, dts: pts + i * AAC_FRAME_SAMPLES, keyframe: true, data }));
    }
    const r = this.codec === 'opus' ? depacketizeOpus(payload) : depacketizeG711(payload);
    if (!r.ok) return this.fail(r.error.message);
    return [{ pts, dts: pts, keyframe: true, data: r.value }];
  }

  private fail(problem: string): null {
    this.lastProblem = problem;
    return null;
  }

  /** The decode time of a video access unit (see dts-extractor.ts); undefined, with waitKeyframe set, when unknown. */
  private decodeTime(nalus: readonly Uint8Array[], pts: number, keyframe: boolean): number | undefined {
    // At a keyframe the extractor is handed the held parameter sets first: a sender that puts them only in the SDP.
    const withSets = keyframe ? [...this.sets.values(), ...nalus] : nalus;
    let d = this.dts!.extract(withSets, pts);
    // A keyframe whose time goes back (a publisher that restarted its clock) starts a new timeline.
    if (!d.ok && keyframe) {
      this.dts!.reset();
      d = this.dts!.extract(withSets, pts);
    }
    if (d.ok) return d.dts;
    this.waitKeyframe = true;
    this.fail(`no decode time: ${d.message}`);
    return undefined;
  }

  /** The NAL units of a video unit, taking in-band parameter sets into the configuration. */
  private videoNalus(video: VideoCodec, unit: AccessUnit): Uint8Array[] | null {
    // The relay feed's sample: 4-byte lengths (the page's avcC), parameter sets in the SDP. Nothing to parse.
    if (unit.sample) return [];
    const payloads: Uint8Array[] = [];
    for (const p of unit.packets) {
      const payload = payloadOf(p);
      if (!payload) return this.fail('not an RTP packet');
      payloads.push(payload);
    }
    const r = video.depacketize(payloads);
    if (!r.ok) {
      this.waitKeyframe = true;
      return this.fail(r.error.message);
    }
    let changed = false;
    for (const n of r.value) if (video.role(n) !== 'keep' && video.role(n) !== 'drop') changed = this.parameterSet(n) || changed;
    if (changed) this.configure();
    return r.value;
  }

  /** Keeps a parameter set; true when it differs from the one held. */
  private parameterSet(nal: Uint8Array): boolean {
    const role = this.video?.role(nal);
    if (role !== 'vps' && role !== 'sps' && role !== 'pps') return false;
    const held = this.sets.get(role);
    if (held && Buffer.compare(held, nal) === 0) return false;
    this.sets.set(role, new Uint8Array(nal)); // the packet's buffer is shared with players; keep our own
    return true;
  }

  private configure(): void {
    const version = ++this.version;
    const channels = this.info.channels ?? 1;
    if (this.video) {
      const c = this.video.config(this.sets, version);
      if (typeof c === 'string') this.lastProblem = c;
      else if (c) this.config = c;
      return;
    }
    switch (this.codec) {
      case 'aac': {
        const asc = this.aac?.config;
        if (!asc || asc.length < 2) {
          this.lastProblem ??= 'the SDP gives no AAC config=';
          return;
        }
        this.config = { codec: 'aac', clockRate: this.clockRate, audioSpecificConfig: asc, sampleRate: this.clockRate, channels, version };
        return;
      }
      case 'opus': {
        // RFC 7587 §7: opus/48000/2 always; sprop-stereo=1 says the sender sends stereo (absent: mono is likely).
        const stereo = fmtpParams(this.media.fmtp).get('sprop-stereo') === '1' || fmtpParams(this.media.fmtp).get('stereo') === '1';
        this.config = { codec: 'opus', clockRate: 48000, channels: stereo ? 2 : 1, version };
        return;
      }
      case 'pcma':
      case 'pcmu':
        this.config = { codec: this.codec, clockRate: this.clockRate, channels, version };
    }
  }

  /** 32-bit RTP time → a number that keeps counting past the wrap (RFC 3550 §5.1), either way. */
  private unwrap(ts: number): number {
    if (this.lastTs < 0) {
      this.extTs = ts;
    } else {
      this.extTs += ((ts - this.lastTs) << 0); // signed 32-bit difference
    }
    this.lastTs = ts;
    return this.extTs;
  }

  private pts(unit: AccessUnit, rtp: number): number {
    if (!this.anchor) this.anchor = { rtp, ms: this.timeline.origin(this.track, unit, rtp, this.clockRate) };
    return Math.round((this.anchor.ms * this.clockRate) / 1000) + (rtp - this.anchor.rtp);
  }
}

/** The payload of a unit's first packet (audio units are one packet). */
function payloadOf(unitOrPacket: AccessUnit | Uint8Array): Uint8Array | undefined {
  const packet = unitOrPacket instanceof Uint8Array ? unitOrPacket : unitOrPacket.packets[0];
  if (!packet) return undefined;
  const h = parseRtpHeader(packet);
  return h ? rtpPayload(packet, h) : undefined;
}

/**
 * Where the stream's timeline starts: far enough from 0 that the decode times of B-frame streams, which begin a few
 * frames before the first presentation time, and audio that starts before video, stay positive (MP4's tfdt is
 * unsigned). ffmpeg starts its outputs at 0 whatever the input's first timestamp.
 */
const TIMELINE_START_MS = 10_000;

/**
 * The stream's timeline: each track's RTP clock is placed on it once, by its first sender report when the stream has
 * one for every track (the publisher's own clock: exact audio/video sync), else by when its first unit arrived.
 */
export class StreamTimeline {
  private mode: 'sr' | 'arrival' | undefined;
  /** SR mode: the timeline's zero on the publisher's NTP clock, in ms. */
  private ntpZero = 0;

  constructor(
    private readonly source: TimelineSource,
    private readonly tracks: number,
  ) {}

  /** The timeline time (ms) of RTP time `rtp` (unwrapped) of `unit`'s track. */
  origin(track: number, unit: AccessUnit, rtp: number, rate: number): number {
    const arrival = TIMELINE_START_MS + Math.max(0, unit.at - this.source.since);
    if (this.mode === undefined) {
      const all = Array.from({ length: this.tracks }, (_, i) => this.source.senderReport(i));
      this.mode = all.every((sr) => sr !== undefined && findSenderReport(sr) !== undefined) ? 'sr' : 'arrival';
      if (this.mode === 'sr') this.ntpZero = this.ntpMs(track, unit.timestamp, rtp, rate)! - arrival;
    }
    if (this.mode === 'sr') {
      const ms = this.ntpMs(track, unit.timestamp, rtp, rate);
      if (ms !== undefined) return ms - this.ntpZero;
    }
    return arrival;
  }

  /** NTP wall time (ms) of a unit's RTP time by the track's sender report. */
  private ntpMs(track: number, ts: number, _rtp: number, rate: number): number | undefined {
    const bytes = this.source.senderReport(track);
    const sr = bytes && findSenderReport(bytes);
    if (!sr) return undefined;
    const srMs = sr.ntpSeconds * 1000 + (sr.ntpFraction / 0x1_0000_0000) * 1000;
    const delta = (ts - sr.rtpTimestamp) << 0; // signed: the unit may be before or after the report
    return srMs + (delta * 1000) / rate;
  }
}
