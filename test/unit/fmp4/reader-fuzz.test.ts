// Property tests: the reader is total (any bytes → ok or a typed error, never an exception) and strict (a valid
// segment whose box size field is changed is refused).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment, readBoxHeader, type Fmp4Result, type InitInfo } from '../../../shared/fmp4/reader.ts';
import { fixture, writeFixtureFile } from '../../support/fmp4-fixtures.ts';
import { splitFragmentedFile } from '../../support/fmp4-split.ts';
import { walk } from '../../support/fmp4-walk.ts';

const CODES = ['truncated', 'bad-box', 'unexpected-box', 'too-large', 'bad-init', 'unsupported-codec', 'bad-fragment'];

/** Runs a parse and checks the result is well formed; returns whether it was ok. */
function total<T>(parse: () => Fmp4Result<T>): boolean {
  let r: Fmp4Result<T>;
  try {
    r = parse();
  } catch (e) {
    throw new Error(`the reader threw: ${String(e)}`);
  }
  if (r.ok) return true;
  expect(CODES).toContain(r.error.code);
  expect(r.error.message).not.toMatch(/^internal/);
  expect(r.error.message.length).toBeGreaterThan(0);
  return false;
}

const written = writeFixtureFile({ video: true, audio: true });
const init = parseInitSegment(written.init);
if (!init.ok) throw new Error('fixture init does not parse');
const info: InitInfo = init.value;
const videoKey = written.fragments.find((f) => f.track === 'video' && f.samples[0]!.keyframe)!.bytes;
const audioGroup = written.fragments.find((f) => f.track === 'audio' && f.samples.length === 3)!.bytes;
const ffmpegOpus = splitFragmentedFile(fixture('ffmpeg-frag-opus.mp4'));
const ffmpegAac = splitFragmentedFile(fixture('ffmpeg-frag-aac.mp4'));
const ffmpegInfo = parseInitSegment(ffmpegOpus.init);
if (!ffmpegInfo.ok) throw new Error('ffmpeg init does not parse');

const valid = {
  inits: [written.init, ffmpegOpus.init, ffmpegAac.init],
  segments: [videoKey, audioGroup, written.fragments[1]!.bytes, ffmpegOpus.segments[1]!, ffmpegOpus.segments[2]!],
};

/** Byte-level mutations: overwrite, insert, delete, truncate. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(buf: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = buf.slice();
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % b.length;
    if (m.kind === 'set') b[at] = m.value;
    else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    else if (m.kind === 'delete') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.count)]);
    else b = b.subarray(0, at);
  }
  return b;
}

/** Random box trees with real type names, so the parser gets past the first header. */
const TYPES = ['ftyp', 'moov', 'mvhd', 'trak', 'tkhd', 'mdia', 'mdhd', 'hdlr', 'minf', 'vmhd', 'smhd', 'dinf', 'dref', 'url ', 'stbl', 'stsd', 'avc1', 'avcC', 'Opus', 'dOps', 'mp4a', 'esds', 'stts', 'stsc', 'stsz', 'stco', 'mvex', 'trex', 'moof', 'mfhd', 'traf', 'tfhd', 'tfdt', 'trun', 'mdat', 'styp', 'prft', 'free', 'uuid', 'udta'];
const boxTree: fc.Arbitrary<Uint8Array> = fc.letrec<{ box: Uint8Array }>((tie) => ({
  box: fc
    .record({
      type: fc.constantFrom(...TYPES),
      head: fc.uint8Array({ maxLength: 24 }),
      kids: fc.oneof({ depthSize: 'small' }, fc.constant([] as Uint8Array[]), fc.array(tie('box'), { maxLength: 3 })),
      sizeDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -8, max: 8 })),
    })
    .map(({ type, head, kids, sizeDelta }) => {
      const body = Uint8Array.from([...head, ...kids.flatMap((k) => [...k])]);
      const out = new Uint8Array(8 + body.length);
      new DataView(out.buffer).setUint32(0, Math.max(0, 8 + body.length + sizeDelta));
      out.set(Buffer.from(type, 'latin1'), 4);
      out.set(body, 8);
      return out;
    }),
})).box;

describe('the reader never throws', () => {
  it('on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (b) => {
        total(() => parseInitSegment(b));
        total(() => parseMediaSegment(b, info));
        for (let at = 0; at < Math.min(b.length, 16); at++) readBoxHeader(b, at);
      }),
      { numRuns: 3000 },
    );
  });

  it('on random box trees', () => {
    fc.assert(
      fc.property(fc.array(boxTree, { minLength: 1, maxLength: 4 }), (boxes) => {
        const b = Uint8Array.from(boxes.flatMap((x) => [...x]));
        total(() => parseInitSegment(b));
        total(() => parseMediaSegment(b, info));
      }),
      { numRuns: 3000 },
    );
  });

  it('on random mutations of valid init segments and fragments', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, s, ms) => {
        total(() => parseInitSegment(mutate(valid.inits[i % valid.inits.length]!, ms)));
        total(() => parseMediaSegment(mutate(valid.segments[s % valid.segments.length]!, ms), s % 2 === 0 ? info : ffmpegInfo.value));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('a changed box size is always refused', () => {
  /** Every box header the test walker can see, with whether it is the last top-level box (where size 0 = same). */
  function sizeFields(buf: Uint8Array): Array<{ at: number; size: number; last: boolean }> {
    const boxes = walk(buf);
    const top = boxes.filter((b) => !b.path.includes('/'));
    return boxes.map((b) => ({ at: b.start, size: b.size, last: b === top[top.length - 1] }));
  }

  const cases: Array<[string, Uint8Array, (b: Uint8Array) => Fmp4Result<unknown>]> = [
    ['writer init', written.init, (b) => parseInitSegment(b)],
    ['ffmpeg init (opus)', ffmpegOpus.init, (b) => parseInitSegment(b)],
    ['ffmpeg init (aac)', ffmpegAac.init, (b) => parseInitSegment(b)],
    ['writer video keyframe fragment', videoKey, (b) => parseMediaSegment(b, info)],
    ['writer 3-sample audio fragment', audioGroup, (b) => parseMediaSegment(b, info)],
    ['ffmpeg fragment', ffmpegOpus.segments[1]!, (b) => parseMediaSegment(b, ffmpegInfo.value)],
  ];

  it.each(cases)('%s: every size field, small and large changes', (_name, buf, parse) => {
    expect(parse(buf).ok).toBe(true);
    const fields = sizeFields(buf);
    expect(fields.length).toBeGreaterThan(3);
    fc.assert(
      fc.property(fc.nat(fields.length - 1), fc.oneof(fc.integer({ min: -16, max: 16 }), fc.integer({ min: -(2 ** 32), max: 2 ** 32 })), (f, delta) => {
        const field = fields[f]!;
        const size = (field.size + delta) >>> 0;
        fc.pre(size !== field.size && !(size === 0 && field.last));
        const b = buf.slice();
        new DataView(b.buffer).setUint32(field.at, size);
        expect(total(() => parse(b))).toBe(false);
      }),
      { numRuns: 2000 },
    );
    // and exhaustively on every field: small changes, and growing or shrinking by exactly the size of some box
    // (the change that lets one box swallow a neighbour whole)
    const deltas = new Set([-8, -4, -1, 1, 4, 8, ...fields.flatMap((x) => [x.size, -x.size])]);
    for (const field of fields) {
      for (const delta of deltas) {
        if (field.size + delta < 0 || (field.size + delta === 0 && field.last)) continue;
        const b = buf.slice();
        new DataView(b.buffer).setUint32(field.at, field.size + delta);
        expect(total(() => parse(b)), `size ${field.size}${delta > 0 ? '+' : ''}${delta} at ${field.at}`).toBe(false);
      }
    }
  });
});
