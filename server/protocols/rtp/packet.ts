// RTP fixed header, RFC 3550 §5.1. Pure functions over the datagram (or interleaved frame) bytes:
// the relay parses once per packet and rewrites sequence number, timestamp and SSRC in place.
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
// |                           timestamp                           |
// |           synchronization source (SSRC) identifier            |
// |            contributing source (CSRC) identifiers (CC × 32)   |
// | [header extension: profile(16) length-in-words(16) words...]  |  RFC 3550 §5.3.1
// | payload ...                    | [padding ... count(8)]       |

export const RTP_HEADER_SIZE = 12;

export interface RtpHeader {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  /** First payload byte: after the CSRC list and the header extension. */
  payloadOffset: number;
  /** Payload bytes, padding excluded. */
  payloadLength: number;
}

/**
 * Parses into a caller-owned header object, so the fan-out loop can reuse one object for every packet.
 * Returns false (leaving `out` partly written) when the bytes are not a valid RTP v2 packet.
 * Note: PT 72–76 with M=1 (second byte 200–204) is accepted here; on a muxed RTP/RTCP port
 * demultiplex first with isRtcpPacketType (RFC 5761 §4).
 */
export function parseRtpHeaderInto(packet: Uint8Array, out: RtpHeader): boolean {
  const length = packet.length;
  if (length < RTP_HEADER_SIZE) return false;
  const b0 = packet[0]!;
  if (b0 >> 6 !== 2) return false;
  let offset = RTP_HEADER_SIZE + (b0 & 0x0f) * 4;
  if (offset > length) return false;
  if ((b0 & 0x10) !== 0) {
    // RFC 3550 §5.3.1: 16-bit profile-defined id, 16-bit length in 32-bit words excluding this 4-byte header.
    if (offset + 4 > length) return false;
    offset += 4 + ((packet[offset + 2]! << 8) | packet[offset + 3]!) * 4;
    if (offset > length) return false;
  }
  let end = length;
  if ((b0 & 0x20) !== 0) {
    // RFC 3550 §5.1: the last octet counts the padding octets, itself included, so it is at least 1.
    const padding = packet[length - 1]!;
    if (padding === 0 || padding > length - offset) return false;
    end -= padding;
  }
  const b1 = packet[1]!;
  out.marker = (b1 & 0x80) !== 0;
  out.payloadType = b1 & 0x7f;
  out.sequenceNumber = (packet[2]! << 8) | packet[3]!;
  out.timestamp = readUint32(packet, 4);
  out.ssrc = readUint32(packet, 8);
  out.payloadOffset = offset;
  out.payloadLength = end - offset;
  return true;
}

/** Returns undefined when not a valid RTP v2 packet (too short, version != 2, CSRC/extension/padding overrun). */
export function parseRtpHeader(packet: Uint8Array): RtpHeader | undefined {
  const h: RtpHeader = {
    marker: false,
    payloadType: 0,
    sequenceNumber: 0,
    timestamp: 0,
    ssrc: 0,
    payloadOffset: 0,
    payloadLength: 0,
  };
  return parseRtpHeaderInto(packet, h) ? h : undefined;
}

/** The payload as a view into the packet (no copy), padding excluded. */
export function rtpPayload(packet: Uint8Array, h: RtpHeader): Uint8Array {
  return packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
}

// In-place rewriters: the relay owns the buffer. The packet is assumed to have passed parseRtpHeader.

export function setSequenceNumber(packet: Uint8Array, seq: number): void {
  packet[2] = (seq >>> 8) & 0xff;
  packet[3] = seq & 0xff;
}

/** Wraps modulo 2^32, so `setTimestamp(p, ts + offset)` needs no masking by the caller. */
export function setTimestamp(packet: Uint8Array, ts: number): void {
  writeUint32(packet, 4, ts);
}

export function setSsrc(packet: Uint8Array, ssrc: number): void {
  writeUint32(packet, 8, ssrc);
}

export function setMarker(packet: Uint8Array, marker: boolean): void {
  packet[1] = marker ? packet[1]! | 0x80 : packet[1]! & 0x7f;
}

export function setPayloadType(packet: Uint8Array, payloadType: number): void {
  packet[1] = (packet[1]! & 0x80) | (payloadType & 0x7f);
}

/**
 * RFC 5761 §4: on a port carrying both RTP and RTCP, a second octet in 192–223 is RTCP
 * (RTP payload types 64–95 are kept out of use for exactly this reason). That range covers
 * SR/RR/SDES/BYE/APP (200–204) and also RTPFB/PSFB (205/206: NACK, PLI, FIR) and XR (207),
 * which players send too, so the test is the whole range rather than 200–204 only.
 */
export function isRtcpPacketType(byte1: number): boolean {
  return byte1 >= 192 && byte1 <= 223;
}

/** Modular 16-bit sequence number difference a − b in −32768..32767 (RFC 3550 §A.1 style). */
export function seqDelta(a: number, b: number): number {
  return (((a - b) & 0xffff) << 16) >> 16;
}

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0
  );
}

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}
