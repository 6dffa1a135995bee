// What the publisher WebSocket does with clients that are not the page: garbage instead of the protocol, pages from
// other origins, bad or taken stream names. Each is closed with a reason, nothing reaches ffmpeg (no process is
// spawned before a valid init segment), and the relay keeps serving a well-behaved publisher.
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { loadPublisherMedia, openPublishSocket, WsPublisher, type CloseInfo, type PublisherMedia } from '../../support/ws-publisher.ts';
import { waitFor } from '../../support/ffmpeg.ts';
import { ffmpegChildren, spawnedPids, streamJson } from './helpers.ts';

let media: PublisherMedia;
let relay: TestRelay;
let nginx: NginxRtmp;
const publishers: WsPublisher[] = [];
const extraRelays: TestRelay[] = [];
const rtspPublishers: Publisher[] = [];

beforeAll(async () => {
  // With a destination configured, every accepted stream spawns an ffmpeg: "no ffmpeg spawned" below means something.
  [media, nginx] = await Promise.all([loadPublisherMedia(), startNginxRtmp()]);
  relay = await startTestRelay(['--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`]);
});

afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.dispose()));
  await Promise.all(rtspPublishers.splice(0).map((p) => stopProcess(p)));
  await Promise.all(extraRelays.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  await relay?.close();
  await nginx?.stop();
  expect(await ffmpegChildren()).toEqual([]);
});

function publisher(stream: string, o: { relay?: TestRelay; origin?: string | null; edit?: (h: Record<string, unknown>) => Record<string, unknown> } = {}): WsPublisher {
  const p = new WsPublisher({
    port: (o.relay ?? relay).relay.http.port(),
    stream,
    media,
    ...(o.origin !== undefined ? { origin: o.origin } : {}),
    ...(o.edit ? { editHello: (h) => o.edit!({ ...h }) } : {}),
  });
  publishers.push(p);
  return p;
}

const http = (r: TestRelay = relay): number => r.relay.http.port();

/** What the WebSocket protocol closes with: 1003 (unsupported data) or 1008 (policy), and a sentence. */
function expectReasonedClose(c: CloseInfo, what: string): void {
  expect([1003, 1008], `${what}: close code ${c.code} (${c.reason})`).toContain(c.code);
  expect(c.reason.length, `${what}: close reason`).toBeGreaterThan(0);
}

const hello = (stream: string): string =>
  JSON.stringify({ type: 'hello', version: 1, stream, video: { codec: media.codec, width: media.width, height: media.height, framerate: 30, bitrate: 1_000_000 }, audio: { codec: 'opus', sampleRate: 48_000, channels: media.channels } });
const bin = (s: string): Buffer => Buffer.from(s, 'utf8');

describe('garbage on the publisher WebSocket', () => {
  const cases: Array<{ name: string; stream: string; send: () => Array<string | Buffer> }> = [
    { name: 'random bytes as the first message', stream: 'g1', send: () => [randomBytes(4096)] },
    { name: 'hello, then random bytes', stream: 'g2', send: () => [hello('g2'), randomBytes(4096)] },
    { name: 'hello, then an HLS playlist', stream: 'g3', send: () => [hello('g3'), bin('#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nfile:///etc/passwd\n')] },
    { name: 'hello, then an ffconcat script', stream: 'g4', send: () => [hello('g4'), bin('ffconcat version 1.0\nfile /etc/passwd\n')] },
    { name: 'a text message that is not JSON', stream: 'g5', send: () => ['hello, server'] },
    { name: 'JSON without a type', stream: 'g6', send: () => ['{"version":1,"stream":"g6"}'] },
    { name: 'a hello with protocol version 2', stream: 'g7', send: () => [hello('g7').replace('"version":1', '"version":2')] },
    { name: 'hello, then a second hello', stream: 'g8', send: () => [hello('g8'), hello('g8')] },
    { name: 'hello, then an init segment with an ffconcat script appended inside an ftyp-looking box', stream: 'g9', send: () => [hello('g9'), Buffer.concat([Buffer.from([0, 0, 0, 0x30]), bin('ftypffconcat version 1.0\nfile /etc/passwd\n\n\n\n\n')])] },
  ];

  for (const c of cases) {
    it(`${c.name}: closed with a reason, no ffmpeg spawned`, async () => {
      const spawnsBefore = spawnedPids(relay).length;
      const s = openPublishSocket(http());
      expect(await s.opened).toEqual({ ok: true });
      for (const m of c.send()) s.socket.send(m, { binary: typeof m !== 'string' });
      const close = await s.closed;
      expectReasonedClose(close, c.name);
      // The page is told why in a message too (error or refused), before the close.
      expect(s.messages.some((m) => typeof m === 'object' && m !== null && ['error', 'refused'].includes((m as { type: string }).type)), JSON.stringify(s.messages)).toBe(true);
      expect(spawnedPids(relay).length).toBe(spawnsBefore);
      expect(await ffmpegChildren()).toEqual([]);
      expect(await streamJson(relay, c.stream)).toBeUndefined();
    });
  }

  it('a binary message over the 16 MiB limit closes 1009 without an ffmpeg', async () => {
    const spawnsBefore = spawnedPids(relay).length;
    const s = openPublishSocket(http());
    expect(await s.opened).toEqual({ ok: true });
    s.socket.send(hello('big'));
    s.socket.send(Buffer.alloc(17 * 1024 * 1024));
    const close = await s.closed;
    expect(close.code).toBe(1009);
    expect(spawnedPids(relay).length).toBe(spawnsBefore);
    expect(await ffmpegChildren()).toEqual([]);
  });

  it('at its --max-publishers limit the relay refuses another stream with code limit, and the live one carries on', async () => {
    const r = await startTestRelay(['--max-publishers', '1']);
    extraRelays.push(r);
    const first = publisher('one', { relay: r });
    await first.connectOrThrow();
    first.start();
    await waitLive(r.relay, 'one');
    const second = await publisher('two', { relay: r }).connect();
    expect(second).toMatchObject({ kind: 'refused', message: { code: 'limit' }, close: { code: 1008 } });
    if (second.kind === 'refused') expect(second.message.message).toContain('--max-publishers');
    expect(r.relay.registry.get('one')?.state).toBe('live');
    expect(r.relay.registry.get('two')).toBeUndefined();
  });

  it('a socket that sends no hello, or a hello and then no init segment, is closed with a sentence that says which', async () => {
    const r = await startTestRelay([], { helloTimeoutMs: 500 });
    extraRelays.push(r);
    const silent = openPublishSocket(http(r));
    expect(await silent.opened).toEqual({ ok: true });
    expect(await silent.closed).toMatchObject({ code: 1008, reason: 'no hello within 0.5 s' });
    const noInit = openPublishSocket(http(r));
    expect(await noInit.opened).toEqual({ ok: true });
    noInit.socket.send(hello('noinit'));
    expect(await noInit.closed).toMatchObject({ code: 1008, reason: 'no init segment after hello within 0.5 s' });
    // It was accepted first: the deadline that closed it was the init segment's, not hello's.
    expect(noInit.messages.some((m) => typeof m === 'object' && m !== null && (m as { type: string }).type === 'accepted')).toBe(true);
  });

  it('a bad version is refused with code bad-version', async () => {
    const r = await publisher('badver', { edit: (h) => ({ ...h, version: 99 }) }).connect();
    expect(r).toMatchObject({ kind: 'refused', message: { code: 'bad-version' }, close: { code: 1008 } });
  });

  it('after all that, a well-behaved publisher goes live and its ffmpeg is the only one', async () => {
    const spawnsBefore = spawnedPids(relay).length;
    const p = publisher('afterjunk');
    await p.connectOrThrow();
    p.start();
    await waitLive(relay.relay, 'afterjunk');
    expect(await waitFor(async () => (await streamJson(relay, 'afterjunk'))?.outputs[0]?.state === 'running', 10_000, 100)).toBe(true);
    expect(spawnedPids(relay).length).toBe(spawnsBefore + 1);
    expect(await ffmpegChildren()).toEqual(spawnedPids(relay, 'afterjunk'));
    await p.stop();
  });
});

describe('Origin check on the WebSocket upgrade', () => {
  it('a page from another origin gets HTTP 403 and no WebSocket', async () => {
    const s = openPublishSocket(http(), { origin: 'http://evil.example' });
    const opened = await s.opened;
    expect(opened).toMatchObject({ ok: false, httpStatus: 403 });
    if (!opened.ok) expect(opened.body).toContain('--allow-origin http://evil.example');
    await s.closed;
    expect(relay.logs.some((l) => l['event'] === 'ws-denied' && l['origin'] === 'http://evil.example')).toBe(true);
  });

  it('a lookalike of the relay origin (other port, https, suffix) is refused too', async () => {
    for (const origin of [`http://127.0.0.1:${http() + 1}`, `https://127.0.0.1:${http()}`, `http://127.0.0.1:${http()}.evil.example`, 'null']) {
      const s = openPublishSocket(http(), { origin });
      expect(await s.opened, origin).toMatchObject({ ok: false, httpStatus: 403 });
      await s.closed;
    }
  });

  it('the relay page origin is accepted, and so is a client that sends no Origin (not a browser)', async () => {
    const same = await publisher('sameorigin').connect();
    expect(same.kind).toBe('accepted');
    const none = await publisher('noorigin', { origin: null }).connect();
    expect(none.kind).toBe('accepted');
  });

  it('--allow-origin http://evil.example lets that page publish', async () => {
    const r = await startTestRelay(['--allow-origin', 'http://evil.example']);
    extraRelays.push(r);
    const p = publisher('allowed', { relay: r, origin: 'http://evil.example' });
    expect((await p.connect()).kind).toBe('accepted');
    const other = openPublishSocket(http(r), { origin: 'http://other.example' });
    expect(await other.opened).toMatchObject({ ok: false, httpStatus: 403 });
    await other.closed;
  });

  it('another path than /ws/publish is 404', async () => {
    const s = openPublishSocket(http(), { path: '/ws/other' });
    expect(await s.opened).toMatchObject({ ok: false, httpStatus: 404 });
    await s.closed;
  });
});

describe('stream names', () => {
  for (const name of ['-f', '../x', '', 'a'.repeat(65), 'a/b', 'x y', '.hidden', 'name?x=1']) {
    it(`"${name.length > 20 ? `${name.slice(0, 8)}… (${name.length} chars)` : name}" is refused with bad-name`, async () => {
      const r = await publisher(name).connect();
      expect(r).toMatchObject({ kind: 'refused', message: { code: 'bad-name' }, close: { code: 1008 } });
      if (r.kind === 'refused') {
        expect(r.message.message.length).toBeGreaterThan(0);
        expect(r.close.reason.length).toBeGreaterThan(0);
      }
    });
  }

  it('64 characters is still a good name', async () => {
    expect((await publisher('a'.repeat(64)).connect()).kind).toBe('accepted');
  });

  it('a second publisher on a live name is refused in-use while the first carries on', async () => {
    const first = publisher('taken');
    await first.connectOrThrow();
    first.start();
    await waitLive(relay.relay, 'taken');
    const second = await publisher('taken').connect();
    expect(second).toMatchObject({ kind: 'refused', message: { code: 'in-use' }, close: { code: 1008 } });
    // The first is untouched: still open, still counted, its stream still live and growing.
    const before = (await streamJson(relay, 'taken'))!;
    expect(first.socket?.readyState).toBe(1);
    const from = first.messages.length;
    const stats = await first.waitFor((m): m is Extract<typeof m, { type: 'stats' }> => m.type === 'stats', 5_000, from);
    expect(stats.fragments).toBeGreaterThan(0);
    expect(before).toMatchObject({ source: 'browser', state: 'live' });
    expect(first.closes).toEqual([]);
    await first.stop();
  });

  it('a name published over RTSP (ffmpeg ANNOUNCE/RECORD) is in-use for a browser', async () => {
    const ff = publish({ url: relay.url('rtspcam'), gop: 30 });
    rtspPublishers.push(ff);
    await waitLive(relay.relay, 'rtspcam', 15_000);
    const r = await publisher('rtspcam').connect();
    expect(r).toMatchObject({ kind: 'refused', message: { code: 'in-use' } });
    expect(await streamJson(relay, 'rtspcam')).toMatchObject({ source: 'rtsp', state: 'live' });
  });
});
