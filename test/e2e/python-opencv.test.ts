// The seed's own use, done the relaycast way: a Python program makes frames with OpenCV/numpy, ffmpeg encodes them at
// the source and publishes over RTSP, and OpenCV reads the stream back. The program is the README's own code block
// ("Publish from Python / OpenCV"), so the README cannot drift from what works.
import { execa } from 'execa';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWithOpenCV, requireOpenCV } from '../support/opencv.ts';
import { startTestRelay, stopProcess, waitLive, type TestRelay } from '../support/relay.ts';

const README = path.resolve(import.meta.dirname, '../../README.md');
let t: TestRelay;
let dir: string;

/** The python block under the README's "Publish from Python / OpenCV" heading. */
function readmeExample(): string {
  const text = readFileSync(README, 'utf8');
  const at = text.indexOf('### Publish from Python / OpenCV');
  if (at < 0) throw new Error('README.md has no "Publish from Python / OpenCV" section');
  const block = /```python\n([\s\S]*?)```/.exec(text.slice(at));
  if (!block?.[1]) throw new Error('the README section has no ```python block');
  return block[1];
}

beforeAll(async () => {
  await requireOpenCV();
  t = await startTestRelay();
  dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-opencv-'));
});

afterAll(async () => {
  await t?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the README\'s Python / OpenCV publisher', () => {
  it('publishes H.264 1280x720 that ffprobe sees and OpenCV reads back frame by frame', async () => {
    const script = path.join(dir, 'publish.py');
    writeFileSync(script, readmeExample());
    const name = 'opencv';
    const pub = execa('/usr/bin/python3', [script, t.url(name), '20'], { reject: false, cleanup: true });
    try {
      await waitLive(t.relay, name, 15_000);
      const probe = await execa('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,width,height', '-of', 'json', t.url(name)], { timeout: 20_000 });
      const stream = (JSON.parse(probe.stdout) as { streams: Array<{ codec_name: string; width: number; height: number }> }).streams[0];
      expect(stream).toEqual({ codec_name: 'h264', width: 1280, height: 720 });

      // The publisher paints green 96 and red 160 behind its text: a corner without text keeps them (lossy coding).
      const cv = await readWithOpenCV(t.url(name), { frames: 60, sample: [600, 700, 1000, 1200], rtspTcp: true });
      expect({ frames: cv.frames, shape: cv.shape }, `OpenCV: ${cv.stderr}`).toEqual({ frames: 60, shape: [720, 1280, 3] });
      const [, green, red] = cv.colour!;
      expect(Math.abs(green - 96)).toBeLessThan(12);
      expect(Math.abs(red - 160)).toBeLessThan(12);
    } finally {
      await stopProcess(pub);
    }
  }, 90_000);
});
