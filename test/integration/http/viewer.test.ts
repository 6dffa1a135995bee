// The viewer socket (/ws/view?stream=NAME) at its edges, on real relays: what it refuses before the upgrade (names,
// oversized targets, another protocol version), what it closes with a reason (bad messages, wrong or missing read
// credentials), a viewer of a stream that does not exist yet (it waits, then plays), and a viewer that stops reading
// (skipped, then cut off with its backlog bounded) while another keeps the full rate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authSubprotocol, VIEW_SUBPROTOCOL } from '../../../shared/view-protocol.ts';
import { publish, publishFast, startTestRelay, startWsPublisher, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { ViewerClient } from '../../support/viewer-client.ts';
import type { WsPublisher } from '../../support/ws-publisher.ts';

const POLICY = { skipBacklogBytes: 64 * 1024, maxBehindMs: 1000 };
const READ = { username: 'viewer', password: 'secret pass:1' };

/** Relay `t`: a small reader policy. Relay `auth`: read credentials. */
let t: TestRelay;
let auth: TestRelay;
let fast: Publisher;
const wsPublishers: WsPublisher[] = [];
const clients: ViewerClient[] = [];

function viewer(relay: TestRelay, o: Omit<ConstructorParameters<typeof ViewerClient>[0], 'port'>): ViewerClient {
  const c = new ViewerClient({ port: relay.relay.http.port(), ...o });
  clients.push(c);
  return c;
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  [t, auth] = await Promise.all([
    startTestRelay(['--publisher-grace', '0'], { policy: POLICY }),
    startTestRelay(['--read-user', READ.username, '--read-pass', READ.password], { viewer: { authFailureDelayMs: [20, 40] } }),
  ]);
  fast = publishFast(t.url('fast'));
  await Promise.all([startWsPublisher(auth, 'cam', wsPublishers), waitLive(t.relay, 'fast', 15_000)]);
}, 40_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(wsPublishers.map((p) => p.dispose()));
  await stopProcess(fast);
  await Promise.all([t?.close(), auth?.close()]);
});

describe('/ws/view refuses bad requests', () => {
  it('before the upgrade: no or bad stream names, oversized targets, another protocol version (4xx with a sentence)', async () => {
    const cases: Array<[string, string[] | undefined, number, string]> = [
      ['/ws/view', undefined, 400, 'say which stream to watch'],
      ['/ws/view?stream=', undefined, 400, 'The stream name is empty'],
      ['/ws/view?stream=..', undefined, 400, 'is not a valid stream name'],
      ['/ws/view?stream=..%2Fetc', undefined, 400, 'is not a valid stream name'],
      ['/ws/view?stream=-x', undefined, 400, 'is not a valid stream name'],
      [`/ws/view?stream=${'a'.repeat(65)}`, undefined, 400, 'the limit is 64'],
      [`/ws/view?stream=cam&pad=${'x'.repeat(3000)}`, undefined, 414, 'the limit is 1024'],
      ['/ws/view?stream=cam', ['relaycast.view.v9'], 400, VIEW_SUBPROTOCOL],
      ['/ws/other', undefined, 404, '/ws/view?stream=NAME'],
    ];
    for (const [path, protocols, status, sentence] of cases) {
      const c = viewer(t, { path, ...(protocols ? { protocols } : {}) });
      const r = await c.opened;
      expect(r, path).toEqual({ ok: false, status, body: expect.stringContaining(sentence) });
    }
    expect(t.relay.http.viewerPlayers()).toBe(0);
  });

  it('after it: a message that is not pause/play closes the socket with 1003 and a reason', async () => {
    for (const bad of ['{"type":"seek"}', 'not json', Buffer.from([1, 2, 3])]) {
      const c = viewer(t, { stream: 'fast' });
      expect((await c.opened).ok).toBe(true);
      c.send(bad);
      const closed = await c.closed;
      expect(closed.code).toBe(1003);
      expect(closed.reason.length).toBeGreaterThan(0);
      expect(c.messages.at(-1)).toMatchObject({ type: 'error', code: 'bad-request' });
    }
    await until(() => t.relay.http.viewerPlayers() === 0, 2000, 'the viewers to be gone');
  });
});

describe('/ws/view plays', () => {
  it('an unknown name waits; the stream starts when its publisher goes live, on a keyframe, and ends when it leaves', async () => {
    const c = viewer(t, { stream: 'later' });
    const opened = await c.opened;
    expect(opened).toEqual({ ok: true, protocol: VIEW_SUBPROTOCOL });
    await c.until((v) => v.types().includes('waiting'), 5000, 'waiting');
    expect(c.messages[0]).toMatchObject({ type: 'hello', version: 1, stream: 'later' });
    expect(c.messages[1]).toMatchObject({ type: 'waiting', message: expect.stringContaining('Nobody is broadcasting "later"') });
    // Waiting holds a place: a player of the server, though in no hub.
    expect(t.relay.http.viewerPlayers()).toBe(1);
    expect(t.relay.registry.totalReaders()).toBe(0);

    const p = await startWsPublisher(t, 'later', wsPublishers);
    await c.until((v) => v.videoChunks >= 60 && v.audioChunks > 10, 15_000, '60 video frames');
    expect(c.inits).toBe(1);
    expect(c.keyframeFirst).toBe(true);
    expect(c.problems).toEqual([]);
    const live = c.messages.find((m) => m.type === 'live');
    expect(live).toEqual({ type: 'live', message: expect.any(String), init: true, tracks: [{ kind: 'video', codec: 'H264' }, { kind: 'audio', codec: 'OPUS' }], leftOut: [] });
    expect(c.messages.some((m) => m.type === 'sync')).toBe(true);

    await p.stop();
    await c.until((v) => v.types().includes('ended'), 5000, 'ended');
    // The socket stays open for the next publisher of the name, and plays it from a new init segment.
    expect(c.socket.readyState).toBe(c.socket.OPEN);
    const frames = c.videoChunks;
    await startWsPublisher(t, 'later', wsPublishers);
    await c.until((v) => v.inits === 2 && v.videoChunks >= frames + 30, 15_000, 'the next publisher');
    expect(c.keyframeFirst).toBe(true);
    expect(c.problems).toEqual([]);
    expect(c.types().filter((x) => x === 'live')).toHaveLength(2);
    c.close();
  });

  it('a viewer that stops reading is skipped, then cut off with a bounded backlog; another keeps the full rate', async () => {
    const normal = viewer(t, { stream: 'fast' });
    const stalled = viewer(t, { stream: 'fast' });
    await Promise.all([normal.until((v) => v.videoChunks >= 20, 10_000, '20 frames'), stalled.until((v) => v.videoChunks >= 20, 10_000, '20 frames')]);
    const heapBefore = process.memoryUsage().heapUsed;
    stalled.pause();
    const from = normal.videoChunks;
    const started = performance.now();
    await until(() => t.logs.some((l) => l['event'] === 'viewer.dropped'), 15_000, 'the stalled viewer to be dropped');
    await new Promise((r) => setTimeout(r, 1000));
    const seconds = (performance.now() - started) / 1000;
    // The normal viewer kept the stream's 30 fps (within 20 %) all along.
    expect((normal.videoChunks - from) / seconds).toBeGreaterThan(24);
    expect(normal.problems).toEqual([]);

    const dropped = t.logs.filter((l) => l['event'] === 'viewer.dropped');
    expect(dropped).toHaveLength(1);
    // What waited for the stalled socket was bounded by the reader policy (the larger of 64 KiB and twice the cached
    // group: about 2 MB at 16 Mbit/s with 0.5 s groups), not by how long it stalled.
    expect(dropped[0]!['backlog']).toBeLessThan(6 * 1024 * 1024);
    expect(t.logs.some((l) => l['event'] === 'reader-behind')).toBe(true);
    expect(t.relay.http.viewerPlayers()).toBe(1);
    // Nor did the server's heap grow with it (the stalled socket's data is freed with it).
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    normal.close();
  });
});

describe('/ws/view and what the page cannot play', () => {
  it('H.265 video: an error that says where it plays instead, then close 1003; G.711 audio: left out, and said so', async () => {
    const h265 = publish({ url: t.url('hevc'), video: 'h265', audio: 'none' });
    const pcma = publish({ url: t.url('alaw'), audio: 'pcma' });
    try {
      await Promise.all([waitLive(t.relay, 'hevc', 15_000), waitLive(t.relay, 'alaw', 15_000)]);
      const hevc = viewer(t, { stream: 'hevc' });
      expect((await hevc.closed).code).toBe(1003);
      expect(hevc.messages.at(-1)).toEqual({ type: 'error', code: 'unsupported', message: expect.stringMatching(/H265 video, which the viewer page cannot play; play it over RTSP instead: rtsp:\/\/127\.0\.0\.1:\d+\/hevc/) });

      const alaw = viewer(t, { stream: 'alaw' });
      await alaw.until((v) => v.videoChunks >= 10, 10_000, '10 frames');
      expect(alaw.messages.find((m) => m.type === 'live')).toMatchObject({ tracks: [{ kind: 'video', codec: 'H264' }], leftOut: [{ kind: 'audio', codec: 'PCMA' }] });
      expect(alaw.audioChunks).toBe(0);
      alaw.close();
    } finally {
      await Promise.all([stopProcess(h265), stopProcess(pcma)]);
    }
  });
});

describe('/ws/view and --max-clients', () => {
  it('a viewer waiting for its stream holds a place: the next viewer is told to try later (1013), an HTTP player gets 503', async () => {
    const small = await startTestRelay(['--max-clients', '1']);
    try {
      const first = new ViewerClient({ port: small.relay.http.port(), stream: 'soon' });
      await first.until((v) => v.types().includes('waiting'), 5000, 'waiting');
      const second = new ViewerClient({ port: small.relay.http.port(), stream: 'soon' });
      expect((await second.closed).code).toBe(1013);
      expect(second.messages.at(-1)).toEqual({ type: 'error', code: 'limit', message: 'The server is at its player limit (1); try again later.' });
      await startWsPublisher(small, 'other', wsPublishers);
      const http = await fetch(`http://127.0.0.1:${small.relay.http.port()}/other.mp4`);
      expect(http.status).toBe(503);
      await http.body?.cancel();
      first.close();
      await until(() => small.relay.http.viewerPlayers() === 0, 2000, 'the first viewer to leave');
      const third = new ViewerClient({ port: small.relay.http.port(), stream: 'soon' });
      await third.until((v) => v.types().includes('waiting'), 5000, 'waiting');
      third.close();
    } finally {
      await small.close();
    }
  });
});

describe('/ws/view with read credentials', () => {
  it('asks for them (error unauthorized, close 1008), refuses wrong ones, and plays with the subprotocol or Basic', async () => {
    const none = viewer(auth, { stream: 'cam' });
    expect((await none.opened).ok).toBe(true);
    expect((await none.closed).code).toBe(1008);
    expect(none.messages.at(-1)).toEqual({ type: 'error', code: 'unauthorized', message: expect.stringContaining('--read-user/--read-pass') });
    expect(none.videoChunks).toBe(0);

    const wrong = viewer(auth, { stream: 'cam', protocols: [VIEW_SUBPROTOCOL, authSubprotocol(READ.username, 'nope')] });
    expect((await wrong.closed).code).toBe(1008);
    expect(wrong.messages.at(-1)).toMatchObject({ type: 'error', code: 'unauthorized', message: 'The user name or password is wrong.' });

    const page = viewer(auth, { stream: 'cam', protocols: [VIEW_SUBPROTOCOL, authSubprotocol(READ.username, READ.password)] });
    // The server picks the version, never echoes the credentials.
    expect(await page.opened).toEqual({ ok: true, protocol: VIEW_SUBPROTOCOL });
    const basic = `Basic ${Buffer.from(`${READ.username}:${READ.password}`).toString('base64')}`;
    const player = viewer(auth, { stream: 'cam', headers: { Authorization: basic } });
    await Promise.all([page, player].map((c) => c.until((v) => v.videoChunks >= 30, 10_000, '30 frames')));

    // Basic from a page of another site is not taken (a browser would send cached credentials with it).
    const foreign = viewer(auth, { stream: 'cam', headers: { Authorization: basic, Origin: 'http://evil.example' } });
    expect((await foreign.closed).code).toBe(1008);
    expect(foreign.messages.at(-1)).toMatchObject({ type: 'error', code: 'unauthorized', message: expect.stringContaining('needs the viewer user name') });
    expect(foreign.videoChunks).toBe(0);
    page.close();
    player.close();
  });
});
