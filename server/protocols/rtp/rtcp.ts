// RTCP compound packets, RFC 3550 §6. Pure functions: walk a compound packet, read the sender
// report, rewrite it for a relay that re-stamps the stream, and build the small reports our own
// clients send. RTCP runs at a few packets per second, so these may allocate.
//
// Common header of every RTCP packet (§6.4.1):
// |V=2|P|  count  |      PT       |  length (32-bit words − 1)    |

import { isRtcpPacketType, readUint32, writeUint32 } from './packet.ts';

export const RTCP_SR = 200;
export const RTCP_RR = 201;
export const RTCP_SDES = 202;
export const RTCP_BYE = 203;
export const RTCP_APP = 204;

/** SDES item types, RFC 3550 §6.5. */
export const SDES_END = 0;
export const SDES_CNAME = 1;

const REPORT_BLOCK_SIZE = 24;
/** Header, sender SSRC, NTP (8), RTP timestamp, packet count, octet count (§6.4.1). */
const SR_SIZE = 28;
const RR_SIZE = 8;

export interface SenderReport {
  ssrc: number;
  ntpSeconds: number;
  ntpFraction: number;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export interface RtcpPacketInfo {
  /** Packet type (second octet), 192–223. */
  type: number;
  /** The 5-bit count field: RC for SR/RR, SC for SDES, SSRC count for BYE, subtype for APP/feedback. */
  count: number;
  /** Where this packet starts in the compound buffer. */
  offset: number;
  /** Whole packet in bytes, header and any padding included: (length field + 1) × 4. */
  length: number;
}

/**
 * Walks a compound packet. Undefined when malformed: any packet with version != 2 or a second
 * octet outside 192–223, a length running past the buffer or bytes left over after the last packet,
 * padding anywhere but the last packet (§6.4.1: "only the last packet of a compound may be padded"),
 * or an SR/RR too short for its report blocks. The first packet is not required to be SR/RR
 * (§6.1 says it must be, but RFC 5506 reduced-size RTCP, e.g. a lone PLI, is legitimate).
 */
export function parseRtcpCompound(buf: Uint8Array): RtcpPacketInfo[] | undefined {
  if (buf.length < 4) return undefined;
  const packets: RtcpPacketInfo[] = [];
  let offset = 0;
  while (offset < buf.length) {
    if (offset + 4 > buf.length) return undefined;
    const b0 = buf[offset]!;
    const type = buf[offset + 1]!;
    if (b0 >> 6 !== 2 || !isRtcpPacketType(type)) return undefined;
    const length = (((buf[offset + 2]! << 8) | buf[offset + 3]!) + 1) * 4;
    if (offset + length > buf.length) return undefined;
    let contentLength = length;
    if ((b0 & 0x20) !== 0) {
      if (offset + length !== buf.length) return undefined;
      const padding = buf[offset + length - 1]!;
      if (padding === 0 || padding > length - 4) return undefined;
      contentLength -= padding;
    }
    const count = b0 & 0x1f;
    if (type === RTCP_SR && contentLength < SR_SIZE + count * REPORT_BLOCK_SIZE) return undefined;
    if (type === RTCP_RR && contentLength < RR_SIZE + count * REPORT_BLOCK_SIZE) return undefined;
    packets.push({ type, count, offset, length });
    offset += length;
  }
  return packets;
}

function readSenderReport(buf: Uint8Array, offset: number): SenderReport {
  return {
    ssrc: readUint32(buf, offset + 4),
    ntpSeconds: readUint32(buf, offset + 8),
    ntpFraction: readUint32(buf, offset + 12),
    rtpTimestamp: readUint32(buf, offset + 16),
    packetCount: readUint32(buf, offset + 20),
    octetCount: readUint32(buf, offset + 24),
  };
}

/** The first SR of a well-formed compound packet. */
export function findSenderReport(buf: Uint8Array): SenderReport | undefined {
  const packets = parseRtcpCompound(buf);
  const sr = packets?.find((p) => p.type === RTCP_SR);
  return sr === undefined ? undefined : readSenderReport(buf, sr.offset);
}

/**
 * End of the chunks of the SDES packet at `offset` (relative to buf), or -1 when they overrun
 * `end` (the packet end without padding). §6.5: each chunk is an SSRC then items (type, length,
 * text), ended by at least one null octet and null padding up to the next 32-bit boundary.
 */
function sdesChunksEnd(buf: Uint8Array, offset: number, count: number, end: number): number {
  let pos = offset + 4;
  for (let chunk = 0; chunk < count; chunk++) {
    pos += 4;
    for (;;) {
      if (pos >= end) return -1;
      if (buf[pos] === SDES_END) {
        pos = offset + (((pos - offset) >> 2) + 1) * 4;
        break;
      }
      if (pos + 2 > end) return -1;
      pos += 2 + buf[pos + 1]!;
    }
    if (pos > end) return -1;
  }
  return pos;
}

/**
 * For a relay that re-stamps a stream: copy of the compound packet keeping only SR (with report
 * blocks removed, RC=0) and SDES, with the SR's SSRC/RTP timestamp and every SDES chunk's SSRC
 * replaced. Returns undefined if there is no SR (or the compound is malformed).
 *
 * The SR is written first whatever the input order (§6.1: a compound starts with SR or RR), only
 * the first SR is kept, report blocks and profile extensions are dropped (they describe what the
 * publisher received, which means nothing to our readers), padding is removed, and an SDES whose
 * chunks do not parse is dropped rather than forwarded. Packet and octet counts pass through.
 */
export function rewriteSenderReport(
  buf: Uint8Array,
  ssrc: number,
  mapTimestamp: (ts: number) => number,
): Uint8Array | undefined {
  const packets = parseRtcpCompound(buf);
  if (packets === undefined) return undefined;
  const sr = packets.find((p) => p.type === RTCP_SR);
  if (sr === undefined) return undefined;

  // Pass 1: size the SDES packets we keep.
  let total = SR_SIZE;
  const sdesEnds: number[] = [];
  for (const p of packets) {
    if (p.type !== RTCP_SDES) continue;
    const b0 = buf[p.offset]!;
    const end = p.offset + p.length - ((b0 & 0x20) !== 0 ? buf[p.offset + p.length - 1]! : 0);
    const chunksEnd = sdesChunksEnd(buf, p.offset, p.count, end);
    sdesEnds.push(chunksEnd);
    if (chunksEnd >= 0) total += chunksEnd - p.offset;
  }

  const out = new Uint8Array(total);
  out[0] = 0x80; // V=2, P=0, RC=0
  out[1] = RTCP_SR;
  out[2] = 0;
  out[3] = SR_SIZE / 4 - 1;
  writeUint32(out, 4, ssrc);
  out.set(buf.subarray(sr.offset + 8, sr.offset + 16), 8); // NTP timestamp
  writeUint32(out, 16, mapTimestamp(readUint32(buf, sr.offset + 16)));
  out.set(buf.subarray(sr.offset + 20, sr.offset + SR_SIZE), 20); // packet and octet counts

  let pos = SR_SIZE;
  let sdesIndex = 0;
  for (const p of packets) {
    if (p.type !== RTCP_SDES) continue;
    const chunksEnd = sdesEnds[sdesIndex++]!;
    if (chunksEnd < 0) continue;
    const start = pos;
    out.set(buf.subarray(p.offset, chunksEnd), start);
    out[start] = out[start]! & ~0x20; // padding removed
    const words = (chunksEnd - p.offset) / 4 - 1;
    out[start + 2] = words >> 8;
    out[start + 3] = words & 0xff;
    // Replace each chunk's SSRC: walk the copy, whose chunks were validated above.
    let c = start + 4;
    for (let chunk = 0; chunk < p.count; chunk++) {
      writeUint32(out, c, ssrc);
      c += 4;
      while (out[c] !== SDES_END) c += 2 + out[c + 1]!;
      c = start + (((c - start) >> 2) + 1) * 4;
    }
    pos += chunksEnd - p.offset;
  }
  return out;
}

const encoder = new TextEncoder();

/** SDES packet with one chunk carrying one CNAME item (§6.5.1). */
function sdesCname(ssrc: number, cname: string): Uint8Array {
  const text = encoder.encode(cname);
  if (text.length > 255) throw new RangeError(`CNAME is ${text.length} bytes; RTCP SDES items hold at most 255.`);
  // Chunk: SSRC(4), CNAME item (2 + text), at least one null octet, padded to 32 bits.
  const chunkLength = Math.ceil((4 + 2 + text.length + 1) / 4) * 4;
  const out = new Uint8Array(4 + chunkLength);
  out[0] = 0x81; // V=2, P=0, SC=1
  out[1] = RTCP_SDES;
  out[3] = out.length / 4 - 1;
  writeUint32(out, 4, ssrc);
  out[8] = SDES_CNAME;
  out[9] = text.length;
  out.set(text, 10);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** An empty RR (RC=0) + SDES CNAME: the keep-alive our test client sends (§6.1: every compound carries a CNAME). */
export function buildReceiverReport(opts: { ssrc: number; cname: string }): Uint8Array {
  const rr = new Uint8Array(RR_SIZE);
  rr[0] = 0x80;
  rr[1] = RTCP_RR;
  rr[3] = RR_SIZE / 4 - 1;
  writeUint32(rr, 4, opts.ssrc);
  return concat(rr, sdesCname(opts.ssrc, opts.cname));
}

/** Seconds from 1900 (NTP) to 1970 (Unix). */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** A Unix time in ms as the 64-bit NTP timestamp of a sender report (RFC 3550 §4): seconds since 1900 and a fraction. */
export function ntpTime(unixMs: number): Pick<SenderReport, 'ntpSeconds' | 'ntpFraction'> {
  const seconds = Math.floor(unixMs / 1000);
  return { ntpSeconds: (seconds + NTP_UNIX_OFFSET) >>> 0, ntpFraction: Math.floor(((unixMs - seconds * 1000) / 1000) * 0x100000000) >>> 0 };
}

/** An SR without report blocks + SDES CNAME, for a relay or test that originates its own reports. */
export function buildSenderReport(sr: SenderReport, cname: string): Uint8Array {
  const out = new Uint8Array(SR_SIZE);
  out[0] = 0x80;
  out[1] = RTCP_SR;
  out[3] = SR_SIZE / 4 - 1;
  writeUint32(out, 4, sr.ssrc);
  writeUint32(out, 8, sr.ntpSeconds);
  writeUint32(out, 12, sr.ntpFraction);
  writeUint32(out, 16, sr.rtpTimestamp);
  writeUint32(out, 20, sr.packetCount);
  writeUint32(out, 24, sr.octetCount);
  return concat(out, sdesCname(sr.ssrc, cname));
}
