// The tracks of a hub stream in the shape of `ffprobe -show_streams -print_format json`, so scripts written against
// ffprobe's JSON read GET /api/streams/NAME as they are. Values come from the codec configuration the hub already
// holds (parameter sets, AudioSpecificConfig, the SDP), never from decoding; names and spellings are ffprobe's
// (ffmpeg 5.1 on Debian 12, probed over RTSP from this relay), strings where ffprobe prints strings.
import { avcProfileName, parseAvcC, parseSps } from '../../../shared/fmp4/avc.ts';
import type { SampleConfig } from '../../protocols/fmp4/sample.ts';
import type { StreamTrack } from '../../stream/stream.ts';

export interface FfprobeStream {
  index: number;
  codec_name: string;
  codec_long_name?: string;
  profile?: string;
  codec_type: 'video' | 'audio' | 'data';
  codec_tag_string: string;
  codec_tag: string;
  width?: number;
  height?: number;
  coded_width?: number;
  coded_height?: number;
  pix_fmt?: string;
  level?: number;
  sample_fmt?: string;
  sample_rate?: string;
  channels?: number;
  channel_layout?: string;
  bits_per_sample?: number;
  r_frame_rate: string;
  avg_frame_rate: string;
  time_base: string;
  bit_rate?: string;
}

/** What the description needs of the hub's stream (stream/stream.ts's Stream). */
export interface ProbeSource {
  readonly tracks: readonly StreamTrack[];
  sampleConfig(track: number): SampleConfig | undefined;
  /** Video frames per second arriving, over the last few seconds. */
  videoFps(): number;
  trackKbps(track: number): number;
}

/** ffmpeg's codec names and long names for the SDP encodings the hub carries (libavformat/rtpdec*.c). */
const CODECS: Readonly<Record<string, { name: string; long: string }>> = {
  H264: { name: 'h264', long: 'H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10' },
  H265: { name: 'hevc', long: 'H.265 / HEVC (High Efficiency Video Coding)' },
  'MPEG4-GENERIC': { name: 'aac', long: 'AAC (Advanced Audio Coding)' },
  OPUS: { name: 'opus', long: 'Opus (Opus Interactive Audio Codec)' },
  PCMA: { name: 'pcm_alaw', long: 'PCM A-law / G.711 A-law' },
  PCMU: { name: 'pcm_mulaw', long: 'PCM mu-law / G.711 mu-law' },
};

/** H.265 Annex A general_profile_idc, spelled as ffprobe prints them (libavcodec/profiles.c). */
const HEVC_PROFILES: Readonly<Record<number, string>> = { 1: 'Main', 2: 'Main 10', 3: 'Main Still Picture', 4: 'Rext' };

/** ISO/IEC 14496-3 §1.5.1.1 audio object types, as ffprobe names the AAC profiles. */
const AAC_PROFILES: Readonly<Record<number, string>> = { 1: 'Main', 2: 'LC', 3: 'SSR', 4: 'LTP', 5: 'HE-AAC', 23: 'LD', 29: 'HE-AACv2', 39: 'ELD' };

export function ffprobeStreams(source: ProbeSource): FfprobeStream[] {
  return source.tracks.map((t) => {
    const known = CODECS[t.codec.codec];
    const kind = t.codec.kind === 'other' ? 'data' : t.codec.kind;
    const config = known ? source.sampleConfig(t.index) : undefined;
    const kbps = source.trackKbps(t.index);
    const fps = kind === 'video' ? source.videoFps() : 0;
    return {
      index: t.index,
      codec_name: known?.name ?? (t.codec.codec.toLowerCase() || 'none'),
      ...(known ? { codec_long_name: known.long } : {}),
      codec_type: kind,
      // RTP carries no fourcc: ffprobe prints zeros for every stream it reads over RTSP.
      codec_tag_string: '[0][0][0][0]',
      codec_tag: '0x0000',
      ...(config ? configFields(config, t.codec.channels) : t.codec.channels !== undefined ? { sample_rate: String(t.codec.clockRate), channels: t.codec.channels } : {}),
      r_frame_rate: fps > 0 ? `${fps}/1` : '0/0',
      avg_frame_rate: fps > 0 ? `${fps}/1` : '0/0',
      time_base: t.codec.clockRate > 0 ? `1/${t.codec.clockRate}` : '0/1',
      // G.711 has one rate, which ffprobe computes; for the others, what arrived over the last seconds.
      ...(config?.codec === 'pcma' || config?.codec === 'pcmu'
        ? { bit_rate: String(config.clockRate * 8 * config.channels) }
        : kbps > 0 ? { bit_rate: String(Math.round(kbps * 1000)) } : {}),
    };
  });
}

/** `sdpChannels`: the rtpmap's channel count, which is what ffprobe reports for Opus over RTP (see below). */
function configFields(c: SampleConfig, sdpChannels: number | undefined): Partial<FfprobeStream> {
  switch (c.codec) {
    case 'h264': {
      const avcC = parseAvcC(c.avcC);
      const spsNal = avcC.ok ? avcC.value.sps[0] : undefined;
      const sps = spsNal ? parseSps(spsNal) : undefined;
      if (!sps?.ok) return { width: c.width, height: c.height };
      const s = sps.value;
      return {
        profile: avcProfileName(s.profileIdc, s.constraintFlags),
        width: c.width,
        height: c.height,
        coded_width: s.codedWidth,
        coded_height: s.codedHeight,
        pix_fmt: pixelFormat(s.chromaFormatIdc, s.bitDepthLuma),
        level: s.levelIdc,
      };
    }
    case 'h265': {
      // ISO/IEC 14496-15 §8.3.3.1.2 HEVCDecoderConfigurationRecord: fixed fields at fixed offsets.
      const h = c.hvcC;
      const fields: Partial<FfprobeStream> = { width: c.width, height: c.height };
      if (h.length < 23) return fields;
      const profile = HEVC_PROFILES[h[1]! & 0x1f];
      return { ...(profile ? { profile } : {}), ...fields, pix_fmt: pixelFormat(h[16]! & 0x03, (h[17]! & 0x07) + 8), level: h[12]! };
    }
    case 'aac': {
      const objectType = (c.audioSpecificConfig[0] ?? 0) >> 3;
      const profile = AAC_PROFILES[objectType];
      return { ...(profile ? { profile } : {}), sample_fmt: 'fltp', sample_rate: String(c.sampleRate), ...channelFields(c.channels) };
    }
    case 'opus':
      // RFC 7587 §7: the rtpmap always says opus/48000/2, mono or not (the decoder always can output stereo), and
      // ffprobe over RTSP reports those 2 channels; a mono publisher is channels 1 only in its sprop-stereo.
      return { sample_fmt: 'fltp', sample_rate: String(c.clockRate), ...channelFields(sdpChannels ?? c.channels) };
    case 'pcma':
    case 'pcmu':
      return { sample_fmt: 's16', sample_rate: String(c.clockRate), channels: c.channels, bits_per_sample: 8 };
  }
}

function channelFields(channels: number): Partial<FfprobeStream> {
  const layout = channels === 1 ? 'mono' : channels === 2 ? 'stereo' : undefined;
  return { channels, ...(layout ? { channel_layout: layout } : {}) };
}

/** H.264 Table 6-1 / H.265 Table 6-1 chroma_format_idc with the luma bit depth, as libavutil names pixel formats. */
function pixelFormat(chromaFormatIdc: number, bitDepth: number): string {
  const base = ['gray', 'yuv420p', 'yuv422p', 'yuv444p'][chromaFormatIdc] ?? 'yuv420p';
  if (bitDepth === 8) return base;
  return chromaFormatIdc === 0 ? `gray${bitDepth}le` : `${base}${bitDepth}le`;
}
