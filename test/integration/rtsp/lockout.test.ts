// Issue 12 item 2: cheap attacks must not lock real players out. Each case from the issue, scaled down (small limits,
// short deadlines), runs while a real ffmpeg player connects and decodes 30 frames of a real ffmpeg publisher's stream.
// The attackers (attackers.ts) connect from 127.0.0.2 and up, the player and publisher from 127.0.0.1.
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspTestClient } from '../../support/rtsp-client.ts';
import { attackerAddresses, SessionSquatter, SocketFlood, tricklePartialFrame } from './attackers.ts';
import { sleep, until } from './helpers.ts';

let t: TestRelay | undefined;
let pub: Publisher | undefined;
let stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const stop of stops) await stop();
  stops = [];
  if (pub) await stopProcess(pub);
  await t?.close();
  pub = undefined;
  t = undefined;
});

async function live(flags: string[], rtsp: Parameters<typeof startTestRelay>[1] = {}): Promise<{ t: TestRelay; url: string }> {
  t = await startTestRelay(flags, rtsp);
  pub = publish({ url: t.url('cam'), audio: 'none', gop: 30 });
  await waitLive(t.relay, 'cam');
  return { t, url: t.url('cam') };
}

/** The player of the issue: `ffmpeg -rtsp_transport tcp -i URL -frames:v 30 -f null -`. */
async function ffmpegPlays(url: string): Promise<{ exitCode: number | undefined; stderr: string }> {
  const r = await execa('ffmpeg', ['-hide_banner', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-frames:v', '30', '-f', 'null', '-'], { timeout: 20_000, reject: false });
  return { exitCode: r.exitCode, stderr: r.stderr };
}

function flood(o: ConstructorParameters<typeof SocketFlood>[0]): SocketFlood {
  const f = new SocketFlood(o);
  stops.push(() => f.stop());
  return f;
}

function squatter(o: ConstructorParameters<typeof SessionSquatter>[0]): SessionSquatter {
  const s = new SessionSquatter(o);
  stops.push(() => s.stop());
  s.start();
  return s;
}

/** Samples a number while a test runs, keeping the largest. */
function peakOf(read: () => number): { peak: () => number } {
  let peak = read();
  const timer = setInterval(() => (peak = Math.max(peak, read())), 10);
  stops.push(async () => clearInterval(timer));
  return { peak: () => Math.max(peak, read()) };
}

describe('(a) many idle TCP connections', () => {
  it('from one address: held to --max-connections-per-ip, each cut at the first-request deadline; a player plays', async () => {
    // Connection cap 2 × 2 + 64 = 68: before, 100 silent sockets took all of it for the 60 s idle timeout.
    const { t, url } = await live(['--max-clients', '2', '--max-connections-per-ip', '8'], { rtsp: { requestTimeoutMs: 1000 } });
    const connections = peakOf(() => t.relay.rtsp.connectionCount());
    const f = flood({ port: t.rtspPort, addresses: ['127.0.0.2'], perAddress: 100, reopenMs: 200 });
    await f.start();
    const r = await ffmpegPlays(url);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    // 8 attackers, the publisher, the player: never more (the 92 others were answered 503 at once).
    expect(connections.peak()).toBeLessThanOrEqual(10);
    expect(f.stats.refused).toBeGreaterThan(0);
    // The 8 it held were closed one deadline after connecting, not after the 60 s idle timeout.
    await until(() => f.stats.heldMs.length >= 8, 'the held attackers to be closed at the deadline', 5000);
    expect(Math.max(...f.stats.heldMs)).toBeLessThan(2500);
    expect(t.logs.some((l) => l.event === 'idle-timeout' && l.requests === 0)).toBe(true);
  });

  it('from many addresses: near the connection cap the idlest are closed to make room; players are never evicted', async () => {
    // A deadline long enough that only eviction can make room while the test runs.
    const { t, url } = await live(['--max-clients', '2'], { rtsp: { requestTimeoutMs: 30_000 } });
    const watcher = await RtspTestClient.connect(url);
    stops.push(() => watcher.close());
    await watcher.play({ transport: 'tcp' });
    const connections = peakOf(() => t.relay.rtsp.connectionCount());
    // 40 addresses × 3 = 120 silent sockets, more than the cap of 68, each under the per-address cap.
    const f = flood({ port: t.rtspPort, addresses: attackerAddresses(40), perAddress: 3, reopenMs: 100 });
    await f.start();
    const before = watcher.tracks[0]?.packets ?? 0;
    const r = await ffmpegPlays(url);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(t.relay.rtsp.evictions).toBeGreaterThan(0);
    expect(connections.peak()).toBeLessThanOrEqual(68);
    // The player that was playing throughout was never the one closed, and kept receiving.
    expect(await Promise.race([watcher.closed.then(() => 'closed'), sleep(100).then(() => 'open')])).toBe('open');
    expect(watcher.tracks[0]?.packets ?? 0).toBeGreaterThan(before + 10);
    expect(t.logs.filter((l) => l.event === 'evicted').length).toBe(t.relay.rtsp.evictions);
  });
});

describe('(b) sessions that SETUP and never PLAY', () => {
  it('one per address from 10 addresses, kept alive: the oldest give way to new players; a player plays', async () => {
    // Before: 6 squatters held all 6 --max-clients places for as long as their keep-alives ran (real players: 503).
    // Play timeout 3 s: a session 1.5 s old or more gives way to a new player (half the play timeout, below 2 s).
    const { t, url } = await live(['--max-clients', '6', '--play-timeout', '3']);
    const squatters = attackerAddresses(10).map((address) => squatter({ port: t.rtspPort, address, url, target: 1, keepAliveMs: 200 }));
    await until(() => t.relay.rtsp.playerCount() === 6, 'the squatters to take every place');
    await sleep(1600); // the squatters' sessions are old enough to give way, and not yet at their play timeout
    const r = await ffmpegPlays(url);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    // Their keep-alives did not keep them: the server ended their sessions (454) and they had to set up again.
    // With more squatters than places, their own SETUPs take the place of their sessions 1.5 s old, before the play
    // timeout; either way a session that never plays holds its place for seconds.
    await until(() => squatters.reduce((n, s) => n + s.stats.expired, 0) > 0, 'a squatter to find its session ended', 5000);
    expect(t.relay.rtsp.reclaimed).toBeGreaterThan(0);
  });

  it('from one address: --max-sessions-per-ip leaves the other places to others; a player plays at once', async () => {
    const { t, url } = await live(['--max-clients', '6', '--max-sessions-per-ip', '2']);
    const squatters = [0, 1, 2].map(() => squatter({ port: t.rtspPort, address: '127.0.0.2', url, target: 4, keepAliveMs: 200 }));
    await until(() => squatters.some((s) => (s.stats.refusals.get(503) ?? 0) > 0), 'the squatters to be refused');
    const r = await ffmpegPlays(url);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(squatters.reduce((n, s) => n + s.stats.maxHeld, 0)).toBeLessThanOrEqual(2);
    expect([...squatters.flatMap((s) => [...s.stats.reasons])].some((m) => /your address already has 2 player sessions/.test(m))).toBe(true);
  });

  it('packed on two connections with GET_PARAMETER keep-alives: at most 4 a connection, ended on time; a player plays', async () => {
    // The case: keep-alives well within the session timeout held the places for as long as the attacker liked.
    const { t, url } = await live(['--max-clients', '8', '--play-timeout', '3'], { rtsp: { sessionTimeoutMs: 1000 } });
    const squatters = ['127.0.0.2', '127.0.0.3'].map((address) => squatter({ port: t.rtspPort, address, url, target: 8, keepAliveMs: 250 }));
    await until(() => t.relay.rtsp.playerCount() === 8, 'the squatters to take every place');
    await sleep(1600);
    const r = await ffmpegPlays(url);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    for (const s of squatters) expect(s.stats.maxPerConnection).toBeLessThanOrEqual(4);
    expect(squatters.some((s) => [...s.stats.reasons].some((m) => /this connection already has 4 sessions/.test(m)))).toBe(true);
    await until(() => squatters.reduce((n, s) => n + s.stats.expired, 0) > 0, 'a squatter to find its session ended despite its keep-alives', 5000);
    await until(() => t.logs.some((l) => l.event === 'play-timeout'), 'a session to reach its play timeout', 5000);
  });
});

describe('(c) a `$` interleaved header, then a byte every so often', () => {
  it('each such frame is cut at the request deadline, however often a byte comes; a player plays', async () => {
    // Before: no deadline for a partial frame, and each byte restarted the 60 s idle timer: 68 of the 100 held the
    // whole connection cap indefinitely. Now at most 4 × 15 are held (under the cap, so nobody is evicted and the
    // deadline alone cuts them), each for one deadline.
    const { t, url } = await live(['--max-clients', '2', '--max-connections-per-ip', '15'], { rtsp: { requestTimeoutMs: 1000 } });
    const f = flood({ port: t.rtspPort, addresses: attackerAddresses(4), perAddress: 25, reopenMs: 200, behave: tricklePartialFrame(300) });
    await f.start();
    const r = await ffmpegPlays(url);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    // The deadline did it, not only eviction: frames unfinished after 1 s were refused with 408.
    await until(() => t?.logs.some((l) => l.event === 'bad-request' && l.code === 'request-timeout' && /interleaved frame/.test(String(l.message))) ?? false, 'a 408 for an unfinished frame', 5000);
    await until(() => f.stats.heldMs.length >= 20, 'trickling sockets to be closed', 5000);
    expect(Math.max(...f.stats.heldMs)).toBeLessThan(2500);
    expect(t.relay.rtsp.evictions).toBe(0);
  });
});
