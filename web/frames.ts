// Raw frames out of a MediaStreamTrack. Chromium has MediaStreamTrackProcessor (W3C mediacapture-transform), which
// hands out VideoFrame / AudioData with capture timestamps. Elsewhere video falls back to painting a <video> element
// into VideoFrames on each requestVideoFrameCallback; audio has no equivalent without an AudioWorklet, so it is refused
// with a sentence.
import { PageError } from './errors.ts';

// Not in TypeScript's DOM lib yet (it is in Chromium since 94).
interface TrackProcessor<T> {
  readonly readable: ReadableStream<T>;
}
type TrackProcessorConstructor = new (init: { track: MediaStreamTrack; maxBufferSize?: number }) => TrackProcessor<VideoFrame | AudioData>;

function processorConstructor(): TrackProcessorConstructor | undefined {
  return (globalThis as { MediaStreamTrackProcessor?: TrackProcessorConstructor }).MediaStreamTrackProcessor;
}

export function hasTrackProcessor(): boolean {
  return processorConstructor() !== undefined;
}

export interface FrameSource<T> {
  read(): Promise<T | undefined>;
  close(): void;
}

export function videoFrames(track: MediaStreamTrack): FrameSource<VideoFrame> {
  const Processor = processorConstructor();
  if (Processor) {
    // A small buffer: when the encoder falls behind, old frames are dropped by the processor rather than queued.
    const reader = new Processor({ track, maxBufferSize: 2 }).readable.getReader() as ReadableStreamDefaultReader<VideoFrame>;
    return readerSource(reader);
  }
  return videoElementFrames(track);
}

export function audioFrames(track: MediaStreamTrack): FrameSource<AudioData> {
  const Processor = processorConstructor();
  if (!Processor) {
    throw new PageError(
      'no-track-processor',
      'This browser cannot hand microphone samples to an audio encoder (it has no MediaStreamTrackProcessor). Choose "No microphone", or use Chrome or Edge.',
    );
  }
  const reader = new Processor({ track, maxBufferSize: 10 }).readable.getReader() as ReadableStreamDefaultReader<AudioData>;
  return readerSource(reader);
}

function readerSource<T>(reader: ReadableStreamDefaultReader<T>): FrameSource<T> {
  return {
    async read() {
      const r = await reader.read();
      return r.done ? undefined : r.value;
    },
    close() {
      reader.cancel().catch(() => {});
    },
  };
}

/** The fallback: one VideoFrame per frame the <video> element presents, stamped with its capture or presentation time. */
function videoElementFrames(track: MediaStreamTrack): FrameSource<VideoFrame> {
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.srcObject = new MediaStream([track]);
  void video.play().catch(() => {});
  let pending: VideoFrame | undefined;
  let waiter: ((f: VideoFrame | undefined) => void) | undefined;
  let closed = false;
  const onFrame = (_now: number, meta: VideoFrameCallbackMetadata): void => {
    if (closed) return;
    // Ask for the next one first: whatever happens to this frame, the stream must not stall.
    video.requestVideoFrameCallback(onFrame);
    const us = Math.round((meta.captureTime ?? meta.expectedDisplayTime) * 1000);
    let frame: VideoFrame;
    try {
      frame = new VideoFrame(video, { timestamp: us });
    } catch {
      return; // InvalidStateError while the element has no decoded frame yet (or a zero size): skip this one
    }
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(frame);
    } else {
      pending?.close(); // keep only the newest: never queue behind a slow encoder
      pending = frame;
    }
  };
  video.requestVideoFrameCallback(onFrame);
  return {
    read() {
      if (closed) return Promise.resolve(undefined);
      if (pending) {
        const f = pending;
        pending = undefined;
        return Promise.resolve(f);
      }
      return new Promise((resolve) => (waiter = resolve));
    },
    close() {
      closed = true;
      pending?.close();
      pending = undefined;
      waiter?.(undefined);
      waiter = undefined;
      video.srcObject = null;
    },
  };
}
