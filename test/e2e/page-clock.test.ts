// The clock source, end to end through the encoder: the page's fragments, decoded by ffmpeg into 8-bit grey frames,
// carry Date.now() in the pattern of shared/clock-pattern.ts, and the times drawn advance with the tfdt.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { CLOCK_HEIGHT, CLOCK_WIDTH, decodeClock } from '../../shared/clock-pattern.ts';
import { waitState } from '../support/browser.ts';
import { ffmpegPath } from '../support/ffmpeg.ts';
import { parseUpload, usePageHarness } from '../support/page-harness.ts';

const h = usePageHarness();
const dir = mkdtempSync(path.join(tmpdir(), 'relaycast-clock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function grayFrames(file: string, width: number, height: number, frames: number): Promise<Uint8Array[]> {
  const { stdout } = await execa(ffmpegPath(), ['-v', 'error', '-f', 'mp4', '-i', file, '-frames:v', String(frames), '-fps_mode', 'passthrough', '-pix_fmt', 'gray', '-f', 'rawvideo', '-'], {
    encoding: 'buffer',
    maxBuffer: 512 * 1024 * 1024,
  });
  const size = width * height;
  const out: Uint8Array[] = [];
  for (let o = 0; o + size <= stdout.length; o += size) out.push(stdout.subarray(o, o + size));
  return out;
}

describe('publisher page: clock source', () => {
  it('draws Date.now() as a 44-bit pattern that survives H.264 and reads back within a few seconds of now', async () => {
    const { s, p } = await h.start('?stream=clock&source=clock&audio=none&preset=720p&fps=30');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 45, '45 fragments');
    const c = s.connections[0]!;
    const up = parseUpload(c);
    const file = path.join(dir, 'clock.mp4');
    writeFileSync(file, Buffer.concat([up.initBytes, ...up.fragments.map((f) => f.bytes)]));
    const decodedAt = Date.now();
    const frames = await grayFrames(file, CLOCK_WIDTH, CLOCK_HEIGHT, 30);
    expect(frames.length).toBeGreaterThanOrEqual(25);

    const clocks = frames.map((f) => decodeClock(f, CLOCK_WIDTH, 40));
    expect(clocks.every((t) => t !== undefined)).toBe(true);
    const first = clocks[0]!;
    expect(Math.abs(decodedAt - first)).toBeLessThan(5000);
    // The drawn times advance like the decode times the page wrote (both come from the frame's capture).
    const times = up.fragments.filter((f) => f.track === 'video').map((f) => f.time / 90);
    for (let i = 1; i < clocks.length; i++) {
      expect(clocks[i]!).toBeGreaterThan(clocks[i - 1]!);
      expect(Math.abs(clocks[i]! - first - (times[i]! - times[0]!))).toBeLessThan(40);
    }
    await p.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(p.page, 'idle');
    expect(p.errors).toEqual([]);
  });

  it('still reads back from the 480p preset (the pattern scales with the picture)', async () => {
    const { s, p } = await h.start('?stream=clock2&source=clock&audio=none&preset=480p&fps=15');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 10, '10 fragments');
    const up = parseUpload(s.connections[0]!);
    expect(up.init.tracks[0]).toMatchObject({ width: 854, height: 480 });
    const file = path.join(dir, 'clock480.mp4');
    writeFileSync(file, Buffer.concat([up.initBytes, ...up.fragments.map((f) => f.bytes)]));
    const [frame] = await grayFrames(file, 854, 480, 1);
    const t = decodeClock(frame!, 854, 40);
    expect(t).toBeDefined();
    expect(Math.abs(Date.now() - t!)).toBeLessThan(5000);
  });
});
