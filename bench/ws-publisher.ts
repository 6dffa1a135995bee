// A benchmark publisher: speaks the page's WebSocket protocol (shared/protocol.ts: hello → accepted → init segment →
// one moof+mdat per video frame, audio in fragments of its own of two Opus packets each, as the page sends them) and
// replays a Clip in real time, looping it with decode times that keep increasing, as a page that never stops would.
// The caller drives pump() from one timer for all publishers, so K publishers cost one timer, not K.
import WebSocket from 'ws';
import { Fmp4Writer, type Fmp4Sample } from '../shared/fmp4/writer.ts';
import { PROTOCOL_VERSION, PUBLISH_PATH, parseServerMessage, type ClientMessage } from '../shared/protocol.ts';
import { AUDIO_PACKETS_PER_FRAGMENT } from '../web/uplink.ts';
import type { Clip } from './clip.ts';

const VIDEO_TIMESCALE = 90_000;
const AUDIO_TIMESCALE = 48_000;
/** The page stops sending media while this much is queued in the socket (habit 7); a bench on loopback never should. */
const MAX_BUFFERED = 4 * 1024 * 1024;

export interface PublisherCounters {
  videoFrames: number;
  audioPackets: number;
  bytes: number;
  /** Media the publisher skipped because the socket was backed up (should stay 0). */
  skippedFrames: number;
  skippedAudioPackets: number;
  maxBufferedBytes: number;
  keyframeRequests: number;
}

export class ClipPublisher {
  readonly counters: PublisherCounters = { videoFrames: 0, audioPackets: 0, bytes: 0, skippedFrames: 0, skippedAudioPackets: 0, maxBufferedBytes: 0, keyframeRequests: 0 };
  /** Set when the server closed the socket or sent an error. */
  problem: string | undefined;
  private readonly writer: Fmp4Writer;
  private ws: WebSocket | undefined;
  private startedAt = 0;
  private paused = false;
  private closing = false;
  private audioBatch: Fmp4Sample[] = [];

  constructor(
    private readonly o: { httpPort: number; stream: string; clip: Clip },
  ) {
    const { clip } = o;
    this.writer = new Fmp4Writer({
      video: { kind: 'video', codec: 'avc1', avcC: clip.avcC, width: clip.width, height: clip.height, timescale: VIDEO_TIMESCALE },
      audio: { kind: 'audio', codec: 'opus', channels: clip.audio.channels, sampleRate: clip.audio.inputSampleRate, preSkip: clip.audio.preSkip, timescale: AUDIO_TIMESCALE },
    });
  }

  /** Connect, say hello, wait for "accepted", send the init segment. Media starts with the first pump(). */
  async start(): Promise<void> {
    const { clip } = this.o;
    const ws = new WebSocket(`ws://127.0.0.1:${this.o.httpPort}${PUBLISH_PATH}`, { perMessageDeflate: false });
    this.ws = ws;
    ws.binaryType = 'nodebuffer';
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.on('error', (err) => {
      this.problem ??= `socket error: ${err.message}`;
    });
    ws.on('close', (code, reason) => {
      if (!this.closing) this.problem ??= `the server closed the socket: ${code} ${reason.toString()}`;
    });
    const accepted = new Promise<void>((resolve, reject) => {
      ws.on('message', (data, isBinary) => {
        if (isBinary) return;
        const m = parseServerMessage(String(data));
        if (!m.ok) return;
        if (m.value.type === 'accepted') resolve();
        else if (m.value.type === 'refused' || m.value.type === 'error') {
          this.problem = `${m.value.code}: ${m.value.message}`;
          reject(new Error(`stream ${this.o.stream}: the server said ${this.problem}`));
        } else if (m.value.type === 'keyframe-request') this.counters.keyframeRequests++;
      });
      ws.once('close', () => reject(new Error(`stream ${this.o.stream}: socket closed before it was accepted (${this.problem})`)));
    });
    const hello: ClientMessage = {
      type: 'hello',
      version: PROTOCOL_VERSION,
      stream: this.o.stream,
      video: { codec: clip.codec, width: clip.width, height: clip.height, framerate: clip.fps, bitrate: clip.videoBitsPerSecond },
      audio: { codec: 'opus', sampleRate: 48_000, channels: clip.audio.channels },
    };
    ws.send(JSON.stringify(hello));
    await accepted;
    this.send(this.writer.initSegment());
    this.startedAt = performance.now();
  }

  /** Send every frame and audio packet whose media time has come. Call often (every few ms). */
  pump(now = performance.now()): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== ws.OPEN || this.startedAt === 0 || this.paused) return;
    const { clip } = this.o;
    const elapsed = (now - this.startedAt) / 1000;
    const audioLoop = clip.audio.packets.reduce((n, p) => n + p.samples, 0);
    // Audio first at equal times, as a page whose AudioEncoder is quicker than its VideoEncoder would.
    for (;;) {
      const i = this.counters.audioPackets + this.counters.skippedAudioPackets;
      const loop = Math.floor(i / clip.audio.packets.length);
      const p = clip.audio.packets[i % clip.audio.packets.length]!;
      const timestamp = loop * audioLoop + this.audioOffset(i % clip.audio.packets.length);
      if (timestamp / AUDIO_TIMESCALE > elapsed) break;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        this.counters.skippedAudioPackets++;
        continue;
      }
      this.counters.audioPackets++;
      this.audioBatch.push({ data: p.data, timestamp, duration: p.samples, keyframe: true });
      if (this.audioBatch.length >= AUDIO_PACKETS_PER_FRAGMENT) {
        this.send(this.writer.fragmentSamples('audio', this.audioBatch));
        this.audioBatch = [];
      }
    }
    const frameTicks = VIDEO_TIMESCALE / clip.fps;
    for (;;) {
      const n = this.counters.videoFrames + this.counters.skippedFrames;
      if (n / clip.fps > elapsed) break;
      const f = clip.frames[n % clip.frames.length]!;
      if (ws.bufferedAmount > MAX_BUFFERED) {
        this.counters.skippedFrames++;
        continue;
      }
      this.counters.videoFrames++;
      this.send(this.writer.fragment('video', { data: f.data, timestamp: n * frameTicks, duration: frameTicks, keyframe: f.keyframe }));
    }
    this.counters.maxBufferedBytes = Math.max(this.counters.maxBufferedBytes, ws.bufferedAmount);
  }

  /** Stop sending media, keeping the socket open (so the stream's outputs drain without a reconnect grace). */
  pause(): void {
    this.paused = true;
  }

  /** Close with 1000, the page's Stop: the server ends the stream at once. */
  async close(): Promise<void> {
    const ws = this.ws;
    this.closing = true;
    if (!ws || ws.readyState === ws.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === ws.CONNECTING) ws.terminate();
    else ws.close(1000, 'bench done');
    const timer = setTimeout(() => ws.terminate(), 3000);
    await closed;
    clearTimeout(timer);
  }

  private audioOffsets: number[] | undefined;
  private audioOffset(index: number): number {
    if (!this.audioOffsets) {
      let t = 0;
      this.audioOffsets = this.o.clip.audio.packets.map((p) => {
        const at = t;
        t += p.samples;
        return at;
      });
    }
    return this.audioOffsets[index] ?? 0;
  }

  private send(bytes: Uint8Array): void {
    this.counters.bytes += bytes.length;
    this.ws?.send(bytes, { binary: true });
  }
}
