import { describe, expect, it } from 'vitest';
import { Backoff, DEFAULT_BACKOFF } from '../../../server/egress/backoff.ts';

describe('Backoff', () => {
  it('doubles from 1 s up to 8 s: a platform that comes back is fed again within seconds', () => {
    const b = new Backoff(DEFAULT_BACKOFF);
    const delays = Array.from({ length: 8 }, () => b.next(0));
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000, 8_000]);
  });

  it('by default a run of 5 s resets it: ffmpegs killed 8 s apart each come back after 1 s', () => {
    const b = new Backoff(DEFAULT_BACKOFF);
    expect([b.next(0), b.next(8_000), b.next(8_000), b.next(8_000)]).toEqual([1_000, 1_000, 1_000, 1_000]);
  });

  it('starts over after a run that stayed up for resetAfterMs', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1_000, resetAfterMs: 5_000 });
    expect([b.next(0), b.next(10), b.next(4_999)]).toEqual([100, 200, 400]);
    expect(b.next(5_000)).toBe(100);
    expect(b.next(0)).toBe(200);
    b.reset();
    expect(b.next(0)).toBe(100);
  });

  it('refuses nonsense settings', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10, resetAfterMs: 1 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 10, maxMs: 5, resetAfterMs: 1 })).toThrow(RangeError);
  });
});
