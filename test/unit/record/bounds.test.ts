// The size and age bounds: the pure choice (segmentsToDelete) with small sizes and a clock passed in, then the same on
// real files (enforceBounds), where the segment being written survives whatever the bounds say.
import { mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAge, parseSize, segmentsToDelete, type SegmentEntry } from '../../../server/record/bounds.ts';
import { segmentFileName } from '../../../server/record/paths.ts';
import { enforceBounds } from '../../../server/record/recordings.ts';
import { freshRecordDir, removeRecordDirs } from '../../support/recordings.ts';

const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const MIN = 60_000;

/** Segments of one minute each from T0, of the given sizes. */
function segments(...sizes: number[]): SegmentEntry[] {
  return sizes.map((bytes, i) => ({ file: segmentFileName(T0 + i * MIN), start: T0 + i * MIN, bytes }));
}

describe('segmentsToDelete', () => {
  it('keeps everything within the bounds', () => {
    expect(segmentsToDelete(segments(100, 100, 100), { maxBytes: 300, maxAgeMs: 10 * MIN }, T0 + 3 * MIN, undefined)).toEqual([]);
    expect(segmentsToDelete(segments(100, 100, 100), {}, T0 + 1000 * MIN, undefined)).toEqual([]);
  });

  it('deletes the oldest whole segments until the rest fit the size bound', () => {
    const s = segments(100, 200, 50, 100);
    expect(segmentsToDelete(s, { maxBytes: 300 }, T0, s[3]!.file)).toEqual([s[0]!.file, s[1]!.file]);
    expect(segmentsToDelete(s, { maxBytes: 449 }, T0, s[3]!.file)).toEqual([s[0]!.file]);
    expect(segmentsToDelete(s, { maxBytes: 450 }, T0, s[3]!.file)).toEqual([]);
    // Listed in any order: still oldest first.
    expect(segmentsToDelete([...s].reverse(), { maxBytes: 300 }, T0, s[3]!.file)).toEqual([s[0]!.file, s[1]!.file]);
  });

  it('never deletes the segment being written, nor anything after it, even when it alone is over the bound', () => {
    const s = segments(100, 100, 1000);
    expect(segmentsToDelete(s, { maxBytes: 10 }, T0, s[2]!.file)).toEqual([s[0]!.file, s[1]!.file]);
    expect(segmentsToDelete(s, { maxBytes: 10, maxAgeMs: 1 }, T0 + 999 * MIN, s[0]!.file)).toEqual([]);
  });

  it('deletes segments whose end (the next one\'s start) is older than the age bound, as the clock moves', () => {
    const s = segments(1, 1, 1, 1); // ends at T0+1, +2, +3 min; the last one's end is its last write
    const lastWrite = T0 + 4 * MIN;
    const at = (now: number) => segmentsToDelete(s, { maxAgeMs: 2 * MIN }, now, undefined, lastWrite);
    expect(at(T0 + 3 * MIN)).toEqual([]);
    expect(at(T0 + 3 * MIN + 1)).toEqual([s[0]!.file]);
    expect(at(T0 + 5 * MIN + 1)).toEqual([s[0]!.file, s[1]!.file, s[2]!.file]);
    expect(at(T0 + 6 * MIN + 1)).toEqual(s.map((x) => x.file));
    expect(segmentsToDelete(s, { maxAgeMs: 2 * MIN }, T0 + 60 * MIN, s[3]!.file, lastWrite)).toEqual([s[0]!.file, s[1]!.file, s[2]!.file]);
  });
});

describe('enforceBounds on a stream directory', () => {
  it('deletes the oldest files over the size bound, keeps the current one and files that are not segments', async () => {
    const dir = join(freshRecordDir(), 'cam');
    mkdirSync(dir);
    const names = [0, 1, 2, 3].map((i) => segmentFileName(T0 + i * MIN));
    names.forEach((n, i) => writeFileSync(join(dir, n), Buffer.alloc(1000 * (i + 1))));
    writeFileSync(join(dir, 'notes.txt'), Buffer.alloc(100_000));
    const deleted = await enforceBounds(dir, { maxBytes: 7000 }, T0 + 4 * MIN, join(dir, names[3]!));
    expect(deleted).toEqual([join(dir, names[0]!), join(dir, names[1]!)]);
    expect(readdirSync(dir).sort()).toEqual([names[2]!, names[3]!, 'notes.txt'].sort());
  });

  it('deletes by age with the clock given, the newest file ending at its last write', async () => {
    const dir = join(freshRecordDir(), 'cam');
    mkdirSync(dir);
    const names = [0, 1, 2].map((i) => segmentFileName(T0 + i * MIN));
    for (const n of names) writeFileSync(join(dir, n), 'x');
    utimesSync(join(dir, names[2]!), new Date(T0 + 3 * MIN), new Date(T0 + 3 * MIN));
    expect(await enforceBounds(dir, { maxAgeMs: MIN }, T0 + 2 * MIN, undefined)).toEqual([]);
    expect(await enforceBounds(dir, { maxAgeMs: MIN }, T0 + 3 * MIN + 1, undefined)).toEqual([join(dir, names[0]!), join(dir, names[1]!)]);
    expect(await enforceBounds(dir, { maxAgeMs: MIN }, T0 + 10 * MIN, join(dir, names[2]!))).toEqual([]);
    expect(await enforceBounds(dir, { maxAgeMs: MIN }, T0 + 10 * MIN, undefined)).toEqual([join(dir, names[2]!)]);
  });
});

describe('parsing the bounds', () => {
  it('reads sizes with binary units and ages in s, m, h, d', () => {
    expect(parseSize('500M', '--record-max-size')).toBe(500 * 1024 ** 2);
    expect(parseSize('20G', 'f')).toBe(20 * 1024 ** 3);
    expect(parseSize('1.5k', 'f')).toBe(1536);
    expect(parseSize('4096', 'f')).toBe(4096);
    expect(parseSize('2GiB', 'f')).toBe(2 * 1024 ** 3);
    expect(parseAge('24h', 'f')).toBe(86_400_000);
    expect(parseAge('7d', 'f')).toBe(7 * 86_400_000);
    expect(parseAge('90m', 'f')).toBe(90 * MIN);
  });

  it('refuses anything else with a sentence naming the flag', () => {
    for (const v of ['', 'big', '-5M', '0', '5X', 'M']) expect(() => parseSize(v, '--record-max-size')).toThrow(/--record-max-size must be a size like 500M/);
    for (const v of ['', '24', '1w', '0s', '-1h', '500ms']) expect(() => parseAge(v, '--record-max-age')).toThrow(/--record-max-age must be an age like 24h/);
  });
});

afterAll(() => removeRecordDirs());
