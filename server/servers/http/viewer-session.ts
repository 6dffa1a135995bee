// One viewer socket of /ws/view (protocol in shared/view-protocol.ts): a hub reader (ReaderSink) that sends the page
// what GET /NAME.mp4 sends a player, an init segment and then one moof+mdat per access unit, as binary WebSocket
// messages, made by the same TrackMux/SampleMuxer. Unlike an HTTP response, the socket outlives a publisher: it waits
// for the stream, follows it through the grace period, sends a new init segment when the codec configuration changes,
// and after the end waits for the next publisher of the name.
//
// Bounded like every hub reader: backlog() is the socket's bufferedAmount, so a page that takes less than the stream
// is skipped to the next keyframe by the hub, and one that stays behind is disconnected (stream/reader.ts's policy).
import type { WebSocket } from 'ws';
import { VIEW_CLOSE, type ViewErrorCode, type ViewServerMessage, type ViewTrack } from '../../../shared/view-protocol.ts';
import type { Logger } from '../../log.ts';
import type { SampleCodec } from '../../protocols/fmp4/sample.ts';
import { chooseTracks, TrackMux, type TrackChoice } from '../../protocols/fmp4/track-mux.ts';
import type { Duplex } from 'node:stream';
import { joinedBytes, type MuxedFragment } from '../../protocols/fmp4/sample-muxer.ts';
import { frameOf } from './framing.ts';

import type { AccessUnit } from '../../stream/access-unit.ts';
import type { Reader, ReaderDescription, ReaderEndReason, ReaderSink } from '../../stream/reader.ts';
import type { Stream } from '../../stream/stream.ts';
import { unsupportedReason } from './progressive.ts';

/** What the page decodes: WebCodecs (and MSE) H.264, Opus and AAC, and what shared/fmp4's reader accepts. */
export const VIEWER_CODECS: readonly SampleCodec[] = ['h264', 'opus', 'aac'];

/**
 * detached: in no hub (no stream yet, or it ended); joined: in a hub, no init segment sent yet (a configuration is not
 * known); streaming: init segment sent, fragments flow; closed: the socket is done.
 */
export type ViewerState = 'detached' | 'joined' | 'streaming' | 'closed';

const TRANSITIONS: Readonly<Record<ViewerState, readonly ViewerState[]>> = {
  detached: ['joined', 'closed'],
  joined: ['streaming', 'detached', 'closed'],
  streaming: ['detached', 'closed'],
  closed: [],
};

/** How often (at most) the page is told where the media timeline meets the server clock, besides every keyframe. */
const SYNC_EVERY_MS = 1000;

export interface ViewerSessionOptions {
  id: string;
  ws: WebSocket;
  name: string;
  remote: string;
  logger: Logger;
  /** For the sentence when the viewer cannot play a codec: where the stream plays over RTSP. */
  rtspUrl: string | undefined;
  /** The server's --publisher-grace, for the sentence while a publisher is away. */
  graceMs: number;
  now?: () => number;
  onClosed: (session: ViewerSession) => void;
}

export class ViewerSession implements ReaderSink {
  state: ViewerState = 'detached';
  private stream: Stream | undefined;
  private hubReader: Reader | undefined;
  private mux: TrackMux | undefined;
  private choice: TrackChoice | undefined;
  private lastSyncAt = -Infinity;
  private bytes = 0;
  private fragments = 0;
  private readonly startedAt: number;
  private readonly now: () => number;

  constructor(private readonly o: ViewerSessionOptions) {
    this.now = o.now ?? Date.now;
    this.startedAt = this.now();
  }

  get streamName(): string {
    return this.o.name;
  }

  isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Whether this session holds a place in a hub (the registry counts it then). */
  get inHub(): boolean {
    return this.state === 'joined' || this.state === 'streaming';
  }

  /** The stream is live or in its grace period: join its hub (the cached keyframe group arrives at once). */
  attach(stream: Stream): void {
    if (this.state !== 'detached') return;
    const choice = chooseTracks(stream, (c) => VIEWER_CODECS.includes(c));
    const unsupported = unsupportedReason(choice, this.o.name, this.o.rtspUrl, 'the viewer page cannot play');
    if (unsupported) {
      this.fail('unsupported', unsupported, VIEW_CLOSE.unsupportedData);
      return;
    }
    this.choice = choice;
    this.mux = new TrackMux(choice.carried);
    this.stream = stream;
    this.transition('joined');
    this.o.logger.info('viewer.join', { viewer: this.o.id, stream: this.o.name, leftOut: choice.left.map((t) => `${t.kind} ${t.codec}`) });
    const reader = stream.addReader(this.o.id, this, this.mux.trackSet(), 'player');
    // The cached group may already have closed us (a configuration MP4 cannot carry): then leave at once.
    if (this.isClosed()) {
      stream.removeReader(reader);
      return;
    }
    this.hubReader = reader;
    if (stream.state === 'waiting') this.publisherAway();
  }

  /** The stream's publisher left; the hub keeps us for the grace period. */
  publisherAway(): void {
    if (!this.inHub || this.stream?.state !== 'waiting') return;
    const seconds = Math.round(this.o.graceMs / 1000);
    this.send({ type: 'waiting', message: `The broadcaster of "${this.o.name}" went away; waiting up to ${seconds} s for them to come back.` });
  }

  /** A publisher (back within the grace period) feeds our stream again. */
  publisherBack(): void {
    if (this.state !== 'streaming') return;
    this.send(this.liveMessage(false));
  }

  /** Waiting for a stream that is not live (at the start, and after one ended). */
  announceWaiting(): void {
    this.send({ type: 'waiting', message: `Nobody is broadcasting "${this.o.name}" yet; the picture starts when they go live.` });
  }

  pause(): void {
    if (this.hubReader && this.stream) this.stream.pauseReader(this.hubReader);
  }

  /** Resume after pause: at the next keyframe, the live edge. */
  play(): void {
    if (this.hubReader && this.stream) this.stream.resumeReader(this.hubReader);
  }

  // ReaderSink ------------------------------------------------------------------------------------------------------

  sendUnit(unit: AccessUnit): void {
    const stream = this.stream;
    const mux = this.mux;
    if (!this.inHub || !stream || !mux) return;
    // Samples are made even before the init segment: the unit that carries an in-band SPS is what configures it.
    const samples = stream.samplesOf(unit);
    if (!samples || samples.length === 0) return;
    const ready = mux.readiness(stream);
    if (ready.state === 'waiting') return;
    // A socket can take a second init segment (unlike an HTTP response): the page reconfigures its decoders.
    if (ready.state === 'changed' && !this.open(stream, mux)) return;
    // Made once per unit for every viewer (and HTTP player) in the same state: see TrackMux.fragmentOf.
    const fragment = mux.fragmentOf(unit, unit.track, samples);
    if (!fragment) return;
    const first = samples[0]!;
    const video = mux.tracks.some((t) => t.index === unit.track && t.role === 'video');
    const now = this.now();
    if (video && (first.keyframe || now - this.lastSyncAt >= SYNC_EVERY_MS)) {
      const rate = stream.sampleConfig(unit.track)?.clockRate ?? 90000;
      this.lastSyncAt = now;
      this.send({ type: 'sync', time: first.dts / rate, at: unit.at, now });
    }
    this.sendFragment(fragment);
    this.fragments++;
  }

  sendRtcp(): void {}

  describe(): ReaderDescription {
    return { protocol: 'viewer', transport: 'tcp', remote: this.o.remote };
  }

  /** What the socket holds that the kernel has not taken: the hub's measure of how far behind this viewer is. */
  backlog(): number {
    return this.o.ws.bufferedAmount;
  }

  end(reason: ReaderEndReason): void {
    if (!this.inHub) return;
    this.leaveHub(false);
    switch (reason) {
      case 'too-slow':
        // A close frame would queue behind the backlog that caused this: cut the connection (the page reconnects).
        this.o.logger.warn('viewer.dropped', { viewer: this.o.id, reason, backlog: this.o.ws.bufferedAmount });
        this.close(reason);
        this.o.ws.terminate();
        return;
      case 'stream-ended':
        this.send({ type: 'ended', message: `The broadcast of "${this.o.name}" has ended; this page starts again if it comes back.` });
        return;
      case 'codecs-changed':
        // The registry starts the new stream next, and the server attaches us to it.
        this.send({ type: 'waiting', message: `The broadcaster of "${this.o.name}" came back with other codecs; starting again.` });
        return;
      default:
        this.fail('removed', 'An operator ended this viewer.', VIEW_CLOSE.policy);
    }
  }

  // ------------------------------------------------------------------------------------------------------------------

  /** Send an error, then close the socket with `code`. */
  fail(code: ViewErrorCode, message: string, closeCode: number): void {
    if (this.state === 'closed') return;
    this.send({ type: 'error', code, message });
    this.close(code);
    // RFC 6455 §5.5.1: the close reason is at most 123 bytes; the error message says it in full.
    if (this.o.ws.readyState === this.o.ws.OPEN) this.o.ws.close(closeCode, truncateUtf8(message, 123));
  }

  /** The socket is gone (or going): leave the hub, stop. Idempotent. */
  close(reason: string): void {
    if (this.state === 'closed') return;
    this.leaveHub(true);
    this.transition('closed');
    this.o.logger.info('viewer.end', {
      viewer: this.o.id,
      stream: this.o.name,
      reason,
      bytes: this.bytes,
      fragments: this.fragments,
      seconds: Math.round((this.now() - this.startedAt) / 100) / 10,
    });
    this.o.onClosed(this);
  }

  /** A new init segment for the stream's current configuration; false (and the socket closed) if MP4 cannot carry it. */
  private open(stream: Stream, mux: TrackMux): boolean {
    let init: Uint8Array;
    try {
      init = mux.start(stream).init;
    } catch (e) {
      // Fmp4WriterError: a configuration MP4 cannot carry (an AAC config of one byte, Opus with 3+ channels...).
      this.fail('unsupported', `this stream's codec configuration cannot be carried in MP4: ${e instanceof Error ? e.message : String(e)}`, VIEW_CLOSE.unsupportedData);
      return false;
    }
    if (this.state === 'joined') this.transition('streaming');
    this.send(this.liveMessage(true));
    this.sendBinary([init]);
    this.o.logger.info('viewer.streaming', { viewer: this.o.id, afterMs: this.now() - this.startedAt });
    return true;
  }

  private liveMessage(init: boolean): ViewServerMessage {
    const stream = this.stream;
    const carried: ViewTrack[] = (this.choice?.carried ?? []).map((t) => ({ kind: t.role, codec: stream?.tracks[t.index]?.codec.codec ?? '' }));
    const leftOut: ViewTrack[] = (this.choice?.left ?? []).map((t) => ({ kind: t.kind, codec: t.codec }));
    return { type: 'live', message: `"${this.o.name}" is live.`, init, tracks: carried, leftOut };
  }

  private leaveHub(closing: boolean): void {
    if (this.hubReader && this.stream) this.stream.removeReader(this.hubReader);
    this.hubReader = undefined;
    this.stream = undefined;
    this.mux = undefined;
    this.choice = undefined;
    if (!closing && this.inHub) this.transition('detached');
  }

  private send(m: ViewServerMessage): void {
    if (this.o.ws.readyState !== this.o.ws.OPEN) return;
    this.o.ws.send(JSON.stringify(m));
  }

  /**
   * One fragment as one binary message. Its frame is made once for every viewer (frameOf) and written straight to the
   * socket, which is what ws itself does with a frame when no extension is negotiated (the server offers none): ws
   * writes whole frames synchronously, so frames of ours and of ws (text messages, pings) never interleave.
   */
  private sendFragment(fragment: MuxedFragment): void {
    const ws = this.o.ws;
    if (ws.readyState !== ws.OPEN) return;
    const socket = (ws as unknown as { _socket?: Duplex })._socket;
    if (ws.extensions === '' && socket && socket.writable) socket.write(frameOf(fragment));
    else ws.send(joinedBytes(fragment), { binary: true });
    this.bytes += fragment.bytes;
  }

  /** One binary message from several chunks, without copying them: WebSocket continuation frames (RFC 6455 §5.4). */
  private sendBinary(chunks: readonly Uint8Array[]): void {
    const ws = this.o.ws;
    if (ws.readyState !== ws.OPEN) return;
    for (let i = 0; i < chunks.length; i++) {
      ws.send(chunks[i]!, { binary: true, fin: i === chunks.length - 1 });
      this.bytes += chunks[i]!.length;
    }
  }

  private transition(to: ViewerState): void {
    if (!TRANSITIONS[this.state].includes(to)) throw new Error(`ViewerSession: no transition from ${this.state} to ${to}`);
    this.state = to;
  }
}

/** `text` cut to at most `max` UTF-8 bytes, on a character boundary. */
function truncateUtf8(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  let out = text.slice(0, max);
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
