// The publisher page against the real relay (server/main.ts startRelay on port 0, serving a Vite build of web/):
// Chromium's WebCodecs output passes the ingest's box-by-box checks, the server packetizes it into the RTSP relay, and an
// RTSP player decodes the clock pattern with a plausible glass-to-glass delay. Stop ends the stream.
import { execa } from 'execa';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLOCK_HEIGHT, CLOCK_WIDTH, decodeClock } from '../../shared/clock-pattern.ts';
import { launchChromium, openPage, waitReady, waitState, type OpenedPage } from '../support/browser.ts';
import { ffmpegPath, ffprobe } from '../support/ffmpeg.ts';
import { buildPage } from '../support/page-server.ts';
import { startTestRelay, type TestRelay } from '../support/relay.ts';

let browser: Browser;
let webRoot: string;
let relay: TestRelay | undefined;
let opened: OpenedPage | undefined;

beforeAll(async () => {
  webRoot = await buildPage();
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await opened?.close();
  opened = undefined;
  await relay?.close();
  relay = undefined;
});

async function streams(port: number): Promise<Array<{ name: string; video?: { codec: string; width?: number } }>> {
  return (await (await fetch(`http://127.0.0.1:${port}/api/streams`)).json()) as Array<{ name: string; video?: { codec: string; width?: number } }>;
}

/** Reads frames from RTSP until one carries the clock; returns the time it shows and when it was decoded. */
async function clockFromRtsp(url: string): Promise<{ shown: number; at: number }> {
  const frame = CLOCK_WIDTH * CLOCK_HEIGHT;
  const child = execa(ffmpegPath(), ['-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-an', '-frames:v', '150', '-pix_fmt', 'gray', '-f', 'rawvideo', '-'], {
    encoding: 'buffer',
    buffer: false,
    reject: false,
    timeout: 20_000,
  });
  let pending = Buffer.alloc(0);
  const results: Array<{ shown: number; at: number }> = [];
  for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= frame) {
      const at = Date.now();
      const shown = decodeClock(pending.subarray(0, frame), CLOCK_WIDTH, 40);
      pending = pending.subarray(frame);
      if (shown !== undefined) results.push({ shown, at });
    }
    // Skip the first frames (the relay starts players at the last keyframe, which may be up to a GOP old).
    if (results.length >= 100) break;
  }
  child.kill('SIGKILL');
  await child;
  const last = results.at(-1);
  if (!last) throw new Error(`no frame with the clock pattern came from ${url}`);
  return last;
}

describe('publisher page: real relay', () => {
  it('goes live, plays over RTSP with the clock readable and a bounded delay, and Stop ends the stream', async () => {
    relay = await startTestRelay([], { webRoot });
    const port = relay.relay.http.port();
    opened = await openPage(browser, port, '/?stream=pagecam&source=clock&audio=mic&preset=720p&fps=30');
    await waitReady(opened.page);
    // The real /api/config: RTSP port of this relay.
    expect(await opened.page.textContent('#rtsp-url')).toBe(`rtsp://127.0.0.1:${relay.rtspPort}/pagecam`);
    await opened.page.getByRole('button', { name: /Go live/ }).click();
    expect(await waitState(opened.page, 'live')).toContain(`rtsp://127.0.0.1:${relay.rtspPort}/pagecam`);

    const url = relay.url('pagecam');
    // The page's init segment and first keyframe need a moment to reach the relay.
    let probed: Awaited<ReturnType<typeof ffprobe>> | undefined;
    for (const until = Date.now() + 15_000; !probed && Date.now() < until; ) {
      probed = await ffprobe(url, { args: ['-rtsp_transport', 'tcp'], timeoutMs: 10_000 }).catch(() => undefined);
      if (!probed) await new Promise((r) => setTimeout(r, 500));
    }
    expect(probed, 'ffprobe could not read the RTSP stream').toBeDefined();
    const codecs = probed!.streams.map((s) => s.codec_name).sort();
    expect(codecs[0]).toBe('h264');
    expect(probed!.streams.find((s) => s.codec_type === 'video')).toMatchObject({ width: 1280, height: 720 });
    expect(probed!.streams.some((s) => s.codec_type === 'audio')).toBe(true);

    const { shown, at } = await clockFromRtsp(url);
    const delay = at - shown;
    // Browser encode → WebSocket → ingest → RTP packetizer → RTSP → ffmpeg decode, on a loaded 2-core machine.
    expect(delay).toBeGreaterThan(0);
    expect(delay).toBeLessThan(3000);

    const list = await streams(port);
    expect(list.find((s) => s.name === 'pagecam')?.video).toMatchObject({ codec: expect.stringMatching(/^avc1\./), width: 1280 });
    await opened.page.waitForFunction(() => /kbit\/s/.test(document.getElementById('stat-ingest')?.textContent ?? ''));
    // No --output: the page says there is nothing to restream to rather than showing an empty list.
    expect(await opened.page.textContent('#outputs')).toContain('No restreaming destinations');

    await opened.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(opened.page, 'idle');
    for (const until = Date.now() + 10_000; Date.now() < until; ) {
      if (!(await streams(port)).some((s) => s.name === 'pagecam')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect((await streams(port)).some((s) => s.name === 'pagecam')).toBe(false);
    expect(opened.errors).toEqual([]);
  });
});
