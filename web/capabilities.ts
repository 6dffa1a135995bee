// What this browser can encode and the server can carry, asked once at load: the pickers offer nothing else.
// VideoEncoder.isConfigSupported() per preset × frame rate × profile (27 quick questions, asked in parallel) and
// AudioEncoder.isConfigSupported() for Opus, intersected with GET /api/config's videoCodecs/audioCodecs.
import type { PageConfig } from '../shared/protocol.ts';
import { PRESET_SPECS, avcCodec, avcLevel, defaultBitrate } from './codec.ts';
import { FRAME_RATES, PRESETS, PROFILES, type FrameRate, type Preset, type Profile } from './params.ts';

export interface Capabilities {
  /** `${preset}/${fps}/${profile}` keys the browser says it can encode. */
  video: Set<string>;
  opus: boolean;
  /** Why something is missing, as sentences for the page. */
  notes: string[];
}

export const comboKey = (preset: Preset, fps: FrameRate, profile: Profile): string => `${preset}/${fps}/${profile}`;

export async function probeCapabilities(config: PageConfig): Promise<Capabilities> {
  const notes: string[] = [];
  const video = new Set<string>();
  let opus = false;
  if (typeof VideoEncoder === 'undefined') {
    notes.push('This browser has no WebCodecs video encoder; use a recent Chrome, Edge or Safari.');
  } else if (!config.videoCodecs.includes('avc1')) {
    notes.push('The server cannot carry H.264, the only video codec this page encodes.');
  } else {
    const asks: Array<Promise<void>> = [];
    for (const preset of PRESETS) {
      for (const fps of FRAME_RATES) {
        for (const profile of PROFILES) {
          const { width, height } = PRESET_SPECS[preset];
          const bitrate = defaultBitrate(preset, fps);
          const level = avcLevel(width, height, fps, bitrate, profile);
          if (level === undefined) continue;
          const cfg: VideoEncoderConfig = { codec: avcCodec(profile, level), width, height, bitrate, framerate: fps, latencyMode: 'realtime', avc: { format: 'avc' } };
          asks.push(
            VideoEncoder.isConfigSupported(cfg).then(
              (r) => {
                if (r.supported) video.add(comboKey(preset, fps, profile));
              },
              () => {},
            ),
          );
        }
      }
    }
    await Promise.all(asks);
    if (video.size === 0) notes.push('This browser cannot encode H.264 (VideoEncoder.isConfigSupported refused every size); Chromium builds without proprietary codecs lack it.');
  }
  if (typeof AudioEncoder === 'undefined') {
    notes.push('This browser has no WebCodecs audio encoder, so the broadcast will be silent.');
  } else if (!config.audioCodecs.includes('opus')) {
    notes.push('The server cannot carry Opus audio, so the broadcast will be silent.');
  } else {
    const r = await AudioEncoder.isConfigSupported({ codec: 'opus', sampleRate: 48_000, numberOfChannels: 2, bitrate: 96_000 }).catch(() => undefined);
    opus = r?.supported === true;
    if (!opus) notes.push('This browser cannot encode Opus, so the broadcast will be silent.');
  }
  return { video, opus, notes };
}
