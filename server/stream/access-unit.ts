// Groups a track's RTP packets into access units (one video frame, or one audio packet), so the fan-out can do
// one write per access unit per player instead of one per packet, and so keyframes are known before anything is sent.
// A unit carries its RTP packets (what RTSP players get, unchanged) and, made once on first use by a reader that needs
// frames (stream/samples.ts), its samples in the codec's sample form; a source that has the samples already (the
// relay feed, from a browser's fMP4) attaches them.
import { h264Flags, H264_FLAG_IDR } from '../protocols/rtp/h264.ts';
import { h265Flags, H265_FLAG_IRAP } from '../protocols/rtp/h265.ts';
import type { RtpHeader } from '../protocols/rtp/packet.ts';
import { INTERLEAVED_HEADER_SIZE, writeInterleavedHeader } from '../protocols/rtsp/interleaved.ts';
import type { SharedFragment } from '../protocols/fmp4/track-mux.ts';

export interface AccessUnit {
  track: number;
  packets: Uint8Array[];
  bytes: number;
  /** Random access point: an H.264 IDR / H.265 IRAP, or any unit of a track without inter-frame prediction. */
  keyframe: boolean;
  timestamp: number;
  /** Arrival (ms, the stream's clock): anchors the track's RTP time to the other tracks' when there is no sender report. */
  at: number;
  /** Counts the track's units: a reader that decodes sees a gap as a discontinuity. */
  index: number;
  /** Counts the stream's units across tracks, from 1, set when the hub takes the unit: fragments' sequence numbers. */
  order: number;
  /** A packet of this unit, or one just before it, never arrived (RTP sequence gap): its samples cannot be trusted. */
  lost: boolean;
  /**
   * The sample (sample form: length-prefixed NAL units, an audio frame) when the source had it before packetizing;
   * otherwise undefined, and the samples are depacketized from `packets` on first use.
   */
  sample?: Uint8Array;
  /** The samples, made once by stream/samples.ts for every reader that needs them; null when they cannot be made. */
  samples?: readonly import('./samples.ts').Sample[] | null;
  /** Its fMP4 fragment per mux layout, made by the first reader that needs it and shared (TrackMux.fragmentOf). */
  fragments?: Map<string, SharedFragment>;
  /** Each packet framed for RTSP interleaved delivery, built on first use per channel and shared by every player. */
  framed?: Map<number, Buffer>;
  /**
   * When the packets lie one after another in one buffer, each behind 4 bytes that are ours (the relay feed's
   * packets): the whole span, framed in place for the first channel asked for. Other channels get a copy.
   */
  span?: FramedSpan | undefined;
}

export interface FramedSpan {
  bytes: Buffer;
  /** The channel the headers were written for, once a player asked. */
  channel: number | undefined;
}

export type KeyframeRule = 'h264' | 'h265' | 'every';

export function keyframeRuleFor(codec: string, kind: string): KeyframeRule | 'none' {
  if (codec === 'H264') return 'h264';
  if (codec === 'H265') return 'h265';
  // Audio and other payloads: each packet stands alone. Video we cannot parse (VP8, MJPEG...) gets no keyframe
  // awareness: its players start wherever they join and are never skipped to a keyframe we cannot see.
  return kind === 'video' ? 'none' : 'every';
}

/** Bounds: a publisher that never sets the marker bit cannot make us hold a frame forever. */
const MAX_PACKETS_PER_UNIT = 2048;
const MAX_BYTES_PER_UNIT = 4 * 1024 * 1024;

export class AccessUnitAssembler {
  private current: AccessUnit | undefined;
  /** Whether every packet of the current unit so far follows the last one behind header room of its own. */
  private inPlace = false;
  /** The sequence number the next packet should have; -1 before the first. */
  private nextSeq = -1;
  private units = 0;

  constructor(
    private readonly track: number,
    private readonly rule: KeyframeRule | 'none',
    private readonly emit: (unit: AccessUnit) => void,
  ) {}

  /**
   * One packet (its header parsed into `header`) that arrived at `at`. `sample`: the whole unit's sample, when the
   * source has it (passed with each packet of the unit).
   */
  push(packet: Uint8Array, header: RtpHeader, headroom = false, at = 0, sample?: Uint8Array): void {
    // RFC 3550 §A.1: a sequence number other than the next one means loss (or reordering, which we treat as loss).
    const gap = this.nextSeq >= 0 && header.sequenceNumber !== this.nextSeq;
    this.nextSeq = (header.sequenceNumber + 1) & 0xffff;
    if (this.rule === 'every' || this.rule === 'none') {
      // RFC 3550 §5.1: for audio the marker bit means "start of talkspurt", not "end of frame"; every packet is a unit.
      const unit: AccessUnit = { track: this.track, packets: [packet], bytes: packet.length, keyframe: this.rule === 'every', timestamp: header.timestamp, at, index: this.units++, order: 0, lost: gap };
      if (sample) unit.sample = sample;
      if (headroom) unit.span = spanOf(packet, packet);
      this.emit(unit);
      return;
    }
    let unit = this.current;
    if (unit && unit.timestamp !== header.timestamp) {
      // A new timestamp starts a new frame even if the previous one lost its marker packet. A gap here may have
      // taken the end of the previous unit or the start of this one: neither can be trusted.
      if (gap) unit.lost = true;
      this.flush();
      unit = undefined;
    }
    if (!unit) {
      unit = { track: this.track, packets: [], bytes: 0, keyframe: false, timestamp: header.timestamp, at, index: this.units++, order: 0, lost: gap };
      if (sample) unit.sample = sample;
      this.current = unit;
      this.inPlace = headroom;
    } else if (gap) {
      unit.lost = true;
    }
    if (this.inPlace && unit.packets.length > 0) {
      const last = unit.packets[unit.packets.length - 1]!;
      this.inPlace = headroom && packet.buffer === last.buffer && packet.byteOffset === last.byteOffset + last.byteLength + INTERLEAVED_HEADER_SIZE;
    }
    unit.packets.push(packet);
    unit.bytes += packet.length;
    if (!unit.keyframe) {
      const payload = packet.subarray(header.payloadOffset, header.payloadOffset + header.payloadLength);
      unit.keyframe = this.rule === 'h264' ? (h264Flags(payload) & H264_FLAG_IDR) !== 0 : (h265Flags(payload) & H265_FLAG_IRAP) !== 0;
    }
    // RFC 6184 §5.1 / RFC 7798 §4.1: the marker bit is set on the last packet of an access unit.
    if (header.marker || unit.packets.length >= MAX_PACKETS_PER_UNIT || unit.bytes >= MAX_BYTES_PER_UNIT) this.flush();
  }

  /**
   * Emit the unit being assembled. `cutShort`: its source is gone before its last packet (the marker) arrived, so
   * its samples cannot be trusted; RTSP players still get the packets that came, as they would have live.
   */
  /**
   * A whole unit a source gives at once (LazyUnit) takes the track's next unit index, and its packets' numbers are
   * what this assembler expects next, so a later publisher's packets are not seen as a loss.
   */
  takeWhole(nextSeq: number): number {
    this.flush(true);
    this.nextSeq = nextSeq & 0xffff;
    return this.units++;
  }

  flush(cutShort = false): void {
    const unit = this.current;
    this.current = undefined;
    if (!unit) return;
    if (cutShort) unit.lost = true;
    if (this.inPlace) unit.span = spanOf(unit.packets[0]!, unit.packets[unit.packets.length - 1]!);
    this.emit(unit);
  }
}

/**
 * A unit whose source has it whole (the relay feed: a browser's frame) and whose RTP packets are made only when
 * something asks for them (an RTSP player, RTP-Info): a stream nobody plays over RTSP never packetizes. `make` gets the
 * hub's numbers and lays the packets out with header room, one after another, so they frame in place (framedFor).
 */
export class LazyUnit implements AccessUnit {
  order = 0;
  lost = false;
  sample?: Uint8Array;
  samples?: readonly import('./samples.ts').Sample[] | null;
  framed?: Map<number, Buffer>;
  fragments?: Map<string, SharedFragment>;
  private made: Uint8Array[] | undefined;
  private madeSpan: FramedSpan | undefined;

  constructor(
    readonly track: number,
    readonly index: number,
    readonly timestamp: number,
    readonly at: number,
    readonly keyframe: boolean,
    /** What the packets will weigh, headers included (reader stats and the group cache count it before they exist). */
    readonly bytes: number,
    sample: Uint8Array | undefined,
    private readonly make: () => Uint8Array[],
  ) {
    if (sample) this.sample = sample;
  }

  get packets(): Uint8Array[] {
    if (!this.made) {
      this.made = this.make();
      const first = this.made[0];
      const last = this.made[this.made.length - 1];
      if (first && last) this.madeSpan = spanOf(first, last);
    }
    return this.made;
  }

  get span(): FramedSpan | undefined {
    return this.packets.length > 0 ? this.madeSpan : undefined;
  }

  /** Whether the packets have been made (tests, and the cost they measure). */
  get packetized(): boolean {
    return this.made !== undefined;
  }
}

/** The bytes from the header room of `first` to the end of `last` (same buffer, `first` not after `last`). */
function spanOf(first: Uint8Array, last: Uint8Array): FramedSpan {
  const start = first.byteOffset - INTERLEAVED_HEADER_SIZE;
  return { bytes: Buffer.from(first.buffer, start, last.byteOffset + last.byteLength - start), channel: undefined };
}

/** The interleaved bytes of a unit for one channel: '$' ch len payload, for every packet (RFC 2326 §10.12). */
export function framedFor(unit: AccessUnit, channel: number): Buffer {
  const span = unit.span;
  if (span && (span.channel === undefined || span.channel === channel)) {
    if (span.channel === undefined) {
      // Written once, before the span is first handed to a socket; a player on another channel gets a copy below.
      const base = span.bytes.byteOffset;
      for (const p of unit.packets) writeInterleavedHeader(span.bytes, p.byteOffset - INTERLEAVED_HEADER_SIZE - base, channel, p.length);
      span.channel = channel;
    }
    return span.bytes;
  }
  let cache = unit.framed;
  const hit = cache?.get(channel);
  if (hit) return hit;
  const out = Buffer.allocUnsafe(unit.bytes + INTERLEAVED_HEADER_SIZE * unit.packets.length);
  let at = 0;
  for (const p of unit.packets) {
    writeInterleavedHeader(out, at, channel, p.length);
    out.set(p, at + INTERLEAVED_HEADER_SIZE);
    at += INTERLEAVED_HEADER_SIZE + p.length;
  }
  if (!cache) {
    cache = new Map();
    unit.framed = cache;
  }
  cache.set(channel, out);
  return out;
}
