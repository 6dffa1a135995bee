// mergeSegments against ffprobe: the same file with every per-frame fragment, or with the fragments merged in batches,
// must give ffprobe the same packets per stream (pts, dts, size, key flag, a CRC of the data). Only the interleaving
// of the two streams may differ: a merged moof holds each track's samples together.
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { concat } from '../../../shared/fmp4/boxes.ts';
import { mergeSegments } from '../../../shared/fmp4/merge.ts';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import { ffprobePath } from '../../support/ffmpeg.ts';
import { writeFixtureFile } from '../../support/fmp4-fixtures.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-merge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = writeFixtureFile({ video: true, audio: true });
const parsedInit = parseInitSegment(file.init);
if (!parsedInit.ok) throw new Error(parsedInit.error.message);
const init = parsedInit.value;

async function packets(bytes: Uint8Array, name: string): Promise<string[]> {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  const r = await execa(ffprobePath(), ['-v', 'error', '-show_entries', 'packet=stream_index,pts,dts,size,flags,data_hash', '-show_data_hash', 'CRC32', '-of', 'csv', p]);
  const lines = String(r.stdout).split('\n').filter((l) => l !== '');
  // Per stream, in order: "packet,<stream_index>,…".
  return [...lines.filter((l) => l.startsWith('packet,0,')), ...lines.filter((l) => l.startsWith('packet,1,'))];
}

/** The fixture's fragments merged in consecutive batches of the given sizes (cycled). */
function merged(sizes: number[]): Uint8Array {
  const out: Uint8Array[] = [file.init];
  for (let i = 0, k = 0; i < file.fragments.length; k++) {
    const batch = file.fragments.slice(i, i + sizes[k % sizes.length]!).map((f) => {
      const parsed = parseMediaSegment(f.bytes, init);
      if (!parsed.ok) throw new Error(parsed.error.message);
      return { bytes: f.bytes, parsed: parsed.value };
    });
    out.push(...mergeSegments(batch, batch.at(-1)!.parsed.lastSequence));
    i += batch.length;
  }
  return concat(out);
}

describe('mergeSegments', () => {
  it('ffprobe reads the same packets from merged fragments as from the per-frame ones', async () => {
    const original = await packets(file.whole, 'original.mp4');
    expect(original.length).toBe(file.fragments.reduce((n, f) => n + f.samples.length, 0));
    for (const sizes of [[1], [8], [3, 1, 5, 2], [file.fragments.length]]) {
      expect(await packets(merged(sizes), `merged-${sizes.join('-')}.mp4`), `batches of ${sizes.join(',')}`).toEqual(original);
    }
  });

  it('our own reader accepts every merged fragment: one moof, a traf per track', () => {
    const bytes = merged([7]);
    const segment = bytes.subarray(file.init.length);
    const parsed = parseMediaSegment(segment, init);
    // Several moof+mdat pairs in one buffer; each pair carries both tracks when the batch had both.
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.tracks.length).toBeGreaterThan(Math.ceil(file.fragments.length / 7));
  });

  it('copies no media: after the moof and mdat header come views of the input fragments, adjacent samples joined', () => {
    const batch = file.fragments.slice(0, 9).map((f) => {
      const parsed = parseMediaSegment(f.bytes, init);
      if (!parsed.ok) throw new Error(parsed.error.message);
      return { bytes: f.bytes, parsed: parsed.value };
    });
    const [head, ...media] = mergeSegments(batch, 9);
    const samples = batch.reduce((n, b) => n + b.parsed.tracks.reduce((m, t) => m + t.sampleList.length, 0), 0);
    expect(media.length).toBeGreaterThan(0);
    expect(media.length).toBeLessThanOrEqual(samples);
    for (const m of media) expect(batch.some((b) => b.bytes.buffer === m.buffer)).toBe(true);
    // The mdat header's size covers exactly the views that follow it.
    const mdatSize = new DataView(head!.buffer, head!.byteOffset).getUint32(head!.length - 8);
    expect(mdatSize).toBe(8 + media.reduce((n, m) => n + m.length, 0));
  });
});
