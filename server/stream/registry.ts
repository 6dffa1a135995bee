// Every path by name (mediamtx's path manager): who may publish, the grace period after a publisher leaves (on the
// path), ending a path with everything it owns, and the totals that --max-clients and --max-bandwidth are checked
// against.
import type { Logger } from '../log.ts';
import { sameCodecs, type SessionDescription } from '../protocols/rtsp/sdp.ts';
import type { ReaderPolicy } from './reader.ts';
import { StreamPath } from './path.ts';
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
  | { type: 'stream-live'; stream: Stream; path: StreamPath }
  | { type: 'stream-waiting'; stream: Stream; path: StreamPath }
  | { type: 'stream-ended'; stream: Stream; path: StreamPath }
  /** The keyframe group outgrew the cache: a publisher that can be asked for a keyframe should be. */
  | { type: 'gop-overflow'; stream: Stream; path: StreamPath };

export class StreamRegistry {
  private readonly byName = new Map<string, StreamPath>();
  /** Paths that ended and whose parts are still closing (an ffmpeg exiting, a recording's last write). */
  private readonly ending = new Set<Promise<void>>();
  private readonly listeners = new Set<(e: RegistryEvent) => void>();

  constructor(private readonly o: RegistryOptions) {}

  /** The hub of path NAME, while it has a publisher or is in its grace period. */
  get(name: string): Stream | undefined {
    return this.path(name)?.stream;
  }

  /** Path NAME, while it has a publisher or is in its grace period. */
  path(name: string): StreamPath | undefined {
    const p = this.byName.get(name);
    return p && p.stream.state !== 'ended' ? p : undefined;
  }

  paths(): StreamPath[] {
    return [...this.byName.values()];
  }

  list(): StreamSnapshot[] {
    return this.paths().map((p) => p.stream.snapshot());
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
    let path = this.byName.get(name);
    if (path?.stream.state === 'live') {
      return { ok: false, refusal: { code: 'in-use', message: `stream "${name}" already has a publisher` } };
    }
    if (path && path.stream.state === 'waiting') {
      path.clearGrace();
      if (!sameCodecs(path.stream.sdp, sdp)) {
        this.o.logger.info('stream-codecs-changed', { stream: name });
        this.endPath(path, 'codecs-changed');
        path = undefined;
      }
    }
    if (!path) {
      const stream: Stream = new Stream({
        name,
        sdp,
        logger: this.o.logger.child({ stream: name }),
        ...(this.o.now ? { now: this.o.now } : {}),
        ...(this.o.random ? { random: this.o.random } : {}),
        ...(this.o.policy ? { policy: this.o.policy } : {}),
        onGopOverflow: () => this.emit({ type: 'gop-overflow', stream, path: created }),
      });
      const created = new StreamPath(stream);
      path = created;
      this.byName.set(name, path);
    }
    const stream = path.stream;
    stream.attachPublisher(publisher, sdp);
    this.o.logger.info('stream-live', { stream: name, remote: publisher.remote, transport: publisher.transport, readers: stream.readerCount() });
    this.emit({ type: 'stream-live', stream, path });
    return { ok: true, stream };
  }

  /** The publisher left: keep readers for the grace period, then end the stream. */
  unpublish(stream: Stream): void {
    const path = this.byName.get(stream.name);
    if (stream.state !== 'live' || path?.stream !== stream) return;
    stream.detachPublisher();
    if (this.o.graceMs <= 0 || !stream.hasReaders()) {
      this.endPath(path, 'stream-ended');
      return;
    }
    this.o.logger.info('stream-waiting', { stream: stream.name, graceMs: this.o.graceMs, readers: stream.readerCount() });
    this.emit({ type: 'stream-waiting', stream, path });
    path.graceStarted(
      (this.o.setTimer ?? realTimer)(() => {
        if (stream.state === 'waiting') this.endPath(path, 'stream-ended');
      }, this.o.graceMs),
    );
  }

  /** End a stream now, skipping its grace period (its browser publisher pressed Stop: nobody is coming back). */
  end(stream: Stream): void {
    const path = this.byName.get(stream.name);
    if (path?.stream === stream && stream.state !== 'ended') this.endPath(path, 'stream-ended');
  }

  /** Names of the streams in their grace period whose last publisher came over `protocol`. */
  waiting(protocol: PublisherInfo['protocol']): string[] {
    return this.paths().filter((p) => p.stream.state === 'waiting' && p.stream.source === protocol).map((p) => p.name);
  }

  totalReaders(): number {
    let n = 0;
    for (const p of this.byName.values()) n += p.stream.readerCount();
    return n;
  }

  /** Outgoing kbit/s: each stream's ingest rate times its readers (ffserver's MaxBandwidth accounting). */
  totalEgressKbps(): number {
    let k = 0;
    for (const p of this.byName.values()) k += p.stream.ingestKbps() * p.stream.readerCount();
    return k;
  }

  /** End every path; resolves when everything they owned has closed (ffmpegs exited, recordings written). */
  async close(): Promise<void> {
    for (const p of [...this.byName.values()]) this.endPath(p, 'stream-ended');
    await Promise.all(this.ending);
  }

  private endPath(path: StreamPath, reason: 'stream-ended' | 'codecs-changed'): void {
    if (this.byName.get(path.name) === path) this.byName.delete(path.name);
    const stream = path.stream;
    stream.end(reason);
    const done = path.end().finally(() => this.ending.delete(done));
    this.ending.add(done);
    this.o.logger.info('stream-ended', { stream: stream.name, reason });
    this.emit({ type: 'stream-ended', stream, path });
  }

  private emit(e: RegistryEvent): void {
    for (const l of this.listeners) l(e);
  }
}
