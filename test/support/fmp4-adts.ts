// Test helper: AAC frames out of an ADTS stream (ISO/IEC 14496-3 §1.A.2), plus the 2-byte AudioSpecificConfig
// (§1.6.2.1) the header implies, which is what WebCodecs' AudioEncoder gives as decoderConfig.description for "aac".

const RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface Adts {
  audioSpecificConfig: Uint8Array;
  sampleRate: number;
  channels: number;
  frames: Uint8Array[];
}

export function readAdts(bytes: Uint8Array): Adts {
  const frames: Uint8Array[] = [];
  let config: { objectType: number; rateIndex: number; channels: number } | undefined;
  for (let at = 0; at + 7 <= bytes.length; ) {
    if (bytes[at] !== 0xff || (bytes[at + 1]! & 0xf0) !== 0xf0) throw new Error(`no ADTS sync word at ${at}`);
    const protectionAbsent = bytes[at + 1]! & 1;
    const objectType = (bytes[at + 2]! >> 6) + 1; // profile + 1
    const rateIndex = (bytes[at + 2]! >> 2) & 0x0f;
    const channels = ((bytes[at + 2]! & 1) << 2) | (bytes[at + 3]! >> 6);
    const length = ((bytes[at + 3]! & 3) << 11) | (bytes[at + 4]! << 3) | (bytes[at + 5]! >> 5);
    const header = protectionAbsent ? 7 : 9;
    config ??= { objectType, rateIndex, channels };
    frames.push(bytes.subarray(at + header, at + length));
    at += length;
  }
  if (!config) throw new Error('no ADTS frame');
  const asc = Uint8Array.of((config.objectType << 3) | (config.rateIndex >> 1), ((config.rateIndex & 1) << 7) | (config.channels << 3));
  return { audioSpecificConfig: asc, sampleRate: RATES[config.rateIndex]!, channels: config.channels, frames };
}
