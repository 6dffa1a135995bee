// A Node stand-in for the publisher page, for integration tests: it opens ws://HOST:PORT/ws/publish (with the
// page's Origin by default), sends the protocol-v1 hello, waits for accepted/refused, then uploads an fMP4 init
// segment and one moof+mdat per encoded video frame (audio: one fragment per Opus packet), paced in real time by
// the samples' decode times, looping the source with continuing timestamps. It can drop its socket without a close
// frame and come back with `resume: true`, continuing from a keyframe as the page does after asking its encoder
// for one.
//
// The media are real encoder output: x264 (baseline, no B-frames, like WebCodecs' realtime H.264) and libopus,
// made once by the local ffmpeg and cached in the temp dir, turned into WebCodecs-shaped samples (avcC + length-
// prefixed access units, raw Opus packets) by the fmp4-annexb/fmp4-ogg helpers and written with the project's
// own Fmp4Writer, exactly as the page writes them.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import WebSocket from 'ws';
import { avcCodecString, parseAvcC, parseSps } from '../../shared/fmp4/avc.ts';
import { Fmp4Writer, type Fmp4Sample, type Fmp4WriterOptions } from '../../shared/fmp4/writer.ts';
import { PROTOCOL_VERSION, PUBLISH_PATH, parseServerMessage, type ClientMessage, type ServerMessage } from '../../shared/protocol.ts';
import { ffmpegPath } from './ffmpeg.ts';
import { accessUnits, buildAvcC, lengthPrefixed, splitAnnexB } from './fmp4-annexb.ts';
import { opusPacketSamples, readOggOpus } from './fmp4-ogg.ts';

export const VIDEO_TIMESCALE = 90_000;
export const AUDIO_TIMESCALE = 48_000;
export const FPS = 30;
/** Video ticks per frame at 30 fps. */
const FRAME_TICKS = VIDEO_TIMESCALE / FPS;
/** Audio ticks per video frame: offsets are whole frames so both tracks shift by exact tick counts. */
const FRAME_AUDIO_TICKS = AUDIO_TIMESCALE / FPS;

export interface PublisherMedia {
  avcC: Uint8Array;
  /** RFC 6381 codec string derived from the avcC, e.g. "avc1.42c01e". */
  codec: string;
  width: number;
  height: number;
  /** Access units, length-prefixed, in decode order (no B-frames, so decode order = presentation order). */
  video: Array<{ data: Uint8Array; keyframe: boolean }>;
  /** Opus packets with their start (48 kHz ticks from the loop start) and duration. */
  audio: Array<{ data: Uint8Array; time: number; duration: number }>;
  channels: number;
  preSkip: number;
  inputSampleRate: number;
  /** One loop of the source, in video frames. */
  loopFrames: number;
}

export interface MediaOptions {
  seconds?: number;
  gop?: number;
  size?: `${number}x${number}`;
}

const mediaCache = new Map<string, Promise<PublisherMedia>>();

/**
 * Encode (once per settings, cached on disk) testsrc2 with libx264 -profile:v baseline -bf 0 at 30 fps and a sine
 * with libopus, and return them as the samples WebCodecs would hand the page.
 */
export function loadPublisherMedia(o: MediaOptions = {}): Promise<PublisherMedia> {
  const seconds = o.seconds ?? 10;
  const gop = o.gop ?? 60;
  const size = o.size ?? '640x360';
  const key = `${seconds}s-g${gop}-${size}`;
  let p = mediaCache.get(key);
  if (!p) {
    p = makeMedia(seconds, gop, size, key);
    mediaCache.set(key, p);
  }
  return p;
}

async function encodeOnce(out: string, args: string[]): Promise<Uint8Array> {
  if (!existsSync(out) || statSync(out).size === 0) {
    const tmp = `${out}.${process.pid}.tmp`;
    const r = await execa(ffmpegPath(), ['-hide_banner', '-loglevel', 'error', '-nostdin', ...args, '-y', tmp], { reject: false, stdin: 'ignore' });
    if (r.exitCode !== 0) throw new Error(`ffmpeg could not make the publisher's test media: ${String(r.stderr).slice(0, 500)}`);
    renameSync(tmp, out);
  }
  return new Uint8Array(readFileSync(out));
}

async function makeMedia(seconds: number, gop: number, size: string, key: string): Promise<PublisherMedia> {
  const dir = join(tmpdir(), 'relaycast-test-fixtures');
  mkdirSync(dir, { recursive: true });
  const [h264, ogg] = await Promise.all([
    encodeOnce(join(dir, `ws-publisher-${key}.h264`), [
      '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=${FPS}`, '-t', String(seconds),
      // Baseline, no B-frames, fixed GOP: what VideoEncoder({latencyMode: 'realtime'}) gives the page.
      // aud=1: access unit delimiters, so fmp4-annexb can split the stream into frames.
      '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-bf', '0', '-g', String(gop), '-keyint_min', String(gop),
      '-sc_threshold', '0', '-x264-params', 'aud=1', '-pix_fmt', 'yuv420p', '-f', 'h264',
    ]),
    encodeOnce(join(dir, `ws-publisher-${seconds}s.opus`), [
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', String(seconds),
      '-ac', '2', '-c:a', 'libopus', '-b:a', '64k', '-frame_duration', '20', '-f', 'ogg',
    ]),
  ]);
  const { aus, sps, pps } = accessUnits(splitAnnexB(h264));
  const avcC = buildAvcC(sps, pps);
  const cfg = parseAvcC(avcC);
  const info = parseSps(sps);
  if (!cfg.ok || !info.ok) throw new Error('the encoded H.264 has an SPS this project cannot read');
  if (!aus[0]?.keyframe) throw new Error('the encoded H.264 does not start with an IDR frame');
  const opus = readOggOpus(ogg);
  // Keep the audio inside one loop of video, so looping never puts an audio packet before the previous one.
  const loopTicks = (aus.length / FPS) * AUDIO_TIMESCALE;
  const audio: PublisherMedia['audio'] = [];
  let t = 0;
  for (const data of opus.packets) {
    const duration = opusPacketSamples(data);
    if (t + duration > loopTicks) break;
    audio.push({ data, time: t, duration });
    t += duration;
  }
  return {
    avcC,
    codec: avcCodecString('avc1', cfg.value.profileIndication, cfg.value.profileCompatibility, cfg.value.levelIndication),
    width: info.value.width,
    height: info.value.height,
    video: aus.map((au) => ({ data: lengthPrefixed(au.nals), keyframe: au.keyframe })),
    audio,
    channels: opus.channels,
    preSkip: opus.preSkip,
    inputSampleRate: opus.inputSampleRate,
    loopFrames: aus.length,
  };
}

export type Hello = Extract<ClientMessage, { type: 'hello' }>;

export interface WsPublisherOptions {
  port: number;
  host?: string;
  stream: string;
  media: PublisherMedia;
  /** Origin header; default http://HOST:PORT (what a browser on the page sends). null: send none. */
  origin?: string | null;
  token?: string;
  /** Send video / audio (both by default). */
  video?: boolean;
  audio?: boolean;
  /** Change the hello before it is sent (bad versions, names, codecs …). */
  editHello?: (hello: Hello) => Record<string, unknown>;
  /** bufferedAmount above which non-keyframes are dropped (the page's bound). Default 2 MiB. */
  maxBufferedBytes?: number;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export type HelloAnswer = Extract<ServerMessage, { type: 'accepted' } | { type: 'refused' }>;

export type ConnectResult =
  | { kind: 'accepted'; message: Extract<ServerMessage, { type: 'accepted' }> }
  | { kind: 'refused'; message: Extract<ServerMessage, { type: 'refused' }>; close: CloseInfo }
  /** The socket closed (or the upgrade failed) before any answer. */
  | { kind: 'closed'; close: CloseInfo; httpStatus?: number };

/**
 * One publisher, across reconnects. `connect()` says hello; `start()` uploads; `stop()` is the page's Stop (close
 * 1000); `drop()` kills the TCP connection without a close frame; `reconnect()` comes back with resume: true.
 */
export class WsPublisher {
  /** Every server message, across reconnects, in arrival order. */
  readonly messages: ServerMessage[] = [];
  /** How each socket closed, in order. */
  readonly closes: CloseInfo[] = [];
  /** Media segments sent (across reconnects), and those skipped for back-pressure. */
  sentFragments = 0;
  skippedFragments = 0;
  private ws: WebSocket | undefined;
  private wsClosed: Promise<CloseInfo> | undefined;
  private readonly writer: Fmp4Writer;
  private readonly init: Uint8Array;
  private readonly hasVideo: boolean;
  private readonly hasAudio: boolean;
  /** Wall clock (performance.now) at output time 0. */
  private t0 = 0;
  /** Source cursors: global indices (loop * length + index) of the next video frame / audio packet. */
  private vNext = 0;
  private aNext = 0;
  /** Output time = source time + offsetFrames video frames (grows on resume, never shrinks). */
  private offsetFrames = 0;
  private lastVideoTs = -1;
  private lastAudioTs = -1;
  private running: Promise<void> | undefined;
  private stopRequested = false;
  private wake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(readonly o: WsPublisherOptions) {
    this.hasVideo = o.video ?? true;
    this.hasAudio = o.audio ?? true;
    const m = o.media;
    const opts: Fmp4WriterOptions = {};
    if (this.hasVideo) opts.video = { kind: 'video', codec: 'avc1', avcC: m.avcC, width: m.width, height: m.height, timescale: VIDEO_TIMESCALE };
    if (this.hasAudio) opts.audio = { kind: 'audio', codec: 'opus', channels: m.channels, sampleRate: m.inputSampleRate, preSkip: m.preSkip, timescale: AUDIO_TIMESCALE };
    this.writer = new Fmp4Writer(opts);
    this.init = this.writer.initSegment();
  }

  get url(): string {
    return `ws://${this.o.host ?? '127.0.0.1'}:${this.o.port}${PUBLISH_PATH}`;
  }

  get socket(): WebSocket | undefined {
    return this.ws;
  }

  initSegment(): Uint8Array {
    return this.init;
  }

  hello(resume = false): Hello {
    const m = this.o.media;
    const h: Hello = { type: 'hello', version: PROTOCOL_VERSION, stream: this.o.stream };
    if (this.o.token !== undefined) h.token = this.o.token;
    if (this.hasVideo) h.video = { codec: m.codec, width: m.width, height: m.height, framerate: FPS, bitrate: 1_000_000 };
    if (this.hasAudio) h.audio = { codec: 'opus', sampleRate: 48_000, channels: m.channels };
    if (resume) h.resume = true;
    return h;
  }

  /** Open the socket, send hello, wait for the answer (or the close). */
  async connect(resume = false): Promise<ConnectResult> {
    const ws = openPublishSocket(this.o.port, { host: this.o.host ?? '127.0.0.1', origin: this.o.origin });
    this.ws = ws.socket;
    this.wsClosed = ws.closed;
    ws.socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = parseServerMessage(Buffer.from(data as Buffer).toString('utf8'));
      if (m.ok) this.messages.push(m.value);
    });
    void ws.closed.then((c) => this.closes.push(c));
    const opened = await ws.opened;
    if (!opened.ok) return { kind: 'closed', close: await ws.closed, ...(opened.httpStatus !== undefined ? { httpStatus: opened.httpStatus } : {}) };
    const from = this.messages.length;
    const hello = this.hello(resume);
    ws.socket.send(JSON.stringify(this.o.editHello ? this.o.editHello(hello) : hello));
    const answer = await Promise.race([
      waitForMessage(this.messages, from, (m): m is HelloAnswer => m.type === 'accepted' || m.type === 'refused', ws.closed),
      ws.closed.then(() => undefined),
    ]);
    // A refusal is sent just before the close: give the message a moment to be recorded.
    const late = answer ?? this.messages.slice(from).find((m): m is HelloAnswer => m.type === 'accepted' || m.type === 'refused');
    if (late?.type === 'accepted') return { kind: 'accepted', message: late };
    const close = await ws.closed;
    if (late?.type === 'refused') return { kind: 'refused', message: late, close };
    return { kind: 'closed', close };
  }

  /** connect() that must be accepted. */
  async connectOrThrow(resume = false): Promise<Extract<ServerMessage, { type: 'accepted' }>> {
    const r = await this.connect(resume);
    if (r.kind !== 'accepted') throw new Error(`publisher ${this.o.stream} was not accepted: ${JSON.stringify(r)}`);
    return r.message;
  }

  /** Send the init segment and start uploading fragments in real time (until stop/drop). */
  start(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) throw new Error('start() needs an accepted connection');
    ws.send(this.init);
    this.t0 = performance.now() - this.nextOutputSeconds() * 1000;
    this.stopRequested = false;
    this.running = this.loop(ws);
  }

  /** The page's Stop: close 1000 after the uploader stops. */
  async stop(reason = 'stopped by the user'): Promise<CloseInfo> {
    await this.halt();
    const ws = this.ws;
    if (!ws) throw new Error('not connected');
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(1000, reason);
    return this.wsClosed!;
  }

  /** Lose the connection: no close frame, the TCP socket is destroyed (ws.terminate()). */
  async drop(): Promise<void> {
    await this.halt();
    const ws = this.ws;
    if (!ws) return;
    ws.terminate();
    await this.wsClosed;
  }

  /**
   * Come back after drop(): hello with resume: true, the same init segment, then fragments continuing in time from
   * a keyframe (the source rewinds to the last keyframe at or before where it stopped, as an encoder asked for a
   * keyframe would produce one; timestamps keep going forward with the wall clock).
   */
  async reconnect(): Promise<ConnectResult> {
    const r = await this.connect(true);
    if (r.kind !== 'accepted') return r;
    const ws = this.ws!;
    ws.send(this.init);
    const loop = this.o.media.loopFrames;
    // Last keyframe at or before the video cursor.
    let k = this.vNext;
    while (k > 0 && !this.o.media.video[k % loop]!.keyframe) k--;
    const elapsedFrames = Math.ceil(((performance.now() - this.t0) / 1000) * FPS);
    const minOffset = Math.max(this.offsetFrames + (this.vNext - k), elapsedFrames - k);
    this.offsetFrames = minOffset;
    this.vNext = k;
    // Audio from the same source instant, never before what was already sent.
    this.aNext = this.audioIndexAt(k * FRAME_AUDIO_TICKS);
    while (this.hasAudio && this.audioOutputTicks(this.aNext) <= this.lastAudioTs) this.aNext++;
    this.stopRequested = false;
    this.running = this.loop(ws);
    return r;
  }

  /** Resolves with the next server message matching `pred` (already received ones after index `from` count). */
  waitFor<T extends ServerMessage>(pred: (m: ServerMessage) => m is T, timeoutMs = 10_000, from = 0): Promise<T> {
    return waitForMessage(this.messages, from, pred, undefined, timeoutMs).then((m) => {
      if (!m) throw new Error(`no matching server message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      return m;
    });
  }

  /** Stop uploading (the socket stays as it is). */
  async halt(): Promise<void> {
    this.stopRequested = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake?.();
    await this.running;
    this.running = undefined;
  }

  /** Stop everything, whatever the state (for afterEach). */
  async dispose(): Promise<void> {
    await this.halt();
    const ws = this.ws;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      ws.terminate();
      await this.wsClosed;
    }
  }

  private videoOutputTicks(g: number): number {
    return (g + this.offsetFrames) * FRAME_TICKS;
  }

  private audioOutputTicks(g: number): number {
    const a = this.o.media.audio;
    const loopTicks = this.o.media.loopFrames * FRAME_AUDIO_TICKS;
    return Math.floor(g / a.length) * loopTicks + a[g % a.length]!.time + this.offsetFrames * FRAME_AUDIO_TICKS;
  }

  /** Global index of the first audio packet starting at or after source time `ticks` (48 kHz). */
  private audioIndexAt(ticks: number): number {
    const a = this.o.media.audio;
    const loopTicks = this.o.media.loopFrames * FRAME_AUDIO_TICKS;
    const loopN = Math.floor(ticks / loopTicks);
    const within = ticks - loopN * loopTicks;
    const i = a.findIndex((p) => p.time >= within);
    return i < 0 ? (loopN + 1) * a.length : loopN * a.length + i;
  }

  private nextOutputSeconds(): number {
    const v = this.hasVideo ? this.videoOutputTicks(this.vNext) / VIDEO_TIMESCALE : Infinity;
    const a = this.hasAudio ? this.audioOutputTicks(this.aNext) / AUDIO_TIMESCALE : Infinity;
    return Math.min(v, a);
  }

  private async loop(ws: WebSocket): Promise<void> {
    const m = this.o.media;
    const maxBuffered = this.o.maxBufferedBytes ?? 2 * 1024 * 1024;
    let skipToKeyframe = false;
    while (!this.stopRequested && ws.readyState === WebSocket.OPEN) {
      const vTime = this.hasVideo ? this.videoOutputTicks(this.vNext) / VIDEO_TIMESCALE : Infinity;
      const aTime = this.hasAudio ? this.audioOutputTicks(this.aNext) / AUDIO_TIMESCALE : Infinity;
      const isVideo = vTime <= aTime;
      const due = this.t0 + Math.min(vTime, aTime) * 1000 - performance.now();
      if (due > 1) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          this.timer = setTimeout(resolve, due);
        });
        continue; // re-check stop and the socket
      }
      let bytes: Uint8Array;
      if (isVideo) {
        const src = m.video[this.vNext % m.loopFrames]!;
        const ts = this.videoOutputTicks(this.vNext);
        this.vNext++;
        // Like the page: when the socket backs up, drop frames until the next keyframe.
        if (ws.bufferedAmount > maxBuffered && !src.keyframe) skipToKeyframe = true;
        if (skipToKeyframe && !src.keyframe) {
          this.skippedFragments++;
          continue;
        }
        skipToKeyframe = false;
        const sample: Fmp4Sample = { data: src.data, timestamp: ts, duration: FRAME_TICKS, keyframe: src.keyframe };
        bytes = this.writer.fragment('video', sample);
        this.lastVideoTs = ts;
      } else {
        const src = m.audio[this.aNext % m.audio.length]!;
        const ts = this.audioOutputTicks(this.aNext);
        this.aNext++;
        if (ws.bufferedAmount > maxBuffered) {
          this.skippedFragments++;
          continue;
        }
        bytes = this.writer.fragment('audio', { data: src.data, timestamp: ts, duration: src.duration, keyframe: true });
        this.lastAudioTs = ts;
      }
      ws.send(bytes);
      this.sentFragments++;
    }
  }
}

export interface PublishSocket {
  socket: WebSocket;
  /** ok once the WebSocket is open; otherwise the HTTP status of a refused upgrade (if there was one). */
  opened: Promise<{ ok: true } | { ok: false; httpStatus?: number; body?: string }>;
  closed: Promise<CloseInfo>;
  /** Server text messages, parsed when they are JSON. */
  messages: unknown[];
}

/** A bare publish socket, for tests that send what no page would. origin: undefined = the page's, null = none. */
export function openPublishSocket(port: number, o: { host?: string; origin?: string | null | undefined; path?: string } = {}): PublishSocket {
  const host = o.host ?? '127.0.0.1';
  const origin = o.origin === undefined ? `http://${host}:${port}` : o.origin;
  const socket = new WebSocket(`ws://${host}:${port}${o.path ?? PUBLISH_PATH}`, {
    ...(origin !== null ? { origin } : {}),
    perMessageDeflate: false,
    handshakeTimeout: 5_000,
  });
  const messages: unknown[] = [];
  socket.on('message', (data, isBinary) => {
    if (isBinary) return;
    const text = Buffer.from(data as Buffer).toString('utf8');
    try {
      messages.push(JSON.parse(text));
    } catch {
      messages.push(text);
    }
  });
  const opened = new Promise<{ ok: true } | { ok: false; httpStatus?: number; body?: string }>((resolve) => {
    socket.once('open', () => resolve({ ok: true }));
    socket.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        resolve({ ok: false, httpStatus: res.statusCode ?? 0, body });
        // With an 'unexpected-response' listener ws leaves the handshake to us: abort it (emits close 1006).
        socket.terminate();
      });
      res.on('error', () => resolve({ ok: false, httpStatus: res.statusCode ?? 0, body }));
    });
    socket.once('error', () => resolve({ ok: false }));
    socket.once('close', () => resolve({ ok: false }));
  });
  return { socket, opened, closed: closeInfo(socket), messages };
}

/** Resolves when the socket has closed, with the close code and reason the peer gave. */
export function closeInfo(ws: WebSocket): Promise<CloseInfo> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' });
  return new Promise((resolve) => {
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString('utf8') }));
    ws.on('error', () => {});
  });
}

function waitForMessage<T extends ServerMessage>(
  list: ServerMessage[],
  from: number,
  pred: (m: ServerMessage) => m is T,
  closed?: Promise<unknown>,
  timeoutMs = 10_000,
): Promise<T | undefined> {
  return new Promise((resolve) => {
    let done = false;
    const deadline = Date.now() + timeoutMs;
    const check = (): void => {
      if (done) return;
      const hit = list.slice(from).find(pred);
      if (hit) {
        done = true;
        resolve(hit);
        return;
      }
      if (Date.now() > deadline) {
        done = true;
        resolve(undefined);
        return;
      }
      setTimeout(check, 10);
    };
    check();
    void closed?.then(() => setTimeout(() => {
      if (done) return;
      done = true;
      resolve(list.slice(from).find(pred));
    }, 20));
  });
}
