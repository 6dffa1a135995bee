// web/backlog-bound.ts: the uplink's backlog bound follows the link's speed only when the link was the bottleneck.
import { describe, expect, it } from 'vitest';
import { BacklogBound } from '../../../web/backlog-bound.ts';

const BITRATE = 2_500_000; // a second of it: 312.5 kB
const SECOND = BITRATE / 8;

/** Drives a bound once a second over a link of `linkRate` bytes/s while the page hands it `sendRate` bytes/s. */
function link(b: BacklogBound, start: { t: number; sent: number; queued: number }, seconds: number, sendRate: number, linkRate: number) {
  let { t, sent, queued } = start;
  for (let i = 0; i < seconds; i++) {
    t += 1000;
    sent += sendRate;
    queued = Math.max(0, queued + sendRate - linkRate);
    b.sample(t, sent, queued);
  }
  return { t, sent, queued };
}

describe('BacklogBound', () => {
  it('is a second of the bitrate until the link has been seen to be slower', () => {
    const b = new BacklogBound();
    expect(b.limit(BITRATE)).toBe(SECOND);
    link(b, { t: 0, sent: 0, queued: 0 }, 10, SECOND, 10 * SECOND); // a fast link: never backlogged
    expect(b.linkRate).toBeUndefined();
    expect(b.limit(BITRATE)).toBe(SECOND);
  });

  it('does not shrink over an idle period, a static picture or a reconnect (nothing sent is not a slow link)', () => {
    const b = new BacklogBound();
    let at = link(b, { t: 0, sent: 0, queued: 0 }, 5, SECOND, 10 * SECOND);
    at = link(b, at, 10, 0, 10 * SECOND); // idle: reconnecting, or nothing to send
    at = link(b, at, 10, 2_000, 10 * SECOND); // a static picture: tiny deltas
    expect(b.limit(BITRATE)).toBe(SECOND);
    // So the next keyframe (150 kB) fits, with room, and is no congestion.
    expect(150_000).toBeLessThan(b.limit(BITRATE) / 2);
  });

  it('does not read a big keyframe still in the queue at one sample as a slow link', () => {
    const b = new BacklogBound();
    b.sample(0, 0, 0);
    b.sample(1000, 200_000, 0);
    b.sample(2000, 400_000, 150_000); // a keyframe just handed over when the second ended
    b.sample(3000, 500_000, 0);
    expect(b.limit(BITRATE)).toBe(SECOND);
    // Frames in flight at both ends of an interval are not a backlog either.
    b.sample(4000, 520_000, 3_000);
    b.sample(5000, 540_000, 3_000);
    expect(b.limit(BITRATE)).toBe(SECOND);
  });

  it('follows a slow link once the queue stays full, rises when more gets through, and starts over on reset', () => {
    const b = new BacklogBound();
    let at = link(b, { t: 0, sent: 0, queued: 0 }, 6, SECOND, 50_000); // a 400 kbit/s link under 2.5 Mbit/s
    expect(b.linkRate).toBeCloseTo(50_000, -2);
    expect(b.limit(BITRATE)).toBeCloseTo(50_000, -2);
    expect(b.limit(300_000)).toBe(37_500); // the encoder came down below the link: a second of the bitrate
    // The link got faster (200 kB/s) and the encoder slower (120 kB/s): while the queue drains it is still the
    // link's speed that is measured.
    at = link(b, at, 30, 120_000, 200_000);
    expect(at.queued).toBe(0);
    expect(b.linkRate).toBeCloseTo(200_000, -3);
    b.reset();
    expect(b.limit(BITRATE)).toBe(SECOND);
    link(b, at, 3, 0, 0); // the new socket idles first: still unknown, not zero
    expect(b.limit(BITRATE)).toBe(SECOND);
  });

  it('takes what got through without a queue as a lower bound on the link', () => {
    const b = new BacklogBound();
    const at = link(b, { t: 0, sent: 0, queued: 0 }, 4, 60_000, 50_000); // queue 10, 20, 30, 40 kB
    expect(b.linkRate).toBe(50_000);
    link(b, at, 2, 120_000, 400_000); // 120 kB + the 40 kB queue left in one second, then 120 kB
    expect(b.linkRate).toBe(160_000);
  });

  it('never goes below 32 KiB, so one ordinary keyframe always fits', () => {
    const b = new BacklogBound();
    link(b, { t: 0, sent: 0, queued: 0 }, 5, SECOND, 5_000);
    expect(b.limit(BITRATE)).toBe(32 * 1024);
  });
});
