// A player's session after PLAY: PAUSE and PLAY again (RFC 2326 §10.6), TEARDOWN (§10.7), GET_PARAMETER as a
// keep-alive (§10.8), and the publisher's RTCP sender reports relayed to players (RFC 3550 §6.4.1).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { h264Flags, H264_FLAG_IDR } from '../../../server/protocols/rtp/h264.ts';
import { parseRtpHeader } from '../../../server/protocols/rtp/packet.ts';
import { getHeader } from '../../../server/protocols/rtsp/message.ts';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { ClientPool, sleep, until } from './helpers.ts';

const clients = new ClientPool();
afterEach(async () => {
  await clients.closeAll();
});

function connect(url: string): Promise<RtspTestClient> {
  return clients.connect(url);
}

const packets = (c: RtspTestClient, track = 0) => c.tracks[track]?.packets ?? 0;

describe('a player session', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'session';

  beforeAll(async () => {
    t = await startTestRelay();
    pub = publish({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
  });
  afterAll(async () => {
    await stopProcess(pub);
    await t.close();
  });

  it.each(['tcp', 'udp'] as const)('PAUSE stops delivery; PLAY resumes at a keyframe (%s)', async (transport) => {
    const c = await connect(t.url(name));
    await c.play({ transport });
    await until(() => packets(c) > 30, 'video');

    const paused = await c.request('PAUSE', t.url(name));
    expect(paused.status).toBe(200);
    expect(getHeader(paused.headers, 'Session')?.split(';')[0]).toBe(c.session);
    // Over TCP everything sent before the answer arrived before it; over UDP allow a moment for datagrams in flight.
    if (transport === 'udp') await sleep(100);
    const atPause = [packets(c, 0), packets(c, 1)];
    await sleep(700);
    expect([packets(c, 0), packets(c, 1)]).toEqual(atPause);
    expect(t.relay.rtsp.playersOf(name)).toBe(1); // paused, not gone

    // The first video access unit after resuming must hold an IDR: collect the packets of its timestamp.
    let firstTs: number | undefined;
    const firstUnit: Uint8Array[] = [];
    c.onPacket = (track, packet) => {
      if (track !== 0) return;
      const h = parseRtpHeader(packet);
      if (!h) return;
      firstTs ??= h.timestamp;
      if (h.timestamp === firstTs) firstUnit.push(packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength));
    };
    const resumed = await c.request('PLAY', t.url(name));
    expect(resumed.status).toBe(200);
    await until(() => packets(c) > (atPause[0] ?? 0) + 30, 'video after PLAY', 5000);
    expect(firstUnit.length).toBeGreaterThan(0);
    expect(firstUnit.some((p) => (h264Flags(p) & H264_FLAG_IDR) !== 0)).toBe(true);
    expect(packets(c, 1)).toBeGreaterThan(atPause[1] ?? 0); // audio resumes too
    expect(c.tracks[0]?.seqBackwards).toBe(0);
  });

  it.each(['tcp', 'udp'] as const)('TEARDOWN releases the session (%s)', async (transport) => {
    const before = t.relay.rtsp.playersOf(name);
    const readersBefore = t.relay.registry.get(name)?.readerCount() ?? 0;
    const c = await connect(t.url(name));
    await c.play({ transport });
    await until(() => packets(c) > 10, 'video');
    expect(t.relay.rtsp.playersOf(name)).toBe(before + 1);

    const r = await c.request('TEARDOWN', t.url(name));
    expect(r.status).toBe(200);
    expect(t.relay.rtsp.playersOf(name)).toBe(before);
    expect(t.relay.registry.get(name)?.readerCount()).toBe(readersBefore);
    if (transport === 'udp') await sleep(100); // datagrams in flight
    const atTeardown = packets(c);
    await sleep(500);
    expect(packets(c)).toBe(atTeardown);
    // The session is gone; the connection is still usable.
    expect((await c.request('PLAY', t.url(name))).status).toBe(454);
    expect((await c.request('OPTIONS', t.url(name), [['Session', '']])).status).toBe(200);
    expect(t.logs.some((l) => l.event === 'teardown' && l.why === 'teardown')).toBe(true);
  });

  it('a UDP TEARDOWN gives the UDP ports back', async () => {
    const c = await connect(t.url(name));
    await c.play({ transport: 'udp' });
    const ports = c.tracks.map((x) => x.serverPorts);
    expect(ports.every((p) => p !== undefined)).toBe(true);
    expect((await c.request('TEARDOWN', t.url(name))).status).toBe(200);
    // The next UDP players get pairs again, and the relay never runs out (200 ports = 50 two-track players).
    for (let i = 0; i < 60; i++) {
      const d = await RtspTestClient.connect(t.url(name));
      try {
        await d.play({ transport: 'udp' });
        expect((await d.request('TEARDOWN', t.url(name))).status).toBe(200);
      } finally {
        await d.close();
      }
    }
  });

  it.each(['tcp', 'udp'] as const)('RTP-Info in the PLAY answer names the first packet of each track (%s)', async (transport) => {
    const c = await connect(t.url(name));
    const first = new Map<number, { seq: number; ts: number }>();
    c.onPacket = (track, packet) => {
      const h = parseRtpHeader(packet);
      if (h && !first.has(track)) first.set(track, { seq: h.sequenceNumber, ts: h.timestamp });
    };
    const played = await c.play({ transport });
    await until(() => first.size === 2, 'a packet on each track');
    // RFC 2326 §12.33: url=...;seq=N;rtptime=T for each track.
    const info = (getHeader(played.headers, 'RTP-Info') ?? '').split(',').map((part) => ({
      track: Number(/trackID=(\d+)/.exec(part)?.[1]),
      seq: Number(/;seq=(\d+)/.exec(part)?.[1]),
      ts: Number(/;rtptime=(\d+)/.exec(part)?.[1]),
    }));
    expect(info.map((i) => i.track).sort()).toEqual([0, 1]);
    for (const i of info) expect(first.get(i.track)).toEqual({ seq: i.seq, ts: i.ts });
  });

  it('GET_PARAMETER with an empty body is a keep-alive: 200 with the Session', async () => {
    const c = await connect(t.url(name));
    await c.play({ transport: 'tcp' });
    const r = await c.request('GET_PARAMETER', t.url(name));
    expect(r.status).toBe(200);
    expect(getHeader(r.headers, 'Session')?.split(';')[0]).toBe(c.session);
    expect((await c.request('SET_PARAMETER', t.url(name))).status).toBe(200);
    expect((await c.request('OPTIONS', t.url(name))).status).toBe(200);
  });
});

describe('RTCP sender reports', () => {
  let t: TestRelay;
  let pub: Publisher;
  const name = 'reports';

  beforeAll(async () => {
    t = await startTestRelay();
  });
  afterAll(async () => {
    if (pub) await stopProcess(pub);
    await t.close();
  });

  it.each(['tcp', 'udp'] as const)('reach a player that joins right after the publisher starts, on every track (%s)', async (transport) => {
    // ffmpeg sends its first SR just before its first RTP packet, then one about every 5 s (libavformat/rtpenc.c).
    // A player that joins in those first seconds gets the first one at PLAY, not 5 s later.
    if (pub) await stopProcess(pub);
    pub = publish({ url: t.url(`${name}-${transport}`), transport, audio: 'opus', gop: 30 });
    await waitLive(t.relay, `${name}-${transport}`);
    const c = await connect(t.url(`${name}-${transport}`));
    await c.play({ transport });
    await until(() => (c.tracks[0]?.rtcp ?? 0) > 0 && (c.tracks[1]?.rtcp ?? 0) > 0, 'a sender report on each track', 2500);
  });
});
