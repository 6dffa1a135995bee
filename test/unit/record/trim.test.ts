// Trimming what a crash left: a segment file is init + whole moof+mdat pairs, then maybe part of one more.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import { SampleMuxer } from '../../../server/protocols/fmp4/sample-muxer.ts';
import { scanSegment, trimSegment } from '../../../server/record/segment-scan.ts';
import { videoFixture } from '../../support/fmp4-fixtures.ts';
import { freshRecordDir, removeRecordDirs } from '../../support/recordings.ts';

/** init + `n` fragments of 10 frames each, as the recorder writes them; returns the bytes and each fragment's end. */
function segmentBytes(n: number): { bytes: Buffer; ends: number[] } {
  const v = videoFixture();
  const muxer = new SampleMuxer([{ codec: 'h264', clockRate: 90000, avcC: v.avcC, width: 640, height: 360, version: 1 }]);
  const parts: Uint8Array[] = [muxer.init];
  const ends: number[] = [muxer.init.length];
  for (let f = 0; f < n; f++) {
    muxer.add(0, v.samples.slice(f * 10, f * 10 + 10).map((s, i) => ({ pts: (f * 10 + i) * 3000, dts: (f * 10 + i) * 3000, keyframe: i === 0, data: s.data })));
    const frag = muxer.fragment()!;
    parts.push(...frag.chunks);
    ends.push(ends[ends.length - 1]! + frag.bytes);
  }
  return { bytes: Buffer.concat(parts), ends };
}

describe('trimSegment', () => {
  const dir = freshRecordDir();

  it('leaves a whole file as it is', async () => {
    const { bytes, ends } = segmentBytes(3);
    const path = join(dir, 'whole.mp4');
    writeFileSync(path, bytes);
    expect(await trimSegment(path)).toEqual({ kind: 'intact' });
    expect(statSync(path).size).toBe(ends[3]);
  });

  it.each([
    ['the first bytes of a moof header', 5],
    ['a moof without its mdat', -1],
    ['half a fragment', 0.5],
    ['all but the last byte of a fragment', -2],
  ])('cuts %s off the end, leaving init + whole fragments that parse', async (_what, cut) => {
    const { bytes, ends } = segmentBytes(4);
    const fourth = bytes.subarray(ends[3], ends[4]);
    const moofSize = fourth.readUInt32BE(0);
    const partial = cut === -1 ? moofSize : cut === -2 ? fourth.length - 1 : cut < 1 ? Math.floor(fourth.length * cut) : cut;
    const path = join(dir, `cut-${partial}.mp4`);
    writeFileSync(path, bytes.subarray(0, ends[3]! + partial));
    expect(await trimSegment(path)).toEqual({ kind: 'trimmed', bytes: partial });
    const after = readFileSync(path);
    expect(after.length).toBe(ends[3]);
    const init = parseInitSegment(after.subarray(0, ends[0]));
    expect(init.ok).toBe(true);
    if (!init.ok) return;
    const media = parseMediaSegment(after.subarray(ends[0]), init.value);
    expect(media.ok && media.value.lastSequence).toBe(3);
  });

  it('says when not even the init segment is whole', async () => {
    const { bytes, ends } = segmentBytes(1);
    const path = join(dir, 'no-init.mp4');
    writeFileSync(path, bytes.subarray(0, ends[0]! - 3));
    expect(await trimSegment(path)).toEqual({ kind: 'no-init' });
    writeFileSync(path, '');
    expect(await trimSegment(path)).toEqual({ kind: 'no-init' });
  });

  it('scanSegment finds each fragment where it was written', async () => {
    const { bytes, ends } = segmentBytes(3);
    const path = join(dir, 'scan.mp4');
    writeFileSync(path, bytes);
    const fh = await open(path, 'r');
    const layout = await scanSegment(fh);
    await fh.close();
    expect(layout).toEqual({
      initSize: ends[0],
      fragments: [0, 1, 2].map((i) => ({ offset: ends[i], size: ends[i + 1]! - ends[i]! })),
      validEnd: ends[3],
      fileSize: ends[3],
    });
  });
});

afterAll(() => removeRecordDirs());
