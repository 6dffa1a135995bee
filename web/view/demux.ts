// The viewer socket's binary messages → what WebCodecs takes. An init segment (ftyp+moov) gives each track's decoder
// configuration; every later message is one moof+mdat whose samples become chunks with times in microseconds. Both
// go through the project's validating fMP4 reader (shared/fmp4/reader.ts), as the server's ingest does. Pure: no DOM.
import { avcCFromParameterSets } from '../../shared/fmp4/avc.ts';
import { parseInitSegment, parseMediaSegment, readBoxHeader, type InitInfo, type TrackInfo } from '../../shared/fmp4/reader.ts';

export interface VideoTrackConfig {
  kind: 'video';
  trackId: number;
  timescale: number;
  /** WebCodecs VideoDecoderConfig fields. */
  codec: string;
  description: Uint8Array;
  codedWidth: number;
  codedHeight: number;
}

export interface AudioTrackConfig {
  kind: 'audio';
  trackId: number;
  timescale: number;
  codec: string;
  sampleRate: number;
  numberOfChannels: number;
  /** AAC: the AudioSpecificConfig; Opus needs none for one or two channels. */
  description?: Uint8Array;
}

export type TrackConfig = VideoTrackConfig | AudioTrackConfig;

export interface MediaChunk {
  kind: 'video' | 'audio';
  /** Presentation time, µs. */
  timestamp: number;
  /** Decode time, seconds (the timeline the server's sync messages use). */
  decodeTime: number;
  duration: number;
  key: boolean;
  data: Uint8Array;
}

export type Demuxed =
  | { kind: 'init'; tracks: TrackConfig[]; init: Uint8Array; info: InitInfo }
  | { kind: 'media'; chunks: MediaChunk[] }
  | { kind: 'error'; message: string };

/** Whether a binary message is an init segment (starts with ftyp) rather than a media segment. */
export function isInitSegment(bytes: Uint8Array): boolean {
  return readBoxHeader(bytes, 0)?.type === 'ftyp';
}

function trackConfig(t: TrackInfo): TrackConfig | string {
  if (t.kind === 'video') {
    const sps = t.parameterSets?.sps[0];
    const pps = t.parameterSets?.pps[0];
    const description = sps && pps ? avcCFromParameterSets(sps, pps) : undefined;
    if (!description) return `video track ${t.id} has no usable SPS/PPS`;
    return { kind: 'video', trackId: t.id, timescale: t.timescale, codec: t.codec, description, codedWidth: t.width ?? 0, codedHeight: t.height ?? 0 };
  }
  return {
    kind: 'audio',
    trackId: t.id,
    timescale: t.timescale,
    codec: t.codec,
    sampleRate: t.sampleRate ?? 48000,
    numberOfChannels: t.channels ?? 2,
    ...(t.aacConfig ? { description: t.aacConfig } : {}),
  };
}

export class Demuxer {
  private info: InitInfo | undefined;
  private kinds = new Map<number, { kind: 'video' | 'audio'; timescale: number }>();

  /** One binary message from the socket. */
  push(bytes: Uint8Array): Demuxed {
    if (isInitSegment(bytes)) {
      const r = parseInitSegment(bytes);
      if (!r.ok) return { kind: 'error', message: `the server sent an init segment this page cannot read: ${r.error.message}` };
      const tracks: TrackConfig[] = [];
      for (const t of r.value.tracks) {
        const c = trackConfig(t);
        if (typeof c === 'string') return { kind: 'error', message: c };
        tracks.push(c);
      }
      this.info = r.value;
      this.kinds = new Map(tracks.map((t) => [t.trackId, { kind: t.kind, timescale: t.timescale }]));
      return { kind: 'init', tracks, init: bytes, info: r.value };
    }
    if (!this.info) return { kind: 'error', message: 'the server sent media before an init segment' };
    const r = parseMediaSegment(bytes, this.info);
    if (!r.ok) return { kind: 'error', message: `the server sent a fragment this page cannot read: ${r.error.message}` };
    const chunks: MediaChunk[] = [];
    for (const traf of r.value.tracks) {
      const track = this.kinds.get(traf.trackId);
      if (!track) continue;
      const base = Number(traf.baseDecodeTime);
      const us = 1_000_000 / track.timescale;
      for (const s of traf.sampleList) {
        const dts = base + s.decodeOffset;
        chunks.push({
          kind: track.kind,
          timestamp: Math.round((dts + s.compositionOffset) * us),
          decodeTime: dts / track.timescale,
          duration: Math.round(s.duration * us),
          key: s.sync,
          data: bytes.subarray(s.offset, s.offset + s.size),
        });
      }
    }
    return { kind: 'media', chunks };
  }
}
