// Connections that hold no session and say nothing are closed; keep-alives for a session that is gone get 454.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publish, startTestRelay, stopProcess, waitLive, type TestRelay } from '../../support/relay.ts';
import { RtspStatusError } from '../../support/rtsp-client.ts';
import { ClientPool, raw, requestText } from './helpers.ts';

describe('idle connections and stale sessions', () => {
  let t: TestRelay;
  beforeAll(async () => {
    t = await startTestRelay([], { rtsp: { sessionTimeoutMs: 800 } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('closes a connection that never sends a byte after the session timeout', async () => {
    const r = await raw(t.rtspPort, [], { waitMs: 4000 });
    expect(r.closed).toBe(true);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(700);
    expect(t.logs.some((l) => l.event === 'idle-timeout')).toBe(true);
  });

  it('answers 454 to a keep-alive for an unknown session, 200 to OPTIONS carrying one', async () => {
    const r = await raw(
      t.rtspPort,
      [requestText('GET_PARAMETER', t.url('x'), [['CSeq', '1'], ['Session', 'deadbeef']]), requestText('OPTIONS', t.url('x'), [['CSeq', '2'], ['Session', 'deadbeef']])],
      { expect: 2 },
    );
    expect(r.responses.map((x) => x.status)).toEqual([454, 200]);
  });
});

describe('a session that is set up but never played', () => {
  it('expires after the session timeout instead of holding a --max-clients slot forever', async () => {
    const t = await startTestRelay(['--max-clients', '1'], { rtsp: { sessionTimeoutMs: 800 } });
    const pub = publish({ url: t.url('squat'), audio: 'none', gop: 30 });
    const clients = new ClientPool();
    try {
      await waitLive(t.relay, 'squat');
      const squatter = await clients.connect(t.url('squat'));
      const d = await squatter.request('DESCRIBE', t.url('squat'));
      expect(d.status).toBe(200);
      const s = await squatter.request('SETUP', `${t.url('squat')}/trackID=0`, [['Transport', 'RTP/AVP/TCP;unicast;interleaved=0-1']]);
      expect(s.status).toBe(200);
      const blocked = await clients.connect(t.url('squat'));
      await expect(blocked.play({ transport: 'tcp' })).rejects.toBeInstanceOf(RtspStatusError);
      await new Promise((r) => setTimeout(r, 1500)); // timeout 800 ms; the sweep runs every timeout/4
      const player = await clients.connect(t.url('squat'));
      await player.play({ transport: 'tcp' });
      expect(t.logs.some((l) => l.event === 'teardown' && l.why === 'timeout')).toBe(true);
      // Its connection, silent and now without a session, is closed too rather than held open for ever.
      const closed = await Promise.race([squatter.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
      expect(closed).toBe(true);
    } finally {
      await clients.closeAll();
      await stopProcess(pub);
      await t.close();
    }
  });
});
