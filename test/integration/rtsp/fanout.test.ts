// Fan-out under load: many readers get the same stream, and one reader that stops reading hurts nobody else.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { sleep, until } from './helpers.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

describe('120 concurrent TCP readers', () => {
  const READERS = 120;
  let t: TestRelay;
  let pub: Publisher;
  let clients: RtspTestClient[] = [];
  const name = 'many';

  beforeAll(async () => {
    t = await startTestRelay();
    pub = publish({ url: t.url(name), audio: 'opus', gop: 30, bitrate: '500k' });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await stopProcess(pub);
    await t.close();
  });

  it('all receive the stream, each about the same number of bytes', async () => {
    clients = await Promise.all(Array.from({ length: READERS }, () => RtspTestClient.connect(t.url(name))));
    await Promise.all(clients.map((c) => c.play({ transport: 'tcp', countOnly: true })));
    expect(t.relay.rtsp.playersOf(name)).toBe(READERS);
    expect(t.relay.registry.get(name)?.readerCount()).toBe(READERS);

    // Compare what arrives in the same window, after every reader has had its start-up burst (the cached GOP).
    await until(() => clients.every((c) => (c.tracks[0]?.packets ?? 0) > 0), 'every reader to get video');
    await sleep(300);
    const before = clients.map((c) => c.totalBytes);
    const inBefore = t.relay.registry.get(name)?.snapshot().bytesIn ?? 0;
    await sleep(2500);
    const deltas = clients.map((c, i) => c.totalBytes - (before[i] ?? 0));
    const ingest = (t.relay.registry.get(name)?.snapshot().bytesIn ?? 0) - inBefore;

    for (const c of clients) {
      expect(c.tracks[0]?.packets).toBeGreaterThan(0); // video
      expect(c.tracks[1]?.packets).toBeGreaterThan(0); // audio
    }
    const m = median(deltas);
    expect(m).toBeGreaterThan(0);
    // Every reader gets what came in (plus 4 bytes of '$' framing a packet), within ±20% for window edges.
    expect(m / ingest).toBeGreaterThan(0.8);
    expect(m / ingest).toBeLessThan(1.2);
    const off = deltas.filter((d) => Math.abs(d - m) > 0.2 * m);
    expect(off, `readers more than 20% off the median ${m}: ${off.join(', ')}`).toEqual([]);
    expect(t.relay.registry.get(name)?.snapshot()).toMatchObject({ readerSkips: 0, readersDropped: 0 });
  });
});

describe('a stalled reader', () => {
  let t: TestRelay;
  let pub: Publisher;
  let clients: RtspTestClient[] = [];
  const name = 'stall';

  beforeAll(async () => {
    // A small reader policy so the test does not wait for megabytes to pile up: 128 KiB of backlog skips to the
    // next keyframe, 1 s behind drops the reader.
    t = await startTestRelay([], { policy: { skipBacklogBytes: 128 * 1024, maxBehindMs: 1000 } });
    pub = publish({ url: t.url(name), audio: 'none', gop: 30, bitrate: '8M', size: '1280x720' });
    await waitLive(t.relay, name);
  });
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it('does not slow the others, is skipped, then dropped and disconnected', async () => {
    const healthy = await Promise.all([0, 1, 2].map(() => RtspTestClient.connect(t.url(name))));
    const stalled = await RtspTestClient.connect(t.url(name));
    clients = [...healthy, stalled];
    for (const c of clients) await c.play({ transport: 'tcp', countOnly: true });
    const stream = t.relay.registry.get(name);
    if (!stream) throw new Error('stream gone');
    await until(() => clients.every((c) => (c.tracks[0]?.packets ?? 0) > 0), 'every reader to get video');

    stalled.stall();
    const stalledAt = Date.now();
    const before = healthy.map((c) => c.totalBytes);
    const inBefore = stream.snapshot().bytesIn;

    // The kernel buffers fill, the backlog passes the bound, the reader skips, and 1 s later it is dropped.
    await until(() => stream.snapshot().readersDropped === 1, 'the stalled reader to be dropped', 15_000);
    const droppedAfterMs = Date.now() - stalledAt;
    await sleep(500);

    const ingest = stream.snapshot().bytesIn - inBefore;
    const got = healthy.map((c, i) => c.totalBytes - (before[i] ?? 0));
    // Healthy readers got everything that came in while the other one was stalled, at the live rate.
    for (const g of got) expect(g / ingest).toBeGreaterThan(0.9);
    const s = stream.snapshot();
    expect(s.readerSkips).toBeGreaterThanOrEqual(1);
    expect(s.readers).toBe(3);
    expect(t.relay.rtsp.playersOf(name)).toBe(3);
    // Operators see the same in the API.
    const api = (await (await fetch(`http://127.0.0.1:${t.relay.http.port()}/api/streams`)).json()) as Array<{ name: string; playerDrops: { skips: number; disconnected: number } }>;
    expect(api.find((x) => x.name === name)?.playerDrops).toEqual({ skips: s.readerSkips, disconnected: 1 });
    expect(t.logs.some((l) => l.event === 'reader-behind')).toBe(true);
    const dropped = t.logs.find((l) => l.event === 'reader-dropped');
    expect(dropped).toMatchObject({ level: 'warn', reason: 'too-slow' });
    expect(Number(dropped?.behindMs)).toBeGreaterThanOrEqual(1000);
    expect(droppedAfterMs).toBeLessThan(15_000);

    // The relay closed the stalled player's connection: once it reads again it sees the end of the stream.
    const bytesAtDrop = stalled.totalBytes;
    stalled.resume();
    let closed = false;
    void stalled.closed.then(() => (closed = true));
    await until(() => closed, 'the stalled client to see its connection closed', 5000);
    // What it reads then is only what was already in the kernel buffers (a few MB at most), not a live stream.
    expect(stalled.totalBytes - bytesAtDrop).toBeLessThan(16 * 1024 * 1024);
  });
});
