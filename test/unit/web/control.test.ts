// Pure control pieces of the page: bitrate steps under congestion, reconnect backoff, and the public state machine.
import { describe, expect, it } from 'vitest';
import { reconnectDelay } from '../../../web/backoff.ts';
import { RateControl } from '../../../web/rate-control.ts';
import { SessionState } from '../../../web/session-state.ts';

describe('RateControl', () => {
  it('steps down ×0.7 at most once a second, not below the floor, and recovers +10 % after quiet periods', () => {
    const r = new RateControl({ target: 1_000_000 });
    expect(r.congested(0)).toBe(700_000);
    expect(r.congested(500)).toBeUndefined();
    expect(r.congested(1000)).toBe(490_000);
    expect(r.congested(2000)).toBe(343_000);
    expect(r.congested(3000)).toBe(250_000);
    expect(r.congested(4000)).toBeUndefined(); // at the floor
    expect(r.tick(5000)).toBeUndefined(); // too soon after congestion
    expect(r.tick(7000)).toBe(275_000);
    expect(r.tick(8000)).toBeUndefined();
    expect(r.tick(10_000)).toBe(302_500);
    let t = 10_000;
    while (r.bitrate < 1_000_000) {
      t += 3000;
      r.tick(t);
    }
    expect(r.bitrate).toBe(1_000_000);
  });

  it('never sets a floor above a small target', () => {
    const r = new RateControl({ target: 200_000 });
    expect(r.congested(0)).toBeUndefined();
    expect(r.bitrate).toBe(200_000);
  });
});

describe('reconnectDelay', () => {
  it('doubles from 0.5 s to 8 s with ±25 % jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map((a) => reconnectDelay(a, () => 0.5))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
    expect(reconnectDelay(1, () => 0)).toBe(375);
    expect(reconnectDelay(5, () => 0.999_999)).toBe(10_000);
  });
});

describe('SessionState', () => {
  it('moves through the public states and refuses impossible transitions', () => {
    const seen: string[] = [];
    const s = new SessionState('Loading', (state, sentence) => seen.push(`${state}: ${sentence}`));
    s.to('idle', 'Ready');
    s.to('connecting', 'Connecting');
    s.to('live', 'Live');
    s.to('reconnecting', 'Lost; attempt 1');
    s.to('reconnecting', 'Lost; attempt 2');
    s.to('live', 'Live');
    s.to('idle', 'Stopped');
    expect(seen).toEqual(['idle: Ready', 'connecting: Connecting', 'live: Live', 'reconnecting: Lost; attempt 1', 'reconnecting: Lost; attempt 2', 'live: Live', 'idle: Stopped']);
    expect(() => s.to('live', 'x')).toThrow('idle → live');
    expect(() => s.to('reconnecting', 'x')).toThrow(/not a valid transition/);
  });
});
