// Connections that hold no session and say nothing are closed; keep-alives for a session that is gone get 454.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, type TestRelay } from '../../support/relay.ts';
import { raw, requestText } from './helpers.ts';

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
