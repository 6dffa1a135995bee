// What the page (audio-out.ts) and its audio worklet (audio-worklet.ts) say to each other over the node's port, and
// the worklet's settings. Each side checks what arrives, as the page does with the server's messages.

/** The name audio-worklet.ts registers its processor under. */
export const AUDIO_PROCESSOR = 'relaycast-audio-out';

// The jitter buffer's settings (audio-ring.ts says what each does).
/** The memory bound: the most sound queued. */
export const AUDIO_CAPACITY_SECONDS = 0.5;
/** The least queued before the sound starts (and starts again after an underrun): two 20 ms Opus frames. */
export const AUDIO_START_SECONDS = 0.04;
/** What the queue is trimmed to at its lowest: Chromium renders 10 ms per device callback, and the page thread lags. */
export const AUDIO_MARGIN_SECONDS = 0.02;
/** How long the lowest level and the largest gap between frames are measured over. */
export const AUDIO_WINDOW_SECONDS = 1;
/** How often the worklet reports its level and counters. */
export const AUDIO_REPORT_SECONDS = 0.25;

/** page → worklet. `audio`: one decoded frame, planar (the arrays are transferred); `clear`: drop what is queued. */
export type ToWorklet = { type: 'audio'; sampleRate: number; planes: Float32Array[] } | { type: 'clear' };

/** worklet → page, every AUDIO_REPORT_SECONDS while the context runs. Frames are at the context's `sampleRate`. */
export interface WorkletReport {
  type: 'report';
  sampleRate: number;
  bufferedFrames: number;
  renderedFrames: number;
  underruns: number;
  overflows: number;
  trims: number;
  droppedFrames: number;
  /** The largest sample (absolute) played since the last report: 0 is silence. */
  peak: number;
}

const REPORT_COUNTS = ['sampleRate', 'bufferedFrames', 'renderedFrames', 'underruns', 'overflows', 'trims', 'droppedFrames', 'peak'] as const;

export function parseToWorklet(data: unknown): ToWorklet | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Record<string, unknown>;
  if (m['type'] === 'clear') return { type: 'clear' };
  if (m['type'] !== 'audio') return undefined;
  const { sampleRate, planes } = m;
  if (typeof sampleRate !== 'number' || !(sampleRate > 0) || !Array.isArray(planes) || planes.length === 0) return undefined;
  if (!planes.every((p): p is Float32Array => p instanceof Float32Array && p.length === (planes[0] as Float32Array).length)) return undefined;
  return { type: 'audio', sampleRate, planes };
}

export function parseWorkletReport(data: unknown): WorkletReport | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  const m = data as Record<string, unknown>;
  const count = (k: (typeof REPORT_COUNTS)[number]): boolean => {
    const v = m[k];
    return typeof v === 'number' && Number.isFinite(v) && v >= 0;
  };
  if (m['type'] !== 'report' || !REPORT_COUNTS.every(count)) return undefined;
  return data as WorkletReport;
}
