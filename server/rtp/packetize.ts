// Frames → RTP payloads, for streams the server itself publishes into the relay (a browser's fMP4): what an RTSP
// publisher's packetizer does, so the hub downstream cannot tell the difference. Pure functions; the caller adds the
// RTP header (rtpPacket) and owns the sequence numbers.
//
//   H.264  RFC 6184 packetization-mode=1: a NAL unit that fits is its own packet, a larger one goes in FU-A fragments.
//   Opus   RFC 7587: one Opus packet per RTP packet.
//   AAC    RFC 3640 mpeg4-generic AAC-hbr: AU-headers-length, one 13+3-bit AU-header, the AU; a large AU in fragments.
import { H264_NAL } from './h264.ts';
import { RTP_HEADER_SIZE, writeUint32 } from './packet.ts';

/**
 * Payload bytes per packet: a 1500-byte Ethernet MTU less IPv4 (20), UDP (8) and RTP (12) headers is 1460; 1400
 * leaves room for tunnels and IPv6. Over TCP-interleaved delivery it only sets the packet count.
 */
export const MAX_RTP_PAYLOAD = 1400;

const FU_A = H264_NAL.fuA;

/**
 * The RTP payloads of one H.264 access unit given as NAL units (without start codes or length prefixes). The marker
 * bit belongs on the last one (RFC 6184 §5.1).
 */
export function h264Payloads(nals: readonly Uint8Array[], maxPayload = MAX_RTP_PAYLOAD): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const nal of nals) {
    if (nal.length === 0) continue;
    if (nal.length <= maxPayload) {
      out.push(nal); // §5.6 single NAL unit packet
      continue;
    }
    // §5.8 FU-A: indicator (F, NRI of the NAL, type 28), header (S, E, the NAL's type), then a slice of its payload.
    const indicator = (nal[0]! & 0xe0) | FU_A;
    const type = nal[0]! & 0x1f;
    const chunk = maxPayload - 2;
    for (let at = 1; at < nal.length; at += chunk) {
      const end = Math.min(at + chunk, nal.length);
      const p = new Uint8Array(2 + end - at);
      p[0] = indicator;
      p[1] = (at === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type;
      p.set(nal.subarray(at, end), 2);
      out.push(p);
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
export function aacPayloads(au: Uint8Array, maxPayload = MAX_RTP_PAYLOAD): Uint8Array[] {
  if (au.length > 0x1fff) return []; // 13 bits cannot say its size; AAC frames are at most 768 bytes a channel
  const out: Uint8Array[] = [];
  const chunk = maxPayload - 4;
  let at = 0;
  do {
    const end = Math.min(at + chunk, au.length);
    const p = new Uint8Array(4 + end - at);
    p[1] = 16;
    p[2] = au.length >> 5;
    p[3] = (au.length & 0x1f) << 3;
    p.set(au.subarray(at, end), 4);
    out.push(p);
    at = end;
  } while (at < au.length);
  return out;
}

/** An RTP packet (RFC 3550 §5.1, version 2, no padding, extension or CSRCs). */
export function rtpPacket(payloadType: number, marker: boolean, seq: number, timestamp: number, ssrc: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(RTP_HEADER_SIZE + payload.length);
  p[0] = 0x80;
  p[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  p[2] = (seq >> 8) & 0xff;
  p[3] = seq & 0xff;
  writeUint32(p, 4, timestamp >>> 0);
  writeUint32(p, 8, ssrc >>> 0);
  p.set(payload, RTP_HEADER_SIZE);
  return p;
}
