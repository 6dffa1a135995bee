// Loads the committed fMP4 fixtures (test/fixtures/fmp4, see its README.md) as the samples WebCodecs would hand the
// publisher page, and writes them with Fmp4Writer the way the page does: one fragment per video frame, audio in small
// fragments, interleaved in decode-time order.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fmp4Writer, type Fmp4Sample, type Fmp4WriterOptions } from '../../shared/fmp4/writer.ts';
import { accessUnits, buildAvcC, lengthPrefixed, splitAnnexB } from './fmp4-annexb.ts';
import { opusPacketSamples, readOggOpus } from './fmp4-ogg.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'fmp4');

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(FIXTURES, name)));
}

export const VIDEO_TIMESCALE = 90_000;
export const FRAME_DURATION = 3000; // 30 fps
export const AUDIO_TIMESCALE = 48_000;

export interface VideoFixture {
  avcC: Uint8Array;
  sps: Uint8Array;
  pps: Uint8Array;
  samples: Fmp4Sample[];
}

export function videoFixture(): VideoFixture {
  const { aus, sps, pps } = accessUnits(splitAnnexB(fixture('video-640x360-high.h264')));
  return {
    avcC: buildAvcC(sps, pps),
    sps,
    pps,
    samples: aus.map((au, i) => ({ data: lengthPrefixed(au.nals), timestamp: i * FRAME_DURATION, duration: FRAME_DURATION, keyframe: au.keyframe })),
  };
}

export interface AudioFixture {
  channels: number;
  preSkip: number;
  inputSampleRate: number;
  samples: Fmp4Sample[];
}

export function audioFixture(): AudioFixture {
  const ogg = readOggOpus(fixture('audio-48k-stereo.opus'));
  let t = 0;
  const samples = ogg.packets.map((data) => {
    const duration = opusPacketSamples(data);
    const s = { data, timestamp: t, duration, keyframe: true };
    t += duration;
    return s;
  });
  return { channels: ogg.channels, preSkip: ogg.preSkip, inputSampleRate: ogg.inputSampleRate, samples };
}

export interface WrittenFragment {
  track: 'video' | 'audio';
  bytes: Uint8Array;
  samples: Fmp4Sample[];
}

export interface WrittenFile {
  init: Uint8Array;
  fragments: WrittenFragment[];
  whole: Uint8Array;
}

/**
 * Writes the fixtures: every video frame in its own fragment; audio packets grouped 1, 2, 3, 1, 2, 3 … per fragment
 * (20–60 ms), each group emitted once the video has caught up with it, as a live page would.
 */
export function writeFixtureFile(opts: { video?: boolean; audio?: boolean } = { video: true, audio: true }): WrittenFile {
  const v = opts.video ? videoFixture() : undefined;
  const a = opts.audio ? audioFixture() : undefined;
  const options: Fmp4WriterOptions = {};
  if (v) options.video = { kind: 'video', codec: 'avc1', avcC: v.avcC, width: 640, height: 360, timescale: VIDEO_TIMESCALE };
  if (a) options.audio = { kind: 'audio', codec: 'opus', channels: a.channels, sampleRate: a.inputSampleRate, preSkip: a.preSkip, timescale: AUDIO_TIMESCALE };
  const writer = new Fmp4Writer(options);
  const groups: Fmp4Sample[][] = [];
  if (a) {
    for (let i = 0, k = 0; i < a.samples.length; k++) {
      const n = (k % 3) + 1;
      groups.push(a.samples.slice(i, i + n));
      i += n;
    }
  }
  const fragments: WrittenFragment[] = [];
  const pushAudio = (g: Fmp4Sample[]): void => {
    fragments.push({ track: 'audio', bytes: writer.fragmentSamples('audio', g), samples: g });
  };
  let g = 0;
  for (const s of v?.samples ?? []) {
    const seconds = s.timestamp / VIDEO_TIMESCALE;
    while (groups[g] && groups[g]![0]!.timestamp / AUDIO_TIMESCALE <= seconds) pushAudio(groups[g++]!);
    fragments.push({ track: 'video', bytes: writer.fragment('video', s), samples: [s] });
  }
  while (groups[g]) pushAudio(groups[g++]!);
  const init = writer.initSegment();
  const whole = new Uint8Array(init.length + fragments.reduce((n, f) => n + f.bytes.length, 0));
  whole.set(init);
  let o = init.length;
  for (const f of fragments) {
    whole.set(f.bytes, o);
    o += f.bytes.length;
  }
  return { init, fragments, whole };
}
