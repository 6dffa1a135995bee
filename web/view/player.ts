// What the viewer socket says, played: server messages → the page state; init segments and fragments → the output
// (WebCodecs, or MSE where there is none), each chunk first checked against the live edge. The DOM is ui.ts's.
import type { ViewServerMessage } from '../../shared/view-protocol.ts';
import { ViewConnection, type Credentials } from './connection.ts';
import { Demuxer, type MediaChunk } from './demux.ts';
import { LiveEdge } from './live-edge.ts';
import type { Output, OutputCounters, OutputEvents } from './output.ts';
import { ViewerStateMachine, type ViewerState } from './viewer-state.ts';

export interface PlayerStats extends OutputCounters {
  state: ViewerState;
  /** Which output plays: WebCodecs, or the MSE fallback. */
  output: 'webcodecs' | 'mse';
  /** Bytes received on the socket. */
  bytes: number;
  /** Estimated time from the server to the screen of the last frame drawn, ms. */
  latencyMs: number | undefined;
  muted: boolean;
  paused: boolean;
}

export interface PlayerEvents {
  state(state: ViewerState, sentence: string): void;
  /** The server wants the read credentials (again). */
  credentials(wrong: boolean): void;
  /** A problem that does not stop playback (no sound, a decoder restart, a track left out); '' clears it. */
  notice(message: string): void;
}

export class Player {
  private readonly demuxer = new Demuxer();
  private readonly edge = new LiveEdge();
  private readonly output: Output;
  private readonly connection: ViewConnection;
  private readonly state: ViewerStateMachine;
  private live = false;
  private paused = false;
  private latencyMs: number | undefined;

  constructor(
    readonly stream: string,
    private readonly kind: PlayerStats['output'],
    makeOutput: (events: OutputEvents) => Output,
    private readonly events: PlayerEvents,
    credentials: Credentials | undefined,
  ) {
    this.state = new ViewerStateMachine('Connecting…', (s, sentence) => events.state(s, sentence));
    this.output = makeOutput({
      drawn: (decodeTime) => {
        this.latencyMs = this.edge.latencyMs(decodeTime, performance.timeOrigin + performance.now());
        if (this.live && this.state.state !== 'playing') this.to('playing', `Playing "${stream}" live.`);
      },
      notice: (message) => events.notice(message),
    });
    this.connection = new ViewConnection(
      stream,
      {
        connecting: (attempt) => {
          this.live = false;
          this.to('connecting', attempt > 1 ? 'The connection to the server dropped; connecting again…' : 'Connecting…');
        },
        message: (m) => this.onMessage(m),
        binary: (bytes) => this.onBinary(bytes),
        failed: (m) => {
          this.live = false;
          if (m.code === 'unauthorized') this.events.credentials(!m.message.startsWith('This stream needs'));
          this.to('error', m.message);
        },
        broken: (message) => {
          this.live = false;
          this.to('error', message);
        },
      },
      credentials,
    );
  }

  start(credentials?: Credentials): void {
    this.connection.open(credentials);
  }

  stats(): PlayerStats {
    return {
      ...this.output.counters(),
      state: this.state.state,
      output: this.kind,
      bytes: this.connection.bytes,
      latencyMs: this.latencyMs,
      muted: this.output.muted,
      paused: this.paused,
    };
  }

  /** In a click handler (browsers start sound only from a gesture). */
  setMuted(muted: boolean): Promise<void> {
    return this.output.setMuted(muted);
  }

  /** Pause: the server stops sending; play: it resumes at the next keyframe, the live edge. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    this.connection.send({ type: paused ? 'pause' : 'play' });
    this.output.setPaused(paused);
  }

  close(): void {
    this.connection.close();
    this.output.close();
  }

  private onMessage(m: ViewServerMessage): void {
    switch (m.type) {
      case 'hello':
        return;
      case 'waiting':
        this.live = false;
        this.to('waiting', m.message);
        return;
      case 'ended':
        this.live = false;
        this.to('ended', m.message);
        return;
      case 'live': {
        this.live = true;
        const left = m.leftOut.map((t) => `${t.kind} ${t.codec}`).join(', ');
        this.events.notice(left ? `This page cannot play the stream's ${left}.` : '');
        if (m.init) this.edge.reset();
        // Stay as we are until the first frame is drawn (or for a sound-only stream, start now).
        if (!m.tracks.some((t) => t.kind === 'video')) this.to('playing', `Playing the sound of "${this.stream}" live.`);
        return;
      }
      case 'sync':
        this.edge.sync(m, performance.timeOrigin + performance.now());
        return;
      case 'error':
        return; // the connection's `failed`
    }
  }

  private onBinary(bytes: Uint8Array): void {
    const d = this.demuxer.push(bytes);
    if (d.kind === 'error') {
      this.events.notice(d.message);
      return;
    }
    if (d.kind === 'init') {
      this.output.init(d.tracks, d.init);
      return;
    }
    if (this.paused) return;
    const now = performance.timeOrigin + performance.now();
    const behind = new Set<MediaChunk>();
    for (const c of d.chunks) if (this.edge.arrived(c.decodeTime, now)) behind.add(c);
    this.output.media(bytes, d.chunks, (c) => behind.has(c));
  }

  private to(next: ViewerState, sentence: string): void {
    this.state.to(next, sentence);
  }
}
