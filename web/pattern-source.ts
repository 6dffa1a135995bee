// A canvas test pattern for broadcasting without a camera: colour bars, a moving bar and a frame counter, so motion,
// colour and dropped frames are all visible at the far end.
import { captureCanvas, type CanvasSource } from './canvas-capture.ts';

const BARS = ['#c0c0c0', '#c0c000', '#00c0c0', '#00c000', '#c000c0', '#c00000', '#0000c0'];

export function drawPattern(ctx: CanvasRenderingContext2D, width: number, height: number, frame: number, label: string): void {
  const barW = width / BARS.length;
  BARS.forEach((c, i) => {
    ctx.fillStyle = c;
    ctx.fillRect(Math.floor(i * barW), 0, Math.ceil(barW), height * 0.67);
  });
  // A grey ramp, then black for the moving bar's track.
  for (let i = 0; i < 16; i++) {
    const v = Math.round((i * 255) / 15);
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect(Math.floor((i * width) / 16), height * 0.67, Math.ceil(width / 16), height * 0.13);
  }
  ctx.fillStyle = '#101010';
  ctx.fillRect(0, height * 0.8, width, height * 0.2);
  const x = ((frame * 8) % (width + 80)) - 80;
  ctx.fillStyle = '#f0f0f0';
  ctx.fillRect(x, height * 0.8, 80, height * 0.2);
  ctx.fillStyle = 'rgba(0,0,0,0.6)';
  ctx.fillRect(width * 0.25, height * 0.25, width * 0.5, height * 0.2);
  ctx.fillStyle = '#fff';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.font = `bold ${Math.round(height / 12)}px system-ui, sans-serif`;
  ctx.fillText(label, width / 2, height * 0.31);
  ctx.font = `${Math.round(height / 18)}px ui-monospace, monospace`;
  ctx.fillText(`frame ${frame} · ${new Date().toISOString().slice(11, 23)}`, width / 2, height * 0.4);
}

export function startPatternSource(width: number, height: number, fps: number, label: string): CanvasSource {
  let frame = 0;
  return captureCanvas(width, height, fps, (ctx) => drawPattern(ctx, width, height, frame++, label));
}
