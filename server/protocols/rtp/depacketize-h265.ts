// H.265 RTP payloads → the NAL units of one access unit (RFC 7798). Pure and never throwing (see depacketized.ts): a
// bad access unit is a value with a stable code, so the hub drops it and waits for the next keyframe instead of
// passing a corrupt frame on.
//
// Every payload opens with a 2-byte payload header laid out like an H.265 NAL unit header (RFC 7798 §1.1.4, §4.2;
// ITU-T H.265 §7.3.1.2): F(1) Type(6) LayerId(6) TID(3). Its Type says which structure follows (§4.4):
//
//   §4.4.1  single NAL unit packet (types 0-47): the payload IS the NAL unit             → a view of the payload
//   §4.4.2  AP (type 48): PayloadHdr, then (16-bit NALU size, NAL unit)+                  → a view per member
//   §4.4.3  FU (type 49): PayloadHdr, FU header (S E FuType(6)), fragment                → one new buffer per NAL unit
//           with the NAL header rebuilt from the PayloadHdr (F, LayerId, TID) and the FuType.
//   §4.4.4  PACI (type 50): 'unsupported'; neither captured sender (ffmpeg, GStreamer) uses it.
//   51-63: 'malformed'. RFC 7798 defines no payload structure for them, and "NAL-unit-like structures with NAL unit
//           type values in the range of 48 to 63, inclusive, MUST NOT be passed to the decoder": there is nothing
//           inside we could take. (H.265 Table 7-1 leaves them unspecified, for other specs to use; over RFC 7798 they
//           can only be a broken payload, like H.264's reserved types 30-31, which depacketize-h264.ts calls
//           'malformed' too. 'unsupported' is kept for structures the RFC defines and we choose not to take.)
//
// sprop-max-don-diff = 0 only (the default; ffmpeg's and GStreamer's captures have no DONL): no DONL (§4.4.1-§4.4.3)
// or DOND (§4.4.2) fields. With them every structure shifts by 2 bytes (1 for DOND), and the SDP says so; the caller
// must not hand such a stream to this function.
//
// Only FU reassembly allocates (its fragments are not contiguous in memory); everything else is a subarray of the
// caller's payloads, so the result is valid only as long as those bytes are not reused.
//
// What the payloads alone cannot show: a lost MIDDLE fragment of an FU whose start and end both arrived (FUs carry no
// offset). The caller's check that sequence numbers are contiguous covers that; this function catches what the S/E
// bits and FU types do show (no start, no end, a second start, a fragment of another NAL unit).
import { H265_NAL } from './h265.ts';
import { depacketizeError, MAX_UNIT_BYTES, type Depacketized } from './depacketized.ts';

/** Bytes of the payload header / NAL unit header (RFC 7798 §1.1.4, §4.2). */
const NAL_HEADER_BYTES = 2;
/** AP (§4.4.2): bytes of the NALU size field before each aggregated NAL unit. */
const AP_SIZE_BYTES = 2;
/** FU (§4.4.3): PayloadHdr + FU header before each fragment. */
const FU_HEADER_BYTES = 3;
const FU_START = 0x80;
const FU_END = 0x40;
const FU_TYPE_MASK = 0x3f;

type Failure = ReturnType<typeof depacketizeError>;

/**
 * Why a 2-byte NAL unit header (or payload header) is broken, or undefined when it is not.
 * - F, forbidden_zero_bit (H.265 §7.4.2.2 "shall be equal to 0"; RFC 7798 §1.1.4 repeats it).
 * - TID, nuh_temporal_id_plus1: "A TID value of 0 is illegal to ensure that there is at least one bit in the NAL unit
 *   header equal to 1" (RFC 7798 §1.1.4). It matters downstream: a header 00 00 followed by 01 is a start code, so
 *   such a NAL unit would corrupt any Annex B stream made of it.
 */
function headerFault(b0: number, b1: number): string | undefined {
  if ((b0 & 0x80) !== 0) return 'has the forbidden (F) bit set';
  if ((b1 & 0x07) === 0) return 'has TID (nuh_temporal_id_plus1) 0, which RFC 7798 §1.1.4 makes illegal';
  return undefined;
}

/**
 * The NAL units (no start codes) of ONE access unit from the RTP payloads of its packets, in sequence order (the
 * caller checked sequence continuity and grouped by timestamp/marker). Single NAL units and AP members are views of
 * `payloads`; FU NAL units are new buffers. `maxBytes` bounds the NAL unit bytes of the whole access unit.
 */
export function depacketizeH265(payloads: readonly Uint8Array[], maxBytes: number = MAX_UNIT_BYTES): Depacketized<Uint8Array[]> {
  const nalus: Uint8Array[] = [];
  let total = 0; // NAL unit bytes so far, the open FU's included
  // The FU being reassembled: the index of its start packet (-1 when none is open), its rebuilt 2-byte NAL header,
  // and its fragment bytes so far. Its packets are payloads[fuFirst..i], all FUs: anything else while open is an error.
  let fuFirst = -1;
  let fuHeader = 0;
  let fuBytes = 0;

  for (let i = 0; i < payloads.length; i++) {
    const p = payloads[i]!;
    if (p.length < NAL_HEADER_BYTES) {
      return depacketizeError('truncated', `packet ${i} of the access unit has a ${p.length}-byte payload, shorter than the 2-byte payload header`);
    }
    const b0 = p[0]!;
    const b1 = p[1]!;
    const type = (b0 >> 1) & 0x3f;
    const fault = headerFault(b0, b1);
    if (fault !== undefined) return depacketizeError('malformed', `packet ${i} (type ${type}): the payload header ${fault}`);
    if (type === H265_NAL.paci) {
      return depacketizeError('unsupported', `packet ${i} is a PACI packet (type 50, RFC 7798 §4.4.4), which this relay does not take`);
    }
    if (type > H265_NAL.paci) {
      return depacketizeError('malformed', `packet ${i} has payload type ${type}, for which RFC 7798 defines no payload structure (48-50 only)`);
    }

    if (type === H265_NAL.fu) {
      if (p.length < FU_HEADER_BYTES) return depacketizeError('truncated', `packet ${i}: FU of 2 bytes ends before its FU header`);
      const fu = p[2]!;
      const nalType = fu & FU_TYPE_MASK;
      // §4.4.3: a NAL unit that is not fragmented must not travel in one FU, so S and E are never both set.
      if ((fu & FU_START) !== 0 && (fu & FU_END) !== 0) {
        return depacketizeError('malformed', `packet ${i}: FU with both the start and the end bit set`);
      }
      // §4.4.3: F, LayerId and TID of the PayloadHdr are those of the fragmented NAL unit; FuType is its type.
      const header = (((b0 & 0x81) | (nalType << 1)) << 8) | b1;
      if ((fu & FU_START) !== 0) {
        if (fuFirst >= 0) {
          return depacketizeError('fragment-lost', `packet ${i} starts an FU while the one started in packet ${fuFirst} has not ended`);
        }
        // An AP or FU cannot itself be fragmented (§4.4.2, §4.4.3), and 48-63 never reach a decoder.
        if (nalType >= H265_NAL.ap) {
          return depacketizeError('malformed', `packet ${i}: FU fragments a NAL unit of type ${nalType}, which is not 0-47`);
        }
        fuFirst = i;
        fuHeader = header;
        fuBytes = 0;
      } else {
        if (fuFirst < 0) return depacketizeError('fragment-lost', `packet ${i} continues an FU whose start was not in the access unit`);
        // Every fragment carries the NAL unit's type, layer and TID: different ones belong to another NAL unit, so the
        // end of this one and the start of that one are missing.
        if (header !== fuHeader) {
          return depacketizeError(
            'fragment-lost',
            `packet ${i} is an FU fragment of a type ${nalType} NAL unit (header ${hex(header)}) ` +
              `inside the type ${(fuHeader >> 9) & 0x3f} one (header ${hex(fuHeader)}) started in packet ${fuFirst}`,
          );
        }
      }
      fuBytes += p.length - FU_HEADER_BYTES;
      // Checked before allocating: a sender that never ends a fragment cannot make us build an unbounded buffer.
      if (total + NAL_HEADER_BYTES + fuBytes > maxBytes) return tooLarge(total + NAL_HEADER_BYTES + fuBytes, maxBytes);
      if ((fu & FU_END) !== 0) {
        nalus.push(joinFragments(payloads, fuFirst, i, fuHeader, fuBytes));
        total += NAL_HEADER_BYTES + fuBytes;
        fuFirst = -1;
      }
      continue;
    }

    // Not an FU (§4.4.3: the fragments of one NAL unit are sent consecutively, nothing in between).
    if (fuFirst >= 0) {
      return depacketizeError('fragment-lost', `packet ${i} (type ${type}) came before the end of the FU started in packet ${fuFirst}`);
    }

    if (type === H265_NAL.ap) {
      // §4.4.2: PayloadHdr, then aggregation units (16-bit NALU size, NAL unit) up to the payload's end. The RFC asks
      // for at least two; one is taken (it is still a whole NAL unit), none is not.
      let at = NAL_HEADER_BYTES;
      if (at === p.length) return depacketizeError('malformed', `packet ${i}: AP with no aggregation unit`);
      do {
        if (at + AP_SIZE_BYTES > p.length) {
          return depacketizeError('truncated', `packet ${i}: AP ends inside the size of an aggregation unit (byte ${at} of ${p.length})`);
        }
        const size = (p[at]! << 8) | p[at + 1]!;
        at += AP_SIZE_BYTES;
        if (size === 0) return depacketizeError('malformed', `packet ${i}: AP aggregates a NAL unit of size 0 (byte ${at - 2})`);
        if (at + size > p.length) {
          return depacketizeError('truncated', `packet ${i}: AP NAL unit of ${size} bytes runs past the payload's end (${p.length - at} left)`);
        }
        if (size < NAL_HEADER_BYTES) {
          return depacketizeError('malformed', `packet ${i}: AP aggregates a ${size}-byte NAL unit, shorter than its 2-byte header`);
        }
        const m0 = p[at]!;
        const memberType = (m0 >> 1) & 0x3f;
        const memberFault = headerFault(m0, p[at + 1]!);
        if (memberFault !== undefined) {
          return depacketizeError('malformed', `packet ${i}: a NAL unit (type ${memberType}) in the AP ${memberFault}`);
        }
        if (memberType >= H265_NAL.ap) {
          return depacketizeError('malformed', `packet ${i}: AP aggregates a NAL unit of type ${memberType}, which is not 0-47`);
        }
        total += size;
        if (total > maxBytes) return tooLarge(total, maxBytes);
        nalus.push(p.subarray(at, at + size));
        at += size;
      } while (at < p.length);
      continue;
    }

    // §4.4.1 single NAL unit packet (types 0-47; every other type returned above). Two bytes is a whole NAL unit:
    // end of sequence (36) and end of bitstream (37) have an empty payload.
    total += p.length;
    if (total > maxBytes) return tooLarge(total, maxBytes);
    nalus.push(p);
  }

  if (fuFirst >= 0) {
    return depacketizeError('fragment-lost', `the access unit ends inside the FU started in packet ${fuFirst}: its end fragment is missing`);
  }
  // Only an empty packet list gets here with nothing: every packet above yields a NAL unit, is an FU part, or fails.
  if (nalus.length === 0) return depacketizeError('malformed', 'the access unit holds no NAL unit');
  return { ok: true, value: nalus };
}

function tooLarge(bytes: number, maxBytes: number): Failure {
  return depacketizeError('too-large', `the access unit's NAL units reach ${bytes} bytes, over the ${maxBytes}-byte bound`);
}

function hex(header: number): string {
  return `0x${header.toString(16).padStart(4, '0')}`;
}

/** The NAL unit of FU packets payloads[first..last]: the rebuilt 2-byte header, then each fragment after its 3-byte header. */
function joinFragments(payloads: readonly Uint8Array[], first: number, last: number, header: number, bytes: number): Uint8Array {
  const out = new Uint8Array(NAL_HEADER_BYTES + bytes);
  out[0] = header >> 8;
  out[1] = header & 0xff;
  let at = NAL_HEADER_BYTES;
  for (let k = first; k <= last; k++) {
    const p = payloads[k]!;
    out.set(p.subarray(FU_HEADER_BYTES), at);
    at += p.length - FU_HEADER_BYTES;
  }
  return out;
}
