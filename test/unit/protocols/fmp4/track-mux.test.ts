// TrackMux: which tracks an fMP4 reader carries, when its init segment is due, and that its video starts on a
// keyframe. The muxer's own output is read back with the project's strict fMP4 reader (samples from real x264 and
// libopus output, test/fixtures/fmp4).
import { describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../../shared/fmp4/reader.ts';
import { Fmp4WriterError } from '../../../../shared/fmp4/writer.ts';
import type { Sample, SampleCodec, SampleConfig } from '../../../../server/protocols/fmp4/sample.ts';
import { chooseTracks, TrackMux, type MuxSource } from '../../../../server/protocols/fmp4/track-mux.ts';
import { audioFixture, videoFixture } from '../../../support/fmp4-fixtures.ts';

const { avcC, samples: videoSamples } = videoFixture();
const opus = audioFixture();

const SAMPLE_CODECS: Record<string, SampleCodec> = { H264: 'h264', OPUS: 'opus', 'MPEG4-GENERIC': 'aac', PCMA: 'pcma' };

/** A stream's tracks as the hub lists them, with configurations a test can set and bump. */
function source(tracks: Array<[kind: string, codec: string]>, configs: Array<SampleConfig | undefined> = []): MuxSource & { configs: Array<SampleConfig | undefined> } {
  return {
    tracks: tracks.map(([kind, codec], index) => ({ index, codec: { kind, codec } })),
    sampleCodec: (i) => SAMPLE_CODECS[tracks[i]?.[1] ?? ''],
    sampleConfig(i) {
      return this.configs[i];
    },
    configs,
  };
}

const h264 = (version = 1): SampleConfig => ({ codec: 'h264', clockRate: 90000, avcC, width: 640, height: 360, version });
const opusConfig = (version = 1, channels = 2): SampleConfig => ({ codec: 'opus', clockRate: 48000, channels, version });

/** A video sample with the bytes of the fixture's frame `i` (its first is the only keyframe) at frame `n` of 30 fps. */
function video(i: number, n = i): Sample {
  const s = videoSamples[i]!;
  return { pts: 900_000 + n * 3000, dts: 900_000 + n * 3000, keyframe: s.keyframe, data: s.data };
}

function audio(i: number): Sample {
  const s = opus.samples[i]!;
  return { pts: 480_000 + s.timestamp, dts: 480_000 + s.timestamp, keyframe: true, data: s.data };
}

describe('chooseTracks', () => {
  it('takes the first video and the first audio track MP4 carries, video first, and names the rest', () => {
    expect(chooseTracks(source([['audio', 'OPUS'], ['video', 'H264']]))).toEqual({
      carried: [{ index: 1, role: 'video' }, { index: 0, role: 'audio' }],
      left: [],
    });
    expect(chooseTracks(source([['video', 'H265'], ['audio', 'MPEG4-GENERIC']]))).toEqual({
      carried: [{ index: 1, role: 'audio' }],
      left: [{ index: 0, kind: 'video', codec: 'H265' }],
    });
    expect(chooseTracks(source([['video', 'H264'], ['video', 'H264'], ['audio', 'MPA'], ['audio', 'PCMA'], ['other', 'X']]))).toEqual({
      carried: [{ index: 0, role: 'video' }, { index: 3, role: 'audio' }],
      left: [{ index: 1, kind: 'video', codec: 'H264' }, { index: 2, kind: 'audio', codec: 'MPA' }],
    });
    expect(chooseTracks(source([['video', 'JPEG']]))).toEqual({ carried: [], left: [{ index: 0, kind: 'video', codec: 'JPEG' }] });
  });
});

describe('TrackMux', () => {
  it('waits for every configuration, is due a muxer first and after a change, and is current in between', () => {
    const src = source([['video', 'H264'], ['audio', 'OPUS']], [undefined, opusConfig()]);
    const mux = new TrackMux(chooseTracks(src).carried);
    expect([...mux.trackSet()]).toEqual([0, 1]);
    expect(mux.readiness(src)).toEqual({ state: 'waiting', track: 0 });
    expect(mux.current).toBeUndefined();
    src.configs[0] = h264();
    expect(mux.readiness(src)).toEqual({ state: 'changed' });
    const first = mux.start(src);
    expect(mux.current).toBe(first);
    expect(mux.readiness(src)).toEqual({ state: 'current' });
    src.configs[0] = h264(2); // a new SPS in band
    expect(mux.readiness(src)).toEqual({ state: 'changed' });
    expect(mux.start(src)).not.toBe(first);
    expect(mux.readiness(src)).toEqual({ state: 'current' });
  });

  it('a configuration MP4 cannot carry: start() throws the writer\'s error and the last muxer stays current', () => {
    const src = source([['audio', 'OPUS']], [opusConfig(1)]);
    const mux = new TrackMux(chooseTracks(src).carried);
    const ok = mux.start(src);
    src.configs[0] = opusConfig(2, 3);
    expect(() => mux.start(src)).toThrow(Fmp4WriterError);
    expect(() => mux.start(src)).toThrow(/1 or 2 channels, not 3/);
    expect(mux.current).toBe(ok);
    expect(mux.readiness(src)).toEqual({ state: 'changed' });
  });

  it('video starts on a keyframe (audio does not wait); fragments per add read back with their decode times', () => {
    const src = source([['video', 'H264'], ['audio', 'OPUS']], [h264(), opusConfig()]);
    const mux = new TrackMux(chooseTracks(src).carried);
    const muxer = mux.start(src);
    const init = parseInitSegment(muxer.init);
    if (!init.ok) throw new Error(init.error.message);
    expect(init.value.tracks.map((t) => [t.id, t.kind, t.codec.slice(0, 4)])).toEqual([[1, 'video', 'avc1'], [2, 'audio', 'opus']]);
    // The fixture's frame 1 is not a keyframe: nothing is taken. Audio is.
    expect(videoSamples[1]!.keyframe).toBe(false);
    expect(mux.add(0, [video(1)])).toBe(false);
    expect(mux.current!.hasPending()).toBe(false);
    expect(mux.add(1, [audio(0)])).toBe(true);
    const a = muxer.fragment()!;
    // A unit whose samples start before a keyframe gives the keyframe and what follows.
    expect(mux.add(0, [video(1, 10), video(0, 11), video(2, 12)])).toBe(true);
    const v = muxer.fragment()!;
    expect(mux.add(0, [video(3, 13)])).toBe(true);
    const v2 = muxer.fragment()!;
    expect(mux.add(7, [audio(1)])).toBe(false); // a track this mux does not carry
    const parsed = [a, v, v2].map((f) => {
      const r = parseMediaSegment(Buffer.concat(f.chunks), init.value);
      if (!r.ok) throw new Error(r.error.message);
      return r.value.tracks;
    });
    expect(parsed.map((tracks) => tracks.map((t) => [t.trackId, Number(t.baseDecodeTime), t.samples, t.keyframe]))).toEqual([
      [[2, audio(0).dts, 1, true]],
      [[1, video(0, 11).dts, 2, true]],
      [[1, video(3, 13).dts, 1, false]],
    ]);
    expect([a.resumable, v.resumable, v2.resumable]).toEqual([false, true, false]);
  });

  it('a new muxer (new configuration) waits for a keyframe again', () => {
    const src = source([['video', 'H264']], [h264()]);
    const mux = new TrackMux(chooseTracks(src).carried);
    mux.start(src);
    expect(mux.add(0, [video(0)])).toBe(true);
    expect(mux.add(0, [video(1)])).toBe(true);
    src.configs[0] = h264(2);
    mux.start(src);
    expect(mux.add(0, [video(2)])).toBe(false);
  });
});
