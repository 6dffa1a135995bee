// Publisher lifecycle: one publisher per NAME, players ended with RTCP BYE when it leaves, and a publisher returning
// within the grace period takes over without its players noticing more than a pause.
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { ClientPool, h264Sdp, until } from './helpers.ts';

/** Everything a test started, stopped in afterEach whatever happened. */
let relays: TestRelay[] = [];
let procs: Array<Parameters<typeof stopProcess>[0]> = [];
const clients = new ClientPool();

afterEach(async () => {
  await clients.closeAll();
  await Promise.all(procs.map((p) => stopProcess(p)));
  await Promise.all(relays.map((r) => r.close()));
  relays = [];
  procs = [];
});

async function relay(flags: string[] = []): Promise<TestRelay> {
  const t = await startTestRelay(flags);
  relays.push(t);
  return t;
}

function publisher(...args: Parameters<typeof publish>): Publisher {
  const p = publish(...args);
  procs.push(p);
  return p;
}

async function player(url: string, transport: 'tcp' | 'udp'): Promise<RtspTestClient> {
  const c = await RtspTestClient.connect(url);
  clients.add(c);
  await c.play({ transport });
  return c;
}

const packets = (c: RtspTestClient, track = 0) => c.tracks[track]?.packets ?? 0;

describe('one publisher per NAME', () => {
  it('a second publisher is refused with 403 while the first keeps going', async () => {
    const t = await relay();
    const name = 'taken';
    publisher({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
    const stream = t.relay.registry.get(name);
    const first = stream?.publisher?.session;
    const c = await player(t.url(name), 'tcp');
    await until(() => packets(c) > 10, 'the player to get video');

    // A real second publisher: ffmpeg gives up on the 403.
    const second = publisher({ url: t.url(name), audio: 'none', gop: 30 });
    const r = await second;
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr).toMatch(/403/);
    // And on the wire: ANNOUNCE gets 403 with a reason that says why.
    const raw = await RtspTestClient.connect(t.url(name));
    clients.add(raw);
    const a = await raw.request('ANNOUNCE', t.url(name), [['Content-Type', 'application/sdp']], Buffer.from(h264Sdp()));
    expect(a.status).toBe(403);
    expect(a.reason).toMatch(/Already Published/);

    expect(t.relay.registry.get(name)).toBe(stream);
    expect(stream?.state).toBe('live');
    expect(stream?.publisher?.session).toBe(first);
    const now = packets(c);
    await until(() => packets(c) > now + 30, 'the player to keep receiving');
    expect(c.tracks[0]?.seqJumps).toBe(0);
    expect(t.logs.some((l) => l.event === 'publish-refused' && l.reason === 'in-use')).toBe(true);
  });
});

describe('the publisher leaves with --publisher-grace 0', () => {
  it.each([
    { how: 'stops (TEARDOWN)', kill: false },
    { how: 'is killed (connection lost)', kill: true },
  ])('when it $how, players get RTCP BYE and are ended; ffmpeg playing it exits by itself', async ({ kill }) => {
    const t = await relay(['--publisher-grace', '0']);
    const name = 'leaving';
    const pub = publisher({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
    const tcp = await player(t.url(name), 'tcp');
    const udp = await player(t.url(name), 'udp');
    const ff = execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', t.url(name), '-f', 'null', '-'], { reject: false, timeout: 20_000 });
    procs.push(ff);
    await until(() => packets(tcp) > 10 && packets(udp) > 10 && t.relay.rtsp.playersOf(name) === 3, 'three players receiving');

    if (kill) pub.kill('SIGKILL');
    else await stopProcess(pub);

    let tcpClosed = false;
    let udpClosed = false;
    void tcp.closed.then(() => (tcpClosed = true));
    void udp.closed.then(() => (udpClosed = true));
    await until(() => tcp.byeReceived, 'RTCP BYE on the TCP player', 5000);
    await until(() => udp.byeReceived, 'RTCP BYE on the UDP player', 5000);
    await until(() => tcpClosed && udpClosed, 'the players\u2019 connections to be closed', 5000);
    const r = await ff;
    expect(r.timedOut).toBe(false);
    expect(r.exitCode, `ffmpeg's errors: ${r.stderr}`).toBe(0);
    expect(t.relay.registry.get(name)).toBeUndefined();
    expect(t.relay.rtsp.playersOf(name)).toBe(0);
    expect(t.logs.some((l) => l.event === 'stream-ended' && l.stream === name)).toBe(true);
  });
});

describe('the publisher returns within --publisher-grace', () => {
  it('with the same codecs: players stay attached, RTP continues with no jump back', async () => {
    const t = await relay(['--publisher-grace', '5']);
    const name = 'comeback';
    const pub1 = publisher({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
    const stream = t.relay.registry.get(name);
    const tcp = await player(t.url(name), 'tcp');
    const udp = await player(t.url(name), 'udp');
    // A real player too: ffmpeg writes one framecrc line per decoded frame.
    const ff = execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', t.url(name), '-map', '0:v', '-f', 'framecrc', '-'], { reject: false, timeout: 30_000, buffer: false });
    procs.push(ff);
    let ffFrames = 0;
    ff.stdout?.on('data', (d: Buffer) => (ffFrames += d.toString().split('\n').filter((l) => l.startsWith('0,')).length));
    await until(() => packets(tcp) > 30 && packets(udp) > 30 && ffFrames > 10, 'players receiving');

    await stopProcess(pub1);
    await until(() => stream?.state === 'waiting', 'the stream to wait for its publisher', 5000);
    const atLeave = { tcp: packets(tcp), udp: packets(udp), ff: ffFrames, audio: packets(tcp, 1) };

    publisher({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
    await until(
      () => packets(tcp) > atLeave.tcp + 60 && packets(tcp, 1) > atLeave.audio + 20 && packets(udp) > atLeave.udp + 60 && ffFrames > atLeave.ff + 30,
      'players to receive from the returning publisher',
    );

    expect(t.relay.registry.get(name)).toBe(stream);
    for (const c of [tcp, udp]) {
      expect(c.byeReceived).toBe(false);
      for (const track of c.tracks) {
        expect(track.ssrcs.size).toBe(1);
        expect(track.seqBackwards).toBe(0);
        expect(track.tsBackwards).toBe(0);
      }
    }
    // Over TCP nothing is lost, so the relay's numbering runs on without a gap across the switch.
    expect(tcp.tracks[0]?.seqJumps).toBe(0);
    expect(tcp.tracks[1]?.seqJumps).toBe(0);
    expect(ff.exitCode).toBeNull();
    expect(t.logs.some((l) => l.event === 'stream-waiting')).toBe(true);
    expect(t.logs.some((l) => l.event === 'stream-ended')).toBe(false);
  });

  it('with other codecs: players are ended (BYE) and the new stream starts fresh', async () => {
    const t = await relay(['--publisher-grace', '5']);
    const name = 'recodec';
    const pub1 = publisher({ url: t.url(name), audio: 'opus', gop: 30 });
    await waitLive(t.relay, name);
    const old = t.relay.registry.get(name);
    const c = await player(t.url(name), 'tcp');
    await until(() => packets(c) > 10, 'the player to get video');
    await stopProcess(pub1);
    await until(() => old?.state === 'waiting', 'the stream to wait for its publisher', 5000);

    publisher({ url: t.url(name), audio: 'aac', gop: 30 });
    await waitLive(t.relay, name);
    await until(() => c.byeReceived, 'RTCP BYE', 5000);
    await c.closed;
    expect(old?.state).toBe('ended');
    expect(t.relay.registry.get(name)).not.toBe(old);
    expect(t.logs.some((l) => l.event === 'stream-codecs-changed')).toBe(true);
    const fresh = await player(t.url(name), 'tcp');
    await until(() => packets(fresh) > 10, 'a new player to get video');
    const d = await fresh.request('DESCRIBE', t.url(name));
    expect(Buffer.from(d.body).toString()).toMatch(/MPEG4-GENERIC/i);
  });

  it('not at all: players are ended when the grace period runs out', async () => {
    const t = await relay(['--publisher-grace', '1']);
    const name = 'gone';
    const pub = publisher({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);
    const c = await player(t.url(name), 'tcp');
    await until(() => packets(c) > 10, 'the player to get video');
    await stopProcess(pub);
    const leftAt = Date.now();
    await until(() => t.relay.registry.get(name)?.state === undefined || t.relay.registry.get(name)?.state === 'waiting', 'the publisher to leave');
    expect(c.byeReceived).toBe(false);
    await until(() => c.byeReceived, 'RTCP BYE after the grace period', 5000);
    expect(Date.now() - leftAt).toBeGreaterThanOrEqual(900);
    await c.closed;
    expect(t.relay.registry.get(name)).toBeUndefined();
    const late = await RtspTestClient.connect(t.url(name));
    clients.add(late);
    expect((await late.request('DESCRIBE', t.url(name))).status).toBe(404);
  });
});
