// A canvas as a camera: each frame is drawn and captured at once (captureStream(0) + requestFrame()), so what a frame
// shows is what it was when it entered the pipeline. Used by the test-pattern and clock sources.
export interface CanvasSource {
  stream: MediaStream;
  stop(): void;
}

export function captureCanvas(width: number, height: number, fps: number, draw: (ctx: CanvasRenderingContext2D) => void): CanvasSource {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d', { alpha: false });
  if (!ctx) throw new Error('no 2D canvas context');
  const stream = canvas.captureStream(0);
  const track = stream.getVideoTracks()[0] as CanvasCaptureMediaStreamTrack | undefined;
  if (!track) throw new Error('canvas.captureStream() gave no video track');
  const tick = (): void => {
    draw(ctx);
    track.requestFrame();
  };
  tick();
  // A timer, not requestAnimationFrame: rAF stops in a hidden tab (timers there slow to ~1 Hz; the page warns).
  const timer = setInterval(tick, 1000 / fps);
  return {
    stream,
    stop() {
      clearInterval(timer);
      for (const t of stream.getTracks()) t.stop();
    },
  };
}
