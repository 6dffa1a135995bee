// Test helper: Opus packets out of an Ogg Opus file (RFC 3533 pages, RFC 7845 headers), as the publisher page gets
// them from WebCodecs' AudioEncoder: one EncodedAudioChunk per packet.

export interface OggOpus {
  channels: number;
  preSkip: number;
  inputSampleRate: number;
  packets: Uint8Array[];
}

export function readOggOpus(bytes: Uint8Array): OggOpus {
  const packets: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.length) {
    if (String.fromCharCode(...bytes.subarray(at, at + 4)) !== 'OggS') throw new Error(`no Ogg page at ${at}`);
    const segments = bytes[at + 26]!;
    const table = bytes.subarray(at + 27, at + 27 + segments);
    let body = at + 27 + segments;
    for (const lacing of table) {
      pending.push(bytes.subarray(body, body + lacing));
      body += lacing;
      // RFC 3533 §5: a lacing value below 255 ends the packet.
      if (lacing < 255) {
        packets.push(Uint8Array.from(pending.flatMap((p) => [...p])));
        pending = [];
      }
    }
    at = body;
  }
  const head = packets[0];
  if (!head || String.fromCharCode(...head.subarray(0, 8)) !== 'OpusHead') throw new Error('not an Ogg Opus stream');
  // RFC 7845 §5.1 OpusHead: little-endian fields.
  const h = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return {
    channels: head[9]!,
    preSkip: h.getUint16(10, true),
    inputSampleRate: h.getUint32(12, true),
    packets: packets.slice(2), // after OpusHead and OpusTags
  };
}

/** RFC 6716 §3.1: samples at 48 kHz in one Opus packet, from its TOC byte (and frame count byte for code 3). */
export function opusPacketSamples(packet: Uint8Array): number {
  const toc = packet[0]!;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config % 4]!; // SILK: 10, 20, 40, 60 ms
  else if (config < 16) frameSamples = [480, 960][config % 2]!; // Hybrid: 10, 20 ms
  else frameSamples = [120, 240, 480, 960][config % 4]!; // CELT: 2.5, 5, 10, 20 ms
  const code = toc & 3;
  const frames = code === 0 ? 1 : code === 3 ? packet[1]! & 0x3f : 2;
  return frameSamples * frames;
}
