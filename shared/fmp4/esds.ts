// The esds payload of an 'mp4a' sample entry (ISO/IEC 14496-14 §5.6): an ES_Descriptor holding a
// DecoderConfigDescriptor whose DecoderSpecificInfo is the AAC AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
// Pure and total: never throws.

export interface AacConfig {
  /** MPEG-4 audioObjectType: 2 = AAC-LC, 5 = SBR (HE-AAC), 29 = PS (HE-AAC v2). */
  audioObjectType: number;
  sampleRate: number;
  /** From channelConfiguration; undefined when 0 (the layout is in a program_config_element). */
  channels: number | undefined;
  /** The AudioSpecificConfig bytes themselves (RTP's mpeg4-generic "config", RFC 3640 §4.1). */
  specificConfig: Uint8Array;
}

export type EsdsResult = { ok: true; value: AacConfig } | { ok: false; message: string; unsupported: boolean };

// ISO/IEC 14496-3 §1.6.3.4 samplingFrequencyIndex
const SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];
// ISO/IEC 14496-3 §1.6.3.5 channelConfiguration 1..7
const CHANNELS = [undefined, 1, 2, 3, 4, 5, 6, 8];
// The AAC object types ffmpeg's native decoder handles and browsers encode.
const ACCEPTED_OBJECT_TYPES = new Set([2, 5, 29]);

class Stop {
  constructor(
    readonly message: string,
    readonly unsupported = false,
  ) {}
}

/** ISO/IEC 14496-1 §7.2.2.1 / §8.3.3: tag (8 bits), then a length in up to four 7-bit groups. */
function readDescriptor(b: Uint8Array, at: number, end: number): { tag: number; body: number; end: number } {
  const tag = b[at];
  if (tag === undefined || at >= end) throw new Stop('the esds ends before a descriptor');
  let len = 0;
  let p = at + 1;
  for (let i = 0; ; i++) {
    if (i === 4) throw new Stop('an esds descriptor length is longer than 4 bytes');
    const byte = b[p];
    if (byte === undefined || p >= end) throw new Stop('the esds ends inside a descriptor length');
    p += 1;
    len = len * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) break;
  }
  if (p + len > end) throw new Stop(`an esds descriptor (tag ${tag}) claims ${len} bytes but ${end - p} remain`);
  return { tag, body: p, end: p + len };
}

/** Finds the first descriptor with `tag` among the descriptors in [at, end). */
function findDescriptor(b: Uint8Array, at: number, end: number, tag: number): { body: number; end: number } {
  let p = at;
  while (p < end) {
    const d = readDescriptor(b, p, end);
    if (d.tag === tag) return d;
    p = d.end;
  }
  throw new Stop(`the esds has no descriptor with tag ${tag}`);
}

/** MSB-first bits for the AudioSpecificConfig. */
function bitReader(b: Uint8Array, start: number, end: number): (n: number) => number {
  let bit = start * 8;
  return (n) => {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byteIndex = bit >>> 3;
      if (byteIndex >= end) throw new Stop('the AudioSpecificConfig is cut short');
      v = v * 2 + ((b[byteIndex]! >>> (7 - (bit & 7))) & 1);
      bit += 1;
    }
    return v;
  };
}

function readAsc(b: Uint8Array, start: number, end: number): AacConfig {
  const bits = bitReader(b, start, end);
  // §1.6.2.1 GetAudioObjectType(): 5 bits, 31 escapes to 32 + 6 more bits.
  const objectType = (): number => {
    const t = bits(5);
    return t === 31 ? 32 + bits(6) : t;
  };
  const rate = (): number => {
    const index = bits(4);
    if (index === 15) return bits(24);
    const r = SAMPLE_RATES[index];
    if (r === undefined) throw new Stop(`samplingFrequencyIndex ${index} is reserved`);
    return r;
  };
  let audioObjectType = objectType();
  let sampleRate = rate();
  const channelConfiguration = bits(4);
  // §1.6.2.1: explicit SBR/PS signalling puts the extension rate and the core object type next.
  if (audioObjectType === 5 || audioObjectType === 29) {
    const coreType = audioObjectType;
    sampleRate = rate();
    audioObjectType = objectType();
    if (audioObjectType !== 2) throw new Stop(`HE-AAC over object type ${audioObjectType} is not accepted`, true);
    audioObjectType = coreType;
  }
  if (!ACCEPTED_OBJECT_TYPES.has(audioObjectType)) throw new Stop(`AAC object type ${audioObjectType} is not accepted (only 2, 5 and 29)`, true);
  if (sampleRate === 0) throw new Stop('the AudioSpecificConfig sample rate is 0');
  if (channelConfiguration > 7) throw new Stop(`channelConfiguration ${channelConfiguration} is reserved`, true);
  return { audioObjectType, sampleRate, channels: CHANNELS[channelConfiguration], specificConfig: b.slice(start, end) };
}

/** Parses the esds payload after its FullBox header. */
export function parseEsds(b: Uint8Array): EsdsResult {
  try {
    // ISO/IEC 14496-1 §7.2.6.5 ES_Descriptor (tag 3)
    const es = readDescriptor(b, 0, b.length);
    if (es.tag !== 0x03) throw new Stop(`the esds starts with descriptor tag ${es.tag}, not ES_DescrTag (3)`);
    if (es.end !== b.length) throw new Stop(`the esds has ${b.length - es.end} bytes after its ES_Descriptor`);
    let p = es.body + 2; // ES_ID
    const flags = b[p];
    if (flags === undefined || p >= es.end) throw new Stop('the ES_Descriptor is cut short');
    p += 1;
    if (flags & 0x80) p += 2; // streamDependenceFlag → dependsOn_ES_ID
    if (flags & 0x40) p += 1 + (b[p] ?? 0); // URL_Flag → URLlength + URLstring
    if (flags & 0x20) p += 2; // OCRstreamFlag → OCR_ES_Id
    if (p > es.end) throw new Stop('the ES_Descriptor is cut short');
    // §7.2.6.6 DecoderConfigDescriptor (tag 4)
    const dc = findDescriptor(b, p, es.end, 0x04);
    if (dc.end - dc.body < 13) throw new Stop('the DecoderConfigDescriptor is cut short');
    const objectTypeIndication = b[dc.body]!;
    // §7.2.6.6.2 Table 5: 0x40 = Audio ISO/IEC 14496-3. (0x66-0x68 are MPEG-2 AAC, 0x69/0x6B MPEG audio.)
    if (objectTypeIndication !== 0x40) throw new Stop(`mp4a objectTypeIndication 0x${objectTypeIndication.toString(16)} is not MPEG-4 Audio (0x40)`, true);
    // §7.2.6.7 DecoderSpecificInfo (tag 5): the AudioSpecificConfig
    const dsi = findDescriptor(b, dc.body + 13, dc.end, 0x05);
    return { ok: true, value: readAsc(b, dsi.body, dsi.end) };
  } catch (e) {
    if (e instanceof Stop) return { ok: false, message: e.message, unsupported: e.unsupported };
    throw e;
  }
}
