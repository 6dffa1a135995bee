// The in-process relay feed against real players: GStreamer (rtspsrc in uridecodebin) decodes a browser publisher's H.264 + Opus, and
// ffmpeg decodes H.264 + AAC (what Safari's WebCodecs sends) packetized as RFC 3640 mpeg4-generic.
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import { RelayFeed } from '../../../server/servers/ws-publish/relay-feed.ts';
import { silentLogger } from '../../../server/log.ts';
import { ffmpegPath, ffprobe, makeBrowserLikeFmp4 } from '../../support/ffmpeg.ts';
import { PacedFeed, splitFmp4 } from '../../support/egress-feed.ts';
import { startTestRelay, stopProcess, waitLive, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';
import { gstLaunchProblems, requireGstElement, until } from '../rtsp/helpers.ts';

let relay: TestRelay;
let dir: string;
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  relay = await startTestRelay();
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relaycast-feed-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await relay?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

describe('relay feed → real players', () => {
  it('H.264 + AAC: ffprobe sees aac at 48 kHz, and ffmpeg decodes video and audio without an error', async () => {
    const file = splitFmp4(new Uint8Array(readFileSync(await makeBrowserLikeFmp4({ seconds: 12, gop: 30, audioCodec: 'aac' }))));
    const init = parseInitSegment(file.init);
    if (!init.ok) throw new Error(init.error.message);
    expect(init.value.tracks.map((t) => t.codec)).toEqual([expect.stringMatching(/^avc1\./), 'mp4a.40.2']);
    const feed = new RelayFeed({ name: 'aaccam', info: init.value, registry: relay.relay.registry, remote: '127.0.0.1:1', logger: silentLogger });
    expect(feed.attach('test').ok).toBe(true);
    cleanups.push(() => feed.detach());
    // In real time, as a page would send them.
    const paced = new PacedFeed(file);
    paced.add((f) => {
      const parsed = parseMediaSegment(f.bytes, init.value);
      if (!parsed.ok) throw new Error(parsed.error.message);
      feed.write(f.bytes, parsed.value);
    });
    void paced.run();
    cleanups.push(() => paced.stop());

    const probe = await ffprobe(relay.url('aaccam'), { args: ['-rtsp_transport', 'tcp'] });
    expect(probe.streams.find((s) => s.codec_type === 'video')).toMatchObject({ codec_name: 'h264', width: 640, height: 360 });
    expect(probe.streams.find((s) => s.codec_type === 'audio')).toMatchObject({ codec_name: 'aac', sample_rate: '48000', channels: 2 });
    // Two seconds of both tracks, decoded: -xerror turns any decode error into a failure.
    const out = path.join(dir, 'aac.wav');
    const r = await execa(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', '-xerror', '-rtsp_transport', 'tcp', '-i', relay.url('aaccam'), '-t', '2', '-map', '0:v', '-f', 'null', '-', '-t', '2', '-map', '0:a', '-y', out], { reject: false, timeout: 20_000 });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stderr)).toBe('');
    // 2 s of 48 kHz stereo s16 is 384000 bytes of samples (give or take the first AU and the header).
    expect((await fs.stat(out)).size).toBeGreaterThan(300_000);
  });

  it('GStreamer rtspsrc decodes a browser publisher (H.264 + Opus over WebSocket) over TCP and UDP', async () => {
    await requireGstElement('rtspsrc', 'gstreamer1.0-plugins-good');
    const media = await loadPublisherMedia();
    const pub = new WsPublisher({ port: relay.relay.http.port(), stream: 'gstcam', media });
    cleanups.push(() => pub.dispose());
    await pub.connectOrThrow();
    pub.start();
    await waitLive(relay.relay, 'gstcam');
    const frameBytes = (media.width * media.height * 3) / 2;
    for (const protocol of ['tcp', 'udp']) {
      const video = path.join(dir, `v-${protocol}.yuv`);
      const audio = path.join(dir, `a-${protocol}.pcm`);
      const size = (f: string) => fs.stat(f).then((s) => s.size, () => 0);
      const gst = execa(
        'gst-launch-1.0',
        [
          // uridecodebin (rtspsrc inside) with a caps filter per branch: see gstreamer.test.ts.
          '-e', 'uridecodebin', `uri=${relay.url('gstcam').replace(/^rtsp:/, protocol === 'tcp' ? 'rtspt:' : 'rtspu:')}`, 'name=d',
          'd.', '!', 'video/x-raw,format=I420', '!', 'queue', '!', 'filesink', `location=${video}`,
          'd.', '!', 'audio/x-raw', '!', 'queue', '!', 'filesink', `location=${audio}`,
        ],
        { reject: false, timeout: 30_000 },
      );
      let waited: unknown;
      try {
        await until(async () => (await size(video)) >= 30 * frameBytes && (await size(audio)) >= 48_000 * 4, `${protocol}: 30 frames and a second of audio`, 15_000, 100);
      } catch (e) {
        waited = e;
      } finally {
        await stopProcess(gst);
      }
      const r = await gst;
      // What GStreamer said is the useful part of a timeout.
      if (waited) throw new Error(`${String(waited)} (video ${await size(video)} B, audio ${await size(audio)} B)\n${String(r.stdout)}\n${String(r.stderr)}`);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(gstLaunchProblems(String(r.stdout) + String(r.stderr))).not.toMatch(/ERROR|WARNING/);
      expect((await size(video)) % frameBytes).toBe(0);
    }
  });
});
