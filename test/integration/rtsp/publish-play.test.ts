// Real ffmpeg publishes into the relay; real ffprobe/ffmpeg/GStreamer play it back, over TCP and UDP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { publish, startTestRelay, stopProcess, waitLive, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';

describe.each([
  { transport: 'tcp' as const, audio: 'opus' as const },
  { transport: 'udp' as const, audio: 'aac' as const },
])('ffmpeg publishes H.264 + $audio over $transport', ({ transport, audio }) => {
  let t: TestRelay;
  let pub: ReturnType<typeof publish>;
  const name = `cam-${transport}`;

  beforeAll(async () => {
    t = await startTestRelay();
    pub = publish({ url: t.url(name), transport, audio });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it('ffprobe sees both tracks', async () => {
    const r = await execa('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_streams', '-of', 'json', t.url(name)], { timeout: 15_000 });
    const streams = (JSON.parse(r.stdout) as { streams: Array<{ codec_name: string; width?: number; height?: number }> }).streams;
    expect(streams.map((s) => s.codec_name).sort()).toEqual([audio, 'h264'].sort());
    expect(streams.find((s) => s.codec_name === 'h264')).toMatchObject({ width: 640, height: 360 });
  });

  it.each(['tcp', 'udp'])('ffmpeg decodes 60 frames over %s without errors', async (playTransport) => {
    const r = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', playTransport, '-i', t.url(name), '-frames:v', '60', '-f', 'null', '-'], { timeout: 20_000, reject: false });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe('');
  });

  it('the first IDR reaches a new player within 300 ms of PLAY (2 s GOP)', async () => {
    const c = await RtspTestClient.connect(t.url(name));
    try {
      await c.play({ transport: 'tcp' });
      const until = Date.now() + 3000;
      while (c.tracks[0]?.firstIdrAt === undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      const idrAt = c.tracks[0]?.firstIdrAt;
      expect(idrAt).toBeDefined();
      expect((idrAt ?? Infinity) - c.playSentAt).toBeLessThan(300);
    } finally {
      await c.close();
    }
  });
});
