// Shared setup for page tests: one Chromium per test file, one fake server and one browser context per test, torn
// down after each; and a reader that checks what a connection uploaded with the server's own fMP4 reader.
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { parseInitSegment, parseMediaSegment, type InitInfo } from '../../shared/fmp4/reader.ts';
import { launchChromium, openPage, recordStates, waitReady, type OpenedPage } from './browser.ts';
import { FakePublishServer, buildPage, type Connection, type FakeServerOptions } from './page-server.ts';

export interface Harness {
  /** Starts a fake server, opens `/${query}` and waits until the page is ready, recording its states. */
  start(query: string, o?: Partial<FakeServerOptions>, init?: (p: OpenedPage) => Promise<void>): Promise<{ s: FakePublishServer; p: OpenedPage }>;
  browser(): Browser;
}

export function usePageHarness(): Harness {
  let browser: Browser | undefined;
  let webRoot = '';
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
  return {
    browser: () => browser!,
    async start(query, o = {}, init) {
      server = new FakePublishServer({ webRoot, ...o });
      const port = await server.start();
      opened = await openPage(browser!, port, `/${query}`, init);
      await waitReady(opened.page);
      await recordStates(opened.page);
      return { s: server, p: opened };
    },
  };
}

export interface UploadedFragment {
  track: 'video' | 'audio';
  samples: number;
  keyframe: boolean;
  /** tfdt, in the track timescale. */
  time: number;
  duration: number;
  bytes: Uint8Array;
  /** Each sample's bytes (for video: length-prefixed NAL units). */
  sampleData: Uint8Array[];
}

/** The connection's first binary message must be an init segment and every later one a single-track media segment. */
export function parseUpload(c: Connection): { init: InitInfo; initBytes: Uint8Array; fragments: UploadedFragment[] } {
  const [first, ...rest] = c.binaries;
  if (!first) throw new Error('no init segment');
  const init = parseInitSegment(first);
  if (!init.ok) throw new Error(`init segment refused: ${init.error.message}`);
  const fragments = rest.map((b, i): UploadedFragment => {
    const m = parseMediaSegment(b, init.value);
    if (!m.ok) throw new Error(`fragment ${i} refused: ${m.error.message}`);
    expect(m.value.tracks).toHaveLength(1);
    const t = m.value.tracks[0]!;
    const kind = init.value.tracks.find((x) => x.id === t.trackId)!.kind;
    return { track: kind, samples: t.samples, keyframe: t.keyframe, time: Number(t.baseDecodeTime), duration: t.duration, bytes: b, sampleData: t.sampleList.map((x) => b.subarray(x.offset, x.offset + x.size)) };
  });
  return { init: init.value, initBytes: first, fragments };
}
