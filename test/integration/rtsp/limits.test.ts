// ffserver-style limits: --max-clients (503) and --max-bandwidth (453), checked at a player's first SETUP.
import { afterEach, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { publish, startTestRelay, stopProcess, waitLive, type Publisher, type TestRelay } from '../../support/relay.ts';
import { RtspStatusError, RtspTestClient } from '../../support/rtsp-client.ts';
import { ClientPool, until } from './helpers.ts';

let t: TestRelay | undefined;
let pub: Publisher | undefined;
const clients = new ClientPool();

afterEach(async () => {
  await clients.closeAll();
  if (pub) await stopProcess(pub);
  await t?.close();
  pub = undefined;
  t = undefined;
});

function connect(url: string): Promise<RtspTestClient> {
  return clients.connect(url);
}

/** The status a player's play() failed with, and at which step. */
async function refusal(c: RtspTestClient, transport: 'tcp' | 'udp' = 'tcp'): Promise<{ method: string; status: number } | undefined> {
  try {
    await c.play({ transport });
    return undefined;
  } catch (err) {
    if (err instanceof RtspStatusError) return { method: err.method, status: err.response.status };
    throw err;
  }
}

describe('--max-clients 2', () => {
  it('the third player gets 503 at SETUP; a place freed is a place taken', async () => {
    t = await startTestRelay(['--max-clients', '2']);
    const name = 'two';
    pub = publish({ url: t.url(name), audio: 'none', gop: 30 });
    await waitLive(t.relay, name);

    const a = await connect(t.url(name));
    const b = await connect(t.url(name));
    await a.play({ transport: 'tcp' });
    await b.play({ transport: 'udp' });
    const c = await connect(t.url(name));
    expect(await refusal(c)).toEqual({ method: 'SETUP', status: 503 });
    // ffmpeg sees it too.
    const ff = await execa('ffmpeg', ['-v', 'error', '-rtsp_transport', 'tcp', '-i', t.url(name), '-frames:v', '1', '-f', 'null', '-'], { reject: false, timeout: 15_000 });
    expect(ff.exitCode).not.toBe(0);
    expect(ff.stderr).toMatch(/503/);
    expect(t.logs.some((l) => l.event === 'player-refused' && l.reason === 'max-clients')).toBe(true);
    // The refused players took no place.
    expect(t.relay.rtsp.playerCount()).toBe(2);

    await a.close();
    await until(() => t?.relay.rtsp.playerCount() === 1, 'the closed player to free its place');
    const d = await connect(t.url(name));
    expect(await refusal(d)).toBeUndefined();
    await until(() => (d.tracks[0]?.packets ?? 0) > 0, 'the new player to get video');
  });
});

describe('--max-bandwidth', () => {
  it('100 kbit/s with a ~1 Mbit/s stream: 453 once the ingest rate is known', async () => {
    t = await startTestRelay(['--max-bandwidth', '100']);
    const name = 'fat';
    pub = publish({ url: t.url(name), audio: 'none', gop: 30, bitrate: '1M' });
    await waitLive(t.relay, name);
    const stream = t.relay.registry.get(name);
    // The meter counts whole seconds: wait until it has seen some.
    await until(() => (stream?.ingestKbps() ?? 0) > 300, 'the ingest rate meter to see the stream', 10_000);
    const c = await connect(t.url(name));
    expect(await refusal(c)).toEqual({ method: 'SETUP', status: 453 });
    const u = await connect(t.url(name));
    expect(await refusal(u, 'udp')).toEqual({ method: 'SETUP', status: 453 });
    expect(t.logs.some((l) => l.event === 'player-refused' && l.reason === 'max-bandwidth')).toBe(true);
    expect(t.relay.rtsp.playerCount()).toBe(0);
  });

  it('room for one ~1 Mbit/s player but not two: egress is counted per player', async () => {
    t = await startTestRelay(['--max-bandwidth', '1300']);
    const name = 'onlyone';
    pub = publish({ url: t.url(name), audio: 'none', gop: 30, bitrate: '1M' });
    await waitLive(t.relay, name);
    const stream = t.relay.registry.get(name);
    // Wait for the rate to settle: the first second carries x264's large first IDR and reads well above 1 Mbit/s.
    await until(() => {
      const k = stream?.ingestKbps() ?? 0;
      return k > 700 && k < 1250;
    }, 'the ingest rate meter to settle near 1 Mbit/s', 15_000);
    const kbps = stream?.ingestKbps() ?? 0;
    expect(kbps).toBeLessThan(1300); // the stream alone fits; two times it (> 1400) does not
    const first = await connect(t.url(name));
    expect(await refusal(first)).toBeUndefined();
    const second = await connect(t.url(name));
    expect(await refusal(second)).toEqual({ method: 'SETUP', status: 453 });
  });
});
