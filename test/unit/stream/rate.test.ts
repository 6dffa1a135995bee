import { describe, expect, it } from 'vitest';
import { RateMeter } from '../../../server/stream/rate.ts';

describe('RateMeter', () => {
  it('reads the true rate from the first seconds on, and over the window later', () => {
    let now = 10_000_500; // mid-second, as a real start is
    const m = new RateMeter(() => now, 5);
    const feed = (seconds: number, perSecond: number) => {
      for (let i = 0; i < seconds * 10; i++) {
        m.add(perSecond / 10);
        now += 100;
      }
    };
    feed(0.5, 1000);
    expect(m.perSecond()).toBeCloseTo(1000, -2);
    feed(1, 1000);
    expect(m.perSecond()).toBeCloseTo(1000, -2);
    feed(10, 2000);
    expect(m.perSecond()).toBe(2000);
    expect(m.kbps()).toBe(16);
  });

  it('decays to zero when nothing arrives', () => {
    let now = 0;
    const m = new RateMeter(() => now, 5);
    m.add(5000);
    now += 10_000;
    expect(m.perSecond()).toBe(0);
  });
});
