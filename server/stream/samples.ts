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
import { depacketizeH264, lengthPrefixed } from '../protocols/rtp/depacketize-h264.ts';
import { H264DtsExtractor } from '../protocols/rtp/dts-extractor.ts';
import { H264_NAL } from '../protocols/rtp/h264.ts';
import { parseRtpHeader, rtpPayload } from '../protocols/rtp/packet.ts';
import { fmtpParams, h264SpropParameterSets, type CodecInfo, type MediaDescription } from '../rtsp/sdp.ts';
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
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  private readonly aac: AacHbrParams | undefined;
  /** Last RTP time seen (32-bit) and its unwrapped value. */
  private lastTs = -1;
  private extTs = 0;
  private anchor: Anchor | undefined;
  private lastIndex = -1;
  /** Video only: a unit was lost, so nothing is made until the next keyframe. */
  private waitKeyframe = true;
  /** H.264 from RTP: decode times from the bitstream (B-frames arrive in decode order with presentation times). */
  private readonly dts: H264DtsExtractor | undefined;
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
    this.dts = codec === 'h264' ? new H264DtsExtractor() : undefined;
    if (codec === 'h264') {
      for (const nal of h264SpropParameterSets(media.fmtp)) this.parameterSet(nal);
      if (this.sps && this.pps) this.dts!.setParameterSets(this.sps, this.pps);
    } else if (codec === 'aac') {
      const p = parseAacFmtp(media.fmtp ?? '');
      this.aac = p.ok ? p.value : undefined;
      if (!p.ok) this.lastProblem = p.error.message;
    }
    this.configure();
  }

  /** A returning publisher's description (same codecs): new SDP parameter sets make a new configuration. */
  updateMedia(media: MediaDescription): void {
    if (this.codec !== 'h264') return;
    let changed = false;
    for (const nal of h264SpropParameterSets(media.fmtp)) changed = this.parameterSet(nal) || changed;
    if (!changed) return;
    if (this.sps && this.pps) this.dts?.setParameterSets(this.sps, this.pps);
    this.configure();
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
    if (this.codec === 'h264') {
      if (unit.lost || !continuous) this.waitKeyframe = true;
      if (this.waitKeyframe && !unit.keyframe) return this.fail(unit.lost ? 'a packet was lost: waiting for the next keyframe' : 'waiting for a keyframe');
      const nalus = this.h264Nalus(unit);
      if (!nalus) return null;
      if (!this.config) return this.fail('no SPS/PPS yet (neither in the SDP nor in band)');
      const pts = this.pts(unit, rtp);
      const picture = unit.sample ?? lengthPrefixed(nalus.filter(isPictureData));
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

  /** The decode time of an H.264 access unit (see dts-extractor.ts); undefined, with waitKeyframe set, when unknown. */
  private decodeTime(nalus: readonly Uint8Array[], pts: number, keyframe: boolean): number | undefined {
    let d = this.dts!.extract(nalus, pts);
    // A keyframe whose time goes back (a publisher that restarted its clock) starts a new timeline.
    if (!d.ok && keyframe) {
      this.dts!.reset();
      d = this.dts!.extract(nalus, pts);
    }
    if (d.ok) return d.dts;
    this.waitKeyframe = true;
    this.fail(`no decode time: ${d.message}`);
    return undefined;
  }

  /** The NAL units of an H.264 unit, taking in-band SPS/PPS into the configuration. */
  private h264Nalus(unit: AccessUnit): Uint8Array[] | undefined {
    let nalus: Uint8Array[];
    if (unit.sample) {
      // The relay feed's sample: 4-byte lengths (the page's avcC), parameter sets in the SDP. Nothing to parse.
      return [];
    }
    const payloads: Uint8Array[] = [];
    for (const p of unit.packets) {
      const payload = payloadOf(p);
      if (!payload) return this.fail('not an RTP packet') ?? undefined;
      payloads.push(payload);
    }
    const r = depacketizeH264(payloads);
    if (!r.ok) {
      this.waitKeyframe = true;
      return this.fail(r.error.message) ?? undefined;
    }
    nalus = r.value;
    let changed = false;
    for (const n of nalus) {
      const type = n[0]! & 0x1f;
      if (type === H264_NAL.sps || type === H264_NAL.pps) changed = this.parameterSet(n) || changed;
    }
    if (changed) this.configure();
    return nalus;
  }

  /** Keeps an SPS or PPS; true when it differs from the one held. */
  private parameterSet(nal: Uint8Array): boolean {
    const type = nal[0]! & 0x1f;
    const held = type === H264_NAL.sps ? this.sps : type === H264_NAL.pps ? this.pps : undefined;
    if (type !== H264_NAL.sps && type !== H264_NAL.pps) return false;
    if (held && Buffer.compare(held, nal) === 0) return false;
    const copy = new Uint8Array(nal); // the packet's buffer is shared with players; keep our own
    if (type === H264_NAL.sps) this.sps = copy;
    else this.pps = copy;
    return true;
  }

  private configure(): void {
    const version = ++this.version;
    const channels = this.info.channels ?? 1;
    switch (this.codec) {
      case 'h264': {
        if (!this.sps || !this.pps) return;
        const sps = parseSps(this.sps);
        const avcC = avcCFromParameterSets(this.sps, this.pps);
        if (!sps.ok || !avcC) {
          this.lastProblem = sps.ok ? 'the SPS is too short' : `the SPS does not parse: ${sps.message}`;
          return;
        }
        this.config = { codec: 'h264', clockRate: 90000, avcC, width: sps.value.width, height: sps.value.height, version };
        return;
      }
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
      default:
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

/**
 * NAL units a sample keeps: not SPS/PPS (the configuration carries them, and a change makes a new init segment; a
 * sender may repeat them mid-picture, as GStreamer's rtph264pay does before a second IDR slice) and not access unit
 * delimiters (ISO/IEC 14496-15 §5.3.1: not stored in avc1 samples).
 */
function isPictureData(nal: Uint8Array): boolean {
  const type = nal[0]! & 0x1f;
  return type !== H264_NAL.sps && type !== H264_NAL.pps && type !== H264_NAL.aud;
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
