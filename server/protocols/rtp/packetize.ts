// Frames → RTP packets, for streams the server itself publishes into the relay (a browser's fMP4): what an RTSP
// publisher's packetizer does, so the hub downstream cannot tell the difference. The payload functions only describe
// the packets (a payload header and a view of the media); writeRtpPackets then writes every packet of a frame into one
// buffer, so a frame costs one allocation and one copy of its bytes, and an RTSP player over TCP gets it in one write
// with no further copy (room for the interleaved header is left before each packet).
//
//   H.264  RFC 6184 packetization-mode=1: a NAL unit that fits is its own packet, a larger one goes in FU-A fragments.
//   H.265  RFC 7798: a NAL unit that fits is its own packet, a larger one goes in FU (type 49) fragments.
//   Opus   RFC 7587: one Opus packet per RTP packet.
//   AAC    RFC 3640 mpeg4-generic AAC-hbr: AU-headers-length, one 13+3-bit AU-header, the AU; a large AU in fragments.
import { H264_NAL } from './h264.ts';
import { H265_NAL } from './h265.ts';
import { RTP_HEADER_SIZE, writeUint32 } from './packet.ts';

/**
 * Payload bytes per packet: a 1500-byte Ethernet MTU less IPv4 (20), UDP (8) and RTP (12) headers is 1460; 1400
 * leaves room for tunnels and IPv6. Over TCP-interleaved delivery it only sets the packet count.
 */
export const MAX_RTP_PAYLOAD = 1400;

const FU_A = H264_NAL.fuA;

/**
 * One RTP payload, described rather than built: `headSize` (0, 2, 3 or 4) bytes of payload header, big-endian in the
 * low bits of `head`, then `body`, a view of the media. (3 is the H.265 FU: PayloadHdr + FU header.)
 */
export interface Payload {
  head: number;
  headSize: 0 | 2 | 3 | 4;
  body: Uint8Array;
}

function writeHead(out: Uint8Array, at: number, p: Payload): void {
  for (let i = 0; i < p.headSize; i++) out[at + i] = (p.head >>> (8 * (p.headSize - 1 - i))) & 0xff;
}

/**
 * The RTP payloads of one H.264 access unit given as NAL units (without start codes or length prefixes). The marker
 * bit belongs on the last one (RFC 6184 §5.1).
 */
export function h264Payloads(nals: readonly Uint8Array[], maxPayload = MAX_RTP_PAYLOAD): Payload[] {
  const out: Payload[] = [];
  for (const nal of nals) {
    if (nal.length === 0) continue;
    if (nal.length <= maxPayload) {
      out.push({ head: 0, headSize: 0, body: nal }); // §5.6 single NAL unit packet
      continue;
    }
    // §5.8 FU-A: indicator (F, NRI of the NAL, type 28), header (S, E, the NAL's type), then a slice of its payload.
    const indicator = (nal[0]! & 0xe0) | FU_A;
    const type = nal[0]! & 0x1f;
    const chunk = maxPayload - 2;
    for (let at = 1; at < nal.length; at += chunk) {
      const end = Math.min(at + chunk, nal.length);
      const header = (at === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
      out.push({ head: (indicator << 8) | header, headSize: 2, body: nal.subarray(at, end) });
    }
  }
  return out;
}

/** The NAL units of an avc1 sample: each behind a big-endian length of `lengthSize` bytes (ISO/IEC 14496-15 §5.3.2). */
export function splitLengthPrefixed(sample: Uint8Array, lengthSize: number): Uint8Array[] {
  const nals: Uint8Array[] = [];
  let at = 0;
  while (at + lengthSize <= sample.length) {
    let n = 0;
    for (let i = 0; i < lengthSize; i++) n = n * 256 + sample[at + i]!;
    at += lengthSize;
    if (n > sample.length - at) break; // the reader checked the framing; never read past the sample anyway
    nals.push(sample.subarray(at, at + n));
    at += n;
  }
  return nals;
}

/**
 * RFC 3640 §3.2 AAC-hbr (sizelength=13, indexlength=3): a 16-bit AU-headers-length (16 bits of headers), the AU-header
 * (AU-size, AU-index 0), then the AU. An AU too big for one packet is fragmented (§3.2.3): every fragment carries the
 * header with the whole AU's size, and only the last one gets the marker.
 */
export function aacPayloads(au: Uint8Array, maxPayload = MAX_RTP_PAYLOAD): Payload[] {
  if (au.length > 0x1fff) return []; // 13 bits cannot say its size; AAC frames are at most 768 bytes a channel
  const out: Payload[] = [];
  const head = (16 << 16) | (au.length << 3); // AU-headers-length 16, AU-size, AU-index 0
  const chunk = maxPayload - 4;
  let at = 0;
  do {
    const end = Math.min(at + chunk, au.length);
    out.push({ head, headSize: 4, body: au.subarray(at, end) });
    at = end;
  } while (at < au.length);
  return out;
}

export interface RtpRun {
  payloadType: number;
  ssrc: number;
  /** Sequence number of the first packet; the rest follow it (mod 2^16). */
  seq: number;
  /** One timestamp for every packet: they carry one frame. */
  timestamp: number;
  /** The marker bit on the last packet (video: end of frame, AAC: end of AU); Opus sets its own. */
  markLast: boolean;
}

/**
 * RTP packets (RFC 3550 §5.1: version 2, no padding, extension or CSRCs) for `payloads`, all written into one new
 * buffer with `headroom` spare bytes before each packet: views of it, in order.
 */
export function writeRtpPackets(payloads: readonly Payload[], run: RtpRun, headroom = 0): Uint8Array[] {
  let total = 0;
  for (const p of payloads) total += headroom + RTP_HEADER_SIZE + p.headSize + p.body.length;
  // allocUnsafe: every byte but the headroom is written below; a small frame (audio) comes from Node's shared pool.
  const buf = Buffer.allocUnsafe(total);
  const packets: Uint8Array[] = [];
  let at = 0;
  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    const start = at + headroom;
    const seq = (run.seq + i) & 0xffff;
    buf[start] = 0x80;
    buf[start + 1] = (run.markLast && i === payloads.length - 1 ? 0x80 : 0) | (run.payloadType & 0x7f);
    buf[start + 2] = seq >> 8;
    buf[start + 3] = seq & 0xff;
    writeUint32(buf, start + 4, run.timestamp >>> 0);
    writeUint32(buf, start + 8, run.ssrc >>> 0);
    writeHead(buf, start + RTP_HEADER_SIZE, p);
    buf.set(p.body, start + RTP_HEADER_SIZE + p.headSize);
    at = start + RTP_HEADER_SIZE + p.headSize + p.body.length;
    packets.push(new Uint8Array(buf.buffer, buf.byteOffset + start, at - start));
  }
  return packets;
}

/**
 * The RTP payloads of one H.265 access unit given as NAL units (without start codes or length prefixes), RFC 7798 with
 * sprop-max-don-diff = 0 (no DONL). The marker bit belongs on the last one (§4.1). No APs (§4.4.2): small NAL units
 * such as parameter sets go in packets of their own, which every receiver takes; aggregating would only save a few
 * packets per keyframe.
 */
export function h265Payloads(nals: readonly Uint8Array[], maxPayload = MAX_RTP_PAYLOAD): Payload[] {
  // An FU needs its 3 header bytes and at least one byte of fragment; a smaller bound cannot carry a large NAL unit,
  // so (like aacPayloads) nothing is sent rather than part of the access unit.
  const chunk = maxPayload - 3;
  const out: Payload[] = [];
  for (const nal of nals) {
    if (nal.length < 2) continue; // not even a NAL unit header (H.265 §7.3.1.2): nothing a receiver could take
    if (nal.length <= maxPayload) {
      out.push({ head: 0, headSize: 0, body: nal }); // §4.4.1 single NAL unit packet
      continue;
    }
    if (chunk < 1) return [];
    // §4.4.3 FU: PayloadHdr (the NAL header with Type 49: F, LayerId and TID kept), FU header (S, E, FuType = the NAL's
    // type), then a slice of the NAL unit's payload (its 2-byte header is not sent; the receiver rebuilds it). The NAL
    // unit is over maxPayload, so its payload takes at least two fragments and S and E never share one.
    const payloadHdr = (((nal[0]! & 0x81) | (H265_NAL.fu << 1)) << 8) | nal[1]!;
    const type = (nal[0]! >> 1) & 0x3f;
    for (let at = 2; at < nal.length; at += chunk) {
      const end = Math.min(at + chunk, nal.length);
      const header = (at === 2 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
      out.push({ head: (payloadHdr << 8) | header, headSize: 3, body: nal.subarray(at, end) });
    }
  }
  return out;
}
