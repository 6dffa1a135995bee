// One broadcast, from Go live to Stop: capture → encoders → timeline → uplink (and the local recording).
// It owns every long-lived piece of a broadcast and closes all of them on stop() or on the first fatal error; the
// page's public state moves only through the SessionState it is given.
import { avcCodecString, parseAvcC } from '../shared/fmp4/avc.ts';
import { DEFAULT_OPUS_PRE_SKIP, type Fmp4WriterOptions } from '../shared/fmp4/writer.ts';
import type { PageConfig } from '../shared/protocol.ts';
import { AudioPipeline, OPUS_FRAME_US, type AudioTrackInfo } from './audio-pipeline.ts';
import { BacklogBound } from './backlog-bound.ts';
import { startCapture, type Capture, type CaptureChoice } from './capture.ts';
import { PageError, asPageError } from './errors.ts';
import { MediaClock, toMicros, toTicks } from './media-clock.ts';
import { RateControl } from './rate-control.ts';
import type { LocalRecorder } from './recorder.ts';
import type { SessionState } from './session-state.ts';
import { PublishStats, type StatsSnapshot } from './stats.ts';
import { TrackTimeline } from './timeline.ts';
import { Uplink, type Accepted, type ServerStats, type UplinkHello } from './uplink.ts';
import { MIN_GAP_FRACTION, VideoPipeline, type VideoSettings } from './video-pipeline.ts';

export const VIDEO_TIMESCALE = 90_000;
export const AUDIO_TIMESCALE = 48_000;
/** How long to wait for the microphone's first packet before going live without sound. */
const AUDIO_WAIT_MS = 2000;

export interface BroadcastSettings extends CaptureChoice, VideoSettings {
  stream: string;
  token?: string;
  record: boolean;
}

export interface Recording {
  url: string;
  fileName: string;
  bytes: number;
}

export interface BroadcastEvents {
  preview(stream: MediaStream | undefined): void;
  stats(s: StatsSnapshot): void;
  serverStats(m: ServerStats): void;
  accepted(m: Accepted): void;
  /** The local copy after Stop (or an explanation of why there is none). */
  recording(file: Recording | undefined, note: string): void;
  /** Something worth a line beside the status (audio missing, bitrate lowered …). */
  notice(text: string): void;
}

export interface BroadcastDeps {
  config: PageConfig;
  wsUrl: string;
  state: SessionState;
  events: BroadcastEvents;
  createSocket?: (url: string) => WebSocket;
  /** While reconnecting: whether the server answers again (see UplinkOptions.probe). */
  probe?: () => Promise<boolean>;
}

export class Broadcast {
  private capture: Capture | undefined;
  private video: VideoPipeline | undefined;
  private audio: AudioPipeline | undefined;
  private uplink: Uplink | undefined;
  private recorder: LocalRecorder | undefined;
  /** mp4-muxer is loaded only when a local copy is wanted, so the page stays small for everyone else. */
  private recorderClass: typeof LocalRecorder | undefined;
  private readonly stats = new PublishStats();
  private readonly rate: RateControl;
  private readonly clock = new MediaClock(() => performance.now() * 1000);
  private readonly videoTimeline = new TrackTimeline({ jumpTicks: VIDEO_TIMESCALE });
  private readonly audioTimeline = new TrackTimeline({ jumpTicks: AUDIO_TIMESCALE, snapTicks: toTicks(30_000, AUDIO_TIMESCALE) });
  private videoConfig: VideoEncoderConfig | undefined;
  private avcC: Uint8Array | undefined;
  /** The last decoderConfig the video encoder gave (it comes with one output only), for a recorder made later. */
  private videoDecoderConfig: VideoDecoderConfig | undefined;
  private audioInfo: AudioTrackInfo | undefined;
  private opusPreSkip: number | undefined;
  private audioGaveUp = false;
  private uplinkHasAudio = false;
  private audioTimer: ReturnType<typeof setTimeout> | undefined;
  private statsTimer: ReturnType<typeof setInterval> | undefined;
  private stopping: Promise<void> | undefined;
  private readonly backlog = new BacklogBound();

  constructor(
    private readonly settings: BroadcastSettings,
    private readonly deps: BroadcastDeps,
  ) {
    this.rate = new RateControl({ target: settings.bitrate });
  }

  async start(): Promise<void> {
    const { state, events } = this.deps;
    state.to('connecting', this.settings.source === 'screen' ? 'Choose the screen or window to share…' : `Starting the ${this.describeSource()}…`);
    try {
      this.capture = await startCapture(this.settings);
    } catch (err) {
      this.fail(asPageError(err, 'capture-failed'));
      return;
    }
    if (this.stoppedMeanwhile()) return;
    if (this.settings.record) {
      try {
        this.recorderClass = (await import('./recorder.ts')).LocalRecorder;
      } catch (err) {
        events.notice(`The local recording is unavailable (${asPageError(err).message}); the broadcast goes on without it. Reload the page to record next time.`);
      }
      if (this.stoppedMeanwhile()) return;
    }
    events.preview(this.capture.stream);
    this.capture.video.addEventListener('ended', () => {
      void this.stop(this.settings.source === 'screen' ? 'Screen sharing ended, so the broadcast stopped.' : 'The video source went away (unplugged or taken by another application), so the broadcast stopped.');
    });
    // Going on without sound would need a new init segment (a reconnect) and a recording without its audio track;
    // stopping with the next step spelled out is simpler and leaves nothing half-working.
    this.capture.audio?.addEventListener('ended', () => {
      if (this.audioGaveUp) {
        this.deps.events.notice('The microphone was disconnected; the broadcast goes on without sound, as it already was.');
        return;
      }
      void this.stop('The microphone was disconnected, so the broadcast stopped. Choose "No microphone" or another microphone, then press Go live to continue.');
    });
    try {
      this.video = new VideoPipeline(this.capture.video, this.settings, this.clock, this.stats, {
        configured: (cfg) => (this.videoConfig = cfg),
        output: (chunk, meta, t) => this.onVideo(chunk, meta, t),
        error: (e) => this.fail(e),
      });
      if (this.capture.audio) {
        this.audio = new AudioPipeline(this.capture.audio, this.clock, {
          configured: (info) => (this.audioInfo = info),
          output: (chunk, meta, t) => this.onAudio(chunk, meta, t),
          error: (e) => this.fail(e),
        });
      }
    } catch (err) {
      this.fail(asPageError(err));
      return;
    }
    this.video.start();
    this.audio?.start();
    if (this.settings.source === 'canvas' || this.settings.source === 'clock') {
      document.addEventListener('visibilitychange', this.onVisibility);
      this.onVisibility(); // an autostart in a background tab
    }
    state.to('connecting', 'Encoding; connecting to the server…');
    this.statsTimer = setInterval(() => this.tick(), 1000);
  }

  /**
   * Stop was pressed while start() awaited something: teardown may already have run (and set idle), so start() must
   * build nothing more. Stops the capture in case teardown ran before it existed.
   */
  private stoppedMeanwhile(): boolean {
    if (!this.stopping) return false;
    this.capture?.stop();
    return true;
  }

  /** Stop: last frames out, socket closed with 1000, tracks stopped, recording offered. Idempotent. */
  /** Reconnecting: try now instead of waiting out the backoff. */
  retryNow(): void {
    this.uplink?.retryNow();
  }

  stop(sentence = 'Stopped. Press Go live to start again.'): Promise<void> {
    this.stopping ??= this.teardown().then(() => {
      if (this.deps.state.state !== 'error') this.deps.state.to('idle', sentence);
    });
    return this.stopping;
  }

  /** Browsers run a hidden tab's timers about once a second, and the canvas sources draw on a timer. */
  private readonly onVisibility = (): void => {
    if (!document.hidden || this.stopping) return;
    const what = this.settings.source === 'clock' ? 'clock' : 'test pattern';
    this.deps.events.notice(`This tab is in the background, so the browser slows the ${what} to about one frame a second. Keep the tab visible (a window of its own is enough) while broadcasting.`);
  };

  private fail(err: PageError): void {
    if (this.stopping) return;
    this.deps.state.to('error', err.message);
    void this.stop();
  }

  /** Never rejects: every step runs even if one before it threw, so the page always gets back to idle. */
  private async teardown(): Promise<void> {
    clearInterval(this.statsTimer);
    clearTimeout(this.audioTimer);
    const steps: Array<() => unknown> = [
      // Encoders first: their flush hands the last frames to the uplink and the recording.
      () => Promise.all([this.video?.close(), this.audio?.close()]),
      () => this.uplink?.close(),
      () => this.capture?.stop(),
      () => this.deps.events.preview(undefined),
      () => document.removeEventListener('visibilitychange', this.onVisibility),
      () => this.finishRecording(),
    ];
    const problems: string[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        problems.push(asPageError(err).message);
      }
    }
    if (problems.length > 0) this.deps.events.notice(`Stopping was not clean (${problems.join('; ')}). If the camera or microphone light stays on, reload the page.`);
  }

  private finishRecording(): void {
    if (!this.settings.record) return;
    const r = this.recorder;
    let file: Blob | undefined;
    try {
      file = r?.finish();
      if (file) {
        const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
        this.deps.events.recording({ url: URL.createObjectURL(file), fileName: `${this.settings.stream}-${stamp}.mp4`, bytes: file.size }, '');
        return;
      }
    } catch (err) {
      // mp4-muxer's finalize() writes the whole file in memory at once; that is where a long recording can fail.
      this.deps.events.recording(undefined, `The local copy could not be written (${asPageError(err).message}); the broadcast itself stopped normally. Record shorter broadcasts, or record from the RTSP output instead.`);
      return;
    }
    this.deps.events.recording(
      undefined,
      r?.failure ? `The local recording failed (${r.failure}); the broadcast was not affected. Press Go live to record again.` : 'Nothing was recorded (no keyframe was encoded). Broadcast a little longer before pressing Stop.',
    );
  }

  private onVideo(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined, mediaUs: number): void {
    if (meta?.decoderConfig) this.videoDecoderConfig = meta.decoderConfig;
    const description = meta?.decoderConfig?.description;
    if (description) {
      const avcC = bytesOf(description);
      if (this.avcC && !sameBytes(this.avcC, avcC) && this.uplink) {
        this.avcC = avcC;
        const next = this.uplinkSetup();
        if (next) this.uplink.reinit(next.hello, next.tracks);
      }
      this.avcC = avcC;
    }
    this.maybeStartUplink();
    const fps = this.settings.fps;
    const placed = this.videoTimeline.place(toTicks(mediaUs, VIDEO_TIMESCALE), Math.floor((VIDEO_TIMESCALE / fps) * MIN_GAP_FRACTION));
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    this.uplink?.sendVideo({ data, timestamp: placed.timestamp, duration: placed.duration, keyframe: chunk.type === 'key' });
    this.recordVideo(chunk, meta, toMicros(placed.timestamp, VIDEO_TIMESCALE));
  }

  private recordVideo(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined, timestampUs: number): void {
    this.record((r) => r.addVideo(chunk, meta, timestampUs));
  }

  private record(add: (r: LocalRecorder) => void): void {
    const r = this.recorder;
    if (!r || r.full) return;
    add(r);
    if (r.full) {
      const mib = Math.round(r.maxBytes / 1024 / 1024);
      this.deps.events.notice(`The local recording reached ${mib} MiB, the most this page holds in memory, so it stopped there; the broadcast goes on. Press Stop to save what was recorded.`);
    }
  }

  private onAudio(chunk: EncodedAudioChunk, meta: EncodedAudioChunkMetadata | undefined, mediaUs: number): void {
    const description = meta?.decoderConfig?.description;
    if (description && this.opusPreSkip === undefined) this.opusPreSkip = opusPreSkip(bytesOf(description));
    this.opusPreSkip ??= DEFAULT_OPUS_PRE_SKIP;
    this.maybeStartUplink();
    const placed = this.audioTimeline.place(toTicks(mediaUs, AUDIO_TIMESCALE), toTicks(chunk.duration ?? OPUS_FRAME_US, AUDIO_TIMESCALE));
    const data = new Uint8Array(chunk.byteLength);
    chunk.copyTo(data);
    if (this.uplinkHasAudio) this.uplink?.sendAudio({ data, timestamp: placed.timestamp, duration: placed.duration, keyframe: true });
    this.record((r) => r.addAudio(chunk, meta, toMicros(placed.timestamp, AUDIO_TIMESCALE)));
  }

  /** The hello and the fMP4 tracks once the encoders have said what they produce; undefined until then. */
  private uplinkSetup(): { hello: UplinkHello; tracks: Fmp4WriterOptions } | undefined {
    const cfg = this.videoConfig;
    const avcC = this.avcC;
    if (!cfg || !avcC) return undefined;
    const parsed = parseAvcC(avcC);
    // The codec string from the avcC the encoder actually wrote, so hello and the init segment agree.
    const codec = parsed.ok ? avcCodecString('avc1', parsed.value.profileIndication, parsed.value.profileCompatibility, parsed.value.levelIndication) : cfg.codec;
    const withAudio = this.audioInfo !== undefined && this.opusPreSkip !== undefined && !this.audioGaveUp;
    const hello: UplinkHello = {
      stream: this.settings.stream,
      ...(this.settings.token ? { token: this.settings.token } : {}),
      video: { codec, width: cfg.width, height: cfg.height, framerate: this.settings.fps, bitrate: this.settings.bitrate },
      ...(withAudio && this.audioInfo ? { audio: { codec: 'opus', sampleRate: AUDIO_TIMESCALE, channels: this.audioInfo.channels } } : {}),
    };
    const tracks: Fmp4WriterOptions = {
      video: { kind: 'video', codec: 'avc1', avcC, width: cfg.width, height: cfg.height, timescale: VIDEO_TIMESCALE },
      ...(withAudio && this.audioInfo
        ? { audio: { kind: 'audio', codec: 'opus', channels: this.audioInfo.channels, sampleRate: this.audioInfo.sampleRate, preSkip: this.opusPreSkip ?? DEFAULT_OPUS_PRE_SKIP, timescale: AUDIO_TIMESCALE } }
        : {}),
    };
    return { hello, tracks };
  }

  private maybeStartUplink(): void {
    if (this.uplink || this.stopping || !this.videoConfig || !this.avcC) return;
    const audioReady = !this.audio || this.audioGaveUp || (this.audioInfo !== undefined && this.opusPreSkip !== undefined);
    if (!audioReady) {
      this.audioTimer ??= setTimeout(() => {
        this.audioGaveUp = true;
        this.deps.events.notice('The microphone delivered no sound within 2 s, so the broadcast went live without audio.');
        this.maybeStartUplink();
      }, AUDIO_WAIT_MS);
      return;
    }
    clearTimeout(this.audioTimer);
    const setup = this.uplinkSetup();
    if (!setup) return;
    this.uplinkHasAudio = setup.tracks.audio !== undefined;
    if (this.recorderClass) {
      this.recorder = new this.recorderClass({
        video: { width: this.videoConfig.width, height: this.videoConfig.height, framerate: this.settings.fps, decoderConfig: this.videoDecoderConfig },
        ...(this.audioInfo && !this.audioGaveUp ? { audio: { channels: this.audioInfo.channels, sampleRate: AUDIO_TIMESCALE } } : {}),
      });
    }
    const { state, events } = this.deps;
    this.uplink = new Uplink({
      url: this.deps.wsUrl,
      hello: setup.hello,
      tracks: setup.tracks,
      maxBacklog: () => this.backlog.limit(this.rate.bitrate),
      ...(this.deps.createSocket ? { createSocket: this.deps.createSocket } : {}),
      ...(this.deps.probe ? { probe: this.deps.probe } : {}),
      events: {
        phase: (phase, sentence) => {
          // A new socket is coming: the old one's queue and speed say nothing about it.
          this.backlog.reset();
          if (this.stopping) return;
          if (phase === 'reconnecting') state.to('reconnecting', sentence);
        },
        accepted: (raw) => {
          this.backlog.reset();
          if (this.stopping) return;
          // parseServerMessage checks only the type; the fields read here are checked here.
          const m: Accepted = {
            ...raw,
            stream: typeof raw.stream === 'string' ? raw.stream : this.settings.stream,
            rtspPort: typeof raw.rtspPort === 'number' ? raw.rtspPort : this.deps.config.rtspPort,
            rtspPath: typeof raw.rtspPath === 'string' ? raw.rtspPath : `/${this.settings.stream}`,
            outputs: Array.isArray(raw.outputs) ? raw.outputs : [],
          };
          events.accepted(m);
          state.to('live', `Live as "${m.stream}" on ${rtspUrl(m.rtspPort, m.rtspPath)}.`);
        },
        serverStats: (m) => events.serverStats({ ...m, outputs: Array.isArray(m.outputs) ? m.outputs : [] }),
        keyframeNeeded: () => this.video?.requestKeyframe(),
        congestion: () => {
          const b = this.rate.congested(performance.now());
          if (b !== undefined) {
            this.video?.setBitrate(b);
            events.notice(`The uplink is slow: video bitrate lowered to ${Math.round(b / 1000)} kbit/s.`);
          }
        },
        sent: (bytes, video) => {
          this.stats.bytesSent += bytes;
          if (video) this.stats.videoSent += 1;
        },
        dropped: (video) => {
          if (video) this.stats.droppedFrames += 1;
          else this.stats.audioDropped += 1;
        },
        failed: (err) => this.fail(err),
      },
    });
    this.uplink.start();
  }

  private tick(): void {
    const now = performance.now();
    if (this.uplink) this.backlog.sample(now, this.stats.bytesSent, this.uplink.bufferedAmount);
    const size = { width: this.videoConfig?.width ?? 0, height: this.videoConfig?.height ?? 0 };
    const snap = this.stats.snapshot(now, this.uplink?.bufferedAmount ?? 0, this.rate.bitrate, size);
    this.deps.events.stats(snap);
    this.uplink?.sendStats({ sentKbps: snap.sentKbps, fps: snap.fps, encodeMs: snap.encodeMs, droppedFrames: snap.droppedFrames, bufferedBytes: snap.bufferedBytes });
    // Recover only while the backlog is small: a growing one means the link is still at its limit.
    if ((this.uplink?.bufferedAmount ?? 0) < this.rate.bitrate / 8 / 4) {
      const b = this.rate.tick(now);
      if (b !== undefined) this.video?.setBitrate(b);
    }
  }

  private describeSource(): string {
    switch (this.settings.source) {
      case 'camera':
        return this.settings.audio === 'mic' ? 'camera and microphone' : 'camera';
      case 'canvas':
        return 'test pattern';
      case 'clock':
        return 'clock';
      case 'screen':
        return 'screen share';
    }
  }
}

/** rtsp://HOST:PORT/NAME for this page's host (the relay listens on the same machine as the page's server). */
export function rtspUrl(port: number, path: string): string {
  const p = path.startsWith('/') ? path : `/${path}`;
  return `rtsp://${location.hostname}:${port}${p}`;
}

function bytesOf(src: AllowSharedBufferSource): Uint8Array {
  if (src instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && src instanceof SharedArrayBuffer)) return new Uint8Array(src.slice(0));
  const view = src as ArrayBufferView;
  return new Uint8Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** RFC 7845 §5.1 OpusHead: "OpusHead", version, channels, pre-skip (LE u16) … */
export function opusPreSkip(head: Uint8Array): number {
  if (head.length < 12 || String.fromCharCode(...head.subarray(0, 8)) !== 'OpusHead') return DEFAULT_OPUS_PRE_SKIP;
  return head[10]! | (head[11]! << 8);
}
