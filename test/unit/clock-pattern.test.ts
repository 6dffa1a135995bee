// shared/clock-pattern.ts: the bits, the layout, and decoding from an 8-bit grey frame like ffmpeg -pix_fmt gray gives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CLOCK_BACKGROUND,
  CLOCK_BITS,
  CLOCK_BLOCK,
  CLOCK_HEIGHT,
  CLOCK_ONE,
  CLOCK_WIDTH,
  CLOCK_ZERO,
  clockBits,
  clockBlockRect,
  clockValue,
  decodeClock,
} from '../../shared/clock-pattern.ts';

/** What the page's clock source draws, in grey levels, scaled to `width` × `height` (nearest neighbour). */
function render(ms: number, width = CLOCK_WIDTH, height = CLOCK_HEIGHT): Uint8Array {
  const ref = new Uint8Array(CLOCK_WIDTH * CLOCK_HEIGHT).fill(CLOCK_BACKGROUND);
  clockBits(ms).forEach((bit, i) => {
    for (let y = 0; y < CLOCK_BLOCK; y++) ref.fill(bit ? CLOCK_ONE : CLOCK_ZERO, y * CLOCK_WIDTH + i * CLOCK_BLOCK, y * CLOCK_WIDTH + (i + 1) * CLOCK_BLOCK);
  });
  if (width === CLOCK_WIDTH && height === CLOCK_HEIGHT) return ref;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) out[y * width + x] = ref[Math.floor((y * CLOCK_HEIGHT) / height) * CLOCK_WIDTH + Math.floor((x * CLOCK_WIDTH) / width)]!;
  }
  return out;
}

describe('clock pattern', () => {
  it('has 44 bits, most significant first, that fit in one row of the reference frame', () => {
    expect(CLOCK_BITS * CLOCK_BLOCK).toBeLessThanOrEqual(CLOCK_WIDTH);
    expect(clockBits(1)).toEqual([...Array<number>(43).fill(0), 1]);
    expect(clockBits(2 ** 43)[0]).toBe(1);
    expect(clockBits(1_700_000_000_123)).toHaveLength(44);
    expect(clockBlockRect(3)).toEqual({ x: 72, y: 0, size: 24 });
  });

  it('refuses values it cannot carry', () => {
    expect(() => clockBits(-1)).toThrow(RangeError);
    expect(() => clockBits(2 ** 44)).toThrow(RangeError);
    expect(() => clockBits(1.5)).toThrow(RangeError);
  });

  it('round-trips any 44-bit value through bits and through a rendered frame', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 44 - 1 }), (ms) => {
        expect(clockValue(clockBits(ms))).toBe(ms);
        expect(decodeClock(render(ms), CLOCK_WIDTH)).toBe(ms);
      }),
      { numRuns: 50 },
    );
    const now = Date.now();
    expect(decodeClock(render(now), CLOCK_WIDTH)).toBe(now);
  });

  it('decodes a frame scaled down from 1280x720 (the 480p preset)', () => {
    const now = 1_731_000_000_000 + 4321;
    expect(decodeClock(render(now, 854, 480), 854)).toBe(now);
    expect(decodeClock(render(now, 640, 360), 640)).toBe(now);
  });

  it('tolerates encoder noise up to the threshold and reports ambiguity when asked', () => {
    const now = 1_731_000_000_000;
    const frame = render(now);
    // Blur-like noise: whites down to 170, blacks up to 90.
    const noisy = frame.map((v) => (v === CLOCK_ONE ? 170 : v === CLOCK_ZERO ? 90 : v));
    expect(decodeClock(noisy, CLOCK_WIDTH)).toBe(now);
    expect(decodeClock(noisy, CLOCK_WIDTH, 50)).toBeUndefined();
    // A frame without the pattern (all background) is all ones at margin 0, and undefined with a margin.
    const grey = new Uint8Array(CLOCK_WIDTH * CLOCK_HEIGHT).fill(CLOCK_BACKGROUND);
    expect(decodeClock(grey, CLOCK_WIDTH, 16)).toBeUndefined();
  });

  it('returns undefined for frames too small to hold the row', () => {
    expect(decodeClock(new Uint8Array(100), 10)).toBeUndefined();
    expect(decodeClock(new Uint8Array(0), CLOCK_WIDTH)).toBeUndefined();
    expect(decodeClock(new Uint8Array(CLOCK_WIDTH * 5), CLOCK_WIDTH)).toBeUndefined();
    expect(decodeClock(render(5), 0)).toBeUndefined();
  });
});
