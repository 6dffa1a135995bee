// A path owns one stream name (mediamtx's path): the hub of its publisher (a Stream), the one grace timer that keeps
// its readers while a publisher reconnects, and the parts that live and die with it, whatever its source: its ffmpeg
// destinations (egress/hub-outputs.ts) and its recorder (record/recordings.ts). The registry makes and ends paths;
// the services that give a path a part use PathParts.
import type { Stream } from './stream.ts';

/** Something a path owns besides its hub; closed (and waited for) when the path ends. */
export interface PathPart {
  close(): Promise<void>;
}

export class StreamPath {
  readonly name: string;
  readonly stream: Stream;
  private readonly parts = new Map<string, PathPart>();
  private cancelGrace: (() => void) | undefined;
  private ending: Promise<void> | undefined;
  /** Resolves once the path has ended and every part has closed. */
  readonly closed: Promise<void>;
  private resolveClosed: () => void = () => {};

  constructor(stream: Stream) {
    this.name = stream.name;
    this.stream = stream;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** Give the path a part under `key` (one per key); an ended path closes it at once. */
  attach(key: string, part: PathPart): void {
    if (this.ending) {
      void part.close();
      return;
    }
    this.parts.set(key, part);
  }

  part<T extends PathPart>(key: string): T | undefined {
    return this.parts.get(key) as T | undefined;
  }

  /** The publisher left: `cancel` stops the grace timer started for it. */
  graceStarted(cancel: () => void): void {
    this.clearGrace();
    this.cancelGrace = cancel;
  }

  clearGrace(): void {
    this.cancelGrace?.();
    this.cancelGrace = undefined;
  }

  /** End the path: no grace, every part closed. Resolves when they are (an ffmpeg has exited, a file is written). */
  end(): Promise<void> {
    this.clearGrace();
    this.ending ??= Promise.all([...this.parts.values()].map((p) => p.close().catch(() => {}))).then(() => this.resolveClosed());
    return this.ending;
  }
}

/** What PathParts needs of the registry. */
export interface PathSource {
  on(listener: (e: { type: string; path?: StreamPath }) => void): () => void;
  path(name: string): StreamPath | undefined;
  paths(): StreamPath[];
}

/**
 * One kind of part for every path: made when a path goes live (once per path: a publisher that returns within the
 * grace period finds it there, and `returned` is told), closed by the path when it ends. What both the ffmpeg
 * destinations and the recorder do, said once.
 */
export class PathParts<T extends PathPart> {
  private readonly unsubscribe: () => void;
  private readonly mine = new Set<T>();
  private closed = false;

  constructor(
    private readonly registry: PathSource,
    private readonly key: string,
    private readonly o: {
      /** The part for a path that went live, or undefined when it gets none (no destinations, not recorded). */
      make(path: StreamPath): T | undefined;
      /** A publisher came back to a path that already has its part. */
      returned?(part: T, path: StreamPath): void;
    },
  ) {
    this.unsubscribe = registry.on((e) => {
      if (e.type === 'stream-live' && e.path) this.live(e.path);
    });
  }

  /** The part of path NAME, while it is not ended. */
  of(name: string): T | undefined {
    const path = this.registry.path(name);
    return path && !path.ended ? path.part<T>(this.key) : undefined;
  }

  /** Every part of a path not ended yet. */
  all(): T[] {
    return this.registry.paths().flatMap((p) => {
      const part = p.ended ? undefined : p.part<T>(this.key);
      return part ? [part] : [];
    });
  }

  /** No new parts; closes every part still open or closing (as their paths would) and waits for them. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    await Promise.all([...this.mine].map((p) => p.close().catch(() => {})));
  }

  private live(path: StreamPath): void {
    const existing = path.part<T>(this.key);
    if (existing) {
      this.o.returned?.(existing, path);
      return;
    }
    if (this.closed) return;
    const part = this.o.make(path);
    if (!part) return;
    this.mine.add(part);
    path.attach(this.key, part);
    void path.closed.then(() => this.mine.delete(part));
  }
}
