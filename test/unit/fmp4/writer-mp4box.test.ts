// The writer's output demuxed by GPAC's MP4Box.js (npm "mp4box"), a second independent reader: it is fed the init
// segment and then each fragment as its own buffer, the way a live stream arrives.
import { createFile, MP4BoxBuffer, type Movie, type Sample } from 'mp4box';
import { describe, expect, it } from 'vitest';
import { Fmp4Writer } from '../../../shared/fmp4/writer.ts';
import { readAdts } from '../../support/fmp4-adts.ts';
import { fixture, videoFixture, writeFixtureFile, type WrittenFile } from '../../support/fmp4-fixtures.ts';

interface Demuxed {
  info: Movie;
  samples: Map<number, Sample[]>;
  errors: string[];
  file: ReturnType<typeof createFile>;
}

function demux(parts: readonly Uint8Array[]): Demuxed {
  const file = createFile();
  const samples = new Map<number, Sample[]>();
  const errors: string[] = [];
  let info: Movie | undefined;
  file.onError = (module, message) => errors.push(`${module}: ${message}`);
  file.onReady = (movie) => {
    info = movie;
    for (const t of movie.tracks) file.setExtractionOptions(t.id, undefined, { nbSamples: 100_000 });
    file.start();
  };
  file.onSamples = (id, _user, got) => {
    samples.set(id, [...(samples.get(id) ?? []), ...got]);
  };
  let position = 0;
  for (const part of parts) {
    file.appendBuffer(MP4BoxBuffer.fromArrayBuffer(part.slice().buffer, position));
    position += part.length;
  }
  file.flush();
  if (!info) throw new Error(`mp4box never became ready: ${errors.join('; ')}`);
  return { info, samples, errors, file };
}

describe('Fmp4Writer output read by MP4Box.js', () => {
  const av: WrittenFile = writeFixtureFile({ video: true, audio: true });
  const written = {
    1: av.fragments.filter((f) => f.track === 'video').flatMap((f) => f.samples),
    2: av.fragments.filter((f) => f.track === 'audio').flatMap((f) => f.samples),
  };
  const d = demux([av.init, ...av.fragments.map((f) => f.bytes)]);

  it('parses the init segment: a fragmented movie with avc1.64001e 640x360 and Opus 48 kHz stereo', () => {
    expect(d.errors).toEqual([]);
    expect(d.info.isFragmented).toBe(true);
    expect(d.info.brands).toEqual(expect.arrayContaining(['iso6', 'iso5', 'isom', 'mp41', 'avc1']));
    const [v, a] = d.info.tracks;
    expect(v).toMatchObject({ id: 1, codec: 'avc1.64001e', timescale: 90_000, video: { width: 640, height: 360 } });
    expect(a).toMatchObject({ id: 2, codec: 'Opus', timescale: 48_000, audio: { sample_rate: 48_000, channel_count: 2 } });
  });

  it('reads dOps and avcC field by field', () => {
    const dOps = d.file.getBox('dOps');
    expect(dOps).toMatchObject({ Version: 0, OutputChannelCount: 2, PreSkip: 312, InputSampleRate: 48_000, OutputGain: 0, ChannelMappingFamily: 0 });
    const avcC = d.file.getBox('avcC');
    expect(avcC).toMatchObject({ configurationVersion: 1, AVCProfileIndication: 100, AVCLevelIndication: 30, lengthSizeMinusOne: 3, nb_SPS_nalus: 1, nb_PPS_nalus: 1 });
  });

  it('extracts every sample with the decode time, duration, sync flag and bytes written', () => {
    for (const [id, mine] of Object.entries(written)) {
      const theirs = d.samples.get(Number(id)) ?? [];
      expect(theirs).toHaveLength(mine.length);
      theirs.forEach((s, i) => {
        const m = mine[i]!;
        const next = mine[i + 1];
        expect({ dts: s.dts, cts: s.cts, duration: s.duration, sync: s.is_sync, size: s.size }).toEqual({
          dts: m.timestamp,
          cts: m.timestamp,
          // inside a multi-sample audio fragment the writer spaces samples by their timestamps
          duration: next && Number(id) === 2 ? next.timestamp - m.timestamp : m.duration,
          sync: m.keyframe,
          size: m.data.length,
        });
        expect(Buffer.from(s.data!).equals(Buffer.from(m.data))).toBe(true);
      });
    }
  });

  it('reads composition offsets, including negative ones (trun version 1)', () => {
    const w = new Fmp4Writer({ video: { kind: 'video', codec: 'avc1', avcC: videoFixture().avcC, width: 640, height: 360, timescale: 90_000 } });
    const data = Uint8Array.of(0, 0, 0, 1, 0x65);
    const frags = [
      w.fragment('video', { data, timestamp: 0, duration: 3000, keyframe: true, compositionOffset: 6000 }),
      w.fragment('video', { data, timestamp: 3000, duration: 3000, keyframe: false, compositionOffset: -3000 }),
      w.fragment('video', { data, timestamp: 6000, duration: 3000, keyframe: false }),
    ];
    const got = demux([w.initSegment(), ...frags]).samples.get(1) ?? [];
    expect(got.map((s) => [s.dts, s.cts, s.is_sync])).toEqual([
      [0, 6000, true],
      [3000, 0, false],
      [6000, 6000, false],
    ]);
  });

  it('parses the esds of an AAC track', () => {
    const adts = readAdts(fixture('audio-44k-stereo.aac'));
    const w = new Fmp4Writer({ audio: { kind: 'audio', codec: 'mp4a', audioSpecificConfig: adts.audioSpecificConfig, channels: 2, sampleRate: 44_100, timescale: 44_100 } });
    const frames = adts.frames.slice(0, 10);
    const r = demux([w.initSegment(), ...frames.map((data, i) => w.fragment('audio', { data, timestamp: i * 1024, duration: 1024, keyframe: true }))]);
    expect(r.errors).toEqual([]);
    expect(r.info.tracks[0]).toMatchObject({ codec: 'mp4a.40.2', audio: { sample_rate: 44_100, channel_count: 2 } });
    expect((r.samples.get(1) ?? []).map((s) => s.dts)).toEqual(frames.map((_, i) => i * 1024));
  });
});
