// The operator's API: GET /api/streams/NAME (its ffprobe-shaped `streams` against what ffprobe itself reports for the
// same stream over RTSP, and its players), DELETE /api/streams/NAME and DELETE /api/readers/ID with and without the
// admin token, from loopback and (loopback trust off, in process) as from elsewhere, and GET /healthz.
import http from 'node:http';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StreamDetailJson } from '../../../server/servers/http/api.ts';
import { ffprobe, waitFor, type FfprobeStream } from '../../support/ffmpeg.ts';
import { publish, PUBLISH_OPTIONS, startTestRelay, stopProcess, waitLive, type ChildLike, type Publisher, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, WsPublisher } from '../../support/ws-publisher.ts';

const TOKEN = 'admin-0123456789abcdef';

let t: TestRelay;
/** Loopback trust off: every request is treated as one from another machine. */
let remote: TestRelay;
const children: ChildLike[] = [];

beforeAll(async () => {
  [t, remote] = await Promise.all([
    startTestRelay(['--admin-token', TOKEN, '--publisher-grace', '5']),
    startTestRelay(['--admin-token', TOKEN, '--publisher-grace', '5'], { api: { trustLoopback: false } }),
  ]);
});
afterEach(async () => {
  await Promise.all(children.splice(0).map(stopProcess));
});
afterAll(async () => {
  await Promise.all([t?.close(), remote?.close()]);
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A request with a Host header of our choosing (fetch will not set one). */
function request(relay: TestRelay, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: relay.relay.http.port(), method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function detail(relay: TestRelay, name: string, headers: Record<string, string> = {}): Promise<StreamDetailJson> {
  const a = await request(relay, 'GET', `/api/streams/${name}`, headers);
  expect(a.status, JSON.stringify(a.body)).toBe(200);
  return a.body as unknown as StreamDetailJson;
}

function player(relay: TestRelay, name: string): ChildLike {
  const p = execa('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', relay.url(name), '-f', 'null', '-'], PUBLISH_OPTIONS);
  children.push(p);
  return p;
}

function fps(rate: string): number {
  const [n, d] = rate.split('/').map(Number);
  return d ? n! / d : 0;
}

/** What the issue asks to match: codec, size, rates, channels. */
function comparable(s: FfprobeStream | StreamDetailJson['streams'][number]) {
  return {
    index: s.index,
    codec_type: s.codec_type,
    codec_name: s.codec_name,
    ...(s.profile !== undefined ? { profile: s.profile } : {}),
    ...(s.codec_type === 'video' ? { width: s.width, height: s.height, pix_fmt: s['pix_fmt'], level: s['level'] } : {}),
    ...(s.codec_type === 'audio' ? { sample_rate: s.sample_rate, channels: s.channels } : {}),
    time_base: s['time_base'],
  };
}

describe('GET /api/streams/NAME', () => {
  it('gives `streams` as ffprobe -show_streams reports the same stream over RTSP (H.264 + Opus, H.265 + G.711, a browser\'s H.264 + Opus)', async () => {
    children.push(publish({ url: t.url('cam264'), audio: 'opus', gop: 30 }), publish({ url: t.url('cam265'), video: 'h265', audio: 'pcma', size: '320x240', gop: 30 }));
    const page = new WsPublisher({ port: t.relay.http.port(), stream: 'page', media: await loadPublisherMedia({ gop: 30 }) });
    await page.connectOrThrow();
    page.start();
    children.push({ exitCode: null, kill: () => true, then: (f, r) => page.dispose().then(f, r) });
    await Promise.all(['cam264', 'cam265', 'page'].map((n) => waitLive(t.relay, n, 15_000)));
    // The frame rate is measured over the last seconds: give it a full window of real-time frames.
    await new Promise((r) => setTimeout(r, 2500));
    for (const name of ['cam264', 'cam265', 'page']) {
      const [ours, probe] = await Promise.all([detail(t, name), ffprobe(t.url(name), { args: ['-rtsp_transport', 'tcp'] })]);
      expect(ours.streams.map(comparable), name).toEqual(probe.streams.map(comparable));
      for (const [i, s] of ours.streams.entries()) {
        expect(s.codec_long_name, name).toBe(probe.streams[i]!['codec_long_name']);
        if (s.codec_type === 'video') expect(Math.abs(fps(s.r_frame_rate) - fps(String(probe.streams[i]!['r_frame_rate']))), `${name} r_frame_rate ${s.r_frame_rate}`).toBeLessThanOrEqual(2);
        expect(Number(s.bit_rate), `${name} bit_rate`).toBeGreaterThan(0);
      }
      expect(ours).toMatchObject({ name, state: 'live', publisher: { protocol: name === 'page' ? 'websocket' : 'rtsp', transport: 'tcp' } });
    }
  }, 60_000);

  it('lists the players with protocol, transport, address and bytes sent; the address only for the operator', async () => {
    children.push(publish({ url: t.url('seen'), gop: 30 }));
    await waitLive(t.relay, 'seen');
    player(t, 'seen');
    expect(await waitFor(async () => (await detail(t, 'seen')).readers.some((r) => r.bytesSent > 0), 10_000)).toBe(true);
    const [r] = (await detail(t, 'seen')).readers;
    expect(r).toMatchObject({ protocol: 'rtsp', transport: 'tcp', remote: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
    expect(Date.parse(r!.since)).toBeLessThanOrEqual(Date.now());
    // A loopback socket with a Host that is not a loopback literal (a DNS-rebound page) is not the operator.
    const rebound = await detail(t, 'seen', { Host: 'evil.example' });
    expect(rebound.readers[0]).not.toHaveProperty('remote');
    expect(rebound.publisher).not.toHaveProperty('remote');
  });

  it('answers 400 for a bad name, 404 for no such stream, 405 for other methods, all as JSON { error }', async () => {
    const bad = await request(t, 'GET', '/api/streams/..%2Fetc');
    expect(bad.status).toBe(400);
    expect(bad.body['error']).toEqual(expect.any(String));
    const missing = await request(t, 'GET', '/api/streams/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body['error']).toMatch(/no stream "nobody"/);
    const put = await request(t, 'PUT', '/api/streams/nobody');
    expect(put.status).toBe(405);
    expect(put.headers['allow']).toBe('GET, HEAD, DELETE');
    expect((await request(t, 'GET', '/api/readers/x')).status).toBe(405);
    expect((await request(t, 'DELETE', '/api/readers/nobody')).status).toBe(404);
  });
});

describe('DELETE', () => {
  it('/api/readers/ID from loopback ends that player (ffmpeg exits) and leaves the stream live', async () => {
    children.push(publish({ url: t.url('kick'), gop: 30 }));
    await waitLive(t.relay, 'kick');
    const p = player(t, 'kick') as Publisher;
    expect(await waitFor(async () => (await detail(t, 'kick')).readers.length === 1, 10_000)).toBe(true);
    const id = (await detail(t, 'kick')).readers[0]!.id;
    const a = await request(t, 'DELETE', `/api/readers/${id}`);
    expect(a).toMatchObject({ status: 200, body: { ended: id } });
    // The player is told the stream is over (RTCP BYE) and its connection closes: ffmpeg ends by itself.
    expect(await waitFor(() => p.exitCode !== null, 10_000)).toBe(true);
    expect((await detail(t, 'kick')).readers).toEqual([]);
    expect(t.relay.registry.get('kick')?.state).toBe('live');
  });

  it('/api/streams/NAME from loopback ends an RTSP publisher for good: players end at once, despite the grace period', async () => {
    const pub = publish({ url: t.url('gone'), gop: 30 });
    children.push(pub);
    await waitLive(t.relay, 'gone');
    const p = player(t, 'gone') as Publisher;
    expect(await waitFor(async () => (await detail(t, 'gone')).readers.length === 1, 10_000)).toBe(true);
    const a = await request(t, 'DELETE', '/api/streams/gone');
    expect(a).toMatchObject({ status: 200, body: { ended: 'gone', publisher: 'rtsp' } });
    expect(t.relay.registry.get('gone')).toBeUndefined();
    expect(await waitFor(() => p.exitCode !== null && pub.exitCode !== null, 10_000)).toBe(true);
    expect((await request(t, 'GET', '/api/streams/gone')).status).toBe(404);
  });

  it('/api/streams/NAME ends a browser publisher with 1008, which the page does not retry', async () => {
    const page = new WsPublisher({ port: t.relay.http.port(), stream: 'tab', media: await loadPublisherMedia({ gop: 30 }) });
    await page.connectOrThrow();
    page.start();
    children.push({ exitCode: null, kill: () => true, then: (f, r) => page.dispose().then(f, r) });
    await waitLive(t.relay, 'tab');
    expect(await request(t, 'DELETE', '/api/streams/tab')).toMatchObject({ status: 200, body: { publisher: 'websocket' } });
    expect(await waitFor(() => page.closes.length > 0, 5000)).toBe(true);
    expect(page.closes[0]).toEqual({ code: 1008, reason: 'an operator ended this stream' });
    // Before the close, the sentence the page shows ("The server stopped the upload: …").
    expect(page.messages.some((m) => m.type === 'error' && m.code === 'ended-by-operator')).toBe(true);
    expect(t.relay.registry.get('tab')).toBeUndefined();
  });

  it('from elsewhere needs the admin token: 401 without it or with a wrong one, 200 with it', async () => {
    children.push(publish({ url: remote.url('far'), gop: 30 }));
    await waitLive(remote.relay, 'far');
    const none = await request(remote, 'DELETE', '/api/streams/far');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="relaycast"');
    expect(none.body['error']).toMatch(/Authorization: Bearer/);
    const wrong = await request(remote, 'DELETE', '/api/streams/far', { Authorization: 'Bearer not-the-token-at-all' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toMatch(/error="invalid_token"/);
    expect(remote.relay.registry.get('far')?.state).toBe('live');
    // Without the token the operator's fields are hidden too.
    expect((await detail(remote, 'far')).publisher).not.toHaveProperty('remote');
    expect((await detail(remote, 'far', { Authorization: `Bearer ${TOKEN}` })).publisher).toHaveProperty('remote');
    const right = await request(remote, 'DELETE', '/api/streams/far', { Authorization: `Bearer ${TOKEN}` });
    expect(right).toMatchObject({ status: 200, body: { ended: 'far' } });
    expect(remote.relay.registry.get('far')).toBeUndefined();
  });

  it('on loopback through a non-loopback Host, and anywhere without a configured token, is refused (401, 403)', async () => {
    children.push(publish({ url: t.url('kept'), gop: 30 }));
    await waitLive(t.relay, 'kept');
    expect((await request(t, 'DELETE', '/api/streams/kept', { Host: 'evil.example' })).status).toBe(401);
    expect(t.relay.registry.get('kept')?.state).toBe('live');
    const bare = await startTestRelay([], { api: { trustLoopback: false } });
    try {
      const a = await request(bare, 'DELETE', '/api/streams/kept');
      expect(a.status).toBe(403);
      expect(a.body['error']).toMatch(/--admin-token/);
      // A token given to a server that has none changes nothing.
      expect((await request(bare, 'DELETE', '/api/readers/x', { Authorization: `Bearer ${TOKEN}` })).status).toBe(403);
    } finally {
      await bare.close();
    }
  });
});

describe('GET /healthz', () => {
  it('is 200 { ok: true } while every listener is up, and 503 naming the one that is not', async () => {
    const h = await startTestRelay();
    try {
      expect(await request(h, 'GET', '/healthz')).toMatchObject({ status: 200, body: { ok: true } });
      await h.relay.rtsp.close();
      const down = await request(h, 'GET', '/healthz');
      expect(down).toMatchObject({ status: 503, body: { ok: false, down: ['rtsp'] } });
      expect(down.body['error']).toMatch(/rtsp/);
    } finally {
      await h.close();
    }
  });
});
