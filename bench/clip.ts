// The clip a benchmark publisher replays: encoded once with ffmpeg into what WebCodecs would hand the page
// (an avcC plus length-prefixed H.264 access units, and Opus packets), so replaying it costs the benchmark almost
// nothing and the machine measures the server. Also raw YUV/PCM for the old design (the server encodes).
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { accessUnits, buildAvcC, lengthPrefixed, splitAnnexB } from '../test/support/fmp4-annexb.ts';
import { opusPacketSamples, readOggOpus } from '../test/support/fmp4-ogg.ts';

export interface ClipOptions {
  /** Where the encoded files go (a temp dir the caller removes). */
  dir: string;
  width: number;
  height: number;
  fps: number;
  seconds: number;
  /** ffmpeg rate syntax, e.g. "2500k". */
  videoBitrate: string;
  audioBitrate: string;
  /**
   * testsrc2: ffmpeg's synthetic card, cheap for an encoder. noisy: the same with temporal noise like a camera (and pink noise under the tone, like a microphone)
   * sensor's, which costs libx264 about 1.5× as much at the same bitrate (matters to the old design only: the new one
   * copies bytes, whose cost depends on the bitrate, not the picture).
   */
  content?: 'testsrc2' | 'noisy';
}

export interface Clip {
  width: number;
  height: number;
  fps: number;
  /** WebCodecs codec string from the SPS, e.g. "avc1.42c01f". */
  codec: string;
  avcC: Uint8Array;
  frames: Array<{ data: Uint8Array; keyframe: boolean }>;
  /** Opus packets of 20 ms (960 samples at 48 kHz). */
  audio: { channels: number; preSkip: number; inputSampleRate: number; packets: Array<{ data: Uint8Array; samples: number }> };
  /** The lavfi source the clip was encoded from, for the old design's raw frames. */
  source: string;
  videoBitsPerSecond: number;
  settings: string;
}

/** Encode `seconds` of testsrc2 + a sine with libx264 (baseline, no B-frames, fixed GOP) and libopus. */
export async function buildClip(o: ClipOptions): Promise<Clip> {
  const h264Path = path.join(o.dir, 'clip.h264');
  const source = `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}${o.content === 'noisy' ? ',noise=alls=12:allf=t' : ''}`;
  const opusPath = path.join(o.dir, 'clip.opus');
  const gop = o.fps * 2;
  // baseline + -bf 0: what a realtime WebCodecs encoder produces (no reordering); -g/-keyint_min/-sc_threshold 0
  // give an IDR exactly every 2 s, so each loop of the clip starts on one. aud=1 marks access units for splitAnnexB.
  const video = [
    '-map', '0:v', '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'veryfast', '-tune', 'zerolatency', '-bf', '0',
    '-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-b:v', o.videoBitrate, '-maxrate', o.videoBitrate,
    '-bufsize', o.videoBitrate, '-pix_fmt', 'yuv420p', '-x264-params', 'aud=1', '-f', 'h264', h264Path,
  ];
  const audio = ['-map', '1:a', '-ac', '2', '-c:a', 'libopus', '-b:a', o.audioBitrate, '-frame_duration', '20', '-f', 'ogg', opusPath];
  await execa('ffmpeg', [
    '-hide_banner', '-v', 'error', '-y',
    // -t as an input option on each: an output -t would bind to the first output only, leaving the sine endless.
    '-t', String(o.seconds), '-f', 'lavfi', '-i', source,
    // noisy: a microphone-like signal (pink noise under a tone) instead of a pure sine, which is atypically cheap
    // or dear for audio coders (ffmpeg's fast AAC coder is slower on a pure tone, faster on real sound).
    '-t', String(o.seconds), '-f', 'lavfi', '-i', o.content === 'noisy'
      ? 'anoisesrc=color=pink:amplitude=0.2:sample_rate=48000[n];sine=frequency=220:sample_rate=48000[s];[n][s]amix=inputs=2'
      : 'sine=frequency=440:sample_rate=48000',
    ...video, ...audio,
  ], { timeout: 120_000 });
  const h264 = new Uint8Array(readFileSync(h264Path));
  const { aus, sps, pps } = accessUnits(splitAnnexB(h264));
  const frames = aus.map((au) => ({ data: lengthPrefixed(au.nals), keyframe: au.keyframe }));
  if (!frames[0]?.keyframe) throw new Error('the clip does not start with an IDR frame');
  const ogg = readOggOpus(new Uint8Array(readFileSync(opusPath)));
  // Keep exactly `seconds` of audio so the audio loop has the same period as the video loop.
  const wanted = o.seconds * 48_000;
  const packets: Array<{ data: Uint8Array; samples: number }> = [];
  let samples = 0;
  for (const data of ogg.packets) {
    if (samples >= wanted) break;
    const n = opusPacketSamples(data);
    packets.push({ data, samples: n });
    samples += n;
  }
  const hex = (b: number | undefined) => (b ?? 0).toString(16).padStart(2, '0');
  const bytes = frames.reduce((n, f) => n + f.data.length, 0);
  return {
    width: o.width,
    height: o.height,
    fps: o.fps,
    codec: `avc1.${hex(sps[1])}${hex(sps[2])}${hex(sps[3])}`,
    avcC: buildAvcC(sps, pps),
    frames,
    audio: { channels: ogg.channels, preSkip: ogg.preSkip, inputSampleRate: ogg.inputSampleRate, packets },
    source,
    videoBitsPerSecond: Math.round((bytes * 8) / (frames.length / o.fps)),
    settings: `${o.content === 'noisy' ? 'testsrc2 + temporal noise' : 'testsrc2'} ${o.width}x${o.height}@${o.fps}, libx264 baseline veryfast zerolatency -bf 0 -g ${gop} ${o.videoBitrate}bit/s; Opus ${o.audioBitrate}bit/s stereo 20 ms`,
  };
}

/**
 * The first `count` frames of the clip's source as raw yuv420p, one Buffer per frame: the old design's input. Taken
 * from the source, not decoded from the clip, so they have the detail (and noise) a camera would hand the encoder.
 */
export async function rawFrames(clip: Clip, count: number): Promise<Buffer[]> {
  const r = await execa('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'lavfi', '-i', clip.source, '-frames:v', String(count), '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], {
    encoding: 'buffer',
    timeout: 60_000,
    maxBuffer: 2 * count * clip.width * clip.height,
  });
  const all = Buffer.from(r.stdout);
  const size = (clip.width * clip.height * 3) / 2;
  const out: Buffer[] = [];
  for (let at = 0; at + size <= all.length; at += size) out.push(all.subarray(at, at + size));
  if (out.length === 0) throw new Error('ffmpeg decoded no raw frames from the clip');
  return out;
}

/** One second of a 440 Hz stereo sine as s16le at 48 kHz: the old design's audio input, looped. */
export function pcmSecond(): Buffer {
  const b = Buffer.alloc(48_000 * 4);
  for (let i = 0; i < 48_000; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * 440 * i) / 48_000) * 8000);
    b.writeInt16LE(v, i * 4);
    b.writeInt16LE(v, i * 4 + 2);
  }
  return b;
}
