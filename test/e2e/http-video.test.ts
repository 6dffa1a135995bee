// A browser's plain <video src="http://HOST:8090/NAME.mp4"> (no MSE, no script feeding it) plays the live stream:
// headless Chromium decodes frames of H.264 + Opus (browser source) and H.264 + AAC (ffmpeg over RTSP).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../support/browser.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../support/ws-publisher.ts';

let t: TestRelay;
let browser: Browser;
let ws: WsPublisher;
let rtsp: Publisher;

beforeAll(async () => {
  t = await startTestRelay();
  rtsp = publish({ url: t.url('rtsp-aac'), audio: 'aac', gop: 30 });
  ws = new WsPublisher({ port: t.relay.http.port(), stream: 'browser', media: await loadPublisherMedia({ gop: 30 }) });
  await ws.connectOrThrow();
  ws.start();
  [browser] = await Promise.all([launchChromium(), waitLive(t.relay, 'browser'), waitLive(t.relay, 'rtsp-aac', 15_000)]);
}, 40_000);

afterAll(async () => {
  await browser?.close();
  await ws?.dispose();
  if (rtsp) await stopProcess(rtsp);
  await t?.close();
});

interface Played {
  frames: number;
  width: number;
  height: number;
  audioBytes: number;
  error: string | null;
}

async function play(name: string): Promise<Played> {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const src = `http://127.0.0.1:${t.relay.http.port()}/${name}.mp4`;
    await page.setContent(`<video id="v" muted autoplay playsinline src="${src}"></video>`);
    return await page.evaluate(
      () =>
        new Promise<Played>((resolve) => {
          const v = document.getElementById('v') as HTMLVideoElement & { webkitAudioDecodedByteCount?: number };
          let frames = 0;
          const done = () =>
            resolve({ frames, width: v.videoWidth, height: v.videoHeight, audioBytes: v.webkitAudioDecodedByteCount ?? -1, error: v.error ? `${v.error.code} ${v.error.message}` : null });
          v.addEventListener('error', done);
          const onFrame = () => {
            if (++frames >= 30) done();
            else v.requestVideoFrameCallback(onFrame);
          };
          v.requestVideoFrameCallback(onFrame);
          setTimeout(done, 15_000);
        }),
    );
  } finally {
    await context.close();
  }
}

describe('<video src="/NAME.mp4">', () => {
  it('Chromium plays a browser stream (H.264 + Opus) and an RTSP one (H.264 + AAC): 30 frames each, audio decoded, no media error', async () => {
    const names = ['browser', 'rtsp-aac'];
    const results = await Promise.all(names.map((n) => play(n)));
    for (const [i, played] of results.entries()) {
      expect(played.error, names[i]).toBeNull();
      expect(played.frames, names[i]).toBe(30);
      expect([played.width, played.height], names[i]).toEqual([640, 360]);
      expect(played.audioBytes, names[i]).toBeGreaterThan(0);
    }
  });
});
