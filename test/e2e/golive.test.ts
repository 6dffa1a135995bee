// The product's main job, end to end: the real page in headless Chromium (fake camera + microphone) goes live on the
// real relay with an RTMP destination (Debian's nginx-rtmp on loopback). RTSP plays H.264 + Opus, nginx-rtmp receives
// H.264 + AAC, a dropped WebSocket reconnects while an RTSP player stays attached, and Stop ends every ffmpeg.
import { execa } from 'execa';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, recordStates, stateLog, waitReady, waitState, type OpenedPage } from '../support/browser.ts';
import { ffmpegPath, ffprobe, isProcessAlive, waitFor } from '../support/ffmpeg.ts';
import { startNginxRtmp, type NginxRtmp } from '../support/nginx-rtmp.ts';
import { buildPage } from '../support/page-server.ts';
import { startTestRelay, type TestRelay } from '../support/relay.ts';
import { RtspTestClient } from '../support/rtsp-client.ts';
import { spawnedPids } from '../integration/ingest/helpers.ts';

const NAME = 'golive';
let browser: Browser;
let nginx: NginxRtmp;
let relay: TestRelay;
let opened: OpenedPage;

beforeAll(async () => {
  const webRoot = await buildPage();
  nginx = await startNginxRtmp();
  relay = await startTestRelay(['--output', nginx.url('{stream}'), '--publisher-grace', '5'], { webRoot });
  browser = await launchChromium();
  opened = await openPage(browser, relay.relay.http.port(), `/?stream=${NAME}&source=camera&audio=mic&preset=480p&fps=30`);
  await waitReady(opened.page);
  await recordStates(opened.page);
}, 120_000);

afterAll(async () => {
  await opened?.close();
  await browser?.close();
  await relay?.close();
  await nginx?.stop();
});

async function probeUntil(url: string, args: string[] = []): Promise<Awaited<ReturnType<typeof ffprobe>>> {
  let last: unknown;
  for (const until = Date.now() + 20_000; Date.now() < until; ) {
    try {
      const r = await ffprobe(url, { args, timeoutMs: 10_000 });
      if (r.streams.length >= 2) return r;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`ffprobe could not read ${url}: ${String(last)}`);
}

describe('Go live from the page', () => {
  it('goes live: RTSP carries H.264 + Opus that ffmpeg decodes, nginx-rtmp receives H.264 + AAC', async () => {
    await opened.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(opened.page, 'live');

    const rtsp = await probeUntil(relay.url(NAME), ['-rtsp_transport', 'tcp']);
    expect(rtsp.streams.map((s) => s.codec_name).sort()).toEqual(['h264', 'opus']);

    const decoded = await execa(ffmpegPath(), ['-v', 'error', '-rtsp_transport', 'tcp', '-i', relay.url(NAME), '-frames:v', '30', '-f', 'null', '-'], { reject: false, timeout: 20_000 });
    expect(decoded.exitCode).toBe(0);

    const rtmp = await probeUntil(nginx.url(NAME));
    expect(rtmp.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
  });

  it('reconnects after the WebSocket drops; an RTSP player stays attached and keeps receiving', async () => {
    const player = await RtspTestClient.connect(relay.url(NAME));
    try {
      await player.play({ transport: 'tcp' });
      expect(await waitFor(() => (player.tracks[0]?.packets ?? 0) > 30, 5000)).toBe(true);
      const pidsBefore = spawnedPids(relay, NAME);
      expect(pidsBefore.length).toBeGreaterThanOrEqual(1); // the RTMP destination's; else "the same ffmpegs" would hold vacuously
      expect(relay.relay.ingest.drop(NAME)).toBe(true);
      await waitState(opened.page, 'reconnecting', 10_000);
      await waitState(opened.page, 'live', 20_000);
      const before = player.tracks[0]?.packets ?? 0;
      expect(await waitFor(() => (player.tracks[0]?.packets ?? 0) > before + 60, 10_000)).toBe(true);
      expect(player.byeReceived).toBe(false);
      // Same init segment: the same ffmpeg processes carried on.
      expect(spawnedPids(relay, NAME)).toEqual(pidsBefore);
      expect(await stateLog(opened.page)).toEqual(expect.arrayContaining(['live', 'reconnecting']));
    } finally {
      await player.close();
    }
  });

  it('Stop ends the stream and every ffmpeg', async () => {
    const pids = spawnedPids(relay, NAME);
    expect(pids.length).toBeGreaterThanOrEqual(1); // the RTMP destination (the RTSP relay is fed in process)
    await opened.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(opened.page, 'idle');
    expect(await waitFor(() => pids.every((p) => !isProcessAlive(p)), 10_000)).toBe(true);
    const list = (await (await fetch(`http://127.0.0.1:${relay.relay.http.port()}/api/streams`)).json()) as Array<{ name: string }>;
    expect(list.some((s) => s.name === NAME)).toBe(false);
    expect(opened.errors).toEqual([]);
  });
});
