// Credentials: publishers (with trustLoopback off, so 127.0.0.1 counts as remote) and players; Digest always,
// Basic only with --rtsp-basic-auth; a wrong password is answered late.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { authorizationHeader } from '../../../server/protocols/rtsp/auth.ts';
import type { RtspResponse } from '../../../server/protocols/rtsp/message.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspStatusError, RtspTestClient } from '../../support/rtsp-client.ts';
import { ClientPool, h264Sdp, until } from './helpers.ts';

const FAILURE_DELAY: [number, number] = [300, 400];

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
});

function connect(url: string): Promise<RtspTestClient> {
  return clients.connect(url);
}

function challenges(r: RtspResponse): string[] {
  return r.headers.filter(([n]) => n.toLowerCase() === 'www-authenticate').map(([, v]) => v);
}

/** A Digest Authorization answering the first challenge of `r`. */
function digest(r: RtspResponse, o: { username: string; password: string; method: string; uri: string }): string {
  const c = challenges(r).find((v) => v.startsWith('Digest')) ?? '';
  const realm = /realm="([^"]*)"/.exec(c)?.[1] ?? '';
  const nonce = /nonce="([^"]*)"/.exec(c)?.[1] ?? '';
  return authorizationHeader({ scheme: 'Digest', realm, nonce, ...o });
}

const basic = (username: string, password: string) => authorizationHeader({ scheme: 'Basic', username, password });

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await p;
  return { value, ms: performance.now() - start };
}

function withCredentials(url: string, user: string, pass: string): string {
  const u = new URL(url);
  u.username = user;
  u.password = pass;
  return u.toString();
}

describe('publishing with credentials (loopback not trusted)', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'guarded';

  beforeAll(async () => {
    t = await startTestRelay(['--publish-user', 'pub', '--publish-pass', 's3cret'], { auth: { trustLoopback: false }, rtsp: { authFailureDelayMs: FAILURE_DELAY } });
  });
  afterAll(async () => {
    if (pub) await stopProcess(pub);
    await t.close();
  });

  it('ffmpeg with the right user:pass in the URL publishes (Digest)', async () => {
    pub = publish({ url: withCredentials(t.url(name), 'pub', 's3cret'), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
    // Players need nothing: no read credentials are configured.
    const c = await connect(t.url(name));
    await c.play({ transport: 'tcp' });
    await until(() => (c.tracks[0]?.packets ?? 0) > 0, 'the player to get video');
  });

  it('ffmpeg with a wrong password is refused with 401', async () => {
    const r = await execa('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-t', '5', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'rtsp', '-rtsp_transport', 'tcp', withCredentials(t.url('intruder'), 'pub', 'wrong')], { reject: false, timeout: 15_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/401/);
    expect(t.relay.registry.get('intruder')).toBeUndefined();
  });

  it('on the wire: no credentials → 401 with a Digest challenge at once; a wrong password → 401 after the delay', async () => {
    const c = await connect(t.url('wire'));
    const announce = (headers: Array<[string, string]>) => c.request('ANNOUNCE', t.url('wire'), [['Content-Type', 'application/sdp'], ...headers], Buffer.from(h264Sdp()));
    const first = await timed(announce([]));
    expect(first.value.status).toBe(401);
    expect(first.ms).toBeLessThan(FAILURE_DELAY[0]);
    expect(challenges(first.value)).toHaveLength(1);
    expect(challenges(first.value)[0]).toMatch(/^Digest realm="relaycast", nonce="[0-9a-f]+"/);

    const wrong = await timed(announce([['Authorization', digest(first.value, { username: 'pub', password: 'nope', method: 'ANNOUNCE', uri: t.url('wire') })]]));
    expect(wrong.value.status).toBe(401);
    expect(wrong.ms).toBeGreaterThanOrEqual(FAILURE_DELAY[0] - 20);
    expect(t.logs.some((l) => l.event === 'auth-failed' && l.role === 'publish' && l.user === 'pub')).toBe(true);

    // Basic is off: even the right password in Basic is refused.
    expect((await announce([['Authorization', basic('pub', 's3cret')]])).status).toBe(401);
    // A digest signed for another method does not pass either.
    expect((await announce([['Authorization', digest(first.value, { username: 'pub', password: 's3cret', method: 'DESCRIBE', uri: t.url('wire') })]])).status).toBe(401);

    const right = await announce([['Authorization', digest(first.value, { username: 'pub', password: 's3cret', method: 'ANNOUNCE', uri: t.url('wire') })]]);
    expect(right.status).toBe(200);
  });

  it('SETUP(record) on a connection that never authenticated is refused', async () => {
    const c = await connect(t.url('sneaky'));
    const s = await c.request('SETUP', `${t.url('sneaky')}/streamid=0`, [['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1;mode=record']]);
    expect(s.status).toBe(401);
  });
});

describe('publishing from a non-trusted address with no credentials configured', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await startTestRelay([], { auth: { trustLoopback: false } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('is refused with 403 and a sentence that says which flags to set', async () => {
    const c = await connect(t.url('open'));
    const a = await c.request('ANNOUNCE', t.url('open'), [['Content-Type', 'application/sdp']], Buffer.from(h264Sdp()));
    expect(a.status).toBe(403);
    expect(Buffer.from(a.body).toString()).toMatch(/--publish-user/);
    const r = await execa('ffmpeg', ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-t', '5', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'rtsp', '-rtsp_transport', 'tcp', t.url('open')], { reject: false, timeout: 15_000 });
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/403/);
  });
});

describe.each([
  { basicAuth: false, flags: [] as string[] },
  { basicAuth: true, flags: ['--rtsp-basic-auth'] },
])('read credentials (--rtsp-basic-auth: $basicAuth)', ({ basicAuth, flags }) => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'members';
  const creds = { username: 'viewer', password: 'p@ss w0rd' };

  beforeAll(async () => {
    t = await startTestRelay(['--read-user', creds.username, '--read-pass', creds.password, ...flags], { rtsp: { authFailureDelayMs: FAILURE_DELAY } });
    // The publisher is on loopback, trusted by default: it needs no credentials.
    pub = publish({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it('a player without credentials gets 401', async () => {
    const c = await connect(t.url(name));
    await expect(c.play({ transport: 'tcp' })).rejects.toSatisfy((e) => e instanceof RtspStatusError && e.method === 'DESCRIBE' && e.response.status === 401);
    // Nor can it skip DESCRIBE.
    const s = await (await connect(t.url(name))).request('SETUP', `${t.url(name)}/trackID=0`, [['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]);
    expect(s.status).toBe(401);
    expect(t.relay.rtsp.playersOf(name)).toBe(0);
  });

  it('a player with credentials (Digest) plays', async () => {
    const c = await connect(t.url(name));
    await c.play({ transport: 'tcp', credentials: creds });
    await until(() => (c.tracks[0]?.packets ?? 0) > 0, 'the player to get video');
  });

  it('ffmpeg with credentials decodes; with a wrong password it gets 401', async () => {
    const ok = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', withCredentials(t.url(name), creds.username, creds.password), '-frames:v', '10', '-f', 'null', '-'], { reject: false, timeout: 15_000 });
    expect(ok.exitCode, ok.stderr).toBe(0);
    const bad = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', withCredentials(t.url(name), creds.username, 'guess'), '-frames:v', '10', '-f', 'null', '-'], { reject: false, timeout: 15_000 });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/401/);
  });

  it(basicAuth ? 'offers and accepts Basic' : 'neither offers nor accepts Basic', async () => {
    const c = await connect(t.url(name));
    const first = await c.request('DESCRIBE', t.url(name));
    expect(first.status).toBe(401);
    expect(challenges(first).some((v) => v.startsWith('Basic'))).toBe(basicAuth);
    const right = await c.request('DESCRIBE', t.url(name), [['Authorization', basic(creds.username, creds.password)]]);
    expect(right.status).toBe(basicAuth ? 200 : 401);
    const wrong = await timed((await connect(t.url(name))).request('DESCRIBE', t.url(name), [['Authorization', basic(creds.username, 'guess')]]));
    expect(wrong.value.status).toBe(401);
    expect(wrong.ms).toBeGreaterThanOrEqual(FAILURE_DELAY[0] - 20);
  });
});
