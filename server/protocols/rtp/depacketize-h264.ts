// H.264 RTP payloads → the NAL units of one access unit (RFC 6184, packetization-mode 0 and 1), and the AVC sample
// form those NAL units take in MP4/fMP4. Pure and never throwing (see depacketized.ts): a bad access unit is a value
// with a stable code, so the hub drops it and waits for the next keyframe instead of passing a corrupt frame on.
//
//   §5.6    single NAL unit packet: the payload IS the NAL unit (types 1-23)            → a view of the payload
//   §5.7.1  STAP-A (type 24): STAP-A header, then (16-bit size, NAL unit)+             → a view per member
//   §5.8    FU-A (type 28): FU indicator (F NRI 28), FU header (S E R type), fragment  → one new buffer per NAL unit
//           with the NAL header rebuilt as F|NRI of the indicator + type of the FU header.
//   §5.7.2 STAP-B / MTAP16 / MTAP24 and §5.8 FU-B (25, 26, 27, 29) only occur in the interleaved mode
//           (packetization-mode=2), which the relay does not offer: 'unsupported'.
//
// Only FU-A reassembly allocates (its fragments are not contiguous in memory); everything else is a subarray of the
// caller's payloads, so the result is valid only as long as those bytes are not reused. This runs once per frame.
//
// What the payloads alone cannot show: a lost MIDDLE fragment of an FU-A whose start and end both arrived. The
// fragments carry no offset (FU-A has no DON either), so S…E with a hole reassembles into a wrong NAL unit of the right
// shape. The caller's check that sequence numbers are contiguous is what covers that case; this function catches what
// the S/E bits and FU types do show (no start, no end, a second start, a fragment of another NAL unit).
import { H264_NAL } from './h264.ts';
import { depacketizeError, MAX_UNIT_BYTES, type Depacketized } from './depacketized.ts';

/** ITU-T H.264 §7.3.1 NAL unit header: forbidden_zero_bit(1) nal_ref_idc(2) nal_unit_type(5). */
const FORBIDDEN_BIT = 0x80;
const TYPE_MASK = 0x1f;
/** RFC 6184 §5.8 FU header: Start, End, Reserved (ignored by receivers), type. */
const FU_START = 0x80;
const FU_END = 0x40;
/** Bytes before each aggregation unit's NAL unit in a STAP-A (§5.7.1) and before each fragment in an FU-A (§5.8). */
const STAP_A_SIZE_BYTES = 2;
const FU_A_HEADER_BYTES = 2;

/** RFC 6184 Table 1: the types a NAL unit itself may have (1-23); 0 is undefined, 24-31 are payload structures. */
function isNalUnitType(type: number): boolean {
  return type >= 1 && type <= 23;
}

const INTERLEAVED_ONLY: Readonly<Record<number, string>> = {
  [H264_NAL.stapB]: 'STAP-B',
  [H264_NAL.mtap16]: 'MTAP16',
  [H264_NAL.mtap24]: 'MTAP24',
  [H264_NAL.fuB]: 'FU-B',
};

/**
 * The NAL units (no start codes, no length prefixes) of ONE access unit, from the RTP payloads of its packets in
 * sequence order (the caller has already checked the sequence numbers are contiguous and grouped packets by
 * timestamp/marker). Single NAL units and STAP-A members are views of `payloads`; FU-A NAL units are new buffers.
 * `maxBytes` bounds the NAL unit bytes of the whole access unit (a test lowers it).
 */
export function depacketizeH264(payloads: readonly Uint8Array[], maxBytes: number = MAX_UNIT_BYTES): Depacketized<Uint8Array[]> {
  const nalus: Uint8Array[] = [];
  let total = 0; // NAL unit bytes so far, FU-A fragments included
  // The FU-A being reassembled: the index of its start packet (-1 when none is open), its rebuilt NAL header, and
  // the fragment bytes so far. Its packets are payloads[fuFirst..i], all FU-A: anything else while open is an error.
  let fuFirst = -1;
  let fuHeader = 0;
  let fuBytes = 0;

  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    if (p.length === 0) return depacketizeError('truncated', `packet ${i} of the access unit has an empty payload`);
    const b0 = p[0]!;
    const type = b0 & TYPE_MASK;
    // §5.3: F=1 marks a NAL unit (or payload structure) a network element found to hold bit errors.
    if ((b0 & FORBIDDEN_BIT) !== 0) return depacketizeError('malformed', `packet ${i} (type ${type}) has the forbidden (F) bit set`);
    if (type === 0 || type === 30 || type === 31) {
      return depacketizeError('malformed', `packet ${i} has the undefined payload type ${type} (RFC 6184 Table 1)`);
    }
    const interleaved = INTERLEAVED_ONLY[type];
    if (interleaved !== undefined) {
      return depacketizeError(
        'unsupported',
        `packet ${i} is a ${interleaved} (type ${type}), which only the interleaved mode (packetization-mode=2) uses; send with packetization-mode=1`,
      );
    }

    if (type === H264_NAL.fuA) {
      if (p.length < FU_A_HEADER_BYTES) return depacketizeError('truncated', `packet ${i}: FU-A of 1 byte ends before its FU header`);
      const fu = p[1]!;
      const nalType = fu & TYPE_MASK;
      // §5.8: "A fragmented NAL unit MUST NOT be transmitted in one FU; that is, the Start bit and End bit MUST NOT
      // both be set to one in the same FU header."
      if ((fu & FU_START) !== 0 && (fu & FU_END) !== 0) {
        return depacketizeError('malformed', `packet ${i}: FU-A with both the start and the end bit set`);
      }
      if ((fu & FU_START) !== 0) {
        if (fuFirst >= 0) {
          return depacketizeError('fragment-lost', `packet ${i} starts an FU-A while the one started in packet ${fuFirst} has not ended`);
        }
        if (!isNalUnitType(nalType)) {
          return depacketizeError('malformed', `packet ${i}: FU-A fragments a NAL unit of type ${nalType}, which is not 1-23`);
        }
        fuFirst = i;
        fuHeader = (b0 & 0xe0) | nalType; // F|NRI of the indicator, type of the FU header
        fuBytes = 0;
      } else {
        if (fuFirst < 0) return depacketizeError('fragment-lost', `packet ${i} continues an FU-A whose start was not in the access unit`);
        // §5.8: every FU header carries the fragmented NAL unit's type. A different one is a fragment of another NAL
        // unit: the end of this one and the start of that one are missing.
        if (nalType !== (fuHeader & TYPE_MASK)) {
          return depacketizeError(
            'fragment-lost',
            `packet ${i} is an FU-A fragment of a type ${nalType} NAL unit inside the type ${fuHeader & TYPE_MASK} one started in packet ${fuFirst}`,
          );
        }
      }
      fuBytes += p.length - FU_A_HEADER_BYTES;
      // Checked before allocating: a sender that never ends a fragment cannot make us build an unbounded buffer.
      if (total + 1 + fuBytes > maxBytes) return tooLarge(total + 1 + fuBytes, maxBytes);
      if ((fu & FU_END) !== 0) {
        nalus.push(joinFragments(payloads, fuFirst, i, fuHeader, fuBytes));
        total += 1 + fuBytes;
        fuFirst = -1;
      }
      continue;
    }

    // Not an FU-A (RFC 6184 §5.8: an FU-A's fragments are sent consecutively, nothing in between).
    if (fuFirst >= 0) {
      return depacketizeError('fragment-lost', `packet ${i} (type ${type}) came before the end of the FU-A started in packet ${fuFirst}`);
    }

    if (type === H264_NAL.stapA) {
      // §5.7.1: (16-bit NALU size, NAL unit)+ after the 1-byte STAP-A header; at least one, and no trailing bytes.
      let at = 1;
      do {
        if (at + STAP_A_SIZE_BYTES > p.length) {
          return depacketizeError('truncated', `packet ${i}: STAP-A ends inside the size of an aggregation unit (byte ${at} of ${p.length})`);
        }
        const size = (p[at]! << 8) | p[at + 1]!;
        at += STAP_A_SIZE_BYTES;
        if (size === 0) return depacketizeError('malformed', `packet ${i}: STAP-A aggregates a NAL unit of size 0 (byte ${at - 2})`);
        if (at + size > p.length) {
          return depacketizeError('truncated', `packet ${i}: STAP-A NAL unit of ${size} bytes runs past the payload's end (${p.length - at} left)`);
        }
        const h = p[at]!;
        if ((h & FORBIDDEN_BIT) !== 0) {
          return depacketizeError('malformed', `packet ${i}: a NAL unit in the STAP-A has the forbidden (F) bit set`);
        }
        if (!isNalUnitType(h & TYPE_MASK)) {
          return depacketizeError('malformed', `packet ${i}: STAP-A aggregates a NAL unit of type ${h & TYPE_MASK}, which is not 1-23`);
        }
        total += size;
        if (total > maxBytes) return tooLarge(total, maxBytes);
        nalus.push(p.subarray(at, at + size));
        at += size;
      } while (at < p.length);
      continue;
    }

    // §5.6 single NAL unit packet (types 1-23; every other type returned above).
    total += p.length;
    if (total > maxBytes) return tooLarge(total, maxBytes);
    nalus.push(p);
  }

  if (fuFirst >= 0) {
    return depacketizeError('fragment-lost', `the access unit ends inside the FU-A started in packet ${fuFirst}: its end fragment is missing`);
  }
  // Only an empty packet list gets here with nothing: every packet above yields a NAL unit, is an FU-A part, or fails.
  if (nalus.length === 0) return depacketizeError('malformed', 'the access unit holds no NAL unit');
  return { ok: true, value: nalus };
}

function tooLarge(bytes: number, maxBytes: number): ReturnType<typeof depacketizeError> {
  return depacketizeError('too-large', `the access unit's NAL units reach ${bytes} bytes, over the ${maxBytes}-byte bound`);
}

/** The NAL unit of FU-A packets payloads[first..last]: the rebuilt header, then each fragment after its 2-byte header. */
function joinFragments(payloads: readonly Uint8Array[], first: number, last: number, header: number, bytes: number): Uint8Array {
  const out = new Uint8Array(1 + bytes);
  out[0] = header;
  let at = 1;
  for (let k = first; k <= last; k++) {
    const p = payloads[k]!;
    out.set(p.subarray(FU_A_HEADER_BYTES), at);
    at += p.length - FU_A_HEADER_BYTES;
  }
  return out;
}

/** AVC sample form (ISO/IEC 14496-15 §5.3.2): each NAL unit behind a 4-byte big-endian length, in one new buffer. */
export function lengthPrefixed(nalus: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const n of nalus) total += 4 + n.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const n of nalus) {
    const len = n.length;
    out[at] = len >>> 24;
    out[at + 1] = (len >>> 16) & 0xff;
    out[at + 2] = (len >>> 8) & 0xff;
    out[at + 3] = len & 0xff;
    out.set(n, at + 4);
    at += 4 + len;
  }
  return out;
}
