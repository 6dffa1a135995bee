// FfmpegOutput against real processes: a browser-like fMP4 (H.264 + Opus, one moof+mdat per frame)
// played in real time into ffmpeg, published to nginx-rtmp on loopback, checked with ffprobe.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../server/log.ts';
import { FfmpegOutput, type FfmpegOutputOptions } from '../../../server/egress/ffmpeg-output.ts';
import { ffmpegPath, ffprobe, isProcessAlive, makeBrowserLikeFmp4, processCommandLine, waitFor } from '../../support/ffmpeg.ts';
import { PacedFeed, splitFmp4, type SplitFmp4 } from '../../support/egress-feed.ts';
import { freePort, startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';

let nginx: NginxRtmp;
let input: SplitFmp4;
let feed: PacedFeed | undefined;
let running: Promise<void> | undefined;
const outputs: FfmpegOutput[] = [];
const logs: string[] = [];

function output(o: Partial<FfmpegOutputOptions> & Pick<FfmpegOutputOptions, 'url'>, f: PacedFeed): FfmpegOutput {
  const out = new FfmpegOutput({
    name: 'cam1',
    kind: 'rtmp',
    hasAudio: true,
    ffmpegPath: ffmpegPath(),
    logger: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    prelude: f.prelude,
    ...o,
  });
  outputs.push(out);
  f.add((frag) => out.write(frag.bytes, frag.keyframe));
  return out;
}

function play(): PacedFeed {
  feed = new PacedFeed(input);
  running = feed.run();
  return feed;
}

beforeAll(async () => {
  input = splitFmp4(readFileSync(await makeBrowserLikeFmp4({ seconds: 20, gop: 60 })));
  nginx = await startNginxRtmp();
});

afterEach(async () => {
  feed?.stop();
  await running;
  const pids = outputs.map((o) => o.snapshot().pid).filter((p): p is number => p !== undefined);
  await Promise.all(outputs.splice(0).map((o) => o.close()));
  // close() resolves only when the process is gone.
  for (const pid of pids) expect(isProcessAlive(pid)).toBe(false);
});

afterAll(async () => {
  await nginx?.stop();
});

describe('FfmpegOutput → nginx-rtmp', () => {
  it('publishes H.264 (copied) + AAC (from Opus) that ffprobe reads back from the RTMP server', async () => {
    const f = play();
    const out = output({ url: nginx.url('cam1') }, f);
    // Start a moment in, like a destination added to a live stream: the prelude brings the GOP.
    await new Promise((r) => setTimeout(r, 700));
    out.start();
    expect(await waitFor(() => out.state === 'running', 5_000)).toBe(true);

    const probe = await ffprobe(nginx.url('cam1'), { args: ['-rw_timeout', '10000000'] });
    const video = probe.streams.find((s) => s.codec_type === 'video');
    const audio = probe.streams.find((s) => s.codec_type === 'audio');
    expect(video).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(audio).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });

    const snap = out.snapshot();
    // The key here is the stream's own name (cam1), which is no secret and stays readable.
    expect(snap).toMatchObject({ state: 'running', restarts: 0, droppedFragments: 0, url: nginx.url('cam1') });
    expect(snap.frames).toBeGreaterThan(0);
    expect(snap.bytesWritten).toBeGreaterThan(100_000);
    expect(snap.lastError).toBeUndefined();

    await out.close();
    expect(out.state).toBe('stopped');
    expect(snap.pid !== undefined && isProcessAlive(snap.pid)).toBe(false);
  });

  it('an unreachable destination backs off and counts restarts while a good one keeps running', async () => {
    const closedPort = await freePort(); // nothing listens there
    const f = play();
    const good = output({ url: nginx.url('good') }, f);
    const bad = output(
      { url: `rtmp://127.0.0.1:${closedPort}/live/bad-destination-key`, backoff: { initialMs: 200, maxMs: 800 } },
      f,
    );
    good.start();
    bad.start();
    expect(await waitFor(() => bad.snapshot().restarts >= 3, 10_000)).toBe(true);
    expect(['backoff', 'starting']).toContain(bad.state);
    const badSnap = bad.snapshot();
    expect(badSnap.lastError).toMatch(/Connection refused/);
    expect(badSnap.url).toBe(`rtmp://127.0.0.1:${closedPort}/live/ba…ey`);
    expect(badSnap.lastError).not.toContain('bad-destination-key');

    expect(good.state).toBe('running');
    const framesBefore = good.snapshot().frames;
    expect(await waitFor(() => good.snapshot().frames > framesBefore + 30, 5_000)).toBe(true);
    expect(good.snapshot()).toMatchObject({ state: 'running', restarts: 0, droppedFragments: 0 });
    expect(good.snapshot().frames).toBeGreaterThan(framesBefore + 30);

    // Nothing logged the stream key, even though ffmpeg prints the URL in its errors.
    expect(logs.join('\n')).not.toContain('bad-destination-key');
    expect(logs.some((l) => l.includes('egress.exit') && l.includes('Connection refused'))).toBe(true);
  });

  it('restarts from the cached GOP when the RTMP server goes away and comes back', async () => {
    let own = await startNginxRtmp();
    try {
      const f = play();
      const out = output({ url: own.url('cam1'), backoff: { initialMs: 200, maxMs: 400 } }, f);
      out.start();
      expect(await waitFor(() => out.state === 'running', 5_000)).toBe(true);
      const firstPid = out.snapshot().pid;
      await own.stop();
      expect(await waitFor(() => out.snapshot().restarts >= 2, 15_000)).toBe(true);
      expect(out.state).not.toBe('running');
      expect(out.snapshot().lastError).toBeDefined();
      expect(firstPid !== undefined && isProcessAlive(firstPid)).toBe(false);

      own = await startNginxRtmp({ port: own.port });
      expect(await waitFor(() => out.state === 'running', 5_000)).toBe(true);
      // The new ffmpeg started from the init segment + cached GOP: a reader gets decodable H.264 at once.
      const probe = await ffprobe(own.url('cam1'), { args: ['-rw_timeout', '10000000'] });
      expect(probe.streams.map((s) => s.codec_name).sort()).toEqual(['aac', 'h264']);
      expect(out.snapshot().droppedFragments).toBe(0);
    } finally {
      await own.stop();
    }
  });

  it('an AAC input (what Safari encodes) is copied, not encoded again: the same AAC reaches the RTMP server', async () => {
    const path = await makeBrowserLikeFmp4({ seconds: 8, gop: 30, audioCodec: 'aac' });
    const aac = splitFmp4(readFileSync(path));
    feed = new PacedFeed(aac);
    running = feed.run();
    const out = output({ url: nginx.url('safari'), audioIsAac: true }, feed);
    out.start();
    expect(await waitFor(() => out.state === 'running', 5_000)).toBe(true);
    expect(out.snapshot().pid && processCommandLine(out.snapshot().pid!)).toContain('-c:a copy');
    const probe = await ffprobe(nginx.url('safari'), { args: ['-rw_timeout', '10000000'] });
    const source = await ffprobe(path);
    const sent = source.streams.find((s) => s.codec_type === 'audio');
    const got = probe.streams.find((s) => s.codec_type === 'audio');
    expect(got).toMatchObject({ codec_name: 'aac', profile: sent?.profile, sample_rate: sent?.sample_rate, channels: sent?.channels });
  });

  it('a video-only input publishes video only', async () => {
    const videoOnly = splitFmp4(readFileSync(await makeBrowserLikeFmp4({ seconds: 8, gop: 30, audio: false })));
    feed = new PacedFeed(videoOnly);
    running = feed.run();
    const out = output({ url: nginx.url('videoonly'), hasAudio: false }, feed);
    out.start();
    expect(await waitFor(() => out.state === 'running', 5_000)).toBe(true);
    const probe = await ffprobe(nginx.url('videoonly'), { args: ['-rw_timeout', '10000000'] });
    expect(probe.streams.map((s) => s.codec_name)).toEqual(['h264']);
  });
});
