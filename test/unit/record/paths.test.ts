import { describe, expect, it } from 'vitest';
import { inside, RecordPathError, segmentFileName, segmentPath, segmentStart, streamDir } from '../../../server/record/paths.ts';

describe('segment file names', () => {
  it('are the start in ISO 8601 UTC with "-" for ":", and read back to the same millisecond', () => {
    const ms = Date.parse('2026-12-04T18:03:07.123Z');
    expect(segmentFileName(ms)).toBe('2026-12-04T18-03-07.123Z.mp4');
    expect(segmentStart(segmentFileName(ms))).toBe(ms);
  });

  it('other names have no start', () => {
    for (const n of ['2026-12-04T18:03:07.123Z.mp4', '2026-12-04T18-03-07Z.mp4', 'notes.txt', '2026-12-04T18-03-07.123Z.mp4.tmp', '2026-13-45T18-03-07.123Z.mp4']) {
      expect(segmentStart(n)).toBeUndefined();
    }
  });
});

describe('path building', () => {
  const root = '/srv/rec';

  it('puts a segment in DIR/NAME', () => {
    expect(segmentPath(root, 'cam-1.main', Date.parse('2026-01-02T03:04:05.006Z'))).toBe('/srv/rec/cam-1.main/2026-01-02T03-04-05.006Z.mp4');
    expect(streamDir('rec/', 'cam')).toMatch(/\/rec\/cam$/);
  });

  it('refuses names that are not stream names, which could leave DIR', () => {
    for (const name of ['..', '.', '../etc', 'a/b', '/etc', '', '.hidden', 'x\0y', 'a\\..\\b', 'a'.repeat(65)]) {
      expect(() => streamDir(root, name), name).toThrow(RecordPathError);
    }
  });

  it('refuses any path that resolves outside DIR or to DIR itself', () => {
    expect(() => inside(root, '..', 'etc', 'passwd')).toThrow(/not inside the recording directory \/srv\/rec/);
    expect(() => inside(root, '/etc/passwd')).toThrow(RecordPathError);
    expect(() => inside(root, 'cam', '..', '..', 'x')).toThrow(RecordPathError);
    expect(() => inside(root, '.')).toThrow(RecordPathError);
    expect(() => inside('/srv/rec', '../recordings-other/x')).toThrow(RecordPathError); // a sibling sharing the prefix
    expect(inside(root, 'cam', '..', 'cam2')).toBe('/srv/rec/cam2');
    expect(inside(root, '..rec')).toBe('/srv/rec/..rec'); // a name starting with two dots is still inside
  });
});
