// GStreamer as a real peer: rtspsrc plays (TCP and UDP) and decodes; rtspclientsink publishes and ffmpeg decodes it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { requireGstElement } from './helpers.ts';

/** Buffers a fakesink got: with -v and silent=false it prints one "chain" line per buffer. */
function decodedFrames(stdout: string, sink = 'fakesink0'): number {
  return stdout.split('\n').filter((l) => l.includes(`${sink}: last-message = chain`)).length;
}

describe('GStreamer rtspsrc plays an ffmpeg publisher', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'gst-play';

  beforeAll(async () => {
    await requireGstElement('rtspsrc', 'gstreamer1.0-plugins-good');
    await requireGstElement('avdec_h264', 'gstreamer1.0-libav');
    t = await startTestRelay();
    pub = publish({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it.each(['tcp', 'udp'])('decodes 60 video frames over %s (audio pad left unlinked)', async (protocol) => {
    const r = await execa(
      'gst-launch-1.0',
      ['-v', 'rtspsrc', `location=${t.url(name)}`, `protocols=${protocol}`, 'latency=0', '!', 'rtph264depay', '!', 'h264parse', '!', 'avdec_h264', '!', 'fakesink', 'num-buffers=60', 'silent=false'],
      { reject: false, timeout: 20_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain('Got EOS from element');
    // Decoded pictures, not just packets: the sink's caps are raw video at the published size.
    expect(r.stdout).toMatch(/fakesink0\.GstPad:sink: caps = video\/x-raw.*width=\(int\)640, height=\(int\)360/);
    expect(decodedFrames(r.stdout)).toBe(60);
    expect(r.stdout + r.stderr).not.toMatch(/ERROR|WARNING/);
  });

  it.each(['tcp', 'udp'])('decodes video and Opus audio together over %s', async (protocol) => {
    // Each sink stops at its count; over TCP one branch's end may end the shared connection early, hence >= 30.
    const r = await execa(
      'gst-launch-1.0',
      [
        '-v', 'rtspsrc', `location=${t.url(name)}`, `protocols=${protocol}`, 'latency=0', 'name=src',
        'src.', '!', 'queue', '!', 'rtph264depay', '!', 'h264parse', '!', 'avdec_h264', '!', 'fakesink', 'name=vsink', 'num-buffers=60', 'silent=false',
        'src.', '!', 'queue', '!', 'rtpopusdepay', '!', 'opusdec', '!', 'fakesink', 'name=asink', 'num-buffers=100', 'silent=false',
      ],
      { reject: false, timeout: 20_000 },
    );
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/asink\.GstPad:sink: caps = audio\/x-raw.*rate=\(int\)48000/);
    expect(decodedFrames(r.stdout, 'vsink')).toBeGreaterThanOrEqual(30);
    expect(decodedFrames(r.stdout, 'asink')).toBeGreaterThanOrEqual(30);
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
