// A browser stream, published straight into the built-in RTSP relay: the checked fMP4 samples become RTP packets
// here, in this process, and go to the stream hub exactly as an RTSP publisher's would. No ffmpeg, no loopback RTSP
// session: the relay path costs a packetizer, not a process (bench:ingest measures the difference). ffmpeg still
// carries every configured destination, including RTSP servers elsewhere.
import type { FragmentInfo, InitInfo, TrackInfo } from '../../../shared/fmp4/reader.ts';
import type { Logger } from '../../log.ts';
import { H264_NAL } from '../../protocols/rtp/h264.ts';
import { aacPayloads, h264Payloads, splitLengthPrefixed, writeRtpPackets, type Payload } from '../../protocols/rtp/packetize.ts';
import { RTP_HEADER_SIZE, setMarker } from '../../protocols/rtp/packet.ts';
import { INTERLEAVED_HEADER_SIZE } from '../../protocols/rtsp/interleaved.ts';
import { buildSenderReport, ntpTime } from '../../protocols/rtp/rtcp.ts';
import type { SessionDescription, MediaDescription } from '../../protocols/rtsp/sdp.ts';
import type { PublishRefusal, StreamRegistry } from '../../stream/registry.ts';
import type { Stream } from '../../stream/stream.ts';

/** ffmpeg's RTP muxer sends a sender report every 5 s (libavformat/rtpenc.c); so do we, and after each track's first packet. */
const SR_INTERVAL_MS = 5_000;

interface TrackFeed {
  index: number;
  info: TrackInfo;
  /** The RTP payload format, from the codec once rather than per sample. */
  format: 'h264' | 'aac' | 'opus';
  payloadType: number;
  clockRate: number;
  ssrc: number;
  seq: number;
  tsBase: number;
  packets: number;
  octets: number;
  lastSrAt: number;
  /** H.264: SPS and PPS, sent in-band ahead of every IDR so a player can start at any keyframe. */
  parameterSets: Uint8Array[];
}

export interface RelayFeedOptions {
  name: string;
  info: InitInfo;
  registry: StreamRegistry;
  /** The page's address, for the relay's publisher info. */
  remote: string;
  logger: Logger;
  now?: () => number;
  random?: () => number;
}

export class RelayFeed {
  readonly sdp: SessionDescription;
  private readonly tracks = new Map<number, TrackFeed>();
  private stream: Stream | undefined;
  private readonly now: () => number;
  /** The wall-clock time (ms) of media time `mediaZero` (s): both tracks share the page's timeline (sender reports). */
  private wallZero = 0;
  private mediaZero: number | undefined;

  constructor(private readonly o: RelayFeedOptions) {
    this.now = o.now ?? Date.now;
    const random = o.random ?? Math.random;
    const u32 = () => Math.floor(random() * 0x100000000) >>> 0;
    o.info.tracks.forEach((info, index) => {
      const pt = 96 + index;
      this.tracks.set(info.id, {
        index,
        info,
        format: info.codec.startsWith('avc') ? 'h264' : info.codec.startsWith('mp4a') ? 'aac' : 'opus',
        payloadType: pt,
        clockRate: clockRateOf(info),
        ssrc: u32(),
        seq: u32() & 0xffff,
        tsBase: u32(),
        packets: 0,
        octets: 0,
        lastSrAt: 0,
        parameterSets: info.parameterSets ? [...info.parameterSets.sps, ...info.parameterSets.pps] : [],
      });
    });
    this.sdp = sdpFor(o.name, [...this.tracks.values()], u32());
  }

  /** Take NAME in the relay (or its grace period, keeping its players when the codecs match). */
  attach(session: string): { ok: true } | { ok: false; refusal: PublishRefusal } {
    const r = this.o.registry.publish(this.o.name, this.sdp, { protocol: 'websocket', transport: 'tcp', remote: this.o.remote, session, since: this.now() });
    if (!r.ok) return r;
    this.stream = r.stream;
    return { ok: true };
  }

  /** The page's socket is gone: the relay keeps the players for its grace period. */
  detach(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s) this.o.registry.unpublish(s);
  }

  /** One checked media segment (`bytes` is what parseMediaSegment read, `parsed` what it found). */
  write(bytes: Uint8Array, parsed: FragmentInfo): void {
    const stream = this.stream;
    if (!stream) return;
    // Several samples (the page sends two Opus packets a fragment): each TCP player gets them in one write.
    if (parsed.tracks.length > 1 || (parsed.tracks[0]?.sampleList.length ?? 0) > 1) stream.together(() => this.feed(stream, bytes, parsed));
    else this.feed(stream, bytes, parsed);
  }

  private feed(stream: Stream, bytes: Uint8Array, parsed: FragmentInfo): void {
    for (const traf of parsed.tracks) {
      const t = this.tracks.get(traf.trackId);
      if (!t) continue;
      const base = Number(traf.baseDecodeTime);
      for (const s of traf.sampleList) {
        const time = base + s.decodeOffset + s.compositionOffset; // presentation time, track timescale
        const seconds = time / t.info.timescale;
        if (this.mediaZero === undefined) {
          this.mediaZero = seconds;
          this.wallZero = this.now();
        }
        const rtpTime = (t.tsBase + Math.round(seconds * t.clockRate)) >>> 0;
        const sample = bytes.subarray(s.offset, s.offset + s.size);
        const { payloads, keyframe } = this.payloads(t, sample);
        if (payloads.length === 0) continue;
        // The hub's frame readers take the sample as it is when it is already in their form (4-byte NAL lengths).
        const asIs = t.format !== 'h264' || t.info.nalLengthSize === 4 ? sample : undefined;
        // Video: the last packet of a frame (RFC 6184 §5.1); AAC: the last packet of an AU (RFC 3640 §3.1); Opus:
        // the first packet of a talkspurt (RFC 7587 §4.1, RFC 3551 §4.1), here the first one sent.
        const opus = t.format === 'opus';
        const markFirst = opus && t.packets === 0;
        let octets = 0;
        for (const p of payloads) octets += p.headSize + p.body.length;
        const payloadType = t.payloadType;
        // The hub makes the packets only if someone plays RTP (Stream.onUnit): room for the interleaved header is left
        // before each, so a TCP player gets the frame with no copy.
        stream.onUnit(t.index, {
          seq: t.seq,
          timestamp: rtpTime,
          packetCount: payloads.length,
          bytes: octets + payloads.length * RTP_HEADER_SIZE,
          keyframe,
          ...(asIs ? { sample: asIs } : {}),
          packetize: (seq, timestamp, ssrc) => {
            const packets = writeRtpPackets(payloads, { payloadType, ssrc, seq, timestamp, markLast: !opus }, INTERLEAVED_HEADER_SIZE);
            if (markFirst && packets[0]) setMarker(packets[0], true);
            return packets;
          },
        });
        t.octets += octets;
        t.seq = (t.seq + payloads.length) & 0xffff;
        t.packets += payloads.length;
        const now = this.now();
        if (payloads.length > 0 && (t.lastSrAt === 0 || now - t.lastSrAt >= SR_INTERVAL_MS)) {
          t.lastSrAt = now;
          const wallMs = this.wallZero + (seconds - this.mediaZero) * 1000;
          const sr = { ssrc: t.ssrc, ...ntpTime(wallMs), rtpTimestamp: rtpTime, packetCount: t.packets, octetCount: t.octets };
          stream.onRtcp(t.index, buildSenderReport(sr, `relaycast/${this.o.name}`));
        }
      }
    }
  }

  /** A sample's RTP payloads, and whether it is a random access point (an IDR; every audio frame is one). */
  private payloads(t: TrackFeed, sample: Uint8Array): { payloads: Payload[]; keyframe: boolean } {
    if (t.format === 'h264') {
      const nals = splitLengthPrefixed(sample, t.info.nalLengthSize ?? 4);
      const idr = nals.some((n) => (n[0]! & 0x1f) === H264_NAL.idrSlice);
      const hasSps = nals.some((n) => (n[0]! & 0x1f) === H264_NAL.sps);
      return { payloads: h264Payloads(idr && !hasSps ? [...t.parameterSets, ...nals] : nals), keyframe: idr };
    }
    if (t.format === 'aac') return { payloads: aacPayloads(sample), keyframe: true };
    return { payloads: [{ head: 0, headSize: 0, body: sample }], keyframe: true }; // Opus: one packet per RTP packet (RFC 7587 §4.2)
  }
}

function clockRateOf(t: TrackInfo): number {
  if (t.kind === 'video') return 90_000; // RFC 6184 §8.2.1
  if (t.codec === 'opus') return 48_000; // RFC 7587 §6.1: always 48000, whatever the input rate
  return t.sampleRate ?? t.timescale; // RFC 3640: the sampling rate
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').toUpperCase();
}

/** The session description an RTSP publisher would ANNOUNCE for these tracks (what ffmpeg 5.1 writes for them). */
function sdpFor(name: string, tracks: readonly TrackFeed[], sessionId: number): SessionDescription {
  const media: MediaDescription[] = tracks.map((t) => {
    const pt = t.payloadType;
    const m: MediaDescription = { type: t.info.kind, port: 0, proto: 'RTP/AVP', formats: [String(pt)], control: `streamid=${t.index}`, lines: [] };
    const i = t.info;
    if (t.format === 'h264') {
      // RFC 6184 §8.1: profile-level-id is the SPS's profile_idc, constraint flags and level_idc.
      const sps = i.parameterSets?.sps[0];
      const sets = t.parameterSets.map((n) => Buffer.from(n).toString('base64')).join(',');
      m.rtpmap = { payloadType: pt, encoding: 'H264', clockRate: 90_000 };
      m.fmtp = `packetization-mode=1${sets ? `; sprop-parameter-sets=${sets}` : ''}${sps && sps.length >= 4 ? `; profile-level-id=${hex(sps.subarray(1, 4))}` : ''}`;
    } else if (t.format === 'opus') {
      // RFC 7587 §7: always opus/48000/2; sprop-stereo says what the sender actually sends.
      m.rtpmap = { payloadType: pt, encoding: 'opus', clockRate: 48_000, channels: 2 };
      if (i.channels === 2) m.fmtp = 'sprop-stereo=1';
    } else {
      // RFC 3640 §3.3.6 AAC-hbr.
      m.rtpmap = { payloadType: pt, encoding: 'MPEG4-GENERIC', clockRate: t.clockRate, ...(i.channels ? { channels: i.channels } : {}) };
      m.fmtp = `profile-level-id=1; mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3${i.aacConfig ? `; config=${hex(i.aacConfig)}` : ''}`;
    }
    return m;
  });
  return { lines: ['v=0', `o=- ${sessionId} 1 IN IP4 127.0.0.1`, `s=${name}`, 'c=IN IP4 0.0.0.0', 't=0 0', 'a=tool:relaycast'], media };
}
