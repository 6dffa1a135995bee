// H.264 choices for the encoder: resolution presets, RFC 6381 codec strings and the smallest level that fits.
// Pure, so the level table is unit-tested rather than discovered by a decoder refusing a stream.
import type { FrameRate, Preset, Profile } from './params.ts';

export interface PresetSpec {
  /** The largest picture: long side × short side. A smaller or differently shaped source is fitted inside it. */
  width: number;
  height: number;
  /** Video bitrate at 30 fps, bits per second; scaled for other frame rates by defaultBitrate(). */
  bitrate30: number;
  label: string;
}

export const PRESET_SPECS: Record<Preset, PresetSpec> = {
  '480p': { width: 854, height: 480, bitrate30: 1_200_000, label: '480p' },
  '720p': { width: 1280, height: 720, bitrate30: 2_500_000, label: '720p' },
  '1080p': { width: 1920, height: 1080, bitrate30: 5_000_000, label: '1080p' },
};

/** Bitrates offered in the picker, bits per second. */
export const BITRATES = [500_000, 1_000_000, 1_500_000, 2_500_000, 4_000_000, 6_000_000, 8_000_000] as const;

export function defaultBitrate(preset: Preset, fps: FrameRate): number {
  const base = PRESET_SPECS[preset].bitrate30;
  // More frames need more bits, but not proportionally: motion between close frames is small.
  const factor = fps >= 60 ? 1.5 : fps <= 15 ? 0.7 : 1;
  return Math.round((base * factor) / 100_000) * 100_000;
}

/** profile_idc and the constraint_set flags byte (RFC 6381 §3.3 "PPCC"). Baseline is Constrained Baseline (42E0). */
export const PROFILE_BYTES: Record<Profile, [number, number]> = {
  baseline: [0x42, 0xe0],
  main: [0x4d, 0x00],
  high: [0x64, 0x00],
};

// ITU-T H.264 Table A-1: level_idc, MaxMBPS (macroblocks/s), MaxFS (macroblocks/frame), MaxBR (kbit/s, Baseline and
// Main; High allows 1.25× per Table A-2). Levels below 3.0 are left out: every decoder handles 3.0 and the tiny
// pictures they exist for are not what a broadcaster sends.
const LEVELS: ReadonlyArray<readonly [number, number, number, number]> = [
  [30, 40_500, 1_620, 10_000],
  [31, 108_000, 3_600, 14_000],
  [32, 216_000, 5_120, 20_000],
  [40, 245_760, 8_192, 20_000],
  [41, 245_760, 8_192, 50_000],
  [42, 522_240, 8_704, 50_000],
  [50, 589_824, 22_080, 135_000],
  [51, 983_040, 36_864, 240_000],
  [52, 2_073_600, 36_864, 240_000],
];

/** The smallest level_idc whose limits hold the picture size, frame rate and bitrate; undefined past level 5.2. */
export function avcLevel(width: number, height: number, fps: number, bitrate: number, profile: Profile): number | undefined {
  const mbW = Math.ceil(width / 16);
  const mbH = Math.ceil(height / 16);
  const fs = mbW * mbH;
  const mbps = fs * fps;
  const brFactor = profile === 'high' ? 1.25 : 1;
  for (const [level, maxMbps, maxFs, maxBr] of LEVELS) {
    // A.3.1 (f)/(g): neither side may exceed sqrt(8 × MaxFS) macroblocks.
    const side = Math.sqrt(maxFs * 8);
    if (fs <= maxFs && mbps <= maxMbps && mbW <= side && mbH <= side && bitrate <= maxBr * 1000 * brFactor) return level;
  }
  return undefined;
}

/** 'avc1.42E01F' style codec string (upper-case hex, as WebCodecs examples write it). */
export function avcCodec(profile: Profile, level: number): string {
  const [p, c] = PROFILE_BYTES[profile];
  const hex = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');
  return `avc1.${hex(p)}${hex(c)}${hex(level)}`;
}

/**
 * Fits a source picture inside a preset without upscaling and keeping its shape, in even dimensions (4:2:0 chroma
 * needs them). A portrait source is fitted inside the preset turned on its side.
 */
export function fitSize(srcWidth: number, srcHeight: number, preset: Preset): { width: number; height: number } {
  const spec = PRESET_SPECS[preset];
  const portrait = srcHeight > srcWidth;
  const maxW = portrait ? spec.height : spec.width;
  const maxH = portrait ? spec.width : spec.height;
  const scale = Math.min(1, maxW / srcWidth, maxH / srcHeight);
  const even = (n: number): number => Math.max(2, 2 * Math.round(n / 2));
  const fit = (n: number, max: number): number => Math.min(even(n), max - (max % 2));
  return { width: fit(srcWidth * scale, maxW), height: fit(srcHeight * scale, maxH) };
}
