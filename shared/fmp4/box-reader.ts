// The walking half of the fMP4 reader: box headers, child lists checked against allow-lists and parent sizes, and a
// field cursor that refuses to read past its box. Parse failures are thrown as ParseFail inside the reader and turned
// into values by run(), so the exported parse functions never throw. Bare § numbers are ISO/IEC 14496-12:2015.

export type Fmp4ErrorCode = 'truncated' | 'bad-box' | 'unexpected-box' | 'too-large' | 'bad-init' | 'unsupported-codec' | 'bad-fragment';
export type Fmp4Error = { code: Fmp4ErrorCode; message: string };
export type Fmp4Result<T> = { ok: true; value: T } | { ok: false; error: Fmp4Error };
/** Bounds on what one call accepts; anything over is refused as 'too-large' before it is walked further. */
export interface ReaderLimits {
  /** A whole init segment (ftyp + moov); ours are about 1 KB, ffmpeg's 1.3 KB. */
  maxInitBytes: number;
  /** A whole media segment buffer (one or more moof+mdat pairs). */
  maxSegmentBytes: number;
  /** One moof; 1000 samples of 16 bytes each fit easily. */
  maxMoofBytes: number;
  /** One mdat payload: a 4K keyframe at a high bitrate is a few MB. */
  maxMdatBytes: number;
  maxSamplesPerTrun: number;
  maxTrunsPerTraf: number;
}

export const DEFAULT_READER_LIMITS: Readonly<ReaderLimits> = {
  maxInitBytes: 1 << 20,
  maxSegmentBytes: 32 << 20,
  maxMoofBytes: 256 << 10,
  maxMdatBytes: 16 << 20,
  maxSamplesPerTrun: 1000,
  maxTrunsPerTraf: 16,
};

/**
 * Nesting bound. The allow-lists already fix the deepest path (moov > trak > mdia > minf > stbl > stsd > avc1 > avcC
 * is depth 8) and opaque boxes (udta, free) are never opened; this is the backstop should a list ever grow a cycle.
 */
export const MAX_DEPTH = 9;

// ---------------------------------------------------------------------------------------------------------------
// Box headers


/** ISO/IEC 14496-12 §4.2: 32-bit size, 64-bit largesize (size 1), size 0 = to the end of the buffer; 'uuid' adds 16. */
export function readBoxHeader(buf: Uint8Array, offset: number): { type: string; size: number; headerSize: number } | undefined {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + 8 > buf.length) return undefined;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let size = view.getUint32(offset);
  const type = String.fromCharCode(buf[offset + 4]!, buf[offset + 5]!, buf[offset + 6]!, buf[offset + 7]!);
  let headerSize = 8;
  if (size === 1) {
    if (offset + 16 > buf.length) return undefined;
    size = view.getUint32(offset + 8) * 0x1_0000_0000 + view.getUint32(offset + 12); // may round past 2^53: still too big
    headerSize = 16;
  } else if (size === 0) {
    size = buf.length - offset;
  }
  if (type === 'uuid') {
    headerSize += 16; // extended_type
    if (offset + headerSize > buf.length) return undefined;
  }
  if (size < headerSize) return undefined;
  return { type, size, headerSize };
}

export interface Box {
  type: string;
  start: number;
  /** First payload byte (after size, type, largesize, extended_type). */
  payload: number;
  end: number;
  depth: number;
}

class ParseFail {
  constructor(readonly error: Fmp4Error) {}
}

export function fail(code: Fmp4ErrorCode, message: string): never {
  throw new ParseFail({ code, message });
}

export function show(type: string): string {
  return JSON.stringify(type);
}

/**
 * The boxes that exactly fill [start, end) of `parent`. A type outside `allowed` is refused before its size is looked
 * at, so text (an HLS playlist, an ffconcat script) fails as "unexpected box" rather than as a giant size.
 * At the top level a box that runs past the buffer is `truncated`; inside a box it is `bad-box`.
 */
export function children(buf: Uint8Array, parent: Box, allowed: ReadonlySet<string> | 'any'): Box[] {
  const depth = parent.depth + 1;
  if (depth > MAX_DEPTH) fail('bad-box', `boxes are nested more than ${MAX_DEPTH} deep`);
  const topLevel = parent.depth === 0;
  const out: Box[] = [];
  let at = parent.payload;
  while (at < parent.end) {
    const left = parent.end - at;
    if (left < 8) fail(topLevel ? 'truncated' : 'bad-box', `${left} stray bytes at the end of ${where(parent)}`);
    const type = String.fromCharCode(buf[at + 4]!, buf[at + 5]!, buf[at + 6]!, buf[at + 7]!);
    if (allowed !== 'any' && !allowed.has(type)) fail('unexpected-box', `box ${show(type)} is not allowed in ${where(parent)}`);
    const raw = new DataView(buf.buffer, buf.byteOffset + at, 4).getUint32(0);
    // §4.2: size 0 ("to the end of the file") is only meaningful for the last top-level box.
    if (raw === 0 && !topLevel) fail('bad-box', `box ${show(type)} in ${where(parent)} has size 0`);
    const h = readBoxHeader(buf.subarray(0, parent.end), at);
    if (!h) {
      if (raw === 1 || type === 'uuid') fail(topLevel ? 'truncated' : 'bad-box', `the header of ${show(type)} is cut off in ${where(parent)}`);
      fail('bad-box', `box ${show(type)} in ${where(parent)} has size ${raw}, smaller than its header`);
    }
    if (h.size > left) {
      fail(topLevel ? 'truncated' : 'bad-box', `box ${show(type)} in ${where(parent)} claims ${h.size} bytes but only ${left} remain`);
    }
    out.push({ type, start: at, payload: at + h.headerSize, end: at + h.size, depth });
    at += h.size;
  }
  return out;
}

export function where(b: Box): string {
  return b.depth === 0 ? 'the top level' : show(b.type);
}

export function only(boxes: readonly Box[], type: string, parent: Box, errorCode: Fmp4ErrorCode): Box {
  const found = boxes.filter((b) => b.type === type);
  if (found.length !== 1) fail(errorCode, `${where(parent)} must hold exactly one ${show(type)}, found ${found.length}`);
  return found[0]!;
}

export function optional(boxes: readonly Box[], type: string, parent: Box, errorCode: Fmp4ErrorCode): Box | undefined {
  const found = boxes.filter((b) => b.type === type);
  if (found.length > 1) fail(errorCode, `${where(parent)} holds ${found.length} ${show(type)} boxes; at most one is allowed`);
  return found[0];
}

/** Reads a box's fields in order; running past the box end means the box is too small for what it declares. */
export class Fields {
  private pos: number;
  private readonly view: DataView;
  constructor(
    private readonly buf: Uint8Array,
    private readonly box: Box,
    start = box.payload,
  ) {
    this.pos = start;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private take(n: number): number {
    if (this.pos + n > this.box.end) fail('bad-box', `${show(this.box.type)} is too short for its fields`);
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8(): number {
    return this.view.getUint8(this.take(1));
  }
  u16(): number {
    return this.view.getUint16(this.take(2));
  }
  i16(): number {
    return this.view.getInt16(this.take(2));
  }
  u24(): number {
    const at = this.take(3);
    return (this.view.getUint8(at) << 16) | this.view.getUint16(at + 1);
  }
  u32(): number {
    return this.view.getUint32(this.take(4));
  }
  i32(): number {
    return this.view.getInt32(this.take(4));
  }
  /** A 64-bit unsigned value: a number when exact, else a bigint. */
  u64(): number | bigint {
    const hi = this.u32();
    const lo = this.u32();
    const n = hi * 0x1_0000_0000 + lo;
    return Number.isSafeInteger(n) ? n : (BigInt(hi) << 32n) | BigInt(lo);
  }
  fourcc(): string {
    const at = this.take(4);
    return String.fromCharCode(this.buf[at]!, this.buf[at + 1]!, this.buf[at + 2]!, this.buf[at + 3]!);
  }
  skip(n: number): void {
    this.take(n);
  }
  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.buf.subarray(at, at + n);
  }
  /** FullBox header (§4.2): version and flags. */
  full(): { version: number; flags: number } {
    const version = this.u8();
    return { version, flags: this.u24() };
  }
  get offset(): number {
    return this.pos;
  }
  get left(): number {
    return this.box.end - this.pos;
  }
  /** Every field read and nothing left: a box of exactly the declared layout. */
  end(): void {
    if (this.pos !== this.box.end) fail('bad-box', `${show(this.box.type)} has ${this.box.end - this.pos} bytes past its fields`);
  }
}

export function run<T>(parse: () => T): Fmp4Result<T> {
  try {
    return { ok: true, value: parse() };
  } catch (e) {
    if (e instanceof ParseFail) return { ok: false, error: e.error };
    // A bug here must not take the server down with an upload; the property tests look for this message.
    return { ok: false, error: { code: 'bad-box', message: `internal reader error: ${e instanceof Error ? e.message : 'unknown'}` } };
  }
}

export function rootOf(buf: Uint8Array): Box {
  return { type: '', start: 0, payload: 0, end: buf.length, depth: 0 };
}

/** §4.3 ftyp / §8.16.2 styp: major_brand, minor_version, compatible_brands[]. */
export function readBrands(b: Box): void {
  const len = b.end - b.payload;
  if (len < 8 || len % 4 !== 0) fail('bad-box', `${show(b.type)} has ${len} payload bytes; it must be 8 plus 4 per brand`);
}
