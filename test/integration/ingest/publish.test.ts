// A browser-style publisher (test/support/ws-publisher.ts: real x264 + libopus output written with Fmp4Writer, one
// moof+mdat per frame, paced in real time) against a real relay: what RTSP players, the API and an RTMP server
// (nginx-rtmp) see, what Stop ends, and what survives a dropped WebSocket.
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ffmpegPath, ffprobe, isProcessAlive, processCommandLine, waitFor } from '../../support/ffmpeg.ts';
import { freePort, startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';
import { startTestRelay, waitLive, type TestRelay } from '../../support/relay.ts';
import { RtspStatusError, RtspTestClient } from '../../support/rtsp-client.ts';
import { loadPublisherMedia, WsPublisher, type PublisherMedia } from '../../support/ws-publisher.ts';
import { ffmpegChildren, getJson, listStreams, spawnedPids, streamJson } from './helpers.ts';

let media: PublisherMedia;
let nginx: NginxRtmp;
const relays: TestRelay[] = [];
const publishers: WsPublisher[] = [];
const players: RtspTestClient[] = [];

beforeAll(async () => {
  [media, nginx] = await Promise.all([loadPublisherMedia(), startNginxRtmp()]);
});

afterEach(async () => {
  await Promise.all(players.splice(0).map((p) => p.close()));
  await Promise.all(publishers.splice(0).map((p) => p.dispose()));
  await Promise.all(relays.splice(0).map((r) => r.close()));
  // relay.close() waits for its ffmpegs: none may be left.
  expect(await ffmpegChildren()).toEqual([]);
});

afterAll(async () => {
  await nginx?.stop();
});

async function relay(flags: string[] = []): Promise<TestRelay> {
  const r = await startTestRelay(flags);
  relays.push(r);
  return r;
}

function publisher(r: TestRelay, stream: string): WsPublisher {
  const p = new WsPublisher({ port: r.relay.http.port(), stream, media });
  publishers.push(p);
  return p;
}

/** A player that has PLAYed NAME over TCP and received media. */
async function player(r: TestRelay, name: string): Promise<RtspTestClient> {
  // The init segment may not have reached the relay yet: retry DESCRIBE's 404 for a few seconds.
  for (const deadline = Date.now() + 10_000; ; ) {
    const c = await RtspTestClient.connect(r.url(name));
    try {
      await c.play({ transport: 'tcp' });
      players.push(c);
      expect(await waitFor(() => c.tracks.every((t) => t.packets > 0), 5_000)).toBe(true);
      return c;
    } catch (err) {
      await c.close();
      if (!(err instanceof RtspStatusError) || err.response.status !== 404 || Date.now() > deadline) throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}

const packets = (c: RtspTestClient): number => c.tracks.reduce((n, t) => n + t.packets, 0);

describe('browser publisher → RTSP relay', () => {
  it('ffprobe sees H.264 + Opus, ffmpeg decodes 30 frames, and /api/streams describes the stream', async () => {
    const r = await relay();
    const pub = publisher(r, 'cam1');
    const accepted = await pub.connectOrThrow();
    // No destinations configured: the relay is not one, it is fed in process.
    expect(accepted).toMatchObject({ stream: 'cam1', rtspPath: '/cam1', rtspPort: r.rtspPort, outputs: [] });
    pub.start();
    await waitLive(r.relay, 'cam1');

    const probe = await ffprobe(r.url('cam1'), { args: ['-rtsp_transport', 'tcp'] });
    const video = probe.streams.find((s) => s.codec_type === 'video');
    const audio = probe.streams.find((s) => s.codec_type === 'audio');
    expect(video).toMatchObject({ codec_name: 'h264', width: media.width, height: media.height });
    expect(audio).toMatchObject({ codec_name: 'opus', sample_rate: '48000' });

    const decode = await execa(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', '-rtsp_transport', 'tcp', '-i', r.url('cam1'), '-frames:v', '30', '-f', 'null', '-'], {
      reject: false,
      timeout: 20_000,
    });
    expect(decode.exitCode, String(decode.stderr)).toBe(0);

    const c = await player(r, 'cam1');
    // The API's frame rate is a sliding window of whole seconds: it settles once the stream is a few seconds old.
    let s = await streamJson(r, 'cam1');
    const settled = await waitFor(async () => {
      s = await streamJson(r, 'cam1');
      return s !== undefined && Math.abs((s.video?.fps ?? 0) - 30) <= 2 && s.rtspPlayers === 1;
    }, 8_000, 200);
    expect(settled, JSON.stringify(s)).toBe(true);
    expect(s).toMatchObject({
      name: 'cam1',
      source: 'browser',
      state: 'live',
      video: { codec: media.codec, width: media.width, height: media.height },
      audio: { codec: 'opus', sampleRate: 48_000, channels: media.channels },
      rtspPlayers: 1,
      outputs: [],
    });
    expect(s!.video!.codec).toMatch(/^avc1\./);
    expect(s!.video!.fps).toBeGreaterThanOrEqual(28);
    expect(s!.video!.fps).toBeLessThanOrEqual(32);
    expect(s!.ingestKbps).toBeGreaterThan(0);
    // The API lists the stream once, as the browser's.
    expect((await listStreams(r)).filter((x) => x.name === 'cam1')).toHaveLength(1);
    // The page's own view: stats messages with the same player count.
    const stats = await pub.waitFor((m): m is Extract<typeof m, { type: 'stats' }> => m.type === 'stats' && m.rtspPlayers === 1);
    expect(stats.ingestKbps).toBeGreaterThan(0);
    expect(stats.outputs).toEqual([]);
    expect(packets(c)).toBeGreaterThan(0);
    // The relay path runs no process at all.
    expect(r.logs.filter((l) => l['event'] === 'egress.spawn')).toEqual([]);
    expect(await ffmpegChildren()).toEqual([]);
  });

  it('RTMP output: nginx-rtmp receives H.264 + AAC, and a key-like last segment never appears unmasked', async () => {
    const key = 'secret-key-123456';
    const r = await relay(['--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`, '--output', `rtmp://127.0.0.1:${nginx.port}/live/${key}`]);
    const pub = publisher(r, 'rtmpcam');
    const accepted = await pub.connectOrThrow();
    pub.start();

    // {stream} expands to the stream name; the fixed URL publishes as stream "secret-key-123456" in app "live".
    for (const name of ['rtmpcam', key]) {
      const probe = await ffprobe(nginx.url(name), { args: ['-rw_timeout', '10000000'] });
      expect(probe.streams.find((s) => s.codec_type === 'video'), name).toMatchObject({ codec_name: 'h264', width: media.width, height: media.height });
      expect(probe.streams.find((s) => s.codec_type === 'audio'), name).toMatchObject({ codec_name: 'aac', sample_rate: '48000' });
    }

    expect(await waitFor(async () => (await streamJson(r, 'rtmpcam'))?.outputs.every((o) => o.state === 'running') === true, 10_000, 100)).toBe(true);
    const s = (await streamJson(r, 'rtmpcam'))!;
    expect(s.outputs.map((o) => [o.kind, o.url])).toEqual([
      ['rtmp', `rtmp://127.0.0.1:${nginx.port}/live/rtmpcam`],
      ['rtmp', `rtmp://127.0.0.1:${nginx.port}/live/se…56`],
    ]);
    const config = await getJson<unknown>(r.relay.http.port(), '/api/config');
    const stats = await pub.waitFor((m): m is Extract<typeof m, { type: 'stats' }> => m.type === 'stats');
    // Nowhere the key could leak: the API, the page config, what the page was told, and every log line.
    for (const [what, text] of [
      ['/api/streams', JSON.stringify(await listStreams(r))],
      ['/api/config', JSON.stringify(config.body)],
      ['accepted', JSON.stringify(accepted)],
      ['stats', JSON.stringify(stats)],
      ['logs', JSON.stringify(r.logs)],
    ] as const) {
      expect(text, what).not.toContain(key);
      expect(text, what).not.toContain('123456');
    }
    expect(r.logs.filter((l) => l['event'] === 'egress.spawn' && l['kind'] === 'rtmp')).toHaveLength(2);
  });

  it('Stop (close 1000) ends the stream: ffmpegs exit, players get BYE, DESCRIBE → 404, the API forgets it', async () => {
    // Grace 30 s: Stop must not wait for it (a drop would).
    const r = await relay(['--publisher-grace', '30', '--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`]);
    const pub = publisher(r, 'stopcam');
    await pub.connectOrThrow();
    pub.start();
    const c = await player(r, 'stopcam');
    expect(await waitFor(async () => (await streamJson(r, 'stopcam'))?.outputs.every((o) => o.state === 'running') === true, 10_000, 100)).toBe(true);
    const pids = spawnedPids(r, 'stopcam');
    expect(pids).toHaveLength(1);
    for (const pid of pids) expect(processCommandLine(pid)).toContain('ffmpeg');

    const stoppedAt = Date.now();
    const close = await pub.stop();
    expect(close.code).toBe(1000);

    expect(await waitFor(() => pids.every((pid) => !isProcessAlive(pid)), 5_000)).toBe(true);
    expect(await waitFor(() => c.byeReceived, 5_000)).toBe(true);
    await Promise.race([c.closed, new Promise((res) => setTimeout(res, 5_000))]);
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);

    const again = await RtspTestClient.connect(r.url('stopcam'));
    players.push(again);
    const d = await again.request('DESCRIBE', r.url('stopcam'), [['Accept', 'application/sdp']]);
    expect(d.status).toBe(404);
    expect(await waitFor(async () => (await streamJson(r, 'stopcam')) === undefined, 5_000, 100)).toBe(true);
    expect(r.logs.some((l) => l['event'] === 'egress.closed' && l['stream'] === 'stopcam')).toBe(true);
  });

  it('a dropped WebSocket that does not come back: after --publisher-grace the ffmpegs exit and players get BYE', async () => {
    const r = await relay(['--publisher-grace', '2', '--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`]);
    const pub = publisher(r, 'gonecam');
    await pub.connectOrThrow();
    pub.start();
    const c = await player(r, 'gonecam');
    expect(await waitFor(async () => (await streamJson(r, 'gonecam'))?.outputs[0]?.state === 'running', 10_000, 100)).toBe(true);
    const pids = spawnedPids(r, 'gonecam');
    expect(pids).toHaveLength(1);
    const droppedAt = Date.now();
    await pub.drop();
    // Within the grace period everything stays: the page may come back.
    await new Promise((res) => setTimeout(res, 1_000));
    expect(pids.every((pid) => isProcessAlive(pid))).toBe(true);
    expect(c.byeReceived).toBe(false);
    expect(await waitFor(() => c.byeReceived, 6_000)).toBe(true);
    const byeAfter = Date.now() - droppedAt;
    expect(await waitFor(() => pids.every((pid) => !isProcessAlive(pid)), 3_000)).toBe(true);
    // One grace period, not one for the browser stream and then another for the relay's copy of it.
    expect(byeAfter).toBeLessThan(3_500);
    expect(await waitFor(async () => (await streamJson(r, 'gonecam')) === undefined, 2_000, 100)).toBe(true);
  });

  it('a dropped WebSocket that resumes within the grace period keeps RTSP players and the same ffmpegs', async () => {
    const r = await relay(['--publisher-grace', '10', '--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`]);
    const pub = publisher(r, 'dropcam');
    await pub.connectOrThrow();
    pub.start();
    const c = await player(r, 'dropcam');
    expect(await waitFor(async () => (await streamJson(r, 'dropcam'))?.outputs[0]?.state === 'running', 10_000, 100)).toBe(true);
    const pids = spawnedPids(r, 'dropcam');
    expect(pids).toHaveLength(1);

    await pub.drop();
    expect(await waitFor(async () => (await streamJson(r, 'dropcam'))?.state === 'waiting', 3_000, 50)).toBe(true);
    await new Promise((res) => setTimeout(res, 1_000)); // a real outage: the player sees nothing meanwhile
    const before = packets(c);
    const resumed = await pub.reconnect();
    expect(resumed.kind).toBe('accepted');

    expect(await waitFor(() => packets(c) > before + 100, 10_000)).toBe(true);
    expect(c.byeReceived).toBe(false);
    expect(c.tracks.every((t) => t.ssrcs.size >= 1)).toBe(true);
    expect(await waitFor(async () => (await streamJson(r, 'dropcam'))?.state === 'live', 3_000, 50)).toBe(true);
    // The outputs were not restarted: one spawn, and that process still runs.
    expect(spawnedPids(r, 'dropcam')).toEqual(pids);
    expect(isProcessAlive(pids[0]!)).toBe(true);
    expect((await streamJson(r, 'dropcam'))?.outputs[0]).toMatchObject({ state: 'running', restarts: 0 });
    expect(r.logs.some((l) => l['event'] === 'publisher-accepted' && l['stream'] === 'dropcam' && l['resume'] === true)).toBe(true);
    // The socket of a live RTSP session is still the one from before the drop.
    let ended = false;
    void c.closed.then(() => (ended = true));
    await new Promise((res) => setTimeout(res, 50));
    expect(ended).toBe(false);
  });

  it('asks the page for a keyframe when an output restarts, so the new ffmpeg does not wait a whole GOP', async () => {
    // Nothing listens there: the RTMP ffmpeg fails and is restarted with backoff (1 s, 2 s, …).
    const dead = await freePort();
    const r = await relay(['--output', `rtmp://127.0.0.1:${dead}/live/{stream}`]);
    const pub = publisher(r, 'keycam');
    await pub.connectOrThrow();
    pub.start();
    const asked = () => pub.messages.filter((m) => m.type === 'keyframe-request');
    expect(await waitFor(() => asked().length > 0, 8_000, 50)).toBe(true);
    expect(asked()[0]).toMatchObject({ type: 'keyframe-request', reason: expect.stringMatching(/output/) as unknown });
    expect((await streamJson(r, 'keycam'))?.outputs[0]?.restarts).toBeGreaterThan(0);
  });

  it('a reloaded page within the grace period (its clock back at 0) continues into the same RTMP ffmpeg at once', async () => {
    const r = await relay(['--publisher-grace', '10', '--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`]);
    const first = publisher(r, 'reloadcam');
    await first.connectOrThrow();
    first.start();
    expect(await waitFor(async () => (await streamJson(r, 'reloadcam'))?.outputs[0]?.state === 'running', 10_000, 100)).toBe(true);
    // Well into the stream, so the reloaded page's timestamps (from 0) lie seconds before the ones ffmpeg has seen.
    await new Promise((res) => setTimeout(res, 6_000));
    const pids = spawnedPids(r, 'reloadcam');
    expect(pids).toHaveLength(1);
    await first.drop();
    expect(await waitFor(async () => (await streamJson(r, 'reloadcam'))?.state === 'waiting', 3_000, 50)).toBe(true);

    // The reload: a new page, a new clock, the same encoder settings (so the same init segment), no resume.
    const second = publisher(r, 'reloadcam');
    await second.connectOrThrow();
    second.start();
    await new Promise((res) => setTimeout(res, 1_000));
    // The new page's frames reach the RTMP server now, not once its clock has caught up with the old one (without
    // the shift, ffmpeg's mov demuxer set them aside as out of order, and the platform saw the picture stop for as
    // long as the first page had been live).
    const t0 = Date.now();
    const pull = await execa(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', '-rw_timeout', '10000000', '-i', nginx.url('reloadcam'), '-map', '0:v', '-frames:v', '30', '-c', 'copy', '-f', 'null', '-'], {
      reject: false,
      timeout: 15_000,
    });
    expect(pull.exitCode, String(pull.stderr)).toBe(0);
    expect(Date.now() - t0).toBeLessThan(4_500);

    expect(r.logs.some((l) => l['event'] === 'timeline-rebased' && l['stream'] === 'reloadcam')).toBe(true);
    // The same ffmpeg, never restarted, and nothing from it about timestamps.
    expect(spawnedPids(r, 'reloadcam')).toEqual(pids);
    expect((await streamJson(r, 'reloadcam'))?.outputs[0]).toMatchObject({ state: 'running', restarts: 0 });
    const complaints = r.logs.filter(
      (l) => l['stream'] === 'reloadcam' && (l['event'] === 'egress.exit' || (l['event'] === 'egress.ffmpeg' && /dts|pts|monoton|timestamp|order/i.test(String(l['line'])))),
    );
    expect(complaints).toEqual([]);
  });
});
