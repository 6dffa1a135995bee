// The status page (/status) in headless Chromium against a real relay: a stream's row appears when an ffmpeg RTSP
// publisher starts, shows its tracks and its destination's state in words, counts RTSP players (TCP and UDP) as they
// join and leave, and goes when the publisher stops; when the server goes away the page says so and greys what it
// showed instead of passing it off as current.
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, openPage, type OpenedPage } from '../support/browser.ts';
import { buildPage } from '../support/page-server.ts';
import { publish, startTestRelay, startWsPublisher, stopProcess, waitLive, type Publisher, type TestRelay } from '../support/relay.ts';
import { RtspTestClient } from '../support/rtsp-client.ts';
import type { WsPublisher } from '../support/ws-publisher.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let browser: Browser;
let webRoot: string;
let relay: TestRelay;
const pages: OpenedPage[] = [];
const players: RtspTestClient[] = [];
const wsPublishers: WsPublisher[] = [];
let ffmpeg: Publisher | undefined;

beforeAll(async () => {
  webRoot = await buildPage();
  // A destination nothing listens on (port 9, discard): its ffmpeg fails and is retried, which the page must say in words.
  [browser, relay] = await Promise.all([launchChromium(), startTestRelay(['--publisher-grace', '1', '--output', 'rtsp://127.0.0.1:9/{stream}'], { webRoot })]);
}, 60_000);

afterEach(async () => {
  await Promise.all(players.splice(0).map((p) => p.close()));
  await Promise.all(wsPublishers.splice(0).map((p) => p.dispose()));
  await Promise.all(pages.splice(0).map((p) => p.close()));
  if (ffmpeg) await stopProcess(ffmpeg);
  ffmpeg = undefined;
});

afterAll(async () => {
  await browser?.close();
  await relay?.close();
});

async function openStatus(t: TestRelay): Promise<OpenedPage> {
  const p = await openPage(browser, t.relay.http.port(), '/status');
  pages.push(p);
  return p;
}

const row = (name: string): string => `tr[data-stream="${name}"]`;

/** The text of `field` in NAME's row (td[data-field] or an element inside it). */
function cell(page: Page, name: string, field: string): Promise<string> {
  return page.locator(`${row(name)} [data-field="${field}"]`).first().innerText();
}

/** Waits until NAME's player counts read `counts` (RTSP TCP, RTSP UDP, HTTP, Viewer) and the total matches. */
async function waitPlayers(page: Page, name: string, counts: [number, number, number, number]): Promise<void> {
  await page.waitForFunction(
    ({ selector, want }) => {
      const td = document.querySelector(`${selector} td[data-field="players"]`);
      const got = [...(td?.querySelectorAll('.readers dd') ?? [])].map((d) => Number(d.textContent));
      const total = Number(td?.querySelector('[data-field="players-total"]')?.textContent);
      return got.join() === want.join() && total === want.reduce((a, b) => a + b, 0);
    },
    { selector: row(name), want: counts },
    { timeout: 10_000, polling: 100 },
  );
}

async function rtspPlayer(name: string, transport: 'tcp' | 'udp'): Promise<RtspTestClient> {
  const c = await RtspTestClient.connect(relay.url(name));
  players.push(c);
  await c.play({ transport });
  return c;
}

describe('status page', () => {
  it('shows the server, then a stream from its start to its end: tracks, players joining and leaving, its destination', async () => {
    const { page, errors } = await openStatus(relay);
    await page.waitForSelector('[data-testid="status-link"][data-state="live"]', { timeout: 10_000 });
    expect(await page.locator('#no-streams').isVisible()).toBe(true);
    expect(await page.textContent('#srv-version')).toBe(VERSION);
    const listening = await page.locator('#srv-listening code').allInnerTexts();
    expect(listening).toEqual([`http://127.0.0.1:${relay.relay.http.port()}/`, `rtsp://127.0.0.1:${relay.rtspPort}/`]);
    expect(await page.textContent('#srv-cpu')).toMatch(/^\d+(\.\d)? % of a core/);
    expect(await page.textContent('#srv-rss')).toMatch(/MiB$/);

    ffmpeg = publish({ url: relay.url('cam'), audio: 'opus' });
    await waitLive(relay.relay, 'cam');
    await page.waitForSelector(row('cam'), { timeout: 10_000 });
    expect(await page.locator('#no-streams').isVisible()).toBe(false);
    // A request from the server's own machine is the operator's: the publisher's address is shown.
    expect(await cell(page, 'cam', 'source')).toMatch(/RTSP publisher \(TCP\)\s+127\.0\.0\.1:\d+/);
    await page.waitForFunction((sel) => /H\.264 .*640×360 · \d+ fps/.test(document.querySelector(`${sel} td[data-field="video"]`)?.textContent ?? ''), row('cam'), { timeout: 10_000 });
    expect(await cell(page, 'cam', 'audio')).toBe('Opus · 48 kHz · stereo');
    expect(await page.getAttribute(`${row('cam')} a.watch`, 'href')).toBe('/watch/cam');
    expect(await page.textContent(`${row('cam')} .rtsp-url`)).toBe(relay.url('cam'));
    expect(await cell(page, 'cam', 'recording')).toBe('not recorded');

    // The destination: its masked URL and its state in words, never ffmpeg's state names.
    await page.waitForFunction(
      (sel) => /cannot connect, retrying( in \d+ s)?/.test(document.querySelector(`${sel} [data-field="output-state"]`)?.textContent ?? ''),
      row('cam'),
      { timeout: 15_000 },
    );
    const destination = await cell(page, 'cam', 'destinations');
    expect(destination).toContain('rtsp://127.0.0.1:9/cam');
    expect(destination).not.toMatch(/backoff/);

    await waitPlayers(page, 'cam', [0, 0, 0, 0]);
    const tcp = await rtspPlayer('cam', 'tcp');
    await waitPlayers(page, 'cam', [1, 0, 0, 0]);
    await rtspPlayer('cam', 'udp');
    await waitPlayers(page, 'cam', [1, 1, 0, 0]);
    expect(await page.textContent('#srv-connections')).toMatch(/sessions: 2 TCP, 1 UDP/);
    await tcp.close();
    await waitPlayers(page, 'cam', [0, 1, 0, 0]);

    await stopProcess(ffmpeg);
    ffmpeg = undefined;
    // The publisher is gone: the row goes once the grace period (1 s) is over, without a reload.
    await page.waitForSelector(row('cam'), { state: 'detached', timeout: 10_000 });
    expect(await page.locator('#no-streams').isVisible()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('shows a browser publisher\'s stream as a browser\'s, and drops its row when the page stops', async () => {
    const { page, errors } = await openStatus(relay);
    const studio = await startWsPublisher(relay, 'studio', wsPublishers);
    await page.waitForSelector(row('studio'), { timeout: 10_000 });
    expect(await cell(page, 'studio', 'source')).toMatch(/^Browser\s+127\.0\.0\.1:\d+/);
    await page.waitForFunction((sel) => /^H\.264 .*· \d+×\d+ · \d+ fps$/.test(document.querySelector(`${sel} td[data-field="video"]`)?.textContent ?? ''), row('studio'), { timeout: 10_000 });
    expect(await cell(page, 'studio', 'audio')).toMatch(/^Opus · 48 kHz/);
    // Stop (close 1000) ends the stream at once, grace period or not.
    await studio.stop();
    await page.waitForSelector(row('studio'), { state: 'detached', timeout: 10_000 });
    expect(errors).toEqual([]);
  });

  it('says when the server cannot be reached, and greys what it showed', async () => {
    const doomed = await startTestRelay([], { webRoot });
    let closed = false;
    try {
      const opened = await openPage(browser, doomed.relay.http.port(), '/status');
      pages.push(opened);
      const { page } = opened;
      await page.waitForSelector('[data-testid="status-link"][data-state="live"]', { timeout: 10_000 });
      expect(await page.getAttribute('body', 'data-stale')).toBe('false');
      await doomed.close();
      closed = true;
      await page.waitForSelector('[data-testid="status-link"][data-state="unreachable"]', { timeout: 10_000 });
      expect(await page.textContent('[data-testid="status-link"]')).toMatch(/^Cannot reach the server \(.+\)\. What is shown is from \d+ s ago, not current\./);
      expect(await page.getAttribute('body', 'data-stale')).toBe('true');
      const opacity = await page.$eval('#server', (e) => Number(getComputedStyle(e).opacity));
      expect(opacity).toBeLessThan(1);
    } finally {
      if (!closed) await doomed.close();
    }
  });

  it('fits a 390 px phone: nothing wider than the screen', async () => {
    const { page } = await openStatus(relay);
    await page.setViewportSize({ width: 390, height: 844 });
    ffmpeg = publish({ url: relay.url('phone-cam'), audio: 'opus' });
    await waitLive(relay.relay, 'phone-cam');
    await page.waitForSelector(row('phone-cam'), { timeout: 10_000 });
    const overflow = await page.evaluate(() => {
      const wide = [...document.querySelectorAll('body *')].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 && (r.right > window.innerWidth + 0.5 || r.left < -0.5);
      });
      return { scroll: document.documentElement.scrollWidth, wide: wide.map((e) => `${e.tagName}.${e.className}`) };
    });
    expect(overflow).toEqual({ scroll: 390, wide: [] });
  });
});
