// The clock source for the latency benchmark: a 1280x720 canvas that shows Date.now() on every frame as the binary
// pattern of shared/clock-pattern.ts (44 blocks of 24x24 px across the top, white = 1) over mid-grey, with the time in
// large text below. Each frame is drawn and then captured at once (captureStream(0) + requestFrame()), so the time
// drawn is the time the frame entered the pipeline.
import { CLOCK_BITS, CLOCK_BLOCK, CLOCK_HEIGHT, CLOCK_ROW_Y, CLOCK_WIDTH, clockBits } from '../shared/clock-pattern.ts';
import { captureCanvas, type CanvasSource } from './canvas-capture.ts';

export function drawClock(ctx: CanvasRenderingContext2D, ms: number): void {
  ctx.fillStyle = '#808080';
  ctx.fillRect(0, 0, CLOCK_WIDTH, CLOCK_HEIGHT);
  const bits = clockBits(ms);
  for (let i = 0; i < CLOCK_BITS; i++) {
    ctx.fillStyle = bits[i] ? '#fff' : '#000';
    ctx.fillRect(i * CLOCK_BLOCK, CLOCK_ROW_Y, CLOCK_BLOCK, CLOCK_BLOCK);
  }
  const d = new Date(ms);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  ctx.fillStyle = '#fff';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.font = 'bold 150px ui-monospace, monospace';
  ctx.fillText(`${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`, CLOCK_WIDTH / 2, CLOCK_HEIGHT / 2);
  ctx.font = '36px ui-monospace, monospace';
  ctx.fillText(`${ms} ms since 1970 (UTC) · relaycast clock`, CLOCK_WIDTH / 2, CLOCK_HEIGHT / 2 + 130);
}

export function startClockSource(fps: number, now: () => number = Date.now): CanvasSource {
  return captureCanvas(CLOCK_WIDTH, CLOCK_HEIGHT, fps, (ctx) => drawClock(ctx, now()));
}
