// The clock pattern: a wall-clock time (Date.now(), ms) drawn into a video frame as a row of black and white blocks,
// so a program at the far end of the relay (ffmpeg -pix_fmt gray, an RTSP player's decoded frame) can read back the
// time the frame was drawn and subtract it from its own clock: glass-to-glass latency without OCR.
//
// Layout on the 1280x720 reference frame: CLOCK_BITS blocks of CLOCK_BLOCK x CLOCK_BLOCK pixels in one row at y = 0,
// block i at x = i * CLOCK_BLOCK; block 0 carries the most significant bit. White (#fff) is 1, black (#000) is 0.
// The rest of the frame is mid-grey (#808080) with the time in large text below the row.
//
// Pure: no DOM, no Node. The page draws with clockBits(); a benchmark decodes with decodeClock().

/** Side of one block on the 1280-wide reference frame, in pixels. */
export const CLOCK_BLOCK = 24;
/** Bits in the pattern. 2^44 ms is about 557 years after 1970, so Date.now() fits with room to spare. */
export const CLOCK_BITS = 44;
/** The reference frame the layout is defined on (the page's clock source draws exactly this). */
export const CLOCK_WIDTH = 1280;
export const CLOCK_HEIGHT = 720;
/** Top of the block row. */
export const CLOCK_ROW_Y = 0;
/** Colours: 1, 0 and the background, as 8-bit grey levels (and CSS colours #fff, #000, #808080). */
export const CLOCK_ONE = 255;
export const CLOCK_ZERO = 0;
export const CLOCK_BACKGROUND = 128;
/** A block centre at or above this level is a 1 (8-bit grey, as ffmpeg -pix_fmt gray gives). */
export const CLOCK_THRESHOLD = 128;

/** decodeClock() refuses frames whose blocks would be smaller than this (about 1/6 of the reference width). */
export const CLOCK_MIN_BLOCK_PX = 4;

const MAX_VALUE = 2 ** CLOCK_BITS - 1;

/** The CLOCK_BITS bits of `ms`, most significant first. Throws on a value the pattern cannot carry. */
export function clockBits(ms: number): number[] {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > MAX_VALUE) throw new RangeError(`clock value ${ms} is not an integer in 0..2^${CLOCK_BITS}-1`);
  const bits: number[] = [];
  // Bit arithmetic in JS is 32-bit, so peel bits off with division instead.
  let rest = ms;
  for (let i = 0; i < CLOCK_BITS; i++) {
    bits.push(rest % 2);
    rest = Math.floor(rest / 2);
  }
  return bits.reverse();
}

/** The inverse of clockBits(). */
export function clockValue(bits: readonly number[]): number {
  let v = 0;
  for (const b of bits) v = v * 2 + (b ? 1 : 0);
  return v;
}

/** Where block `i` sits on a frame `width` pixels wide (the layout scales with the frame, e.g. 854x480 from 1280x720). */
export function clockBlockRect(i: number, width: number = CLOCK_WIDTH): { x: number; y: number; size: number } {
  const scale = width / CLOCK_WIDTH;
  return { x: i * CLOCK_BLOCK * scale, y: CLOCK_ROW_Y * scale, size: CLOCK_BLOCK * scale };
}

/**
 * Reads the time from one 8-bit grey frame (row-major, `width` bytes per row, as `ffmpeg -pix_fmt gray -f rawvideo`
 * writes). Each bit is the pixel at its block's centre, compared with CLOCK_THRESHOLD. A frame scaled from the 1280x720
 * reference (same aspect) decodes too: positions scale with `width / 1280`.
 *
 * Returns undefined when the frame is too small to hold the row (blocks under CLOCK_MIN_BLOCK_PX), or when `margin` > 0 and some block centre lies within
 * `margin` of the threshold (a frame without the pattern, whose background is mid-grey, or one smeared by the encoder).
 */
export function decodeClock(gray: Uint8Array, width: number, margin = 0): number | undefined {
  if (!Number.isInteger(width) || width <= 0 || (CLOCK_BLOCK * width) / CLOCK_WIDTH < CLOCK_MIN_BLOCK_PX) return undefined;
  const height = Math.floor(gray.length / width);
  const bits: number[] = [];
  for (let i = 0; i < CLOCK_BITS; i++) {
    const r = clockBlockRect(i, width);
    const x = Math.floor(r.x + r.size / 2);
    const y = Math.floor(r.y + r.size / 2);
    if (x >= width || y >= height) return undefined;
    const v = gray[y * width + x];
    if (v === undefined) return undefined;
    if (margin > 0 && Math.abs(v - CLOCK_THRESHOLD) < margin) return undefined;
    bits.push(v >= CLOCK_THRESHOLD ? 1 : 0);
  }
  return clockValue(bits);
}
