// GET /api/status, the status page's one answer: the server block (version, listeners, connections) and each stream
// with its publisher and its players by transport; the publisher's address only for the operator.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseStatus, type StatusJson } from '../../../shared/status.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let t: TestRelay;
/** Loopback trust off: every request is treated as one from another machine. */
let remote: TestRelay;
const children: Publisher[] = [];
const players: RtspTestClient[] = [];

beforeAll(async () => {
  [t, remote] = await Promise.all([startTestRelay(), startTestRelay([], { api: { trustLoopback: false } })]);
});
afterEach(async () => {
  await Promise.all(players.splice(0).map((p) => p.close()));
  await Promise.all(children.splice(0).map(stopProcess));
});
afterAll(async () => {
  await Promise.all([t?.close(), remote?.close()]);
});

async function status(relay: TestRelay): Promise<StatusJson> {
  const res = await fetch(`http://127.0.0.1:${relay.relay.http.port()}/api/status`);
  expect(res.status).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  const parsed = parseStatus(await res.json());
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
}

async function live(relay: TestRelay, name: string): Promise<void> {
  children.push(publish({ url: relay.url(name), audio: 'aac' }));
  await waitLive(relay.relay, name);
}

describe('GET /api/status', () => {
  it('gives the server: version, uptime, CPU, memory, listeners and connections', async () => {
    const s = (await status(t)).server;
    expect(s.version).toBe(VERSION);
    expect(s.cores).toBeGreaterThan(0);
    expect(s.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(Date.parse(s.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(s.listening).toEqual([
      { protocol: 'http', host: '127.0.0.1', port: t.relay.http.port() },
      { protocol: 'rtsp', host: '127.0.0.1', port: t.rtspPort },
    ]);
    expect(s.connections).toEqual({ rtsp: 0, rtspSessions: { tcp: 0, udp: 0 }, http: 0, viewer: 0, publishers: { rtsp: 0, websocket: 0 } });
    const res = await fetch(`http://127.0.0.1:${t.relay.http.port()}/api/status`, { method: 'POST' });
    expect(res.status).toBe(405);
  });

  it('counts a stream\'s players by transport as they come and go, and shows its publisher\'s address to the operator', async () => {
    await live(t, 'cam');
    const tcp = await RtspTestClient.connect(t.url('cam'));
    players.push(tcp);
    await tcp.play({ transport: 'tcp' });
    const udp = await RtspTestClient.connect(t.url('cam'));
    players.push(udp);
    await udp.play({ transport: 'udp' });
    let j = await status(t);
    const cam = j.streams.find((s) => s.name === 'cam');
    expect(cam?.readers).toEqual({ rtspTcp: 1, rtspUdp: 1, http: 0, viewer: 0 });
    expect(cam?.publisher?.remote).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(cam?.source).toBe('rtsp');
    expect(cam?.video).toMatchObject({ codec: 'h264', width: 640, height: 360 });
    expect(cam?.audio).toMatchObject({ codec: 'mpeg4-generic', sampleRate: 48000 });
    expect(j.server.connections).toMatchObject({ rtsp: 3, rtspSessions: { tcp: 2, udp: 1 }, publishers: { rtsp: 1, websocket: 0 } });
    await tcp.close();
    await udp.close();
    // The server notices a closed TCP player at once; a UDP one is gone when its connection closes too.
    for (let i = 0; i < 40; i++) {
      j = await status(t);
      if (j.streams[0]?.readers.rtspTcp === 0 && j.streams[0].readers.rtspUdp === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(j.streams[0]?.readers).toEqual({ rtspTcp: 0, rtspUdp: 0, http: 0, viewer: 0 });
  });

  it('hides the publisher\'s address from anyone but the operator', async () => {
    await live(remote, 'cam');
    const cam = (await status(remote)).streams.find((s) => s.name === 'cam');
    expect(cam?.publisher).toMatchObject({ protocol: 'rtsp', transport: 'tcp' });
    expect(cam?.publisher).not.toHaveProperty('remote');
  });
});
