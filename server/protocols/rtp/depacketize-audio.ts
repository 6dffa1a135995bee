// Audio RTP payloads → the codec's frames. Pure and never throwing (see depacketized.ts): a bad payload is a value with
// a stable code, so the hub drops that packet's audio instead of passing a corrupt frame on. Every frame returned is a
// view (subarray) of the caller's payload, except a fragmented AAC AU joined by depacketizeAacFragments.
//
//   AAC    RFC 3640 mpeg4-generic, mode=AAC-hbr (or AAC-lbr):
//          §4.1     parseAacFmtp: the fmtp (sizeLength, indexLength, indexDeltaLength, config), refusing what changes
//                   the AU-header layout beyond size + index (CTS/DTS deltas, RAP flag, stream state, auxiliary data)
//          §3.2.1   AU-headers-length (16 bits, counts bits), then AU-headers of (AU-size, AU-index / AU-index-delta),
//                   padded to a whole byte, then §3.2.2 the AUs back to back          → one view per AU
//          §3.2.1.1 a non-zero AU-index / AU-index-delta means interleaving            → 'unsupported'
//          §3.2.3   an AU bigger than one packet travels in fragments, each with the whole AU's AU-size: depacketizeAac
//                   refuses them ('unsupported'); depacketizeAacFragments joins the packets of one such AU
//   Opus   RFC 7587 §4.2: one Opus packet per RTP payload, checked against RFC 6716 §3.4's rules R1-R7 (TOC byte and
//          frame framing, §3.1-§3.2), so a payload that no decoder can read is refused here  → a view of the payload
//   G.711  RFC 3551 §4.5.14 PCMA/PCMU: one byte per sample, no payload header; the payload is the frame
import { depacketizeError, MAX_UNIT_BYTES, type Depacketized } from './depacketized.ts';

export interface AacHbrParams {
  sizeLength: number;
  indexLength: number;
  indexDeltaLength: number;
  /** AudioSpecificConfig from fmtp config= (hex) */
  config: Uint8Array | undefined;
}

/** RFC 3640 §3.3.5 (AAC-lbr) and §3.3.6 (AAC-hbr): the two AAC modes; compared in lower case. */
const AAC_MODES = ['aac-hbr', 'aac-lbr'] as const;
/** Widest AU-header field taken: 32 bits keeps the arithmetic in exact integers (RFC 3640 gives no upper bound). */
const MAX_FIELD_BITS = 32;
/** RFC 3640 §3.2.1: AU-headers-length is 16 bits, before the AU-headers. */
const AU_HEADERS_LENGTH_BYTES = 2;

/**
 * fmtp parameters that add fields to the AU-header or an auxiliary section (RFC 3640 §3.2.1, §3.2.1.1, §3.2.2): a
 * non-zero value changes the layout this depacketizer reads, so such a stream is refused rather than misread.
 */
const REFUSED_NONZERO: Readonly<Record<string, string>> = {
  ctsdeltalength: 'CTS-delta fields in the AU-headers',
  dtsdeltalength: 'DTS-delta fields in the AU-headers',
  randomaccessindication: 'RAP flags in the AU-headers',
  streamstateindication: 'stream-state fields in the AU-headers',
  auxiliarydatasizelength: 'an auxiliary section',
  maxdisplacement: 'interleaved AUs (maxDisplacement)',
};

/**
 * RFC 3640 §4.1 fmtp of an mpeg4-generic stream (parameter names case-insensitive, e.g. "profile-level-id=1;
 * mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3; config=1190"); errors say what is missing/unsupported
 * (only mode=AAC-hbr or AAC-lbr with constant sizes given; no CTS/DTS/auxiliary fields: refuse streams that announce
 * them).
 *
 * sizeLength is required (§4.1: without it the AU-headers carry no AU-size, and AAC modes always send one); an absent
 * indexLength / indexDeltaLength means the field is absent (§4.1), i.e. 0 bits. The values are taken as given rather
 * than forced to the mode's 13/3/3 (hbr) or 6/2/2 (lbr): a sender that disagrees with its own fmtp shows up as a
 * 'malformed' AU-headers-length, never as misread AUs. An absent or empty config= leaves `config` undefined.
 */
export function parseAacFmtp(fmtp: string): Depacketized<AacHbrParams> {
  const params = new Map<string, string>();
  for (const part of fmtp.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue; // an empty part (a trailing ';') or a stray word: nothing this depacketizer reads
    const name = part.slice(0, eq).trim().toLowerCase();
    const value = part.slice(eq + 1).trim();
    const before = params.get(name);
    if (before !== undefined && before !== value) {
      return depacketizeError('malformed', `fmtp gives ${name} twice, as "${before}" and "${value}"`);
    }
    params.set(name, value);
  }

  const mode = params.get('mode');
  if (mode === undefined || mode === '') {
    return depacketizeError('malformed', 'fmtp has no mode= (RFC 3640 §4.1 requires it); an AAC sender announces mode=AAC-hbr');
  }
  if (!(AAC_MODES as readonly string[]).includes(mode.toLowerCase())) {
    return depacketizeError('unsupported', `fmtp mode=${mode} is not taken: only mode=AAC-hbr and mode=AAC-lbr (RFC 3640 §3.3.5-§3.3.6)`);
  }
  const streamType = params.get('streamtype');
  if (streamType !== undefined && streamType !== '5') {
    return depacketizeError('unsupported', `fmtp streamtype=${streamType} is not an audio stream (ISO/IEC 14496-1: audio is 5)`);
  }
  if (params.has('constantsize')) {
    return depacketizeError('unsupported', 'fmtp constantSize= (AU-headers without AU-size) is not taken; AAC modes signal sizeLength');
  }
  for (const [name, what] of Object.entries(REFUSED_NONZERO)) {
    const value = params.get(name);
    if (value === undefined) continue;
    const n = parseField(value);
    if (n === undefined) return depacketizeError('malformed', `fmtp ${name}=${value} is not a whole number`);
    if (n !== 0) return depacketizeError('unsupported', `fmtp ${name}=${value} announces ${what}, which this relay does not take`);
  }

  const sizeText = params.get('sizelength');
  if (sizeText === undefined) {
    return depacketizeError('malformed', 'fmtp has no sizelength= (AAC-hbr sends sizelength=13; RFC 3640 §3.3.6)');
  }
  const sizeLength = parseField(sizeText);
  if (sizeLength === undefined || sizeLength < 1 || sizeLength > MAX_FIELD_BITS) {
    return depacketizeError('malformed', `fmtp sizelength=${sizeText} is not a bit count from 1 to ${MAX_FIELD_BITS}`);
  }
  const lengths: number[] = [];
  for (const name of ['indexlength', 'indexdeltalength']) {
    const text = params.get(name);
    const n = text === undefined ? 0 : parseField(text);
    if (n === undefined || n > MAX_FIELD_BITS) {
      return depacketizeError('malformed', `fmtp ${name}=${text ?? ''} is not a bit count from 0 to ${MAX_FIELD_BITS}`);
    }
    lengths.push(n);
  }

  let config: Uint8Array | undefined;
  const hex = params.get('config');
  if (hex !== undefined && hex !== '') {
    if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(hex)) {
      return depacketizeError('malformed', `fmtp config=${hex} is not an even number of hex digits (an AudioSpecificConfig)`);
    }
    config = new Uint8Array(hex.length / 2);
    for (let i = 0; i < config.length; i++) config[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return { ok: true, value: { sizeLength, indexLength: lengths[0]!, indexDeltaLength: lengths[1]!, config } };
}

/** A decimal bit count or flag ("13"); undefined for anything else. */
function parseField(text: string): number | undefined {
  return /^[0-9]{1,3}$/.test(text) ? Number(text) : undefined;
}

/** `n` (≤ 32) bits of `buf` from bit `bit`, most significant first; the caller has checked they are all there. */
function readBits(buf: Uint8Array, bit: number, n: number): number {
  let v = 0;
  for (let i = bit; i < bit + n; i++) v = v * 2 + ((buf[i >> 3]! >> (7 - (i & 7))) & 1);
  return v;
}

interface AuHeaders {
  /** AU-size of each AU-header, in order. */
  sizes: number[];
  /** Offset of the first AU byte: after AU-headers-length and the AU-headers with their padding (§3.2.1). */
  dataStart: number;
}

/** §3.2.1 AU-header section: AU-headers-length, then AU-size + AU-index (first) / AU-index-delta (the rest). */
function readAuHeaders(payload: Uint8Array, params: AacHbrParams): Depacketized<AuHeaders> {
  if (payload.length < AU_HEADERS_LENGTH_BYTES) {
    return depacketizeError('truncated', `the ${payload.length}-byte payload ends before the 16-bit AU-headers-length (RFC 3640 §3.2.1)`);
  }
  const bits = (payload[0]! << 8) | payload[1]!;
  if (bits === 0) return depacketizeError('malformed', 'AU-headers-length is 0: the packet has no AU-headers, so no AUs (RFC 3640 §3.2.1)');
  const first = params.sizeLength + params.indexLength;
  const next = params.sizeLength + params.indexDeltaLength;
  if (bits < first || (bits - first) % next !== 0) {
    return depacketizeError(
      'malformed',
      `AU-headers-length ${bits} is not a whole number of AU-headers (${first} bits, then ${next} bits each; RFC 3640 §3.2.1)`,
    );
  }
  const dataStart = AU_HEADERS_LENGTH_BYTES + Math.ceil(bits / 8);
  if (dataStart > payload.length) {
    return depacketizeError('truncated', `the AU-headers (${bits} bits) run past the end of the ${payload.length}-byte payload`);
  }
  const count = 1 + (bits - first) / next;
  const sizes: number[] = [];
  let bit = 8 * AU_HEADERS_LENGTH_BYTES;
  for (let i = 0; i < count; i++) {
    const size = readBits(payload, bit, params.sizeLength);
    bit += params.sizeLength;
    const indexLength = i === 0 ? params.indexLength : params.indexDeltaLength;
    const index = readBits(payload, bit, indexLength);
    bit += indexLength;
    // §3.2.1.1: AU-index 0 and AU-index-delta 0 are the AUs in decoding order; anything else is interleaving, whose
    // de-interleaving buffer this relay does not keep.
    if (index !== 0) {
      return depacketizeError(
        'unsupported',
        `AU-header ${i} has ${i === 0 ? 'AU-index' : 'AU-index-delta'} ${index}: interleaved AUs (RFC 3640 §3.2.1.1) are not taken`,
      );
    }
    if (size === 0) return depacketizeError('malformed', `AU-header ${i} announces an AU of 0 bytes`);
    sizes.push(size);
  }
  return { ok: true, value: { sizes, dataStart } };
}

/** The AUs (raw AAC frames) of one RTP packet payload: AU-headers-length (16 bits, in bits), then AU-headers (size + index/index-delta), then the AUs back to back (§3.2). Several AUs per packet. */
export function depacketizeAac(payload: Uint8Array, params: AacHbrParams): Depacketized<Uint8Array[]> {
  const headers = readAuHeaders(payload, params);
  if (!headers.ok) return headers;
  const { sizes, dataStart } = headers.value;
  const available = payload.length - dataStart;
  // §3.2.3: a fragment carries one AU-header whose AU-size is that of the whole AU, so it exceeds the bytes present.
  if (sizes.length === 1 && sizes[0]! > available) {
    return depacketizeError(
      'unsupported',
      `fragmented AUs are not taken: the one AU-header announces ${sizes[0]} bytes and ${available} are present (RFC 3640 §3.2.3); ` +
        'join the packets of the AU with depacketizeAacFragments',
    );
  }
  const aus: Uint8Array[] = [];
  let at = dataStart;
  for (const [i, size] of sizes.entries()) {
    if (at + size > payload.length) {
      return depacketizeError('truncated', `AU ${i} of ${size} bytes runs past the payload's end (${payload.length - at} left)`);
    }
    aus.push(payload.subarray(at, at + size));
    at += size;
  }
  // Both real senders (ffmpeg, GStreamer) fill the payload exactly. Bytes left over mean the AU-sizes do not describe
  // the payload (an auxiliary section was refused in the fmtp), so no AU can be trusted.
  if (at !== payload.length) {
    return depacketizeError('malformed', `${payload.length - at} bytes follow the last AU: the AU-sizes do not add up to the payload (RFC 3640 §3.2)`);
  }
  return { ok: true, value: aus };
}

/**
 * One AU from the payloads of the packets that carry it (RFC 3640 §3.2.3), in sequence order: the caller groups them as
 * it groups video access units (same RTP timestamp, marker bit on the last one, sequence numbers contiguous). Each
 * payload holds exactly one AU-header, with the whole AU's size, and a fragment. Because that size is known, a lost
 * middle fragment shows ('fragment-lost'), unlike H.264 FU-A. A single payload holding the whole AU is returned as a
 * view; fragments are joined into one new buffer. `maxBytes` bounds the AU (a test lowers it).
 */
export function depacketizeAacFragments(
  payloads: readonly Uint8Array[],
  params: AacHbrParams,
  maxBytes: number = MAX_UNIT_BYTES,
): Depacketized<Uint8Array> {
  if (payloads.length === 0) return depacketizeError('malformed', 'no packets: an AU needs at least one');
  const fragments: Uint8Array[] = [];
  let auSize = 0;
  let bytes = 0;
  for (const [i, payload] of payloads.entries()) {
    const headers = readAuHeaders(payload, params);
    if (!headers.ok) return depacketizeError(headers.error.code, `packet ${i}: ${headers.error.message}`);
    const { sizes, dataStart } = headers.value;
    // §3.2.3: "a packet carrying a fragment of an AU ... MUST contain only that fragment" with one AU-header.
    if (sizes.length !== 1) {
      return depacketizeError('malformed', `packet ${i} has ${sizes.length} AU-headers; a fragment of an AU travels with exactly one (RFC 3640 §3.2.3)`);
    }
    const size = sizes[0]!;
    if (i === 0) {
      if (size > maxBytes) return depacketizeError('too-large', `the AU announces ${size} bytes, over the ${maxBytes}-byte bound`);
      auSize = size;
    } else if (size !== auSize) {
      return depacketizeError('fragment-lost', `packet ${i} is a fragment of a ${size}-byte AU inside the ${auSize}-byte one started in packet 0`);
    }
    const fragment = payload.subarray(dataStart);
    if (fragment.length === 0) return depacketizeError('malformed', `packet ${i} carries no byte of the AU`);
    bytes += fragment.length;
    if (bytes > auSize) {
      return depacketizeError('malformed', `the fragments reach ${bytes} bytes by packet ${i}, more than the AU's ${auSize}`);
    }
    fragments.push(fragment);
  }
  if (bytes < auSize) {
    return depacketizeError('fragment-lost', `the fragments hold ${bytes} of the AU's ${auSize} bytes: a fragment is missing`);
  }
  if (fragments.length === 1) return { ok: true, value: fragments[0]! };
  const au = new Uint8Array(auSize);
  let at = 0;
  for (const f of fragments) {
    au.set(f, at);
    at += f.length;
  }
  return { ok: true, value: au };
}

/** RFC 6716 §3.2.1: no frame may be longer than 1275 bytes. */
const OPUS_MAX_FRAME_BYTES = 1275;
/** RFC 6716 §3.2.5 R5: a code 3 packet lasts at most 120 ms: 5760 samples at 48 kHz. */
const OPUS_MAX_PACKET_SAMPLES = 5760;

/** RFC 6716 §3.1 Table 2: the frame duration of a TOC config, in 48 kHz samples. */
function opusFrameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!; // SILK-only: 10, 20, 40, 60 ms
  if (config < 16) return [480, 960][config & 1]!; // Hybrid: 10, 20 ms
  return [120, 240, 480, 960][config & 3]!; // CELT-only: 2.5, 5, 10, 20 ms
}

/** RFC 6716 §3.2.1 frame length coding at `at`: [length, bytes used], or undefined when it runs past `end`. */
function opusFrameLength(p: Uint8Array, at: number, end: number): [number, number] | undefined {
  if (at >= end) return undefined;
  const b0 = p[at]!;
  if (b0 < 252) return [b0, 1];
  if (at + 1 >= end) return undefined;
  return [b0 + 4 * p[at + 1]!, 2];
}

/** RFC 7587 §4.2: one Opus packet per RTP payload; an empty payload is 'truncated'. */
export function depacketizeOpus(payload: Uint8Array): Depacketized<Uint8Array> {
  const n = payload.length;
  // R1: at least one byte (the TOC).
  if (n === 0) return depacketizeError('truncated', 'empty payload: an Opus packet has at least its TOC byte (RFC 6716 §3.4 R1)');
  const toc = payload[0]!;
  const code = toc & 0x03;
  const bad = (rule: string): Depacketized<Uint8Array> =>
    depacketizeError('malformed', `Opus packet of ${n} bytes, code ${code}: ${rule} (RFC 6716 §3.4)`);
  switch (code) {
    case 0: // §3.2.2: one frame, the rest of the packet. R2.
      if (n - 1 > OPUS_MAX_FRAME_BYTES) return bad(`its frame of ${n - 1} bytes is over ${OPUS_MAX_FRAME_BYTES} (R2)`);
      break;
    case 1: // §3.2.3: two frames of equal size. R3, R2.
      if ((n - 1) % 2 !== 0) return bad('two equal frames need an even number of bytes after the TOC (R3)');
      if ((n - 1) / 2 > OPUS_MAX_FRAME_BYTES) return bad(`its frames of ${(n - 1) / 2} bytes are over ${OPUS_MAX_FRAME_BYTES} (R2)`);
      break;
    case 2: {
      // §3.2.4: two frames, the first one's length coded after the TOC. R4, R2.
      const first = opusFrameLength(payload, 1, n);
      if (first === undefined) return bad('it ends inside the first frame length (R4)');
      const rest = n - 1 - first[1];
      if (first[0] > rest) return bad(`its first frame of ${first[0]} bytes runs past the end (R4)`);
      // A coded length is at most 255 + 4 × 255 = 1275 (§3.2.1), so only the second frame can be too long.
      if (rest - first[0] > OPUS_MAX_FRAME_BYTES) return bad(`its second frame of ${rest - first[0]} bytes is over ${OPUS_MAX_FRAME_BYTES} (R2)`);
      break;
    }
    default: {
      // §3.2.5: frame count byte (VBR flag, padding flag, M), optional padding length, then M frames. R5-R7.
      if (n < 2) return bad('it ends before the frame count byte (R6/R7)');
      const countByte = payload[1]!;
      const m = countByte & 0x3f;
      if (m === 0) return bad('it holds 0 frames (R5)');
      if (m * opusFrameSamples(toc >> 3) > OPUS_MAX_PACKET_SAMPLES) return bad(`its ${m} frames last over 120 ms (R5)`);
      let at = 2;
      let padding = 0;
      if ((countByte & 0x40) !== 0) {
        // Padding length: bytes of 255 each add 254 and continue; the last (0-254) adds itself.
        let more = true;
        while (more) {
          if (at >= n) return bad('it ends inside the padding length (R6/R7)');
          const b = payload[at++]!;
          padding += b === 255 ? 254 : b;
          more = b === 255;
        }
      }
      let remaining = n - at - padding; // frame lengths (VBR) and frame data
      if (remaining < 0) return bad(`its ${padding} bytes of padding run past the end (R6/R7)`);
      if ((countByte & 0x80) === 0) {
        // CBR: M frames of equal size. R6.
        if (remaining % m !== 0) return bad(`${remaining} bytes do not split into ${m} equal frames (R6)`);
        if (remaining / m > OPUS_MAX_FRAME_BYTES) return bad(`its frames of ${remaining / m} bytes are over ${OPUS_MAX_FRAME_BYTES} (R6)`);
      } else {
        // VBR: M-1 frame lengths (each at most 1275 by its coding), the last frame is what remains. R7.
        let frames = 0;
        for (let i = 0; i < m - 1; i++) {
          const len = opusFrameLength(payload, at, n - padding);
          if (len === undefined) return bad(`it ends inside the length of frame ${i} (R7)`);
          at += len[1];
          remaining -= len[1];
          frames += len[0];
        }
        if (frames > remaining) return bad(`its frame lengths add up to ${frames} bytes, ${remaining} are present (R7)`);
        if (remaining - frames > OPUS_MAX_FRAME_BYTES) return bad(`its last frame of ${remaining - frames} bytes is over ${OPUS_MAX_FRAME_BYTES} (R7)`);
      }
    }
  }
  return { ok: true, value: payload };
}

/** RFC 3551 §4.5.14: PCMA/PCMU, one byte per sample; the payload is the frame. */
export function depacketizeG711(payload: Uint8Array): Depacketized<Uint8Array> {
  if (payload.length === 0) return depacketizeError('truncated', 'empty payload: a G.711 packet carries at least one sample (RFC 3551 §4.5.14)');
  return { ok: true, value: payload };
}
