// The WebSocket to the server (shared/protocol.ts, version 1): hello → accepted → init segment → one media segment
// per encoded frame. It owns the fMP4 writer, so a frame it drops never takes a sequence number.
//
// Bounded latency (STYLE habit 7): when the socket's bufferedAmount passes about one second of media, video is dropped
// until the next keyframe (one is asked for) and the caller is told to lower the bitrate; audio goes on until the
// backlog is twice the bound. A dropped connection is retried with jittered backoff, sending hello with resume:true,
// the init segment again, and media from a fresh keyframe.
import { Fmp4Writer, type Fmp4Sample, type Fmp4WriterOptions } from '../shared/fmp4/writer.ts';
import { CLOSE, PROTOCOL_VERSION, parseServerMessage, type AudioDescription, type ClientMessage, type ServerMessage, type VideoDescription } from '../shared/protocol.ts';
import { reconnectDelay } from './backoff.ts';
import { PageError, asPageError } from './errors.ts';

export type UplinkPhase = 'connecting' | 'live' | 'reconnecting' | 'closed' | 'failed';
export type Accepted = Extract<ServerMessage, { type: 'accepted' }>;
export type ServerStats = Extract<ServerMessage, { type: 'stats' }>;
export type PageStats = Extract<ClientMessage, { type: 'stats' }>;

export interface UplinkHello {
  stream: string;
  token?: string;
  video?: VideoDescription;
  audio?: AudioDescription;
}

export interface UplinkEvents {
  phase(phase: UplinkPhase, sentence: string): void;
  accepted(m: Accepted): void;
  serverStats(m: ServerStats): void;
  /** The server or the uplink needs the next video frame to be a keyframe. */
  keyframeNeeded(reason: string): void;
  /** The backlog passed its bound: lower the bitrate. */
  congestion(): void;
  sent(bytes: number, video: boolean): void;
  dropped(video: boolean): void;
  failed(err: PageError): void;
}

export interface UplinkOptions {
  url: string;
  hello: UplinkHello;
  tracks: Fmp4WriterOptions;
  /** The backlog bound in bytes: about one second of media at the target bitrate. */
  maxBacklog: () => number;
  events: UplinkEvents;
  /** Failed attempts in a row before giving up. */
  maxAttempts?: number;
  /** How long to wait for accepted/refused after connecting. */
  acceptTimeoutMs?: number;
  /** Opus packets per audio fragment: 2 × 20 ms keeps fragment overhead near 20 kbit/s without adding much delay. */
  audioPerFragment?: number;
  createSocket?: (url: string) => WebSocket;
  /**
   * While waiting to reconnect: is the server answering again? Asked once a second; true reconnects at once instead
   * of waiting out the backoff (a restarted server is back in about a second, not after the next 8 s step).
   */
  probe?: () => Promise<boolean>;
  random?: () => number;
  now?: () => number;
}

/** Opus packets per audio fragment unless told otherwise (UplinkOptions.audioPerFragment); bench:ingest sends the same. */
export const AUDIO_PACKETS_PER_FRAGMENT = 2;

/** WebSocket.OPEN, spelled out so the module also loads where there is no global WebSocket (unit tests in Node 20). */
const OPEN = 1;

/** What to do after a close that says the upload itself is wrong (RFC 6455 §7.4.1). */
const CLOSE_ADVICE: Record<number, string> = {
  [CLOSE.unsupportedData]: 'The server could not read the upload; reload the page (it may be older than the server), then press Go live.',
  [CLOSE.policy]: 'Check the stream name and token, then press Go live.',
  [CLOSE.tooBig]: 'A frame was larger than the server accepts; pick a lower bitrate or a smaller preset, then press Go live.',
};

/** Refusals that another try can cure: the server may still hold our previous socket, or a place may free up. */
const RETRYABLE_ON_RESUME = new Set(['in-use', 'limit']);

export class Uplink {
  private ws: WebSocket | undefined;
  private current: UplinkPhase = 'connecting';
  private writer: Fmp4Writer;
  private hello: UplinkHello;
  private everAccepted = false;
  private wsAccepted = false;
  private attempts = 0;
  private waitKey = true;
  private videoStarted = false;
  private audioBatch: Fmp4Sample[] = [];
  private serverError: string | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** While waiting to reconnect: the once-a-second countdown (and probe), why we wait, and when the wait ends. */
  private tickTimer: ReturnType<typeof setInterval> | undefined;
  private retryWhy = '';
  private retryAt = 0;
  private acceptTimer: ReturnType<typeof setTimeout> | undefined;
  private lastKeyRequest = -Infinity;
  private readonly hasVideo: boolean;

  constructor(private readonly o: UplinkOptions) {
    this.writer = new Fmp4Writer(o.tracks);
    this.hello = o.hello;
    this.hasVideo = o.tracks.video !== undefined;
  }

  get phase(): UplinkPhase {
    return this.current;
  }

  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  start(): void {
    this.connect();
  }

  /**
   * New encoder parameters (a different avcC): the server needs a new init segment, which protocol v1 only takes
   * right after hello, so the socket is replaced at once (no backoff) and the stream resumes on the new one.
   */
  reinit(hello: UplinkHello, tracks: Fmp4WriterOptions): void {
    this.hello = hello;
    this.writer = new Fmp4Writer(tracks);
    if (this.current === 'closed' || this.current === 'failed') return;
    if (this.ws) {
      // Not 1000: the server takes 1000 as Stop and ends the stream; 4001 (RFC 6455 §7.4.2 private range) is a drop,
      // so its outputs wait out the grace period for the new connection.
      this.detach()?.close(4001, 'new encoder parameters');
      this.setPhase(this.everAccepted ? 'reconnecting' : 'connecting', 'The encoder settings changed; reconnecting to send them.');
      this.connect();
    }
  }

  sendVideo(sample: Fmp4Sample): void {
    const ws = this.ws;
    if (this.current !== 'live' || !ws || ws.readyState !== OPEN) return;
    const backlog = ws.bufferedAmount;
    const limit = this.o.maxBacklog();
    if (this.waitKey) {
      if (!sample.keyframe) {
        // The request may have been lost (a configure() in between, an encoder that ignores it): ask again, rate-limited.
        this.askKeyframe('the uplink is waiting for a keyframe');
        return this.drop(true);
      }
      if (backlog > limit / 2) {
        this.askKeyframe('the uplink is still congested');
        return this.drop(true);
      }
      this.waitKey = false;
    } else if (backlog > limit) {
      // Drop to the next keyframe: a delta frame without its predecessors is garbage at the far end.
      this.waitKey = true;
      this.o.events.congestion();
      this.askKeyframe('the uplink is congested');
      return this.drop(true);
    }
    if (this.write(ws, () => this.writer.fragment('video', sample), true)) this.videoStarted = true;
  }

  sendAudio(sample: Fmp4Sample): void {
    const ws = this.ws;
    if (this.current !== 'live' || !ws || ws.readyState !== OPEN) return;
    // Each connection starts with a video keyframe, so a player joining there has a picture with its sound.
    if (this.hasVideo && !this.videoStarted) return;
    if (ws.bufferedAmount > 2 * this.o.maxBacklog()) {
      this.audioBatch = [];
      return this.drop(false);
    }
    this.audioBatch.push(sample);
    if (this.audioBatch.length >= (this.o.audioPerFragment ?? AUDIO_PACKETS_PER_FRAGMENT)) this.flushAudio();
  }

  sendStats(stats: Omit<PageStats, 'type'>): void {
    if (this.current === 'live' && this.ws?.readyState === OPEN) this.ws.send(JSON.stringify({ type: 'stats', ...stats } satisfies PageStats));
  }

  /** Stop: the rest of the audio, then close 1000 (the server ends the stream at once). Resolves when closed. */
  close(): Promise<void> {
    if (this.current === 'closed' || this.current === 'failed') return Promise.resolve();
    if (this.current === 'live') this.flushAudio();
    this.current = 'closed';
    this.clearTimers();
    const ws = this.detach();
    if (!ws) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(done, 1000);
      ws.onclose = done;
      ws.close(CLOSE.normal, 'publisher stopped');
    });
  }

  private connect(): void {
    this.serverError = undefined;
    this.wsAccepted = false;
    let ws: WebSocket;
    try {
      ws = (this.o.createSocket ?? ((u) => new WebSocket(u)))(this.o.url);
    } catch (err) {
      // A malformed URL or a blocked port throws synchronously (WHATWG WebSockets §4.1 step 3).
      this.fail(new PageError('connection-lost', `Cannot open ${this.o.url}: ${asPageError(err).message}`));
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      const hello: ClientMessage = { type: 'hello', version: PROTOCOL_VERSION, ...this.hello, ...(this.everAccepted ? { resume: true } : {}) };
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (ev: MessageEvent) => {
      if (ws !== this.ws || typeof ev.data !== 'string') return;
      const m = parseServerMessage(ev.data);
      if (m.ok) this.onMessage(ws, m.value);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (ws !== this.ws) return;
      this.detach();
      this.onClosed(ev.code, ev.reason);
    };
    this.acceptTimer = setTimeout(() => {
      if (ws !== this.ws || this.wsAccepted) return;
      this.detach()?.close();
      this.retry('The server did not answer');
    }, this.o.acceptTimeoutMs ?? 10_000);
  }

  private onMessage(ws: WebSocket, m: ServerMessage): void {
    switch (m.type) {
      case 'accepted': {
        clearTimeout(this.acceptTimer);
        this.wsAccepted = true;
        this.everAccepted = true;
        this.attempts = 0;
        this.waitKey = this.hasVideo;
        this.videoStarted = false;
        this.audioBatch = [];
        if (!this.write(ws, () => this.writer.initSegment(), false)) return;
        this.setPhase('live', 'Live.');
        this.o.events.accepted(m);
        this.lastKeyRequest = this.now();
        this.o.events.keyframeNeeded('a new connection starts at a keyframe');
        return;
      }
      case 'refused': {
        this.detach()?.close();
        // A first refusal is the answer (name in use, bad token, limit reached); after a drop, the server may not yet
        // have noticed that our old socket is gone, so "in use" is worth another try.
        if (this.everAccepted && RETRYABLE_ON_RESUME.has(m.code)) this.retry(`The server said: ${m.message}`);
        else this.fail(new PageError('refused', `The server refused the stream: ${m.message}`));
        return;
      }
      case 'error':
        this.serverError = m.message; // the close that follows ends the upload
        return;
      case 'stats':
        this.o.events.serverStats(m);
        return;
      case 'keyframe-request':
        this.lastKeyRequest = this.now();
        this.o.events.keyframeNeeded(m.reason);
        return;
    }
  }

  private onClosed(code: number, reason: string): void {
    if (this.current === 'closed' || this.current === 'failed') return;
    if (this.serverError !== undefined) {
      this.fail(new PageError('server-error', `The server stopped the upload: ${this.serverError.replace(/\.$/, '')}. Press Go live to start again.`));
      return;
    }
    // 1003/1008/1009 say the upload itself is wrong; sending it again would be refused again.
    if (code === CLOSE.unsupportedData || code === CLOSE.policy || code === CLOSE.tooBig) {
      this.fail(new PageError('server-error', `The server closed the connection (${code})${reason ? `: ${reason}` : ''}. ${CLOSE_ADVICE[code]}`));
      return;
    }
    // The server (or the way to it) went away: ask once a second whether it is back.
    this.retry(this.wsAccepted || this.current === 'live' ? 'The connection to the server was lost' : 'Could not reach the server', true);
  }

  /** `probing`: the server was unreachable, so a probe that reaches it ends the wait; a refusal waits it out. */
  private retry(why: string, probing = false): void {
    this.clearTimers();
    this.attempts += 1;
    const max = this.o.maxAttempts ?? 10;
    if (this.attempts > max) {
      this.fail(new PageError('connection-lost', `${why}, and it did not come back after ${max} attempts. Check that the server is running, then press Go live.`));
      return;
    }
    const delay = reconnectDelay(this.attempts, this.o.random);
    this.retryWhy = why;
    this.retryAt = this.now() + delay;
    this.announceRetry();
    this.retryTimer = setTimeout(() => this.reconnect(), delay);
    this.tickTimer = setInterval(() => {
      this.announceRetry();
      if (probing) void this.o.probe?.().then((up) => {
        if (up && this.current === 'reconnecting' && this.tickTimer !== undefined) this.reconnect();
      });
    }, 1000);
  }

  /** Waiting to reconnect: stop waiting and try now (the page's "Retry now"). */
  retryNow(): void {
    if (this.current !== 'reconnecting' || this.tickTimer === undefined) return;
    this.reconnect();
  }

  private reconnect(): void {
    this.clearTimers();
    this.setPhase('reconnecting', `${this.retryWhy}; reconnecting now (attempt ${this.attempts} of ${this.o.maxAttempts ?? 10}).`);
    this.connect();
  }

  /** The reconnecting sentence, with the seconds left as they count down. */
  private announceRetry(): void {
    const left = Math.max(0, this.retryAt - this.now());
    this.setPhase('reconnecting', `${this.retryWhy}; reconnecting in ${(left / 1000).toFixed(1)} s (attempt ${this.attempts} of ${this.o.maxAttempts ?? 10}).`);
  }

  private fail(err: PageError): void {
    if (this.current === 'closed' || this.current === 'failed') return;
    this.clearTimers();
    this.detach()?.close();
    this.current = 'failed';
    this.o.events.failed(err);
  }

  private setPhase(phase: UplinkPhase, sentence: string): void {
    this.current = phase;
    this.o.events.phase(phase, sentence);
  }

  /** Forget the socket: its events no longer reach us. Returns it so the caller can close it. */
  private detach(): WebSocket | undefined {
    const ws = this.ws;
    this.ws = undefined;
    clearTimeout(this.acceptTimer);
    if (ws) {
      ws.onopen = null;
      ws.onmessage = null;
      ws.onclose = null;
    }
    return ws;
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.acceptTimer);
    clearInterval(this.tickTimer);
    this.tickTimer = undefined;
  }

  private askKeyframe(reason: string): void {
    // At most one request a second: under congestion every keyframe is large, and asking for each would make it worse.
    const now = this.now();
    if (now - this.lastKeyRequest < 1000) return;
    this.lastKeyRequest = now;
    this.o.events.keyframeNeeded(reason);
  }

  private flushAudio(): void {
    const ws = this.ws;
    const batch = this.audioBatch;
    this.audioBatch = [];
    if (batch.length === 0 || !ws || ws.readyState !== OPEN) return;
    this.write(ws, () => this.writer.fragmentSamples('audio', batch), false);
  }

  private write(ws: WebSocket, bytes: () => Uint8Array, video: boolean): boolean {
    let data: Uint8Array;
    try {
      data = bytes();
    } catch (err) {
      // The timeline guard keeps decode times increasing, so the writer refusing a sample is a bug in this page.
      this.fail(new PageError('encoder-failed', `Could not package a frame (${asPageError(err).message}); this is a bug in the page. Press Go live to start again, and report it if it happens again.`));
      return false;
    }
    ws.send(data);
    this.o.events.sent(data.length, video);
    return true;
  }

  private drop(video: boolean): void {
    this.o.events.dropped(video);
  }

  private now(): number {
    return (this.o.now ?? (() => performance.now()))();
  }
}
