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

describe('TrackMux.fragmentOf: one fragment per unit for every reader in the same state', () => {
  /** A unit as the hub hands it over: its place in the stream, and its samples. */
  interface TestUnit {
    order: number;
    track: number;
    samples: Sample[];
    fragments?: Map<string, import('../../../../server/protocols/fmp4/track-mux.ts').SharedFragment>;
  }

  /** Video frames 0..n-1 and the Opus packets between them, in arrival order, numbered as the hub numbers units. */
  function units(n: number): TestUnit[] {
    const out: TestUnit[] = [];
    for (let i = 0; i < n; i++) {
      out.push({ order: out.length + 1, track: 0, samples: [video(i)] });
      if (i < opus.samples.length) out.push({ order: out.length + 1, track: 1, samples: [audio(i)] });
    }
    return out;
  }

  function reader(src: MuxSource): TrackMux {
    const mux = new TrackMux(chooseTracks(src).carried);
    mux.start(src);
    return mux;
  }

  it('gives readers that joined together the same fragment object, with the bytes a reader alone would make', () => {
    const src = source([['video', 'H264'], ['audio', 'OPUS']], [h264(), opusConfig()]);
    const shared = units(12);
    const alone = units(12); // the same units, never shared with anyone
    const [a, b, solo] = [reader(src), reader(src), reader(src)];
    for (let k = 0; k < shared.length; k++) {
      const u = shared[k]!;
      const fa = a.fragmentOf(u, u.track, u.samples);
      const fb = b.fragmentOf(u, u.track, u.samples);
      const fs = solo.fragmentOf(alone[k]!, alone[k]!.track, alone[k]!.samples);
      expect(fa, `unit ${k}`).toBeDefined();
      expect(fb).toBe(fa);
      expect(Buffer.concat(fs!.chunks).equals(Buffer.concat(fa!.chunks)), `unit ${k}`).toBe(true);
      const init = parseInitSegment(a.current!.init);
      if (!init.ok) throw new Error('init segment unreadable');
      expect(parseMediaSegment(Buffer.concat(fa!.chunks), init.value).ok, `unit ${k}`).toBe(true);
    }
  });

  it('gives a reader in another state (it skipped a frame) a fragment of its own, then shares again', () => {
    const src = source([['video', 'H264'], ['audio', 'OPUS']], [h264(), opusConfig()]);
    const all = units(8);
    const [early, late] = [reader(src), reader(src)];
    const videoUnits = all.filter((u) => u.track === 0);
    const [v0, v1, v2, v3] = videoUnits;
    for (const u of [v0!, v1!, v2!, v3!]) early.fragmentOf(u, u.track, u.samples);
    // Both started fresh on v0: the same bytes, the same object.
    expect(late.fragmentOf(v0!, 0, v0!.samples)).toBe(v0!.fragments!.values().next().value!.fragment);
    // v1 never reaches the late reader (skipped): v2 follows v0 for it, a different first-sample duration.
    const own = late.fragmentOf(v2!, 0, v2!.samples)!;
    const shared = v2!.fragments!.values().next().value!.fragment;
    expect(own).not.toBe(shared);
    const init = parseInitSegment(late.current!.init);
    if (!init.ok) throw new Error('init segment unreadable');
    const durationOf = (f: typeof own): number | undefined => {
      const r = parseMediaSegment(Buffer.concat(f.chunks), init.value);
      return r.ok ? r.value.tracks[0]?.sampleList[0]?.duration : undefined;
    };
    expect(durationOf(own)).toBe(6000);
    expect(durationOf(shared)).toBe(3000);
    // From there both are in the same state: v3 is shared.
    expect(late.fragmentOf(v3!, 0, v3!.samples)).toBe(v3!.fragments!.values().next().value!.fragment);
  });

  it('keeps sequence numbers increasing for each reader, from the units\' order', () => {
    const src = source([['video', 'H264'], ['audio', 'OPUS']], [h264(), opusConfig()]);
    const mux = reader(src);
    const seqs = units(8).map((u) => {
      const f = mux.fragmentOf(u, u.track, u.samples)!;
      // mfhd: moof header (8), mfhd header (8), version+flags (4), then the sequence number.
      return Buffer.from(f.chunks[0]!).readUInt32BE(20);
    });
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs[0]).toBe(1);
  });
});
