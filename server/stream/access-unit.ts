// Groups a track's RTP packets into access units (one video frame, or one audio packet), so the fan-out can do
// one write per access unit per player instead of one per packet, and so keyframes are known before anything is sent.
import { h264Flags, H264_FLAG_IDR } from '../protocols/rtp/h264.ts';
import { h265Flags, H265_FLAG_IRAP } from '../protocols/rtp/h265.ts';
import type { RtpHeader } from '../protocols/rtp/packet.ts';
import { INTERLEAVED_HEADER_SIZE, writeInterleavedHeader } from '../rtsp/interleaved.ts';

export interface AccessUnit {
  track: number;
  packets: Uint8Array[];
  bytes: number;
  /** Random access point: an H.264 IDR / H.265 IRAP, or any unit of a track without inter-frame prediction. */
  keyframe: boolean;
  timestamp: number;
  /** Each packet framed for RTSP interleaved delivery, built on first use per channel and shared by every player. */
  framed?: Map<number, Buffer>;
  /**
   * When the packets lie one after another in one buffer, each behind 4 bytes that are ours (the relay feed's
   * packets): the whole span, framed in place for the first channel asked for. Other channels get a copy.
   */
  span?: FramedSpan;
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

  constructor(
    private readonly track: number,
    private readonly rule: KeyframeRule | 'none',
    private readonly emit: (unit: AccessUnit) => void,
  ) {}

  push(packet: Uint8Array, header: RtpHeader, headroom = false): void {
    if (this.rule === 'every' || this.rule === 'none') {
      // RFC 3550 §5.1: for audio the marker bit means "start of talkspurt", not "end of frame"; every packet is a unit.
      const unit: AccessUnit = { track: this.track, packets: [packet], bytes: packet.length, keyframe: this.rule === 'every', timestamp: header.timestamp };
      if (headroom) unit.span = spanOf(packet, packet);
      this.emit(unit);
      return;
    }
    let unit = this.current;
    if (unit && unit.timestamp !== header.timestamp) {
      // A new timestamp starts a new frame even if the previous one lost its marker packet.
      this.flush();
      unit = undefined;
    }
    if (!unit) {
      unit = { track: this.track, packets: [], bytes: 0, keyframe: false, timestamp: header.timestamp };
      this.current = unit;
      this.inPlace = headroom;
    } else if (this.inPlace) {
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

  flush(): void {
    const unit = this.current;
    this.current = undefined;
    if (!unit) return;
    if (this.inPlace) unit.span = spanOf(unit.packets[0]!, unit.packets[unit.packets.length - 1]!);
    this.emit(unit);
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
