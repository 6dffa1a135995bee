// GET|HEAD /NAME.mp4 at its edges, on real relays: HEAD, unknown and malformed names, a codec MP4 cannot carry (415),
// read credentials (401), --max-clients counting HTTP and RTSP players together, a player that stops reading (skipped,
// then cut off, while a normal player keeps decoding), and the end of the response when the publisher leaves for good.
import http from 'node:http';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ffprobe } from '../../support/ffmpeg.ts';
import { decodeTimes, ProgressiveClient, trackIdOf } from '../../support/progressive-client.ts';
import { PUBLISH_OPTIONS, publishFast, startTestRelay, startWsPublisher, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspStatusError, RtspTestClient } from '../../support/rtsp-client.ts';
import type { WsPublisher } from '../../support/ws-publisher.ts';

const POLICY = { skipBacklogBytes: 64 * 1024, maxBehindMs: 1000 };
const READ = { username: 'viewer', password: 'secret-pass' };

/** Relay `t`: grace 0, a small reader policy, at most 3 players. Relay `auth`: read credentials. */
let t: TestRelay;
let auth: TestRelay;
const publishers: Publisher[] = [];
const wsPublishers: WsPublisher[] = [];
let light: WsPublisher;

function url(relay: TestRelay, path: string, creds?: typeof READ): string {
  return `http://${creds ? `${creds.username}:${creds.password}@` : ''}127.0.0.1:${relay.relay.http.port()}${path}`;
}

/** A request exactly as written (fetch would normalise the path), with its whole body. */
function raw(relay: TestRelay, path: string, o: { method?: string; headers?: http.OutgoingHttpHeaders } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: relay.relay.http.port(), path, method: o.method ?? 'GET', headers: o.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Motion JPEG over RTSP (RFC 2435): relayed to RTSP players as is, but nothing MP4 here can carry. */
function publishMjpeg(target: string): Publisher {
  return execa('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=10',
    '-c:v', 'mjpeg', '-q:v', '8', '-pix_fmt', 'yuvj420p', '-f', 'rtsp', '-rtsp_transport', 'tcp', target,
  ], PUBLISH_OPTIONS);
}

async function waitState(relay: TestRelay, name: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (relay.relay.registry.get(name)?.state !== 'live') {
    if (Date.now() > until) throw new Error(`stream ${name} did not go live within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  [t, auth] = await Promise.all([
    startTestRelay(['--publisher-grace', '0', '--max-clients', '3'], { policy: POLICY }),
    startTestRelay(['--read-user', READ.username, '--read-pass', READ.password], { progressive: { authFailureDelayMs: [20, 40] } }),
  ]);
  publishers.push(publishFast(t.url('fast')), publishMjpeg(t.url('mjpeg')));
  [light] = await Promise.all([startWsPublisher(t, 'light', wsPublishers), startWsPublisher(auth, 'cam', wsPublishers)]);
  await Promise.all([waitLive(t.relay, 'fast', 15_000), waitState(t, 'mjpeg')]);
}, 40_000);

afterAll(async () => {
  await Promise.all(wsPublishers.map((p) => p.dispose()));
  await Promise.all(publishers.map((p) => stopProcess(p)));
  await Promise.all([t?.close(), auth?.close()]);
});

describe('/NAME.mp4 answers', () => {
  it('HEAD: the headers of a GET (video/mp4, no-store), no body, and no player left behind', async () => {
    const r = await raw(t, '/light.mp4', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('video/mp4');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['accept-ranges']).toBe('none');
    expect(r.body).toBe('');
    expect(t.relay.http.progressivePlayers()).toBe(0);
    expect(t.relay.registry.totalReaders()).toBe(0);
    const missing = await raw(t, '/nobody.mp4', { method: 'HEAD' });
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/json');
    expect(missing.body).toBe('');
  });

  it('an unknown name is a JSON 404; a name that fails the stream-name rule is a JSON 400; only GET/HEAD', async () => {
    const r = await raw(t, '/nobody.mp4');
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(r.body)).toEqual({ error: expect.stringContaining('no stream "nobody" is live here') });
    for (const path of ['/-x.mp4', '/a%20b.mp4', '/..mp4', `/${'a'.repeat(65)}.mp4`, '/%2e%2e%2fx.mp4']) {
      const bad = await raw(t, path);
      expect(bad.status, path).toBe(400);
      expect(JSON.parse(bad.body), path).toEqual({ error: expect.any(String) });
    }
    expect((await raw(t, '/light.mp4', { method: 'POST' })).status).toBe(405);
  });

  it('a stream MP4 cannot carry (Motion JPEG) is a 415 that says why and where it plays instead', async () => {
    const r = await raw(t, '/mjpeg.mp4');
    expect(r.status).toBe(415);
    expect(r.headers['content-type']).toBe('application/json');
    const error = (JSON.parse(r.body) as { error: string }).error;
    expect(error).toContain('JPEG video');
    expect(error).toContain(`rtsp://127.0.0.1:${t.rtspPort}/mjpeg`);
    expect((await raw(t, '/mjpeg.mp4', { method: 'HEAD' })).status).toBe(415);
    expect(t.relay.http.progressivePlayers()).toBe(0);
  });

  it('--read-user/--read-pass: 401 with a Basic challenge without them or with wrong ones; with them, it plays', async () => {
    const none = await raw(auth, '/cam.mp4');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="relaycast", charset="UTF-8"');
    expect(JSON.parse(none.body)).toEqual({ error: expect.stringContaining('read credentials') });
    const basic = (u: string, p: string) => ({ Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}` });
    for (const headers of [basic(READ.username, 'wrong'), basic('someone', READ.password), { Authorization: 'Bearer x' }, basic(READ.username, `${READ.password}x`)]) {
      const r = await raw(auth, '/cam.mp4', { headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.headers['www-authenticate']).toContain('Basic');
    }
    // No hint whether a name exists before the credentials are right; after, the usual 404.
    expect((await raw(auth, '/nobody.mp4')).status).toBe(401);
    expect((await raw(auth, '/nobody.mp4', { headers: basic(READ.username, READ.password) })).status).toBe(404);
    expect((await raw(auth, '/cam.mp4', { method: 'HEAD', headers: basic(READ.username, READ.password) })).status).toBe(200);
    const probe = await ffprobe(url(auth, '/cam.mp4', READ));
    expect(probe.streams.map((s) => s.codec_name)).toEqual(['h264', 'opus']);
  });

  it('--max-clients counts HTTP and RTSP players together: the one over the limit gets 503 with Retry-After', async () => {
    const rtsp = await RtspTestClient.connect(t.url('light'));
    const players: ProgressiveClient[] = [];
    try {
      await rtsp.play({ transport: 'tcp' });
      for (let i = 0; i < 2; i++) {
        const c = new ProgressiveClient(url(t, '/light.mp4'));
        players.push(c);
        expect((await c.response).status).toBe(200);
      }
      expect(t.relay.registry.totalReaders()).toBe(3);
      // /api/streams tells the players apart by protocol.
      const api = (await (await fetch(url(t, '/api/streams'))).json()) as Array<{ name: string; rtspPlayers: number; httpPlayers: number }>;
      expect(api.find((s) => s.name === 'light')).toMatchObject({ rtspPlayers: 1, httpPlayers: 2 });
      const over = new ProgressiveClient(url(t, '/light.mp4'));
      players.push(over);
      expect((await over.response).status).toBe(503);
      await over.ended;
      expect(over.headers['retry-after']).toBe('10');
      expect(JSON.parse(over.body())).toEqual({ error: expect.stringContaining('player limit (3)') });
      players.pop();
      // The RTSP side counts the HTTP players too: a second RTSP player is over the limit as well.
      const rtsp2 = await RtspTestClient.connect(t.url('light'));
      try {
        const refused = await rtsp2.play({ transport: 'tcp' }).then(
          () => undefined,
          (err: unknown) => (err instanceof RtspStatusError ? err.response.status : String(err)),
        );
        expect(refused).toBe(503);
      } finally {
        await rtsp2.close();
      }
      // A player leaves: its place is free again.
      players.shift()!.close();
      await until(() => t.relay.registry.totalReaders() === 2, 3000, 'the player to leave the hub');
      const next = new ProgressiveClient(url(t, '/light.mp4'));
      players.push(next);
      expect((await next.response).status).toBe(200);
    } finally {
      for (const c of players) c.close();
      await rtsp.close();
    }
    await until(() => t.relay.registry.totalReaders() === 0, 3000, 'every player to leave the hub');
  });

  it('a player that stops reading is skipped to a keyframe, then cut off; a normal player of the same stream keeps decoding', async () => {
    const fast = url(t, '/fast.mp4');
    const normal = execa('ffmpeg', ['-nostdin', '-v', 'error', '-i', fast, '-frames:v', '180', '-progress', 'pipe:1', '-f', 'null', '-'], { reject: false, timeout: 30_000 });
    const slow = new ProgressiveClient(fast);
    await slow.until((c) => c.fragments.length >= 20, 10_000, '20 fragments');
    slow.pause();
    const pausedAt = performance.now();
    await until(() => t.logs.some((l) => l['event'] === 'http.player_dropped'), 15_000, 'the slow player to be dropped');
    const droppedAfter = performance.now() - pausedAt;
    // Reading again, it finds the connection cut (reset), not a clean end.
    slow.resume();
    const end = await slow.ended;
    expect(end.complete).toBe(false);

    const n = await normal;
    expect(n.stderr).toBe('');
    expect(n.exitCode).toBe(0);
    expect([...String(n.stdout).matchAll(/^frame=(\d+)$/gm)].map((m) => Number(m[1])).at(-1)).toBe(180);

    const behind = t.logs.filter((l) => l['event'] === 'reader-behind');
    const dropped = t.logs.filter((l) => l['event'] === 'http.player_dropped');
    const ends = t.logs.filter((l) => l['event'] === 'http.player_end' && l['stream'] === 'fast');
    // Exactly one player fell behind (the slow one); it was skipped first, then dropped after maxBehindMs.
    expect(behind).toHaveLength(1);
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!['reader']).toBe(behind[0]!['reader']);
    expect(droppedAfter).toBeGreaterThan(POLICY.maxBehindMs);
    // Bounded: what the server held for it when it gave up is the policy's bound (here the group-sized one), not the
    // stream so far.
    expect(dropped[0]!['backlog']).toBeLessThan(8 * 1024 * 1024);
    const slowEnd = ends.find((l) => l['reader'] === dropped[0]!['reader']);
    const normalEnd = ends.find((l) => l['reader'] !== dropped[0]!['reader']);
    expect(slowEnd).toMatchObject({ reason: 'too-slow', skips: 1 });
    expect(normalEnd).toMatchObject({ reason: 'client-closed', skips: 0, droppedUnits: 0 });
  });

  it('when the publisher leaves for good (grace 0), every player\'s response ends cleanly, and the name is a 404 again', async () => {
    const players = [new ProgressiveClient(url(t, '/light.mp4')), new ProgressiveClient(url(t, '/light.mp4'))];
    await Promise.all(players.map((c) => c.until((x) => x.fragments.length >= 10, 10_000, '10 fragments')));
    // The publisher's connection is lost (no Stop): the grace path, which with --publisher-grace 0 ends at once.
    const stoppedAt = performance.now();
    await light.drop();
    const ends = await Promise.all(players.map((c) => c.ended));
    for (const [i, end] of ends.entries()) {
      expect(end.complete, `player ${i}`).toBe(true);
      expect(end.at - stoppedAt).toBeLessThan(2000);
      const c = players[i]!;
      expect(c.problems).toEqual([]);
      // Nothing cut in half: every byte belongs to a whole fragment, and the last ones still increase.
      expect(c.body()).toBe('');
      const times = decodeTimes(c, trackIdOf(c, 'video'));
      expect(times.every((x, j) => j === 0 || x > times[j - 1]!)).toBe(true);
    }
    expect((await raw(t, '/light.mp4')).status).toBe(404);
    expect(t.relay.http.progressivePlayers()).toBe(0);
  });
});

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
