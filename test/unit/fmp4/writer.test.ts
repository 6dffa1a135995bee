import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import { Fmp4Writer, Fmp4WriterError, type Fmp4Sample, type Fmp4WriterOptions } from '../../../shared/fmp4/writer.ts';
import { fixture, videoFixture } from '../../support/fmp4-fixtures.ts';
import { readAdts } from '../../support/fmp4-adts.ts';
import { find, findAll, u16, u32, walk } from '../../support/fmp4-walk.ts';

const { avcC } = videoFixture();
const video = { kind: 'video', codec: 'avc1', avcC, width: 640, height: 360, timescale: 90_000 } as const;
const opus = { kind: 'audio', codec: 'opus', channels: 2, sampleRate: 48_000, timescale: 48_000 } as const;
const both: Fmp4WriterOptions = { video, audio: opus };
const sample = (timestamp: number, keyframe = true, extra: Partial<Fmp4Sample> = {}): Fmp4Sample => ({
  data: Uint8Array.of(0, 0, 0, 2, 0x65, 0x88),
  timestamp,
  duration: 3000,
  keyframe,
  ...extra,
});

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof Fmp4WriterError) return e.code;
    throw e;
  }
  return undefined;
}

describe('initSegment', () => {
  it('is ftyp + moov with the brands for fragmented AVC', () => {
    const init = new Fmp4Writer(both).initSegment();
    expect(walk(init).filter((b) => !b.path.includes('/')).map((b) => b.type)).toEqual(['ftyp', 'moov']);
    const ftyp = find(init, 'ftyp').payload;
    const brands = Array.from({ length: ftyp.length / 4 }, (_, i) => String.fromCharCode(...ftyp.subarray(i * 4, i * 4 + 4)));
    expect(brands[0]).toBe('iso6');
    expect(brands.slice(2)).toEqual(['iso6', 'iso5', 'isom', 'mp41', 'avc1']);
  });

  it('lays out moov > mvhd, trak per track (ids 1 and 2), mvex with a trex per track', () => {
    const init = new Fmp4Writer(both).initSegment();
    const paths = walk(init).map((b) => b.path);
    for (const p of [
      'moov/mvhd', 'moov/trak/tkhd', 'moov/trak/mdia/mdhd', 'moov/trak/mdia/hdlr', 'moov/trak/mdia/minf/vmhd', 'moov/trak/mdia/minf/smhd',
      'moov/trak/mdia/minf/dinf/dref', 'moov/trak/mdia/minf/stbl/stsd/avc1/avcC', 'moov/trak/mdia/minf/stbl/stsd/Opus/dOps',
      'moov/trak/mdia/minf/stbl/stts', 'moov/trak/mdia/minf/stbl/stsc', 'moov/trak/mdia/minf/stbl/stsz', 'moov/trak/mdia/minf/stbl/stco',
    ]) {
      expect(paths).toContain(p);
    }
    expect(findAll(init, 'moov/trak/tkhd').map((b) => u32(b.payload, 12))).toEqual([1, 2]);
    expect(findAll(init, 'moov/mvex/trex').map((b) => u32(b.payload, 4))).toEqual([1, 2]);
    expect(u32(find(init, 'moov/mvhd').payload, 96)).toBe(3); // next_track_ID
    // avcC is carried byte for byte
    expect([...find(init, 'moov/trak/mdia/minf/stbl/stsd/avc1/avcC').payload]).toEqual([...avcC]);
    // mdhd timescales
    expect(findAll(init, 'moov/trak/mdia/mdhd').map((b) => u32(b.payload, 12))).toEqual([90_000, 48_000]);
  });

  it('gives a lone audio track ID 1', () => {
    const init = new Fmp4Writer({ audio: opus }).initSegment();
    expect(findAll(init, 'moov/trak/tkhd').map((b) => u32(b.payload, 12))).toEqual([1]);
    expect(new Fmp4Writer({ audio: opus }).trackId('audio')).toBe(1);
  });

  it('writes dOps per "Encapsulation of Opus in ISOBMFF" §4.3.2 and samplerate 48000 in the sample entry', () => {
    const init = new Fmp4Writer({ audio: { ...opus, channels: 1, sampleRate: 16_000, preSkip: 3840 } }).initSegment();
    const dOps = find(init, 'moov/trak/mdia/minf/stbl/stsd/Opus/dOps').payload;
    // Version 0, OutputChannelCount 1, PreSkip 3840, InputSampleRate 16000, OutputGain 0, ChannelMappingFamily 0
    expect([...dOps]).toEqual([0, 1, 0x0f, 0x00, 0, 0, 0x3e, 0x80, 0, 0, 0]);
    const entry = find(init, 'moov/trak/mdia/minf/stbl/stsd/Opus');
    const fields = entry.payload;
    expect(u16(fields, 16)).toBe(1); // channelcount
    expect(u32(fields, 24)).toBe(48_000 * 65536); // samplerate 48000 in 16.16
  });

  it('defaults the Opus pre-skip to 312', () => {
    const dOps = find(new Fmp4Writer({ audio: opus }).initSegment(), 'moov/trak/mdia/minf/stbl/stsd/Opus/dOps').payload;
    expect(u16(dOps, 2)).toBe(312);
  });

  it('writes an esds the reader maps back to mp4a.40.2 44100 Hz stereo', () => {
    const adts = readAdts(fixture('audio-44k-stereo.aac'));
    const w = new Fmp4Writer({ audio: { kind: 'audio', codec: 'mp4a', audioSpecificConfig: adts.audioSpecificConfig, channels: 2, sampleRate: 44_100, timescale: 44_100 } });
    const r = parseInitSegment(w.initSegment());
    expect(r).toEqual({ ok: true, value: { tracks: [expect.objectContaining({ id: 1, kind: 'audio', codec: 'mp4a.40.2', sampleRate: 44_100, channels: 2, timescale: 44_100 })] } });
  });

  it('is the same bytes every time', () => {
    const w = new Fmp4Writer(both);
    expect(w.initSegment()).toEqual(w.initSegment());
  });
});

describe('fragment', () => {
  it('is moof(mfhd, traf(tfhd, tfdt, trun)) + mdat with the data offset pointing at the sample', () => {
    const w = new Fmp4Writer(both);
    const s = sample(123_456);
    const frag = w.fragment('video', s);
    expect(walk(frag).map((b) => b.path)).toEqual(['moof', 'moof/mfhd', 'moof/traf', 'moof/traf/tfhd', 'moof/traf/tfdt', 'moof/traf/trun', 'mdat']);
    expect(u32(find(frag, 'moof/mfhd').payload, 4)).toBe(1);
    const tfhd = find(frag, 'moof/traf/tfhd').payload;
    expect(u32(tfhd, 0)).toBe(0x0002_0000); // version 0, default-base-is-moof only
    expect(u32(tfhd, 4)).toBe(1);
    const tfdt = find(frag, 'moof/traf/tfdt').payload;
    expect(tfdt[0]).toBe(1); // version 1: 64-bit baseMediaDecodeTime
    expect(u32(tfdt, 8)).toBe(123_456);
    const trun = find(frag, 'moof/traf/trun').payload;
    expect(u32(trun, 0)).toBe(0x0000_0701); // v0: data-offset, duration, size, flags
    expect(u32(trun, 4)).toBe(1);
    const dataOffset = u32(trun, 8);
    expect([...frag.subarray(dataOffset, dataOffset + s.data.length)]).toEqual([...s.data]);
    expect(dataOffset + s.data.length).toBe(frag.length);
    expect([u32(trun, 12), u32(trun, 16), u32(trun, 20)]).toEqual([3000, 6, 0x0200_0000]);
  });

  it('flags sync samples depends_on=2 and others depends_on=1 + non-sync (ISO/IEC 14496-12 §8.8.3.1)', () => {
    const w = new Fmp4Writer({ video });
    const key = find(w.fragment('video', sample(0, true)), 'moof/traf/trun').payload;
    const delta = find(w.fragment('video', sample(3000, false)), 'moof/traf/trun').payload;
    expect(u32(key, 20)).toBe(0x0200_0000);
    expect(u32(delta, 20)).toBe(0x0101_0000);
  });

  it('numbers fragments 1, 2, 3 … across tracks', () => {
    const w = new Fmp4Writer(both);
    const seqs = [w.fragment('video', sample(0)), w.fragment('audio', sample(0)), w.fragment('video', sample(3000, false))].map((f) => u32(find(f, 'moof/mfhd').payload, 4));
    expect(seqs).toEqual([1, 2, 3]);
  });

  it('writes composition offsets only when needed, signed (trun version 1) when one is negative', () => {
    const w = new Fmp4Writer({ video });
    const pos = find(w.fragment('video', sample(0, true, { compositionOffset: 6000 })), 'moof/traf/trun').payload;
    expect(u32(pos, 0)).toBe(0x0000_0f01);
    expect(u32(pos, 24)).toBe(6000);
    const neg = find(w.fragment('video', sample(3000, false, { compositionOffset: -3000 })), 'moof/traf/trun').payload;
    expect(u32(neg, 0)).toBe(0x0100_0f01);
    expect(new DataView(neg.buffer, neg.byteOffset).getInt32(24)).toBe(-3000);
  });

  it('writes 64-bit decode times past 2^32', () => {
    const w = new Fmp4Writer({ video });
    const t = 2 ** 40 + 5;
    const tfdt = find(w.fragment('video', sample(t)), 'moof/traf/tfdt').payload;
    expect(u32(tfdt, 4) * 2 ** 32 + u32(tfdt, 8)).toBe(t);
  });

  it('puts several audio samples in one trun and spaces them by their timestamps', () => {
    const w = new Fmp4Writer({ audio: opus });
    const frag = w.fragmentSamples('audio', [sample(0, true, { duration: 960 }), sample(961, true, { duration: 960 }), sample(1920, true, { duration: 960 })]);
    const trun = find(frag, 'moof/traf/trun').payload;
    expect(u32(trun, 4)).toBe(3);
    expect([u32(trun, 12), u32(trun, 24), u32(trun, 36)]).toEqual([961, 959, 960]);
  });
});

describe('errors have a code', () => {
  it('refuses a decode time that does not move forward, and keeps its state', () => {
    const w = new Fmp4Writer(both);
    w.fragment('video', sample(3000));
    expect(codeOf(() => w.fragment('video', sample(3000)))).toBe('non-monotonic-timestamp');
    expect(codeOf(() => w.fragment('video', sample(0)))).toBe('non-monotonic-timestamp');
    expect(codeOf(() => w.fragmentSamples('audio', [sample(10), sample(10)]))).toBe('non-monotonic-timestamp');
    // the audio clock is separate, and a refused call consumed no sequence number
    const next = w.fragment('audio', sample(0));
    expect(u32(find(next, 'moof/mfhd').payload, 4)).toBe(2);
    expect(codeOf(() => w.fragment('video', sample(6000)))).toBeUndefined();
  });

  it('refuses bad configurations', () => {
    expect(codeOf(() => new Fmp4Writer({}))).toBe('bad-config');
    expect(codeOf(() => new Fmp4Writer({ audio: { ...opus, channels: 6 } }))).toBe('bad-config');
    expect(codeOf(() => new Fmp4Writer({ audio: { ...opus, preSkip: 70_000 } }))).toBe('bad-config');
    expect(codeOf(() => new Fmp4Writer({ video: { ...video, timescale: 0 } }))).toBe('bad-config');
    expect(codeOf(() => new Fmp4Writer({ video: { ...video, width: 70_000 } }))).toBe('bad-config');
    expect(codeOf(() => new Fmp4Writer({ video: { ...video, avcC: Uint8Array.of(0x00, 0x00, 0x00, 0x01, 0x67, 0, 0) } }))).toBe('bad-config');
  });

  it('refuses bad samples and unknown tracks', () => {
    const w = new Fmp4Writer({ video });
    expect(codeOf(() => w.fragment('audio', sample(0)))).toBe('unknown-track');
    expect(codeOf(() => w.fragment('video', sample(0, true, { data: new Uint8Array() })))).toBe('bad-sample');
    expect(codeOf(() => w.fragment('video', sample(1.5)))).toBe('bad-sample');
    expect(codeOf(() => w.fragment('video', sample(-1)))).toBe('bad-sample');
    expect(codeOf(() => w.fragment('video', sample(0, true, { duration: 2 ** 32 })))).toBe('bad-sample');
    expect(codeOf(() => w.fragmentSamples('video', []))).toBe('bad-sample');
  });
});

describe('round trip through the reader (fast-check)', () => {
  const arbSample = fc.record({
    size: fc.integer({ min: 1, max: 64 }),
    gap: fc.integer({ min: 1, max: 100_000 }),
    duration: fc.integer({ min: 0, max: 100_000 }),
    keyframe: fc.boolean(),
    cto: fc.integer({ min: -5000, max: 5000 }),
  });
  it('every fragment the writer makes parses back to what was written', () => {
    fc.assert(
      fc.property(fc.array(fc.array(arbSample, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 6 }), fc.nat(2 ** 45), (groups, start) => {
        const w = new Fmp4Writer(both);
        const init = parseInitSegment(w.initSegment());
        expect(init.ok).toBe(true);
        if (!init.ok) return;
        let t = start;
        for (const [g, group] of groups.entries()) {
          const track = g % 2 === 0 ? 'video' : 'audio';
          const samples = group.map((s) => {
            t += s.gap;
            // one NAL unit behind a 4-byte length, as the avcC declares
            const data = new Uint8Array(4 + s.size).fill(g);
            new DataView(data.buffer).setUint32(0, s.size);
            return { data, timestamp: t, duration: s.duration, keyframe: s.keyframe, compositionOffset: s.cto };
          });
          const r = parseMediaSegment(w.fragmentSamples(track, samples), init.value);
          expect(r).toEqual({
            ok: true,
            value: {
              sequence: g + 1,
              lastSequence: g + 1,
              tracks: [
                {
                  trackId: track === 'video' ? 1 : 2,
                  baseDecodeTime: samples[0]!.timestamp,
                  decodeTimeField: { offset: expect.any(Number), size: 8 },
                  samples: samples.length,
                  keyframe: samples[0]!.keyframe,
                  duration: samples[samples.length - 1]!.timestamp - samples[0]!.timestamp + samples[samples.length - 1]!.duration,
                  bytes: samples.reduce((n, s) => n + s.data.length, 0),
                  sampleList: samples.map((s) => ({
                    offset: expect.any(Number),
                    size: s.data.length,
                    decodeOffset: s.timestamp - samples[0]!.timestamp,
                    duration: expect.any(Number),
                    compositionOffset: s.compositionOffset ?? 0,
                    sync: s.keyframe,
                  })),
                },
              ],
            },
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});
