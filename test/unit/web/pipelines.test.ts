// web/video-pipeline.ts and web/audio-pipeline.ts against stand-ins for MediaStreamTrackProcessor and the WebCodecs
// encoders (Node has neither): a pipeline that failed still closes its encoder on close().
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AudioPipeline } from '../../../web/audio-pipeline.ts';
import { MediaClock } from '../../../web/media-clock.ts';
import { PublishStats } from '../../../web/stats.ts';
import { VideoPipeline } from '../../../web/video-pipeline.ts';

/** Frames the fake track processor hands out; the test pushes them. */
let push: (f: object) => void = () => {};

class FakeProcessor {
  readonly readable: ReadableStream<object>;
  constructor() {
    this.readable = new ReadableStream({ start: (c) => void (push = (f) => c.enqueue(f)) });
  }
}

const encoders: FakeEncoder[] = [];
class FakeEncoder {
  state: 'unconfigured' | 'configured' | 'closed' = 'unconfigured';
  encodeQueueSize = 0;
  static isConfigSupported = async (config: object) => ({ supported: true, config });
  constructor(readonly init: { output: unknown; error: (e: Error) => void }) {
    encoders.push(this);
  }
  configure(): void {
    this.state = 'configured';
  }
  encode(): void {
    throw new TypeError('frame and encoder do not match'); // what a bad encode() throws synchronously
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): void {
    this.state = 'closed';
  }
}

const frame = (timestamp: number) => ({ timestamp, displayWidth: 640, displayHeight: 360, sampleRate: 48_000, numberOfChannels: 2, close() {} });
const track = {} as MediaStreamTrack;
const settle = () => new Promise((r) => setTimeout(r, 10));

beforeEach(() => {
  encoders.length = 0;
  vi.stubGlobal('MediaStreamTrackProcessor', FakeProcessor);
  vi.stubGlobal('VideoEncoder', FakeEncoder);
  vi.stubGlobal('AudioEncoder', FakeEncoder);
});
afterEach(() => vi.unstubAllGlobals());

describe('encoder pipelines after a failure', () => {
  it('VideoPipeline reports the error and close() still closes the encoder', async () => {
    const errors: string[] = [];
    const p = new VideoPipeline(track, { preset: '480p', fps: 30, bitrate: 1_000_000, profile: 'high', keyframeIntervalMs: 2000 }, new MediaClock(() => 0), new PublishStats(), {
      configured: () => {},
      output: () => {},
      error: (e) => errors.push(e.message),
    });
    p.start();
    push(frame(0)); // configures the encoder
    await settle();
    push(frame(40_000)); // encode() throws
    await settle();
    expect(errors).toEqual([expect.stringMatching(/^The video encoder stopped \(frame and encoder do not match\)\. Press Go live to start again/)]);
    expect(encoders[0]?.state).toBe('configured');
    await p.close();
    expect(encoders[0]?.state).toBe('closed');
    await p.close(); // idempotent
  });

  it('AudioPipeline reports the error and close() still closes the encoder', async () => {
    const errors: string[] = [];
    const p = new AudioPipeline(track, new MediaClock(() => 0), { configured: () => {}, output: () => {}, error: (e) => errors.push(e.message) });
    p.start();
    push(frame(0)); // configures, then encode() throws
    await settle();
    expect(errors).toEqual([expect.stringMatching(/^The audio encoder stopped \(frame and encoder do not match\)\. .*"No microphone"/)]);
    await p.close();
    expect(encoders[0]?.state).toBe('closed');
  });
});
