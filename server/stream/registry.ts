// Every live stream by name (mediamtx's path manager): who may publish, the grace period after a publisher leaves,
// and the totals that --max-clients and --max-bandwidth are checked against.
import type { Logger } from '../log.ts';
import { sameCodecs, type SessionDescription } from '../protocols/rtsp/sdp.ts';
import type { ReaderPolicy } from './reader.ts';
import { Stream, type PublisherInfo, type StreamSnapshot } from './stream.ts';

export interface RegistryOptions {
  logger: Logger;
  /** How long readers stay attached after the publisher leaves, waiting for it to return with the same codecs. */
  graceMs: number;
  now?: () => number;
  random?: () => number;
  policy?: ReaderPolicy;
  /** Starts the grace timer (tests pass a fake clock's); returns how to cancel it. Default: setTimeout, unref'd. */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

function realTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
}

export type PublishRefusal = { code: 'in-use'; message: string };

export type RegistryEvent =
  | { type: 'stream-live'; stream: Stream }
  | { type: 'stream-waiting'; stream: Stream }
  | { type: 'stream-ended'; stream: Stream }
  /** The keyframe group outgrew the cache: a publisher that can be asked for a keyframe should be. */
  | { type: 'gop-overflow'; stream: Stream };

export class StreamRegistry {
  private readonly streams = new Map<string, Stream>();
  /** Cancels the grace timer of a stream in its grace period. */
  private readonly graceTimers = new Map<Stream, () => void>();
  private readonly listeners = new Set<(e: RegistryEvent) => void>();

  constructor(private readonly o: RegistryOptions) {}

  get(name: string): Stream | undefined {
    const s = this.streams.get(name);
    return s && s.state !== 'ended' ? s : undefined;
  }

  list(): StreamSnapshot[] {
    return [...this.streams.values()].map((s) => s.snapshot());
  }

  on(listener: (e: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Claim NAME for a publisher. A live NAME is refused; a NAME in its grace period is taken over when the codecs
   * match (readers stay attached), otherwise the old stream's readers are ended and a new stream starts.
   */
  publish(name: string, sdp: SessionDescription, publisher: PublisherInfo): { ok: true; stream: Stream } | { ok: false; refusal: PublishRefusal } {
    const existing = this.streams.get(name);
    if (existing?.state === 'live') {
      return { ok: false, refusal: { code: 'in-use', message: `stream "${name}" already has a publisher` } };
    }
    let stream = existing;
    if (stream && stream.state === 'waiting') {
      this.clearGrace(stream);
      if (!sameCodecs(stream.sdp, sdp)) {
        this.o.logger.info('stream-codecs-changed', { stream: name });
        this.endStream(stream, 'codecs-changed');
        stream = undefined;
      }
    }
    if (!stream) {
      stream = new Stream({
        name,
        sdp,
        logger: this.o.logger.child({ stream: name }),
        ...(this.o.now ? { now: this.o.now } : {}),
        ...(this.o.random ? { random: this.o.random } : {}),
        ...(this.o.policy ? { policy: this.o.policy } : {}),
        onGopOverflow: (s) => this.emit({ type: 'gop-overflow', stream: s }),
      });
      this.streams.set(name, stream);
    }
    stream.attachPublisher(publisher, sdp);
    this.o.logger.info('stream-live', { stream: name, remote: publisher.remote, transport: publisher.transport, readers: stream.readerCount() });
    this.emit({ type: 'stream-live', stream });
    return { ok: true, stream };
  }

  /** The publisher left: keep readers for the grace period, then end the stream. */
  unpublish(stream: Stream): void {
    if (stream.state !== 'live') return;
    stream.detachPublisher();
    if (this.o.graceMs <= 0 || !stream.hasReaders()) {
      this.endStream(stream, 'stream-ended');
      return;
    }
    this.o.logger.info('stream-waiting', { stream: stream.name, graceMs: this.o.graceMs, readers: stream.readerCount() });
    this.emit({ type: 'stream-waiting', stream });
    const cancel = (this.o.setTimer ?? realTimer)(() => {
      this.graceTimers.delete(stream);
      if (stream.state === 'waiting') this.endStream(stream, 'stream-ended');
    }, this.o.graceMs);
    this.graceTimers.set(stream, cancel);
  }

  /** End a stream now, skipping its grace period (its browser publisher pressed Stop: nobody is coming back). */
  end(stream: Stream): void {
    if (this.streams.get(stream.name) === stream && stream.state !== 'ended') this.endStream(stream, 'stream-ended');
  }

  /** Names of the streams in their grace period whose last publisher came over `protocol`. */
  waiting(protocol: PublisherInfo['protocol']): string[] {
    return [...this.streams.values()].filter((s) => s.state === 'waiting' && s.source === protocol).map((s) => s.name);
  }

  totalReaders(): number {
    let n = 0;
    for (const s of this.streams.values()) n += s.readerCount();
    return n;
  }

  /** Outgoing kbit/s: each stream's ingest rate times its readers (ffserver's MaxBandwidth accounting). */
  totalEgressKbps(): number {
    let k = 0;
    for (const s of this.streams.values()) k += s.ingestKbps() * s.readerCount();
    return k;
  }

  close(): void {
    for (const s of [...this.streams.values()]) this.endStream(s, 'stream-ended');
  }

  private endStream(stream: Stream, reason: 'stream-ended' | 'codecs-changed'): void {
    this.clearGrace(stream);
    if (this.streams.get(stream.name) === stream) this.streams.delete(stream.name);
    stream.end(reason);
    this.o.logger.info('stream-ended', { stream: stream.name, reason });
    this.emit({ type: 'stream-ended', stream });
  }

  private clearGrace(stream: Stream): void {
    this.graceTimers.get(stream)?.();
    this.graceTimers.delete(stream);
  }

  private emit(e: RegistryEvent): void {
    for (const l of this.listeners) l(e);
  }
}
