// The viewer's audio output, on the audio rendering thread (an AudioWorkletGlobalScope, not the page): decoded frames
// arrive from audio-out.ts over the node's port, queue in an AudioRing, and each render quantum (128 frames) plays
// from it; silence when it runs dry. It reports its level and counters back a few times a second.
//
// Built by Vite as a worker bundle (audio-out.ts imports it with `?worker&url`), so its imports are inlined: a worklet
// module is fetched like a script, and nothing but the built file is served.
import { AudioRing } from './audio-ring.ts';
import {
  AUDIO_CAPACITY_SECONDS,
  AUDIO_MARGIN_SECONDS,
  AUDIO_PROCESSOR,
  AUDIO_REPORT_SECONDS,
  AUDIO_START_SECONDS,
  AUDIO_WINDOW_SECONDS,
  parseToWorklet,
  type WorkletReport,
} from './audio-worklet-messages.ts';
import { LinearResampler } from './resampler.ts';

// The AudioWorkletGlobalScope (Web Audio API, "AudioWorkletGlobalScope"), which TypeScript's DOM library leaves out.
declare const sampleRate: number;
declare abstract class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, processor: new () => AudioWorkletProcessor): void;

class AudioOutProcessor extends AudioWorkletProcessor {
  private ring: AudioRing | undefined;
  private resampler: LinearResampler | undefined;
  private readonly reportEvery = Math.round(sampleRate * AUDIO_REPORT_SECONDS);
  private sinceReport = 0;
  private peak = 0;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<unknown>) => this.receive(e.data);
  }

  /** Called per render quantum (Web Audio API, "process() callback"); true: keep calling it. */
  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0] ?? [];
    if (this.ring) this.ring.read(out);
    else for (const channel of out) channel.fill(0);
    for (const channel of out) for (const v of channel) this.peak = Math.max(this.peak, Math.abs(v));
    this.sinceReport += out[0]?.length ?? 0;
    if (this.sinceReport >= this.reportEvery) {
      this.sinceReport = 0;
      this.report();
    }
    return true;
  }

  private receive(data: unknown): void {
    const m = parseToWorklet(data);
    if (!m) return; // only audio-out.ts talks to this port
    if (m.type === 'clear') {
      this.ring?.clear();
      return;
    }
    const channels = m.planes.length;
    if (m.sampleRate === sampleRate) this.resampler = undefined;
    else if (!this.resampler || this.resampler.fromRate !== m.sampleRate || this.resampler.channels !== channels) {
      this.resampler = new LinearResampler(m.sampleRate, sampleRate, channels);
    }
    if (this.ring?.channels !== channels) {
      const ring = new AudioRing(channels, {
        capacity: Math.round(sampleRate * AUDIO_CAPACITY_SECONDS),
        startFrames: Math.round(sampleRate * AUDIO_START_SECONDS),
        marginFrames: Math.round(sampleRate * AUDIO_MARGIN_SECONDS),
        windowFrames: Math.round(sampleRate * AUDIO_WINDOW_SECONDS),
      });
      if (this.ring) Object.assign(ring.counters, this.ring.counters); // the counters are the page's, across streams
      this.ring = ring;
    }
    this.ring.write(this.resampler ? this.resampler.process(m.planes) : m.planes);
  }

  private report(): void {
    const c = this.ring?.counters;
    const report: WorkletReport = {
      type: 'report',
      sampleRate,
      bufferedFrames: this.ring?.buffered ?? 0,
      renderedFrames: c?.renderedFrames ?? 0,
      underruns: c?.underruns ?? 0,
      overflows: c?.overflows ?? 0,
      trims: c?.trims ?? 0,
      droppedFrames: c?.droppedFrames ?? 0,
      peak: this.peak,
    };
    this.peak = 0;
    this.port.postMessage(report);
  }
}

registerProcessor(AUDIO_PROCESSOR, AudioOutProcessor);
