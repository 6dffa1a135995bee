// The publisher page against a scripted stand-in for the server: what goes over the WebSocket, byte by byte.
// Go live → hello (avc1.* video, Opus audio) → accepted → init segment → one moof+mdat per video frame → Stop (1000).
import { describe, expect, it } from 'vitest';
import { stateLog, waitState } from '../support/browser.ts';
import { parseUpload, usePageHarness, type UploadedFragment } from '../support/page-harness.ts';

const h = usePageHarness();

function checkTimeline(list: UploadedFragment[]): void {
  // Decode times strictly increase and never overlap the previous fragment (what the server checks).
  for (let i = 1; i < list.length; i++) expect(list[i]!.time).toBeGreaterThanOrEqual(list[i - 1]!.time + list[i - 1]!.duration);
}

describe('publisher page: publishing', () => {
  it('sends hello, an init segment and one fragment per video frame, and closes with 1000 on Stop', async () => {
    const { s, p } = await h.start('?stream=cam1&source=canvas&audio=mic&preset=480p&fps=30', { stats: true });
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

    const { init, fragments } = parseUpload(c);
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
    checkTimeline(v);
    checkTimeline(a);
    // Audio and video start together (rebased at Go live on one timeline): within 200 ms of each other.
    expect(Math.abs(v[0]!.time / 90000 - a[0]!.time / 48000)).toBeLessThan(0.2);
    // About 30 fps of video: the time spanned by the fragments matches their count.
    const span = (v[v.length - 1]!.time - v[0]!.time) / 90000;
    expect(v.length / span).toBeGreaterThan(20);
    expect(v.length / span).toBeLessThan(36);

    // Stats reach the page; the page sends its own.
    await p.page.waitForFunction(() => document.getElementById('stat-players')?.textContent === '2');
    expect(await p.page.textContent('#outputs')).toContain('running');
    expect(await p.page.textContent('#stat-sent')).toMatch(/kbit\/s/);
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

  it('publishes the camera and microphone at the camera size, with keyframes at the chosen interval and on request', async () => {
    const { s, p } = await h.start('?stream=cam2&source=camera&audio=mic&preset=720p&fps=30&keyframe=1');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 100, '100 binary messages');
    const c = s.connections[0]!;
    // Chromium's fake camera honours the preset's ideal size; the init segment's SPS agrees with hello.
    expect(c.hello?.video).toMatchObject({ width: 1280, height: 720, framerate: 30 });
    let up = parseUpload(c);
    const track = up.init.tracks.find((t) => t.kind === 'video')!;
    expect([track.width, track.height]).toEqual([1280, 720]);
    let v = up.fragments.filter((f) => f.track === 'video');
    checkTimeline(v);
    checkTimeline(up.fragments.filter((f) => f.track === 'audio'));
    const keys = v.filter((f) => f.keyframe).map((f) => f.time / 90000);
    expect(keys.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < keys.length; i++) expect(keys[i]! - keys[i - 1]!).toBeGreaterThan(0.9); // keyframe=1 (s)

    // keyframe-request (an egress restarted): the next keyframe comes within a few frames, long before the interval.
    const before = c.binaries.length;
    c.send({ type: 'keyframe-request', reason: 'test' });
    await s.waitFor(() => c.binaries.length > before + 8, 'eight more fragments');
    up = parseUpload(c);
    v = up.fragments.slice(before - 1).filter((f) => f.track === 'video');
    expect(v.slice(0, 5).some((f) => f.keyframe)).toBe(true);
    await p.page.getByRole('button', { name: 'Stop' }).click();
    expect((await c.closed).code).toBe(1000);
    await waitState(p.page, 'idle');
    expect(p.errors).toEqual([]);
  });

  it('stops with a sentence that says what to do when the microphone is unplugged while live', async () => {
    const { s, p } = await h.start('?stream=cam3&source=canvas&audio=mic&preset=480p&fps=30');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 10, '10 binary messages');
    // What the browser fires on the track when the device goes away (Media Capture and Streams: "ended").
    await p.page.evaluate(() => ((document.querySelector('#preview') as HTMLVideoElement).srcObject as MediaStream).getAudioTracks()[0]!.dispatchEvent(new Event('ended')));
    expect(await waitState(p.page, 'idle')).toMatch(/microphone was disconnected, so the broadcast stopped\. Choose "No microphone" or another microphone, then press Go live/);
    expect((await s.connections[0]!.closed).code).toBe(1000);
    await p.page.waitForSelector('#go-live:not([disabled])');
    expect(p.errors).toEqual([]);
  });

  it('without MediaStreamTrackProcessor, paints <video> frames and survives frames the element cannot give yet', async () => {
    const { s, p } = await h.start('?stream=cam4&source=canvas&audio=none&preset=480p&fps=30', {}, async (o) => {
      await o.page.addInitScript(() => {
        delete (window as { MediaStreamTrackProcessor?: unknown }).MediaStreamTrackProcessor;
        // new VideoFrame(video) throws InvalidStateError until the element has a frame; make the first few do so.
        const Real = VideoFrame;
        let refusals = 5;
        window.VideoFrame = class extends Real {
          constructor(src: CanvasImageSource | AllowSharedBufferSource, init?: VideoFrameInit | VideoFrameBufferInit) {
            if (src instanceof HTMLVideoElement && refusals-- > 0) throw new DOMException('no frame yet', 'InvalidStateError');
            super(src as CanvasImageSource, init as VideoFrameInit);
          }
        } as typeof VideoFrame;
      });
    });
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    await s.waitFor(() => (s.connections[0]?.binaries.length ?? 0) > 30, '30 video fragments');
    expect(parseUpload(s.connections[0]!).fragments.filter((f) => f.track === 'video')[0]?.keyframe).toBe(true);
    expect(p.errors).toEqual([]);
  });

  it('says so when the tab goes to the background while a canvas source is live (its timer slows to ~1 Hz)', async () => {
    const { p } = await h.start('?stream=cam5&source=clock&audio=none&preset=480p&fps=30');
    await p.page.getByRole('button', { name: /Go live/ }).click();
    await waitState(p.page, 'live');
    expect(await p.page.isHidden('#notice')).toBe(true);
    await p.page.evaluate(() => {
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
      document.dispatchEvent(new Event('visibilitychange'));
    });
    expect(await p.page.textContent('#notice')).toMatch(/tab is in the background, so the browser slows the clock to about one frame a second\. Keep the tab visible/);
    await p.page.getByRole('button', { name: 'Stop' }).click();
    await waitState(p.page, 'idle');
    expect(p.errors).toEqual([]);
  });
});
