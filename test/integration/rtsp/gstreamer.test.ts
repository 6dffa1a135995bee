// GStreamer as a real peer: rtspsrc plays (TCP and UDP) and decodes; rtspclientsink publishes and ffmpeg decodes it.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { gstLaunchProblems, requireGstElement, until } from './helpers.ts';

// Decoded output goes to files: their sizes count frames exactly (gst-launch's -v "last-message" notifications
// coalesce and duplicate under load, so counting them is not exact).
const FRAME_BYTES = (640 * 360 * 3) / 2; // I420
const AUDIO_BYTES_PER_SECOND = 48000 * 2 * 2; // opusdec: S16LE, 48 kHz, stereo

async function size(file: string): Promise<number> {
  return fs.stat(file).then((st) => st.size, () => 0);
}

describe('GStreamer rtspsrc plays an ffmpeg publisher', () => {
  let t: TestRelay;
  let pub: Publisher;
  let dir: string;
  const name = 'gst-play';

  beforeAll(async () => {
    await requireGstElement('rtspsrc', 'gstreamer1.0-plugins-good');
    await requireGstElement('avdec_h264', 'gstreamer1.0-libav');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'relaycast-gst-'));
    t = await startTestRelay();
    pub = publish({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it.each(['tcp', 'udp'])('decodes 60 video frames over %s (audio pad left unlinked)', async (protocol) => {
    const out = path.join(dir, `video-${protocol}.yuv`);
    // identity eos-after=N turns the Nth buffer into EOS (GStreamer 1.22), so 61 lets exactly 60 frames through.
    const r = await execa(
      'gst-launch-1.0',
      ['rtspsrc', `location=${t.url(name)}`, `protocols=${protocol}`, 'latency=0', '!', 'rtph264depay', '!', 'h264parse', '!', 'avdec_h264', '!', 'identity', 'eos-after=61', '!', 'filesink', `location=${out}`],
      { reject: false, timeout: 20_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Got EOS from element');
    // The audio pad is left unlinked on purpose (a video-only player); see gstLaunchProblems.
    expect(gstLaunchProblems(r.stdout + r.stderr)).not.toMatch(/ERROR|WARNING/);
    // 60 decoded 640x360 pictures, byte for byte.
    expect(await size(out)).toBe(60 * FRAME_BYTES);
  });

  it.each(['tcp', 'udp'])('decodes video and Opus audio together over %s', async (protocol) => {
    const video = path.join(dir, `av-${protocol}.yuv`);
    const audio = path.join(dir, `av-${protocol}.pcm`);
    // -e: on SIGINT, send EOS through the pipeline and exit 0 once the files are complete. uridecodebin runs rtspsrc
    // (rtspt:// forces TCP, rtspu:// UDP) with the depayloaders and decoders, and exposes each decoded pad with its caps,
    // so the caps on each branch pick the right one. Linking rtspsrc's own pads with "src. ! …" cannot: its pads carry
    // no media caps yet when they appear, the first takes the first branch, and when that is the audio nothing flows.
    const gst = execa(
      'gst-launch-1.0',
      [
        '-e', 'uridecodebin', `uri=${t.url(name).replace(/^rtsp:/, protocol === 'tcp' ? 'rtspt:' : 'rtspu:')}`, 'name=d',
        'd.', '!', 'video/x-raw,format=I420', '!', 'queue', '!', 'filesink', `location=${video}`,
        'd.', '!', 'audio/x-raw', '!', 'queue', '!', 'filesink', `location=${audio}`,
      ],
      { reject: false, timeout: 30_000 },
    );
    try {
      await until(async () => (await size(video)) >= 30 * FRAME_BYTES && (await size(audio)) >= AUDIO_BYTES_PER_SECOND / 2, '30 frames and half a second of audio', 15_000, 100);
    } finally {
      await stopProcess(gst);
    }
    const r = await gst;
    expect(r.exitCode, r.stderr).toBe(0);
    expect(gstLaunchProblems(r.stdout + r.stderr)).not.toMatch(/ERROR|WARNING/);
    expect((await size(video)) % FRAME_BYTES).toBe(0);
    expect(await size(audio)).toBeGreaterThanOrEqual(AUDIO_BYTES_PER_SECOND / 2);
  });
});

describe.each(['tcp', 'udp'])('GStreamer rtspclientsink publishes over %s', (protocol) => {
  let t: TestRelay;
  let gst: ReturnType<typeof startGstPublisher>;
  const name = `gst-pub-${protocol}`;

  function startGstPublisher(url: string) {
    return execa(
      'gst-launch-1.0',
      [
        '-q', 'videotestsrc', 'is-live=true', '!', 'video/x-raw,width=320,height=240,framerate=30/1', '!',
        'x264enc', 'tune=zerolatency', 'key-int-max=30', 'speed-preset=ultrafast', '!', 'h264parse', '!',
        'rtspclientsink', `location=${url}`, `protocols=${protocol}`,
      ],
      { reject: false, stdin: 'ignore', buffer: true, cleanup: true, timeout: 60_000 },
    );
  }

  beforeAll(async () => {
    await requireGstElement('rtspclientsink', 'gstreamer1.0-rtsp');
    await requireGstElement('x264enc', 'gstreamer1.0-plugins-ugly');
    t = await startTestRelay();
    gst = startGstPublisher(t.url(name));
    await waitLive(t.relay, name).catch(async (err: unknown) => {
      await stopProcess(gst);
      throw new Error(`${String(err)}; gst-launch said: ${(await gst).stderr}`);
    });
  });
  afterAll(async () => {
    if (gst) await stopProcess(gst);
    await t?.close();
  });

  it('the relay sees GStreamer as the publisher', () => {
    const s = t.relay.registry.get(name)?.snapshot();
    expect(s?.publisher?.transport).toBe(protocol);
    expect(s?.tracks).toEqual([{ kind: 'video', codec: 'H264', clockRate: 90000 }]);
  });

  it('ffmpeg decodes 30 frames of it', async () => {
    // framecrc prints one line per decoded frame: proof of pictures, not only of a clean exit.
    const r = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', t.url(name), '-map', '0:v', '-frames:v', '30', '-f', 'framecrc', '-'], { reject: false, timeout: 20_000 });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const frames = r.stdout.split('\n').filter((l) => /^0,/.test(l));
    expect(frames).toHaveLength(30);
    // 320x240 yuv420p = 115200 bytes a frame.
    expect(frames.every((l) => l.split(',')[4]?.trim() === '115200')).toBe(true);
  });
});
