// The viewer page (/watch/NAME) in headless Chromium against a real relay: WebCodecs decodes a browser stream (the
// publisher page in another tab: H.264 + Opus) and an RTSP one (ffmpeg: H.264 + AAC), and the page's state follows the
// publisher: waiting before it starts, playing while it is live, ended when it stops.
import http from 'node:http';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, waitReady, waitState, type OpenedPage } from '../support/browser.ts';
import { buildPage } from '../support/page-server.ts';
import { publish, startTestRelay, stopProcess, type Publisher, type TestRelay } from '../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../support/ws-publisher.ts';

interface ViewerStats {
  state: string;
  output: string;
  muted: boolean;
  audioPlayed: number;
  videoDecoded: number;
  videoDrawn: number;
  videoDropped: number;
  audioDecoded: number;
  /** From the page's audio worklet: sound it played (ms), and the largest sample of its last report. */
  audioRenderedMs: number;
  audioPeak: number;
  audioBufferedMs: number;
  width: number;
  height: number;
}

let browser: Browser;
let relay: TestRelay;
const pages: OpenedPage[] = [];
let ffmpeg: Publisher | undefined;

beforeAll(async () => {
  const webRoot = await buildPage();
  [browser, relay] = await Promise.all([launchChromium(), startTestRelay(['--publisher-grace', '1'], { webRoot })]);
}, 60_000);

afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
  if (ffmpeg) await stopProcess(ffmpeg);
  ffmpeg = undefined;
});

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

/** Opens the viewer of NAME, recording every data-state its status element takes from the very first. */
async function openViewer(name: string): Promise<OpenedPage> {
  const p = await openPage(browser, relay.relay.http.port(), `/watch/${name}`, async ({ page }) => {
    await page.addInitScript(() => {
      const w = window as unknown as { __viewerStates: string[] };
      w.__viewerStates = [];
      new MutationObserver(() => {
        const s = document.querySelector('[data-testid="viewer-status"]')?.getAttribute('data-state');
        if (s && w.__viewerStates[w.__viewerStates.length - 1] !== s) w.__viewerStates.push(s);
      }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    });
  });
  pages.push(p);
  return p;
}

async function viewerState(page: Page, state: string, timeoutMs = 20_000): Promise<string> {
  await page.waitForSelector(`[data-testid="viewer-status"][data-state="${state}"]`, { timeout: timeoutMs });
  return (await page.textContent('[data-testid="viewer-status"]')) ?? '';
}

const states = (page: Page): Promise<string[]> => page.evaluate(() => (window as unknown as { __viewerStates: string[] }).__viewerStates);
const stats = (page: Page): Promise<ViewerStats> => page.evaluate(() => (window as unknown as { __viewerStats: ViewerStats }).__viewerStats);

/** Waits until the viewer has decoded `frames` video frames and some audio. */
async function decoded(page: Page, frames: number, timeoutMs = 20_000): Promise<ViewerStats> {
  await page.waitForFunction(
    (n) => {
      const s = (window as unknown as { __viewerStats: ViewerStats }).__viewerStats;
      return s.videoDecoded >= n && s.videoDrawn > 0 && s.audioDecoded > 0;
    },
    frames,
    { timeout: timeoutMs, polling: 100 },
  );
  return stats(page);
}

/** The largest canvas on the page and its drawing size: the picture, per ARCHITECTURE.md. */
async function picture(page: Page): Promise<{ width: number; height: number; lit: boolean }> {
  return page.evaluate(() => {
    const canvases = [...document.querySelectorAll('canvas')].sort((a, b) => b.clientWidth * b.clientHeight - a.clientWidth * a.clientHeight);
    const c = canvases[0]!;
    // Something other than black was drawn: read the middle row back.
    const ctx = c.getContext('2d')!;
    const row = ctx.getImageData(0, Math.floor(c.height / 2), c.width, 1).data;
    let lit = false;
    for (let i = 0; i < row.length; i += 4) if (row[i]! + row[i + 1]! + row[i + 2]! > 60) lit = true;
    return { width: c.width, height: c.height, lit };
  });
}

/** The status of a GET of `path` exactly as written (fetch would resolve the dots). */
function status(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: relay.relay.http.port(), path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });
}

describe('viewer page', () => {
  it('waits for a browser publisher, plays it (≥ 60 frames, Opus audio decoded and heard), and ends when it stops', async () => {
    const viewer = await openViewer('pagecam');
    expect(await viewerState(viewer.page, 'waiting')).toContain('Nobody is broadcasting "pagecam" yet');

    const publisher = await openPage(browser, relay.relay.http.port(), '/?stream=pagecam&source=canvas&audio=mic&preset=480p&fps=30');
    pages.push(publisher);
    await waitReady(publisher.page);
    // The publisher's Watch panel offers every way to watch, the viewer page first.
    const port = relay.relay.http.port();
    const rtsp = `rtsp://127.0.0.1:${relay.rtspPort}/pagecam`;
    expect(await publisher.page.getAttribute('#viewer-link', 'href')).toBe(`http://127.0.0.1:${port}/watch/pagecam`);
    const ways = await publisher.page.$$eval('.ways dd', (dds) => dds.map((d) => d.textContent?.replace(/Copy$/, '')));
    expect(ways).toEqual([
      `http://127.0.0.1:${port}/watch/pagecam`,
      rtsp,
      `http://127.0.0.1:${port}/pagecam.mp4`,
      `ffplay -rtsp_transport tcp ${rtsp}`,
      `vlc ${rtsp}`,
      `gst-launch-1.0 rtspsrc location=${rtsp} latency=100 ! rtph264depay ! h264parse ! avdec_h264 ! autovideosink`,
      `cv2.VideoCapture("${rtsp}")`,
    ]);
    expect(await publisher.page.locator('.ways button').count()).toBe(7);
    await publisher.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(publisher.page, 'live');

    expect(await viewerState(viewer.page, 'playing')).toContain('Playing "pagecam" live');
    const s = await decoded(viewer.page, 60);
    expect([s.width, s.height]).toEqual([854, 480]);
    const pic = await picture(viewer.page);
    expect([pic.width, pic.height]).toEqual([854, 480]);
    expect(pic.lit).toBe(true);
    // Unmuted, the Opus goes through the AudioWorklet: the fake microphone's beep is heard.
    await viewer.page.locator('#unmute').click();
    await viewer.page.waitForFunction(
      () => {
        const a = (window as unknown as { __viewerStats: ViewerStats }).__viewerStats;
        return a.audioRenderedMs > 300 && a.audioPeak > 0.01;
      },
      undefined,
      { timeout: 10_000 },
    );

    await publisher.page.getByRole('button', { name: 'Stop' }).click();
    expect(await viewerState(viewer.page, 'ended')).toContain('has ended');
    expect(await states(viewer.page)).toEqual(['connecting', 'waiting', 'playing', 'ended']);
    expect(viewer.errors).toEqual([]);
    // The socket stays: the viewer counts as a player until it leaves.
    expect(relay.relay.http.viewerPlayers()).toBe(1);
  });

  it('plays an RTSP-published stream (ffmpeg: H.264 + AAC) at the live edge, then waits and ends as the publisher leaves', async () => {
    ffmpeg = publish({ url: relay.url('rtspcam'), audio: 'aac', gop: 30 });
    const viewer = await openViewer('rtspcam');
    await viewerState(viewer.page, 'playing', 30_000);
    const s = await decoded(viewer.page, 60);
    expect([s.width, s.height]).toEqual([640, 360]);
    expect((await picture(viewer.page)).lit).toBe(true);
    // At the live edge it keeps up: after the cached group's burst (decoded, only the newest drawn), about every frame
    // of the 30 fps stream is drawn.
    const before = await stats(viewer.page);
    await new Promise((r) => setTimeout(r, 2000));
    const after = await stats(viewer.page);
    expect(after.videoDrawn - before.videoDrawn).toBeGreaterThan(45);

    // It starts muted with an Unmute button in the picture; unmuted, the decoded audio goes to the AudioWorklet, which
    // plays it: the worklet reports sound rendered, and the ffmpeg sine (amplitude 1/8) in it.
    expect(await stats(viewer.page)).toMatchObject({ muted: true, audioPlayed: 0, audioRenderedMs: 0 });
    await viewer.page.locator('#unmute').click();
    await viewer.page.waitForFunction(
      () => {
        const a = (window as unknown as { __viewerStats: ViewerStats }).__viewerStats;
        return a.audioPlayed > 20 && a.audioRenderedMs > 500 && a.audioPeak > 0.05;
      },
      undefined,
      { timeout: 10_000 },
    );
    expect(await viewer.page.locator('#unmute').isHidden()).toBe(true);
    // ffmpeg sends ~150 ms of AAC per RTP packet: once the worklet has seen a burst it plays on without gaps, about
    // as much sound as time passes, queueing no more than its bound.
    await new Promise((r) => setTimeout(r, 1000));
    const heard = await stats(viewer.page);
    await new Promise((r) => setTimeout(r, 2000));
    const later = await stats(viewer.page);
    expect(later.audioRenderedMs - heard.audioRenderedMs).toBeGreaterThan(1800);
    expect(later.audioBufferedMs).toBeLessThanOrEqual(500);
    // Pause holds the picture (the server stops sending) and silences the worklet (its queue cleared, reported a few
    // times a second); Play resumes both at the live edge.
    await viewer.page.getByRole('button', { name: 'Pause' }).click();
    await new Promise((r) => setTimeout(r, 400));
    const paused = await stats(viewer.page);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await stats(viewer.page)).toMatchObject({ videoDrawn: paused.videoDrawn, audioRenderedMs: paused.audioRenderedMs, audioBufferedMs: 0 });
    await viewer.page.getByRole('button', { name: 'Play' }).click();
    await viewer.page.waitForFunction(
      (p) => {
        const s = (window as unknown as { __viewerStats: ViewerStats }).__viewerStats;
        return s.videoDrawn > p.videoDrawn + 15 && s.audioRenderedMs > p.audioRenderedMs + 300;
      },
      paused,
      { timeout: 10_000 },
    );

    await stopProcess(ffmpeg);
    ffmpeg = undefined;
    // --publisher-grace 1: the viewer hears the broadcaster went away, then that it ended.
    expect(await viewerState(viewer.page, 'ended', 10_000)).toContain('has ended');
    const log = await states(viewer.page);
    expect(log.slice(-3)).toEqual(['playing', 'waiting', 'ended']);
    expect(viewer.errors).toEqual([]);
  });

  it('without WebCodecs (as on plain http from another host) it plays the same fragments through MSE in a <video>', async () => {
    const ws = new WsPublisher({ port: relay.relay.http.port(), stream: 'msecam', media: await loadPublisherMedia({ gop: 30 }) });
    try {
      await ws.connectOrThrow();
      ws.start();
      const viewer = await openPage(browser, relay.relay.http.port(), '/watch/msecam', async ({ page }) => {
        await page.addInitScript(() => {
          delete (window as unknown as { VideoDecoder?: unknown }).VideoDecoder;
          delete (window as unknown as { AudioDecoder?: unknown }).AudioDecoder;
        });
      });
      pages.push(viewer);
      await viewerState(viewer.page, 'playing');
      const s = await decoded(viewer.page, 60);
      expect(s).toMatchObject({ output: 'mse', width: 640, height: 360 });
      // The picture is the page's largest <video> now; it plays near the live edge.
      const v = await viewer.page.evaluate(() => {
        const video = document.querySelector('video')!;
        return { canvases: document.querySelectorAll('canvas').length, hidden: video.hidden, lag: video.buffered.end(video.buffered.length - 1) - video.currentTime };
      });
      expect(v).toMatchObject({ canvases: 0, hidden: false });
      expect(v.lag).toBeLessThan(1.5);
      expect(viewer.errors).toEqual([]);
    } finally {
      await ws.dispose();
    }
  });

  it('with read credentials it asks for them once, says when they are wrong, and keeps them for the tab', async () => {
    const locked = await startTestRelay(['--read-user', 'fan', '--read-pass', 'let me in'], { webRoot: (await buildPage()), viewer: { authFailureDelayMs: [10, 20] } });
    const ws = new WsPublisher({ port: locked.relay.http.port(), stream: 'locked', media: await loadPublisherMedia({ gop: 30 }) });
    try {
      await ws.connectOrThrow();
      ws.start();
      const viewer = await openPage(browser, locked.relay.http.port(), '/watch/locked');
      pages.push(viewer);
      expect(await viewerState(viewer.page, 'error')).toContain('needs the viewer user name and password');
      await viewer.page.getByLabel('User name').fill('fan');
      await viewer.page.getByLabel('Password').fill('wrong');
      await viewer.page.getByRole('button', { name: 'Watch' }).click();
      await viewer.page.waitForSelector('#notice:text("not accepted")');
      expect(await viewer.page.textContent('[data-testid="viewer-status"]')).toBe('The user name or password is wrong.');
      await viewer.page.getByLabel('Password').fill('let me in');
      await viewer.page.getByRole('button', { name: 'Watch' }).click();
      await viewerState(viewer.page, 'playing');
      await decoded(viewer.page, 30);
      // A reload in the same tab does not ask again.
      await viewer.page.reload();
      await viewerState(viewer.page, 'playing');
      expect(await viewer.page.locator('#login').isHidden()).toBe(true);
    } finally {
      await ws.dispose();
      await locked.close();
    }
  });

  it('a name that breaks the stream-name rule is no viewer page (404)', async () => {
    // (A bare /watch/.. is resolved as any URL is, to "/", the publisher page.)
    for (const bad of ['/watch/..%2f..%2fpackage.json', '/watch/-x', `/watch/${'a'.repeat(65)}`, '/watch/a%2fb', '/watch/a%00b']) {
      expect(await status(bad), bad).toBe(404);
    }
    const ok = await fetch(`http://127.0.0.1:${relay.relay.http.port()}/watch/cam.1`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-security-policy')).toContain("default-src 'self'");
  });
});
