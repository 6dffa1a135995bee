// Playback of a recorded span (GET /recordings/NAME.mp4?start=…&duration=…) in real players: headless Chromium's
// <video> (opened on the relay's own origin, as a page of the relay would) plays it to its end with a picture and the
// requested duration, and mpv plays 100 frames of it with both tracks. The stream is a browser-style publisher
// (H.264 + Opus, a keyframe a second) recorded in 4 s segments, and the span crosses from the first into the second.
import { execa } from 'execa';
import { basename } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { segmentStart } from '../../../server/record/paths.ts';
import { launchChromium } from '../../support/browser.ts';
import { freshRecordDir, removeRecordDirs, segmentFilesOf } from '../../support/recordings.ts';
import { startTestRelay, startWsPublisher, type TestRelay } from '../../support/relay.ts';
import type { WsPublisher } from '../../support/ws-publisher.ts';

const GOP_S = 1;
const SPAN_S = 4;

let relay: TestRelay;
let browser: Browser | undefined;
const publishers: WsPublisher[] = [];
/** Path and query of the span: 2 s into the first segment, SPAN_S long. */
let spanPath: string;

beforeAll(async () => {
  const mpv = await execa('sh', ['-c', 'command -v mpv'], { reject: false });
  if (mpv.exitCode !== 0) throw new Error('mpv not found; install it: apt-get install -y mpv');
  const dir = freshRecordDir();
  relay = await startTestRelay(['--record', dir, '--record-segment', '4']);
  [browser] = await Promise.all([launchChromium(), startWsPublisher(relay, 'web', publishers)]);
  await new Promise((r) => setTimeout(r, 9000));
  await publishers[0]!.stop();
  const until = Date.now() + 10_000;
  while (relay.relay.registry.get('web') && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  const files = segmentFilesOf(dir, 'web');
  expect(files.length).toBeGreaterThanOrEqual(2);
  const start = new Date(segmentStart(basename(files[0]!))! + 2000).toISOString();
  spanPath = `/recordings/web.mp4?start=${start}&duration=${SPAN_S}`;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(publishers.map((p) => p.dispose()));
  await relay?.close();
  removeRecordDirs();
});

interface Played {
  /** currentTime every half second while it plays. */
  times: number[];
  currentTime: number;
  duration: number;
  width: number;
  height: number;
  ended: boolean;
  error: string | null;
}

describe('a recorded span in real players', () => {
  it('Chromium\'s <video> plays it to the end: the picture is 640x360, time advances, the duration is the requested one within a GOP', async () => {
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      // Same origin as the relay, as its own pages are: open a small JSON document of it, then replace the document.
      await page.goto(`http://127.0.0.1:${relay.relay.http.port()}/api/config`);
      await page.setContent(`<video id="v" muted autoplay playsinline src="${spanPath}"></video>`);
      const played = await page.evaluate(
        (limitMs) =>
          new Promise<Played>((resolve) => {
            const v = document.getElementById('v') as HTMLVideoElement;
            const times: number[] = [];
            const tick = setInterval(() => times.push(v.currentTime), 500);
            const done = () => {
              clearInterval(tick);
              resolve({ times, currentTime: v.currentTime, duration: v.duration, width: v.videoWidth, height: v.videoHeight, ended: v.ended, error: v.error ? `${v.error.code} ${v.error.message}` : null });
            };
            v.addEventListener('ended', done);
            v.addEventListener('error', done);
            setTimeout(done, limitMs);
          }),
        (SPAN_S + GOP_S + 10) * 1000,
      );
      expect(played.error).toBeNull();
      expect(played.ended).toBe(true);
      expect([played.width, played.height]).toEqual([640, 360]);
      // Time advanced as it played (in real time: about half a second a tick).
      expect(played.times.length).toBeGreaterThanOrEqual(SPAN_S * 2 - 2);
      expect(played.times.every((t, i) => i === 0 || t >= played.times[i - 1]!)).toBe(true);
      expect(played.times.at(-1)! - played.times[0]!).toBeGreaterThan(SPAN_S - 1.5);
      expect(Math.abs(played.duration - SPAN_S)).toBeLessThanOrEqual(GOP_S);
      expect(played.currentTime).toBeCloseTo(played.duration, 1);
    } finally {
      await context.close();
    }
  });

  it('mpv (--vo=null --ao=null --frames=100) plays 100 frames of it, with H.264 and Opus', async () => {
    const r = await execa('mpv', ['--no-config', '--vo=null', '--ao=null', '--frames=100', '--term-status-msg=frame=${estimated-frame-number}', `http://127.0.0.1:${relay.relay.http.port()}${spanPath}`], {
      reject: false,
      timeout: 30_000,
      all: true,
    });
    const out = String(r.all);
    expect(r.exitCode, out.slice(-500)).toBe(0);
    expect(out).toMatch(/Video --vid=1 .*h264 640x360/);
    expect(out).toMatch(/Audio --aid=1 .*opus/);
    expect(out).not.toMatch(/error|corrupt|invalid/i);
    // The status line counts frames from the span's start (0): the last one shown is about the 100th.
    const shown = [...out.matchAll(/frame=(\d+)/g)].map((m) => Number(m[1]));
    expect(shown.at(-1)!).toBeGreaterThanOrEqual(90);
  });
});
