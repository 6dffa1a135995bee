// The publisher page never shows what is no longer true: server figures go to "–" when the server's word is stale,
// a failing destination is in the status line, an invalid name cannot go live, reconnecting counts down and can be
// cut short, and a narrow screen keeps every control on it (issue 10, section 4).
import { describe, expect, it } from 'vitest';
import { launchChromium, waitReady, waitState } from '../support/browser.ts';
import { usePageHarness } from '../support/page-harness.ts';
import { buildPage, FakePublishServer } from '../support/page-server.ts';
import type { OutputStatus, ServerMessage } from '../../shared/protocol.ts';

const h = usePageHarness();

const running: OutputStatus = { url: 'rtmp://a.rtmp.youtube.com/live2/ab…34', kind: 'rtmp', state: 'running', restarts: 0 };
const stats = (outputs: OutputStatus[]): ServerMessage => ({ type: 'stats', ingestKbps: 2500, fragments: 100, rtspPlayers: 2, outputs });

describe('publisher page: nothing stale, nothing hidden', () => {
  it('after Stop every server figure shows "–" and every destination "unknown", not the last value', async () => {
    const { s, p } = await h.start('?stream=fresh&source=canvas&audio=none');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    s.connections[0]!.send(stats([running]));
    await p.page.waitForFunction(() => document.getElementById('stat-players')?.textContent === '2');
    expect(await p.page.textContent('#outputs')).toContain('running');
    await p.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(p.page, 'idle');
    expect(await p.page.textContent('#stat-players')).toBe('–');
    expect(await p.page.textContent('#stat-ingest')).toBe('–');
    const outputs = (await p.page.textContent('#outputs')) ?? '';
    expect(outputs).toContain('unknown');
    expect(outputs).not.toContain('running');
  });

  it('while the server is unreachable the figures show "–"; the page counts down, reconnects as soon as the server answers, and Retry now tries at once', async () => {
    const { s, p } = await h.start('?stream=gone&source=canvas&audio=none');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    s.connections[0]!.send(stats([running]));
    await p.page.waitForFunction(() => document.getElementById('stat-players')?.textContent === '2');
    s.down = true;
    s.connections[0]!.ws.terminate();
    await waitState(p.page, 'reconnecting');
    expect(await p.page.textContent('#stat-players')).toBe('–');
    expect(await p.page.isVisible('#retry-now')).toBe(true);
    // The status is warning-coloured, not the idle grey.
    const colour = await p.page.$eval('[data-testid="status"]', (e) => getComputedStyle(e).color);
    expect(colour).not.toBe(await p.page.$eval('.tagline', (e) => getComputedStyle(e).color));

    // Attempt 5 waits about 8 s (6–10 s); its countdown moves.
    await p.page.waitForFunction(() => /attempt 5 of 10/.test(document.querySelector('[data-testid="status"]')?.textContent ?? ''), undefined, { timeout: 20_000 });
    const first = (await p.page.textContent('[data-testid="status"]')) ?? '';
    await p.page.waitForFunction((t) => document.querySelector('[data-testid="status"]')?.textContent !== t, first, { timeout: 3000 });
    const seconds = (t: string): number => Number(/reconnecting in (\d+\.\d) s/.exec(t)?.[1] ?? NaN);
    const second = (await p.page.textContent('[data-testid="status"]')) ?? '';
    expect(seconds(second)).toBeLessThan(seconds(first));

    // Retry now: a new attempt at once (the server is still down, so it fails and the wait starts again).
    const attemptsBefore = s.connections.length;
    await p.page.getByRole('button', { name: 'Retry now' }).click();
    await p.page.waitForFunction(() => /attempt 6 of 10/.test(document.querySelector('[data-testid="status"]')?.textContent ?? ''), undefined, { timeout: 3000 });
    expect(s.connections.length).toBe(attemptsBefore); // refused at the upgrade: no WebSocket was made

    // The server is back: the page does not wait out its ~8 s step.
    s.down = false;
    await waitState(p.page, 'live', 4000);
    expect(await p.page.isVisible('#retry-now')).toBe(false);
  }, 60_000);

  it('puts a failing destination in the status line in words ("retrying in 8 s"), never "backoff"', async () => {
    const { s, p } = await h.start('?stream=yt&source=canvas&audio=none');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    const failing: OutputStatus = { ...running, state: 'backoff', restarts: 3, lastError: 'rtmp://a.rtmp.youtube.com/live2/ab…34: Connection refused', retryInMs: 7600 };
    s.connections[0]!.send(stats([failing]));
    await p.page.waitForFunction(() => /YouTube/.test(document.querySelector('[data-testid="status"]')?.textContent ?? ''));
    const status = (await p.page.textContent('[data-testid="status"]')) ?? '';
    expect(status).toMatch(/^Live as "yt" on rtsp:\/\/.*; YouTube: cannot connect, retrying in 8 s\.$/);
    expect(await p.page.getAttribute('[data-testid="status"]', 'data-state')).toBe('live');
    expect(await p.page.textContent('body')).not.toContain('backoff');
    // Back to running: the status line is the plain live sentence again.
    s.connections[0]!.send(stats([running]));
    await p.page.waitForFunction(() => !/YouTube/.test(document.querySelector('[data-testid="status"]')?.textContent ?? ''));
  });

  it('an invalid name disables Go live, says why in the status line, and shows no URL that cannot work', async () => {
    const { p } = await h.start('?stream=bad%20name&source=canvas&audio=none');
    expect(await p.page.isDisabled('#go-live')).toBe(true);
    expect(await p.page.textContent('[data-testid="status"]')).toContain('is not a valid stream name');
    expect(await p.page.textContent('#rtsp-url')).toBe('–');
    expect(await p.page.isDisabled('#copy')).toBe(true);
    await p.page.fill('#stream-name', 'good-name');
    expect(await p.page.isDisabled('#go-live')).toBe(false);
    expect(await p.page.textContent('[data-testid="status"]')).toContain('Ready');
    expect(await p.page.textContent('#rtsp-url')).toMatch(/^rtsp:\/\/.*\/good-name$/);
  });

  it('copies the bare RTSP URL (what VLC, OpenCV and NVRs take) to the clipboard', async () => {
    const { s, p } = await h.start('?stream=copyme&source=canvas&audio=none');
    await p.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: `http://127.0.0.1:${s.port}` });
    const url = (await p.page.textContent('#rtsp-url')) ?? '';
    expect(url).toMatch(/^rtsp:\/\/[^ ]+\/copyme$/);
    await p.page.getByRole('button', { name: 'Copy the RTSP URL' }).click();
    await p.page.waitForFunction(async (want) => (await navigator.clipboard.readText()) === want, url, { timeout: 5000 });
    // The ffplay command's own Copy puts the whole command there instead.
    await p.page.getByRole('button', { name: 'Copy the ffplay command' }).click();
    await p.page.waitForFunction(async () => (await navigator.clipboard.readText()).startsWith('ffplay '), undefined, { timeout: 5000 });
  });

  it('opened by a host name that is not loopback (another machine, plain http): says why, keeps the query, disables what cannot work', async () => {
    // Chromium resolves the name to this machine, but a non-loopback name over http is not a secure context.
    const browser = await launchChromium(['--host-resolver-rules=MAP insecure.relaycast.test 127.0.0.1']);
    const server = new FakePublishServer({ webRoot: await buildPage() });
    const port = await server.start();
    try {
      const page = await (await browser.newContext()).newPage();
      await page.goto(`http://insecure.relaycast.test:${port}/?stream=cam2&source=canvas`);
      await waitReady(page);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      const text = await waitState(page, 'error');
      expect(text).toContain('not a secure context');
      expect(text).toContain(`http://localhost:${port}/?stream=cam2&source=canvas`);
      expect(await page.inputValue('#stream-name')).toBe('cam2');
      for (const sel of ['#go-live', '#stream-name', '#source', '#copy']) expect(await page.isDisabled(sel), sel).toBe(true);
      expect(await page.textContent('#preview-empty')).toContain('not a secure context');
    } finally {
      await browser.close();
      await server.close();
    }
  });

  it('on a 390 px screen the status and Go live come first and no control is cut off', async () => {
    const { p } = await h.start('?stream=a-rather-long-stream-name-for-a-phone-screen-123&source=canvas&audio=none');
    await p.page.setViewportSize({ width: 390, height: 844 });
    const box = async (sel: string) => (await p.page.locator(sel).first().boundingBox())!;
    const status = await box('[data-testid="status"]');
    const goLive = await box('#go-live');
    const preview = await box('.screen');
    expect(status.y).toBeLessThan(preview.y);
    expect(goLive.y).toBeLessThan(preview.y);
    // Every visible control and URL lies within the 390 px width.
    const overflow = await p.page.$$eval('button, select, input, code, a', (els) =>
      els.filter((e) => (e as HTMLElement).offsetParent !== null).map((e) => ({ id: e.id || e.tagName, right: e.getBoundingClientRect().right })).filter((r) => r.right > 390.5),
    );
    expect(overflow).toEqual([]);
    expect(await p.page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
  });
});
