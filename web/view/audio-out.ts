/// <reference types="vite/client" />
// Audio chunks → WebCodecs AudioDecoder → an AudioWorklet (audio-worklet.ts), the lowest-latency path a browser has:
// samples go straight to the audio rendering thread, which plays them from a small bounded queue. Decoding runs from
// the start (so the page knows the audio works and counts it); sound needs an AudioContext, which browsers start only
// from a click, so the page starts muted and unmute() makes the context (at the stream's sample rate, so nothing is
// resampled) and loads the worklet. While muted or paused, decoded frames are dropped and the worklet's queue is
// cleared, so what is heard after Unmute or Play is the live edge.
import { AUDIO_PROCESSOR, parseWorkletReport, type ToWorklet, type WorkletReport } from './audio-worklet-messages.ts';
// `?worker&url`: Vite bundles the worklet with its imports into one file and gives its URL. (A bare
// `new URL('./audio-worklet.ts', import.meta.url)` would copy the TypeScript source unbuilt.)
import workletUrl from './audio-worklet.ts?worker&url';
import type { AudioTrackConfig, MediaChunk } from './demux.ts';

export interface AudioCounters {
  /** Frames the decoder output. */
  decoded: number;
  /** Frames handed to the worklet to be heard. */
  played: number;
  /** Frames not decoded (behind) or not played (muted, paused, no sound yet). */
  dropped: number;
}

/** What the worklet last reported, in ms of sound. */
export interface AudioLevels {
  /** Queued in the worklet. */
  bufferedMs: number;
  /** Played by the worklet (the silence of an underrun is not counted). */
  renderedMs: number;
  /** Times the worklet's queue ran dry while playing. */
  underruns: number;
  /** Dropped by the worklet to stay at the live edge (its queue trimmed, or overflowing). */
  skippedMs: number;
  /** The largest sample it played in the last report's time (0: silence). */
  peak: number;
}

export class AudioOut {
  readonly counters: AudioCounters = { decoded: 0, played: 0, dropped: 0 };
  private decoder: AudioDecoder | undefined;
  private track: Pick<AudioTrackConfig, 'sampleRate' | 'numberOfChannels'> | undefined;
  private context: AudioContext | undefined;
  private node: AudioWorkletNode | undefined;
  private report: WorkletReport | undefined;
  private muted = true;
  private paused = false;

  constructor(private readonly onError: (message: string) => void) {}

  get isMuted(): boolean {
    return this.muted;
  }

  get levels(): AudioLevels {
    const r = this.report;
    const ms = (frames: number): number => (r ? (frames / r.sampleRate) * 1000 : 0);
    return {
      bufferedMs: ms(r?.bufferedFrames ?? 0),
      renderedMs: ms(r?.renderedFrames ?? 0),
      underruns: r?.underruns ?? 0,
      skippedMs: ms(r?.droppedFrames ?? 0),
      peak: r?.peak ?? 0,
    };
  }

  /** A new init segment's audio track: a decoder for it at once (chunks follow in the same burst). */
  configure(track: AudioTrackConfig): void {
    const config: AudioDecoderConfig = {
      codec: track.codec,
      sampleRate: track.sampleRate,
      numberOfChannels: track.numberOfChannels,
      ...(track.description ? { description: track.description } : {}),
    };
    this.track = { sampleRate: track.sampleRate, numberOfChannels: track.numberOfChannels };
    this.closeDecoder();
    this.decoder = new AudioDecoder({
      output: (data) => this.output(data),
      error: (e) =>
        this.onError(
          e.name === 'NotSupportedError'
            ? `This browser cannot decode the stream's audio (${track.codec}); the picture plays without sound.`
            : `The audio decoder failed (${e.message}); the picture plays on without sound.`,
        ),
    });
    this.decoder.configure(config);
  }

  /** One audio chunk; `behind`: it arrived late, and is dropped (audio frames stand alone). */
  push(chunk: MediaChunk, behind: boolean): void {
    const decoder = this.decoder;
    if (!decoder || decoder.state !== 'configured' || behind) {
      this.counters.dropped++;
      return;
    }
    decoder.decode(new EncodedAudioChunk({ type: 'key', timestamp: chunk.timestamp, duration: chunk.duration, data: chunk.data }));
  }

  /** Must run in a click handler: browsers start sound only from a user gesture. */
  async unmute(): Promise<void> {
    this.muted = false;
    if (this.context) {
      await this.context.resume();
      return;
    }
    const context = this.openContext();
    this.context = context;
    try {
      // resume() before any await, while the click still counts as a gesture.
      await Promise.all([context.resume(), context.audioWorklet.addModule(workletUrl)]);
    } catch (e) {
      if (this.context !== context) return; // closed meanwhile
      // Muted and gone, so that the Unmute button shows again and tries again.
      this.muted = true;
      this.context = undefined;
      void context.close();
      this.onError(`The sound could not start (${e instanceof Error ? e.message : String(e)}); the picture plays on without it.`);
      return;
    }
    if (this.context !== context) return; // closed meanwhile
    const node = new AudioWorkletNode(context, AUDIO_PROCESSOR, {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [Math.min(this.track?.numberOfChannels ?? 2, context.destination.maxChannelCount) || 2],
    });
    node.port.onmessage = (e: MessageEvent<unknown>) => {
      this.report = parseWorkletReport(e.data) ?? this.report;
    };
    node.connect(context.destination);
    this.node = node;
  }

  mute(): void {
    this.muted = true;
    this.post({ type: 'clear' });
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    this.post({ type: 'clear' });
  }

  close(): void {
    this.closeDecoder();
    this.node?.disconnect();
    this.node = undefined;
    void this.context?.close();
    this.context = undefined;
  }

  /** At the stream's rate (48 kHz for Opus) where the browser allows it, so the worklet need not resample. */
  private openContext(): AudioContext {
    const sampleRate = this.track?.sampleRate;
    if (sampleRate) {
      try {
        return new AudioContext({ latencyHint: 'interactive', sampleRate });
      } catch {
        // a rate this browser's context does not take: the worklet resamples
      }
    }
    return new AudioContext({ latencyHint: 'interactive' });
  }

  private post(message: ToWorklet, transfer: Transferable[] = []): void {
    this.node?.port.postMessage(message, transfer);
  }

  private closeDecoder(): void {
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    this.decoder = undefined;
  }

  private output(data: AudioData): void {
    this.counters.decoded++;
    try {
      if (this.muted || this.paused || !this.node || this.context?.state !== 'running') {
        this.counters.dropped++;
        return;
      }
      const planes: Float32Array[] = [];
      for (let ch = 0; ch < data.numberOfChannels; ch++) {
        const plane = new Float32Array(data.numberOfFrames);
        data.copyTo(plane, { planeIndex: ch, format: 'f32-planar' });
        planes.push(plane);
      }
      // The arrays move to the audio thread (transferred, not copied).
      this.post({ type: 'audio', sampleRate: data.sampleRate, planes }, planes.map((p) => p.buffer));
      this.counters.played++;
    } finally {
      data.close();
    }
  }
}
