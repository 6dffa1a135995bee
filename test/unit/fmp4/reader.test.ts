import { describe, expect, it } from 'vitest';
import { box, fullBox } from '../../../shared/fmp4/boxes.ts';
import { parseInitSegment, parseMediaSegment, readBoxHeader, type Fmp4Result, type InitInfo } from '../../../shared/fmp4/reader.ts';
import { parseAvcC } from '../../../shared/fmp4/avc.ts';
import { Fmp4Writer } from '../../../shared/fmp4/writer.ts';
import { fixture, videoFixture, writeFixtureFile } from '../../support/fmp4-fixtures.ts';
import { splitFragmentedFile } from '../../support/fmp4-split.ts';
import { find, findAll } from '../../support/fmp4-walk.ts';

const written = writeFixtureFile({ video: true, audio: true });

function ok<T>(r: Fmp4Result<T>): T {
  if (!r.ok) throw new Error(`expected ok, got ${r.error.code}: ${r.error.message}`);
  return r.value;
}

const initInfo: InitInfo = ok(parseInitSegment(written.init));

/** Overwrites the 32-bit value at `at` in a copy of `buf`. */
function poke32(buf: Uint8Array, at: number, value: number): Uint8Array {
  const copy = buf.slice();
  new DataView(copy.buffer).setUint32(at, value >>> 0);
  return copy;
}

const cat = (...parts: Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

describe('readBoxHeader (ISO/IEC 14496-12 §4.2)', () => {
  it('reads 32-bit sizes, 64-bit largesizes, size 0 and uuid extended types', () => {
    expect(readBoxHeader(box('free', new Uint8Array(4)), 0)).toEqual({ type: 'free', size: 12, headerSize: 8 });
    const large = Uint8Array.of(0, 0, 0, 1, ...Buffer.from('mdat'), 0, 0, 0, 0, 0, 0, 0, 20, 1, 2, 3, 4);
    expect(readBoxHeader(large, 0)).toEqual({ type: 'mdat', size: 20, headerSize: 16 });
    expect(readBoxHeader(Uint8Array.of(9, 9, 0, 0, 0, 0, ...Buffer.from('mdat'), 1, 2, 3), 2)).toEqual({ type: 'mdat', size: 11, headerSize: 8 });
    expect(readBoxHeader(Uint8Array.of(0, 0, 0, 40, ...Buffer.from('uuid'), ...new Uint8Array(32)), 0)).toEqual({ type: 'uuid', size: 40, headerSize: 24 });
  });
  it('returns undefined when the header is cut off or the size is smaller than the header', () => {
    expect(readBoxHeader(Uint8Array.of(0, 0, 0, 8, 0x66, 0x72), 0)).toBeUndefined();
    expect(readBoxHeader(Uint8Array.of(0, 0, 0, 1, ...Buffer.from('mdat'), 0, 0, 0), 0)).toBeUndefined();
    expect(readBoxHeader(Uint8Array.of(0, 0, 0, 7, ...Buffer.from('free')), 0)).toBeUndefined();
    expect(readBoxHeader(box('free'), -1)).toBeUndefined();
    expect(readBoxHeader(box('free'), 1.5)).toBeUndefined();
  });
});

describe('parseInitSegment accepts', () => {
  it('the writer output, describing both tracks', () => {
    // The avcC's parameter sets, as they are in the fixture's avcC (ISO/IEC 14496-15 §5.3.3.1).
    const parsed = parseAvcC(videoFixture().avcC);
    if (!parsed.ok) throw new Error(parsed.message);
    const avc = parsed.value;
    expect(initInfo.tracks).toEqual([
      {
        id: 1,
        kind: 'video',
        codec: 'avc1.64001e',
        timescale: 90_000,
        width: 640,
        height: 360,
        profile: 'High',
        level: 30,
        nalLengthSize: 4,
        parameterSets: { sps: avc.sps, pps: avc.pps },
        defaults: { sampleDuration: 0, sampleSize: 0, sampleFlags: 0 },
      },
      { id: 2, kind: 'audio', codec: 'opus', timescale: 48_000, channels: 2, sampleRate: 48_000, defaults: { sampleDuration: 0, sampleSize: 0, sampleFlags: 0 } },
    ]);
  });

  it("ffmpeg's frag_every_frame+empty_moov+default_base_moof init (with its udta, pasp and btrt)", () => {
    const opus = ok(parseInitSegment(splitFragmentedFile(fixture('ffmpeg-frag-opus.mp4')).init));
    expect(opus.tracks.map((t) => [t.kind, t.codec, t.width ?? t.channels, t.height ?? t.sampleRate, t.profile, t.timescale])).toEqual([
      ['video', 'avc1.64000d', 320, 180, 'High', 15_360],
      ['audio', 'opus', 2, 48_000, undefined, 48_000],
    ]);
    const aac = ok(parseInitSegment(splitFragmentedFile(fixture('ffmpeg-frag-aac.mp4')).init));
    expect(aac.tracks.map((t) => [t.kind, t.codec, t.channels, t.sampleRate, t.profile])).toEqual([
      ['video', 'avc1.4d400d', undefined, undefined, 'Main'],
      ['audio', 'mp4a.40.2', 2, 44_100, undefined],
    ]);
    // The whole DecoderSpecificInfo: AAC-LC (2), 44.1 kHz (index 4), stereo (2) = 0x12 0x10, then the sync extension
    // ffmpeg appends (0x2b7, SBR absent: 0x56 0xe5 0x00; ISO/IEC 14496-3 §1.6.2.1).
    expect(aac.tracks[1]!.aacConfig).toEqual(new Uint8Array([0x12, 0x10, 0x56, 0xe5, 0x00]));
  });

  it('free and skip boxes at the top level', () => {
    expect(parseInitSegment(cat(written.init, box('free', new Uint8Array(10)), box('skip'))).ok).toBe(true);
  });
});

describe('parseMediaSegment accepts', () => {
  it('every writer fragment on its own, with what was written', () => {
    let sequence = 0;
    for (const f of written.fragments) {
      const info = ok(parseMediaSegment(f.bytes, initInfo));
      sequence += 1;
      expect(info).toEqual({
        sequence,
        lastSequence: sequence,
        tracks: [
          {
            trackId: f.track === 'video' ? 1 : 2,
            baseDecodeTime: f.samples[0]!.timestamp,
            decodeTimeField: { offset: expect.any(Number), size: 8 },
            samples: f.samples.length,
            keyframe: f.samples[0]!.keyframe,
            duration: f.samples.reduce((n, s) => n + s.duration, 0),
            bytes: f.samples.reduce((n, s) => n + s.data.length, 0),
            sampleList: f.samples.map((s) => ({
              offset: expect.any(Number),
              size: s.data.length,
              decodeOffset: s.timestamp - f.samples[0]!.timestamp,
              duration: s.duration,
              compositionOffset: s.compositionOffset ?? 0,
              sync: s.keyframe,
            })),
          },
        ],
      });
      // Each sample's bytes are where the reader says.
      info.tracks[0]!.sampleList.forEach((r, i) => expect(f.bytes.subarray(r.offset, r.offset + r.size)).toEqual(f.samples[i]!.data));
    }
  });

  it('all writer fragments in one buffer', () => {
    const info = ok(parseMediaSegment(written.whole.subarray(written.init.length), initInfo));
    expect(info.tracks).toHaveLength(written.fragments.length);
    expect([info.sequence, info.lastSequence]).toEqual([1, written.fragments.length]);
  });

  it.each(['ffmpeg-frag-opus.mp4', 'ffmpeg-frag-aac.mp4'])("ffmpeg's own per-frame fragments (%s), one by one and all at once", (name) => {
    const file = fixture(name);
    const { init, segments, trailer } = splitFragmentedFile(file);
    const info = ok(parseInitSegment(init));
    const counts = new Map<number, number>();
    for (const s of segments) {
      for (const t of ok(parseMediaSegment(s, info)).tracks) counts.set(t.trackId, (counts.get(t.trackId) ?? 0) + t.samples);
    }
    expect(counts.get(1)).toBe(15); // 0.5 s at 30 fps
    expect(counts.get(2)).toBeGreaterThan(20);
    expect(ok(parseMediaSegment(file.subarray(init.length, file.length - trailer.length), info)).tracks).toHaveLength(segments.length);
    // ffmpeg ends the file with an mfra index, which is no part of a live upload
    expect(parseMediaSegment(trailer, info)).toMatchObject({ ok: false, error: { code: 'unexpected-box' } });
  });

  it('styp, prft and free before a moof', () => {
    const styp = box('styp', Uint8Array.from(Buffer.from('msdh\0\0\0\0msdhmsix')));
    const prft = fullBox('prft', 1, 0, new Uint8Array(20));
    const f = written.fragments[0]!.bytes;
    expect(ok(parseMediaSegment(cat(styp, prft, box('free'), f), initInfo)).tracks).toHaveLength(1);
  });

  it('an mdat with a 64-bit largesize', () => {
    const w = new Fmp4Writer({ video: { kind: 'video', codec: 'avc1', avcC: videoFixture().avcC, width: 640, height: 360, timescale: 90_000 } });
    const init = ok(parseInitSegment(w.initSegment()));
    const frag = w.fragment('video', { data: Uint8Array.of(0, 0, 0, 1, 0x65), timestamp: 0, duration: 1, keyframe: true });
    const moof = find(frag, 'moof');
    const trun = find(frag, 'moof/traf/trun');
    const payload = frag.subarray(moof.size + 8);
    let moofBytes: Uint8Array = frag.slice(0, moof.size);
    moofBytes = poke32(moofBytes, trun.start + 8 + 8, moof.size + 16); // data_offset past the 16-byte header
    const mdat = Uint8Array.of(0, 0, 0, 1, ...Buffer.from('mdat'), 0, 0, 0, 0, 0, 0, 0, 16 + payload.length, ...payload);
    expect(ok(parseMediaSegment(cat(moofBytes, mdat), init)).tracks[0]).toMatchObject({ samples: 1, bytes: 5 });
  });
});

const errorCode = (r: Fmp4Result<unknown>): string | undefined => (r.ok ? undefined : r.error.code);

describe('parseInitSegment refuses', () => {
  it('an HLS playlist and an ffconcat script (text that ffmpeg would happily open)', () => {
    const hls = Uint8Array.from(Buffer.from('#EXTM3U\n#EXT-X-VERSION:3\n#EXTINF:10,\nfile:///etc/passwd\n'));
    const ffconcat = Uint8Array.from(Buffer.from('ffconcat version 1.0\nfile /etc/passwd\n'));
    for (const text of [hls, ffconcat]) {
      expect(errorCode(parseInitSegment(text))).toBe('unexpected-box');
      expect(errorCode(parseMediaSegment(text, initInfo))).toBe('unexpected-box');
    }
  });

  it('an HEVC track', () => {
    const { init } = splitFragmentedFile(fixture('ffmpeg-frag-hevc.mp4'));
    expect(parseInitSegment(init)).toMatchObject({ ok: false, error: { code: 'unsupported-codec', message: expect.stringContaining('hev1') } });
  });

  it('every truncation', () => {
    for (let n = 0; n < written.init.length; n++) expect(errorCode(parseInitSegment(written.init.subarray(0, n)))).toBe('truncated');
  });

  it('a media segment, an mdat, a missing ftyp or moov, two moovs', () => {
    expect(errorCode(parseInitSegment(written.fragments[0]!.bytes))).toBe('unexpected-box');
    const ftyp = find(written.init, 'ftyp');
    const moov = written.init.subarray(ftyp.size);
    expect(errorCode(parseInitSegment(moov))).toBe('unexpected-box');
    expect(errorCode(parseInitSegment(written.init.subarray(0, ftyp.size)))).toBe('truncated');
    expect(errorCode(parseInitSegment(cat(written.init.subarray(0, ftyp.size), box('free'))))).toBe('truncated');
    expect(errorCode(parseInitSegment(cat(written.init, moov)))).toBe('bad-init');
    expect(errorCode(parseInitSegment(cat(written.init, box('mdat', new Uint8Array(4)))))).toBe('unexpected-box');
  });

  it('more than the size limit', () => {
    expect(errorCode(parseInitSegment(cat(written.init, box('free', new Uint8Array(1 << 20)))))).toBe('too-large');
    expect(errorCode(parseInitSegment(written.init, { maxInitBytes: 100 }))).toBe('too-large');
  });

  it('a moov without mvex (not fragmented), sample tables with samples, two sample descriptions', () => {
    const mvex = find(written.init, 'moov/mvex');
    const moov = find(written.init, 'moov');
    const withoutMvex = cat(written.init.subarray(0, mvex.start), written.init.subarray(mvex.start + mvex.size));
    expect(errorCode(parseInitSegment(poke32(withoutMvex, moov.start, moov.size - mvex.size)))).toBe('bad-init');

    const stsz = findAll(written.init, 'moov/trak/mdia/minf/stbl/stsz')[0]!;
    expect(parseInitSegment(poke32(written.init, stsz.start + 16, 5))).toMatchObject({ ok: false, error: { code: 'bad-init', message: expect.stringContaining('5 samples') } });

    const stsd = findAll(written.init, 'moov/trak/mdia/minf/stbl/stsd')[0]!;
    expect(parseInitSegment(poke32(written.init, stsd.start + 12, 2))).toMatchObject({ ok: false, error: { code: 'bad-init' } });
  });

  it('a broken avcC and a box nested where it does not belong', () => {
    const avcC = findAll(written.init, 'moov/trak/mdia/minf/stbl/stsd/avc1/avcC')[0]!;
    const broken = written.init.slice();
    broken[avcC.start + 8] = 2; // configurationVersion
    expect(parseInitSegment(broken)).toMatchObject({ ok: false, error: { code: 'bad-init', message: expect.stringContaining('configurationVersion') } });
    const hdlr = findAll(written.init, 'moov/trak/mdia/hdlr')[0]!;
    const renamed = written.init.slice();
    renamed.set(Buffer.from('meta'), hdlr.start + 4);
    expect(errorCode(parseInitSegment(renamed))).toBe('unexpected-box');
  });

  it('a data reference to another file', () => {
    const url = written.init.findIndex((_, i) => String.fromCharCode(...written.init.subarray(i, i + 4)) === 'url ');
    const external = written.init.slice();
    external[url + 7] = 0; // flags 0: the media is elsewhere
    expect(errorCode(parseInitSegment(external))).toBe('bad-init');
  });
});

describe('parseMediaSegment refuses', () => {
  const frag = written.fragments[0]!.bytes;
  const moof = find(frag, 'moof');
  const mdatAt = moof.size;

  it('random bytes', () => {
    let seed = 7;
    const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 50; i++) {
      const bytes = Uint8Array.from({ length: 1 + (i * 37) % 300 }, rand);
      expect(parseMediaSegment(bytes, initInfo).ok).toBe(false);
      expect(parseInitSegment(bytes).ok).toBe(false);
    }
  });

  it('every truncation of a fragment as "truncated"', () => {
    for (let n = 0; n < frag.length; n++) expect(errorCode(parseMediaSegment(frag.subarray(0, n), initInfo))).toBe('truncated');
  });

  it('an mdat larger or smaller than the samples', () => {
    const bigger = poke32(cat(frag, Uint8Array.of(0)), mdatAt, frag.length - mdatAt + 1);
    expect(parseMediaSegment(bigger, initInfo)).toMatchObject({ ok: false, error: { code: 'bad-fragment', message: expect.stringContaining('add up to') } });
    const smaller = poke32(frag, mdatAt, frag.length - mdatAt - 1);
    expect(parseMediaSegment(smaller, initInfo).ok).toBe(false);
    const trun = find(frag, 'moof/traf/trun');
    const sizeField = trun.start + 8 + 4 + 4 + 4 + 4; // header, version/flags, sample_count, data_offset, duration
    const wrongSize = poke32(frag, sizeField, new DataView(frag.buffer, frag.byteOffset).getUint32(sizeField) - 1);
    expect(errorCode(parseMediaSegment(wrongSize, initInfo))).toBe('bad-fragment');
  });

  it('a data offset outside the mdat', () => {
    const trun = find(frag, 'moof/traf/trun');
    expect(errorCode(parseMediaSegment(poke32(frag, trun.start + 16, 0), initInfo))).toBe('bad-fragment');
    expect(errorCode(parseMediaSegment(poke32(frag, trun.start + 16, 0x7fff_0000), initInfo))).toBe('bad-fragment');
    expect(errorCode(parseMediaSegment(poke32(frag, trun.start + 16, -8), initInfo))).toBe('bad-fragment');
  });

  it('a track the init segment does not have', () => {
    const tfhd = find(frag, 'moof/traf/tfhd');
    expect(parseMediaSegment(poke32(frag, tfhd.start + 12, 7), initInfo)).toMatchObject({ ok: false, error: { code: 'bad-fragment', message: expect.stringContaining('track 7') } });
    const audioOnly = ok(parseInitSegment(new Fmp4Writer({ audio: { kind: 'audio', codec: 'opus', channels: 2, sampleRate: 48_000, timescale: 48_000 } }).initSegment()));
    expect(parseMediaSegment(frag, { tracks: audioOnly.tracks.map((t) => ({ ...t, id: 9 })) })).toMatchObject({ ok: false, error: { code: 'bad-fragment' } });
  });

  it('an init segment, an mdat without moof, a moof without mdat, trailing boxes', () => {
    expect(errorCode(parseMediaSegment(written.init, initInfo))).toBe('unexpected-box');
    expect(errorCode(parseMediaSegment(frag.subarray(mdatAt), initInfo))).toBe('unexpected-box');
    expect(errorCode(parseMediaSegment(cat(frag.subarray(0, mdatAt), box('free')), initInfo))).toBe('unexpected-box');
    expect(errorCode(parseMediaSegment(cat(frag, box('free')), initInfo))).toBe('unexpected-box');
    expect(errorCode(parseMediaSegment(box('free'), initInfo))).toBe('bad-fragment');
  });

  it('fragments that go back in time or repeat a sequence number within one buffer', () => {
    const v = written.fragments.filter((f) => f.track === 'video');
    expect(parseMediaSegment(cat(v[1]!.bytes, v[0]!.bytes), initInfo)).toMatchObject({ ok: false, error: { code: 'bad-fragment', message: expect.stringContaining('sequence') } });
  });

  it('more samples in a trun than the cap, and an mdat over the cap', () => {
    const w = new Fmp4Writer({ audio: { kind: 'audio', codec: 'opus', channels: 2, sampleRate: 48_000, timescale: 48_000 } });
    const init = ok(parseInitSegment(w.initSegment()));
    const many = w.fragmentSamples('audio', Array.from({ length: 1001 }, (_, i) => ({ data: Uint8Array.of(i & 0xff), timestamp: i * 960, duration: 960, keyframe: true })));
    expect(errorCode(parseMediaSegment(many, init))).toBe('too-large');
    expect(parseMediaSegment(many, init, { maxSamplesPerTrun: 2000 }).ok).toBe(true);
    const keyframe = written.fragments.find((f) => f.track === 'video')!.bytes;
    expect(errorCode(parseMediaSegment(keyframe, initInfo, { maxMdatBytes: 1000 }))).toBe('too-large');
    expect(errorCode(parseMediaSegment(keyframe, initInfo, { maxSegmentBytes: 1000 }))).toBe('too-large');
    expect(errorCode(parseMediaSegment(keyframe, initInfo, { maxMoofBytes: 50 }))).toBe('too-large');
  });

  it('video samples that are not length-prefixed NAL units (Annex B by mistake, or cut)', () => {
    const w = new Fmp4Writer({ video: { kind: 'video', codec: 'avc1', avcC: videoFixture().avcC, width: 640, height: 360, timescale: 90_000 } });
    const init = ok(parseInitSegment(w.initSegment()));
    const annexB = Uint8Array.of(0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x10);
    expect(parseMediaSegment(w.fragment('video', { data: annexB, timestamp: 0, duration: 1, keyframe: true }), init)).toMatchObject({
      ok: false,
      error: { code: 'bad-fragment', message: expect.stringContaining('not Annex B') },
    });
    const cut = Uint8Array.of(0, 0, 0, 3, 0x65, 0x88, 0x84, 0, 0);
    expect(errorCode(parseMediaSegment(w.fragment('video', { data: cut, timestamp: 1, duration: 1, keyframe: true }), init))).toBe('bad-fragment');
    const two = Uint8Array.of(0, 0, 0, 2, 0x65, 0x88, 0, 0, 0, 1, 0x41);
    expect(parseMediaSegment(w.fragment('video', { data: two, timestamp: 2, duration: 1, keyframe: true }), init).ok).toBe(true);
  });

  it('base-data-offset and unknown tfhd flags', () => {
    const tfhd = find(frag, 'moof/traf/tfhd');
    expect(errorCode(parseMediaSegment(poke32(frag, tfhd.start + 8, 0x0002_0040), initInfo))).toBe('bad-fragment');
  });
});
