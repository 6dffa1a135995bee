// One player of GET /NAME.mp4: a hub reader (ReaderSink) that answers with one chunked response, the init segment,
// then one moof+mdat per access unit as the hub hands it over (the cached keyframe group first, in one write), audio
// in its own small fragments. The fMP4 comes from the shared SampleMuxer through TrackMux (the ffmpeg feed's sibling).
//
// Bounded like every hub reader: backlog() is what the response has not handed to the kernel yet, so a player that
// reads slower than the stream is skipped to the next keyframe by the hub, and one that stays behind is disconnected
// (stream/reader.ts's policy). Nothing here queues beyond that.
import type http from 'node:http';
import type { Logger } from '../../log.ts';
import type { Sample } from '../../protocols/fmp4/sample.ts';
import type { MuxSource, TrackMux } from '../../protocols/fmp4/track-mux.ts';
import { chunkOf } from './framing.ts';

import type { AccessUnit } from '../../stream/access-unit.ts';
import type { Reader, ReaderDescription, ReaderEndReason, ReaderSink } from '../../stream/reader.ts';

/** What the reader needs of the hub's stream (stream/stream.ts's Stream). */
export interface ProgressiveSource extends MuxSource {
  samplesOf(unit: AccessUnit): readonly Sample[] | null;
  addReader(id: string, sink: ReaderSink, tracks: ReadonlySet<number>, kind: 'player'): Reader;
  removeReader(r: Reader): void;
}

/**
 * pending: in the hub, headers not sent (a track's configuration is not known yet); streaming: 200 sent, fragments
 * flow; closed: answered, ended or dropped, and out of the hub.
 */
export type ProgressiveState = 'pending' | 'streaming' | 'closed';

const TRANSITIONS: Readonly<Record<ProgressiveState, readonly ProgressiveState[]>> = {
  pending: ['streaming', 'closed'],
  streaming: ['closed'],
  closed: [],
};

/** Why a reader finished, for its log line. */
export type ProgressiveEnd = ReaderEndReason | 'client-closed' | 'refused' | 'config-changed' | 'server-closing';

export interface ProgressiveReaderOptions {
  id: string;
  res: http.ServerResponse;
  source: ProgressiveSource;
  mux: TrackMux;
  logger: Logger;
  /** Headers of the 200 (and of a HEAD's answer). */
  headers: http.OutgoingHttpHeaders;
  /** How long to wait for a missing configuration (H.264 SPS/PPS only in band) before answering 503. */
  configWaitMs: number;
  /** After a clean end, how long the rest of the response may take to reach the player before its socket is cut. */
  endFlushMs: number;
  /** Told once, when the reader is closed and out of the hub. */
  onClosed: (reader: ProgressiveReader) => void;
}

export class ProgressiveReader implements ReaderSink {
  state: ProgressiveState = 'pending';
  private hubReader: Reader | undefined;
  private timer: NodeJS.Timeout | undefined;
  private holds = 0;
  private bytes = 0;
  private fragments = 0;
  private readonly startedAt = Date.now();
  private readonly res: http.ServerResponse;

  constructor(private readonly o: ProgressiveReaderOptions) {
    this.res = o.res;
    // The player went away (or we cut it off): leave the hub.
    this.res.on('close', () => this.close('client-closed'));
  }

  /**
   * Join the hub: the cached keyframe group arrives at once (in one write) and may make the configuration known; if it
   * is known now the response starts, otherwise it waits up to configWaitMs for the unit that brings it.
   */
  start(): void {
    this.hold();
    try {
      this.hubReader = this.o.source.addReader(this.o.id, this, this.o.mux.trackSet(), 'player');
      if (this.state === 'pending') this.tryOpen();
    } finally {
      this.release();
    }
    if (this.state === 'closed') {
      this.leaveHub();
      return;
    }
    if (this.state === 'pending') {
      this.o.logger.info('http.waiting_for_config', { reader: this.o.id, waitMs: this.o.configWaitMs });
      this.timer = setTimeout(() => {
        this.timer = undefined;
        // Decided: a short wait, then 503 + Retry-After. A publisher that sends SPS/PPS only in band gives them with its
        // next keyframe (typically 1–4 s away); a player that waited longer would hit its own connect timeout.
        this.refuse(503, `the stream has not sent its video parameter sets (SPS/PPS) yet, which come with its next keyframe; try again in a few seconds`, { 'Retry-After': '2' });
      }, this.o.configWaitMs);
    }
  }

  // ReaderSink ------------------------------------------------------------------------------------------------------

  sendUnit(unit: AccessUnit): void {
    if (this.state === 'closed') return;
    // Samples are made even before the response starts: the unit that carries an in-band SPS is what configures it.
    const samples = this.o.source.samplesOf(unit);
    if (!samples || samples.length === 0) return;
    if (this.state === 'pending') {
      if (!this.tryOpen()) return;
    } else if (this.o.mux.readiness(this.o.source).state !== 'current') {
      // One response has one init segment; MP4 players do not take a second moov mid-stream. End cleanly: a player
      // that reconnects gets the new one.
      this.o.logger.info('http.config_changed', { reader: this.o.id, message: 'the codec configuration changed: the response ends; players reconnect' });
      this.finish('config-changed');
      return;
    }
    // A fragment per unit, at once: no batching (latency), and audio never waits for video. Made once per unit and
    // shared by every player in the same state (TrackMux.fragmentOf), and sent as one buffer: one chunk, one write.
    const fragment = this.o.mux.fragmentOf(unit, unit.track, samples);
    if (fragment) {
      this.writeChunk(chunkOf(fragment), fragment.bytes);
      this.fragments++;
    }
  }

  sendRtcp(): void {}

  describe(): ReaderDescription {
    const socket = this.res.socket;
    return { protocol: 'http', transport: 'tcp', ...(socket?.remoteAddress ? { remote: `${socket.remoteAddress}:${socket.remotePort ?? 0}` } : {}) };
  }

  /** What the response holds that the kernel has not taken: the hub's measure of how far behind this player is. */
  backlog(): number {
    return this.state === 'streaming' ? this.res.writableLength : 0;
  }

  end(reason: ReaderEndReason): void {
    if (this.state === 'closed') return;
    if (reason === 'too-slow') {
      // The hub already removed us. Cut the connection: a clean end would queue behind the backlog that caused this.
      this.o.logger.warn('http.player_dropped', { reader: this.o.id, reason, backlog: this.res.writableLength });
      this.close(reason);
      this.cut();
      return;
    }
    if (this.state === 'pending') {
      if (reason === 'codecs-changed') this.refuse(503, 'the stream restarted with other codecs; try again', { 'Retry-After': '1' });
      else this.refuse(404, 'the stream ended');
      return;
    }
    this.finish(reason);
  }

  /** Hold writes until release(): the socket's cork, so a batch (the cached group, a relay feed's fragment) is one write. */
  hold(): void {
    if (this.holds++ === 0 && !this.res.destroyed) this.res.cork();
  }

  release(): void {
    if (this.holds === 0) return;
    if (--this.holds === 0 && !this.res.destroyed) this.res.uncork();
  }

  // ------------------------------------------------------------------------------------------------------------------

  /** Stop now, whatever the state (the server is closing): the connection is cut. Idempotent. */
  abort(): void {
    if (this.state === 'closed') return;
    this.close('server-closing');
    this.cut();
  }

  /**
   * Drop the connection with a TCP reset: what the kernel still holds for a player that stopped reading (up to the
   * send buffer's few MB) is freed at once, instead of lingering while it retries a closed window.
   */
  private cut(): void {
    const socket = this.res.socket;
    if (socket && !socket.destroyed) socket.resetAndDestroy();
    else this.res.destroy();
  }

  /** Start the response when every carried track's configuration is known; false when it cannot start (yet). */
  private tryOpen(): boolean {
    const ready = this.o.mux.readiness(this.o.source);
    if (ready.state === 'waiting') return false;
    let init: Uint8Array;
    try {
      init = this.o.mux.start(this.o.source).init;
    } catch (e) {
      // Fmp4WriterError: a configuration MP4 cannot carry (an AAC config of one byte, Opus with 3+ channels...).
      this.refuse(415, `this stream's codec configuration cannot be carried in MP4: ${e instanceof Error ? e.message : String(e)}`);
      return false;
    }
    this.transition('streaming');
    this.clearTimer();
    this.res.writeHead(200, this.o.headers);
    this.write([init]);
    this.o.logger.info('http.player_streaming', { reader: this.o.id, afterMs: Date.now() - this.startedAt });
    return true;
  }

  /**
   * One fragment, framed as an HTTP/1.1 chunk once for every player (chunkOf), straight onto the socket: the response
   * has sent its headers (tryOpen wrote them with the init segment through it), so the socket's order is the body's.
   */
  private writeChunk(chunk: Uint8Array, bodyBytes: number): void {
    const socket = this.res.socket;
    if (this.res.destroyed || !socket) return;
    socket.write(chunk);
    this.bytes += bodyBytes;
  }

  private write(chunks: readonly Uint8Array[]): void {
    if (this.res.destroyed) return;
    this.res.cork();
    for (const c of chunks) {
      this.res.write(c);
      this.bytes += c.length;
    }
    this.res.uncork();
  }

  /** Answer an error instead of the stream (before the 200 only). */
  private refuse(status: number, message: string, headers: http.OutgoingHttpHeaders = {}): void {
    if (this.state !== 'pending') return;
    this.close('refused');
    this.o.logger.info('http.player_refused', { reader: this.o.id, status, message });
    if (this.res.destroyed) return;
    const body = JSON.stringify({ error: message });
    this.res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body), ...headers });
    this.res.end(body);
  }

  /** A clean end: the last chunk, then the connection is cut if the player does not take the rest in endFlushMs. */
  private finish(reason: ProgressiveEnd): void {
    if (this.state !== 'streaming') return;
    this.close(reason);
    if (this.res.destroyed) return;
    this.res.end();
    if (this.res.writableFinished) return;
    const timer = setTimeout(() => this.cut(), this.o.endFlushMs);
    timer.unref();
    this.res.once('close', () => clearTimeout(timer));
  }

  private close(reason: ProgressiveEnd): void {
    if (this.state === 'closed') return;
    const from = this.state;
    this.transition('closed');
    this.clearTimer();
    this.leaveHub();
    const stats = this.hubReader?.stats;
    this.o.logger.info('http.player_end', {
      reader: this.o.id,
      reason,
      from,
      bytes: this.bytes,
      fragments: this.fragments,
      seconds: Math.round((Date.now() - this.startedAt) / 100) / 10,
      ...(stats ? { skips: stats.skips, droppedUnits: stats.droppedUnits } : {}),
    });
    this.o.onClosed(this);
  }

  private leaveHub(): void {
    if (this.hubReader) this.o.source.removeReader(this.hubReader);
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private transition(to: ProgressiveState): void {
    if (!TRANSITIONS[this.state].includes(to)) throw new Error(`ProgressiveReader: no transition from ${this.state} to ${to}`);
    this.state = to;
  }
}
