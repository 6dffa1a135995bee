// The publisher page against a scripted stand-in for the server: what goes over the WebSocket, byte by byte.
// Go live → hello (avc1.* video, Opus audio) → accepted → init segment → one moof+mdat per video frame → Stop (1000).
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment, type InitInfo } from '../../shared/fmp4/reader.ts';
import { launchChromium, openPage, recordStates, stateLog, waitReady, waitState, type OpenedPage } from '../support/browser.ts';
import { FakePublishServer, buildPage, type Connection } from '../support/page-server.ts';

let browser: Browser;
let webRoot: string;
let server: FakePublishServer | undefined;
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
  await server?.close();
  server = undefined;
});

async function start(query: string, o: Partial<ConstructorParameters<typeof FakePublishServer>[0]> = {}): Promise<{ s: FakePublishServer; p: OpenedPage }> {
  server = new FakePublishServer({ webRoot, ...o });
  const port = await server.start();
  opened = await openPage(browser, port, `/${query}`);
  await waitReady(opened.page);
  await recordStates(opened.page);
  return { s: server, p: opened };
}

function mediaOf(c: Connection): { init: InitInfo; fragments: Array<{ track: 'video' | 'audio'; samples: number; keyframe: boolean; time: number; duration: number }> } {
  const [first, ...rest] = c.binaries;
  if (!first) throw new Error('no init segment');
  const init = parseInitSegment(first);
  if (!init.ok) throw new Error(`init segment refused: ${init.error.message}`);
  const fragments = rest.map((b, i) => {
    const m = parseMediaSegment(b, init.value);
    if (!m.ok) throw new Error(`fragment ${i} refused: ${m.error.message}`);
    expect(m.value.tracks).toHaveLength(1);
    const t = m.value.tracks[0]!;
    const kind = init.value.tracks.find((x) => x.id === t.trackId)!.kind;
    return { track: kind, samples: t.samples, keyframe: t.keyframe, time: Number(t.baseDecodeTime), duration: t.duration };
  });
  return { init: init.value, fragments };
}

describe('publisher page: publishing', () => {
  it('sends hello, an init segment and one fragment per video frame, and closes with 1000 on Stop', async () => {
    const { s, p } = await start('?stream=cam1&source=canvas&audio=mic&preset=480p&fps=30', { stats: true });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 60, '60 binary messages');

    const c = s.connections[0]!;
    const hello = c.hello!;
    expect(hello).toMatchObject({ type: 'hello', version: 1, stream: 'cam1' });
    expect(hello.resume).toBeUndefined();
    expect(hello.video?.codec).toMatch(/^avc1\.[0-9a-f]{6}$/i);
    expect(hello.video).toMatchObject({ width: 854, height: 480, framerate: 30 });
    expect(hello.audio).toMatchObject({ codec: 'opus', sampleRate: 48000 });
    expect([1, 2]).toContain(hello.audio?.channels);
    expect(c.order[0]).toBe('text'); // hello before any media

    const { init, fragments } = mediaOf(c);
    expect(init.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video']);
    const video = init.tracks.find((t) => t.kind === 'video')!;
    expect(video.codec.toLowerCase()).toBe(hello.video!.codec.toLowerCase());
    expect([video.width, video.height]).toEqual([854, 480]);
    expect(init.tracks.find((t) => t.kind === 'audio')!.codec).toBe('opus');

    const v = fragments.filter((f) => f.track === 'video');
    const a = fragments.filter((f) => f.track === 'audio');
    expect(v.length).toBeGreaterThan(20);
    expect(a.length).toBeGreaterThan(10);
    // ONE video sample per fragment; the first one a keyframe; audio in small fragments (≤ 60 ms).
    expect(v.every((f) => f.samples === 1)).toBe(true);
    expect(v[0]!.keyframe).toBe(true);
    expect(a.every((f) => f.duration <= 0.06 * 48000)).toBe(true);
    // Decode times strictly increase and never overlap the previous fragment (what the server checks).
    for (const list of [v, a]) {
      for (let i = 1; i < list.length; i++) expect(list[i]!.time).toBeGreaterThanOrEqual(list[i - 1]!.time + list[i - 1]!.duration);
    }
    // Audio and video start together (same capture clock, rebased at Go live): within 200 ms of each other.
    expect(Math.abs(v[0]!.time / 90000 - a[0]!.time / 48000)).toBeLessThan(0.2);
    // About 30 fps of video: the time spanned by the fragments matches their count.
    const span = (v[v.length - 1]!.time - v[0]!.time) / 90000;
    expect(v.length / span).toBeGreaterThan(20);
    expect(v.length / span).toBeLessThan(36);

    // Stats reach the page; the page sends its own.
    await p.page.waitForFunction(() => document.getElementById('stat-players')?.textContent === '2');
    expect(await p.page.textContent('#outputs')).toContain('running');
    await s.waitFor(() => c.texts.some((t) => t.type === 'stats'), 'a stats message from the page');
    expect(await p.page.textContent('#rtsp-url')).toBe('rtsp://127.0.0.1:8554/cam1');
    expect(await p.page.textContent('#ffplay-cmd')).toBe('ffplay -rtsp_transport tcp rtsp://127.0.0.1:8554/cam1');

    await p.page.getByRole('button', { name: 'Stop' }).click();
    const closed = await c.closed;
    expect(closed.code).toBe(1000);
    await waitState(p.page, 'idle');
    expect(await stateLog(p.page)).toEqual(['idle', 'connecting', 'live', 'idle']);
    expect(p.errors).toEqual([]);
  });
});
