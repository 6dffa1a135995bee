// Recording for the whole server (--record DIR): a Recorder for every stream chosen (all, or --record-streams and the
// config file's streams.NAME.record), from its first publish until it ends; the bounds (--record-max-size,
// --record-max-age) kept per stream; and, on start, the half-written last fragment a crash left trimmed.
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidStreamName } from '../../shared/stream-name.ts';
import type { BackoffOptions } from '../egress/backoff.ts';
import type { Logger } from '../log.ts';
import { PathParts } from '../stream/path.ts';
import type { StreamRegistry } from '../stream/registry.ts';
import type { Stream } from '../stream/stream.ts';
import { segmentsToDelete, type Bounds, type SegmentEntry } from './bounds.ts';
import { streamDir, segmentStart } from './paths.ts';
import { Recorder, type RecorderStats, type RecordingStatus } from './recorder.ts';
import { trimSegment } from './segment-scan.ts';

export interface RecordingsOptions {
  registry: StreamRegistry;
  /** --record DIR. */
  root: string;
  /** Whether stream NAME is recorded. */
  records: (name: string) => boolean;
  segmentMs: number;
  bounds: Bounds;
  logger: Logger;
  now?: () => number;
  flushMs?: number;
  backoff?: BackoffOptions;
  /** How often every stream's bounds are checked besides at each new segment (default 60 s). */
  sweepMs?: number;
}

export class Recordings {
  /** Each recorded path's recorder is a part of it: made when it first goes live, closed when it ends. */
  private parts: PathParts<Recorder> | undefined;
  /** Streams whose bounds are being enforced now: one pass at a time each. */
  private readonly sweeping = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly o: RecordingsOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Trim what a crash left, then record every chosen stream that goes live. */
  async start(): Promise<void> {
    await this.trimAll();
    if (this.closed) return;
    this.parts = new PathParts(this.o.registry, 'recorder', {
      make: (path) => this.recorderFor(path.stream),
      // A returning publisher: a new segment at its first keyframe.
      returned: (recorder) => recorder.publisherChanged(),
    });
    this.sweepTimer = setInterval(() => void this.sweepAll(), this.o.sweepMs ?? 60_000);
    this.sweepTimer.unref();
  }

  /** The recording of live stream NAME, or undefined when it is not recorded. */
  statusOf(name: string): RecordingStatus | undefined {
    return this.parts?.of(name)?.status();
  }

  /** Segments and writes of every live recording (bench:ingest). */
  stats(): RecorderStats[] {
    return (this.parts?.all() ?? []).map((r) => ({ ...r.stats }));
  }

  /** Stop every recorder; resolves when their last fragments are on disk. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    await this.parts?.close();
  }

  private recorderFor(stream: Stream): Recorder | undefined {
    if (!this.o.records(stream.name)) return undefined;
    const logger = this.o.logger.child({ stream: stream.name });
    const recorder = new Recorder({
      name: stream.name,
      root: this.o.root,
      source: stream,
      segmentMs: this.o.segmentMs,
      logger,
      onSegment: () => void this.sweep(stream.name),
      ...(this.o.now ? { now: this.o.now } : {}),
      ...(this.o.flushMs !== undefined ? { flushMs: this.o.flushMs } : {}),
      ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
    });
    if (!recorder.carriesAnything()) {
      logger.warn('record.nothing_to_carry', { message: 'no track of this stream has a codec MP4 can carry (H.264, H.265, AAC, Opus, G.711): it is not recorded' });
      return undefined;
    }
    stream.addReader('record', recorder, recorder.trackSet(), 'output');
    return recorder;
  }

  /** The last segment of every stream directory: a crash may have cut its last write short. */
  private async trimAll(): Promise<void> {
    for (const name of await streamNames(this.o.root)) {
      const dir = streamDir(this.o.root, name);
      const files = await segmentFiles(dir);
      const last = files[files.length - 1];
      if (!last) continue;
      const path = join(dir, last.file);
      try {
        const r = await trimSegment(path);
        if (r.kind === 'trimmed') this.o.logger.info('record.trimmed', { file: path, bytes: r.bytes, message: 'a half-written last fragment (the server stopped mid-write) was cut off' });
        else if (r.kind === 'no-init') {
          await unlink(path);
          this.o.logger.info('record.removed_empty', { file: path, message: 'the segment had no complete init segment: nothing in it could play' });
        }
      } catch (e) {
        this.o.logger.warn('record.trim_failed', { file: path, error: e });
      }
    }
  }

  private async sweepAll(): Promise<void> {
    for (const name of await streamNames(this.o.root)) await this.sweep(name);
  }

  /** Delete the oldest segments of NAME beyond the bounds; never the one being written. */
  private async sweep(name: string): Promise<void> {
    const { maxBytes, maxAgeMs } = this.o.bounds;
    if ((maxBytes === undefined && maxAgeMs === undefined) || this.sweeping.has(name)) return;
    this.sweeping.add(name);
    try {
      const current = this.parts?.of(name)?.currentPath();
      for (const file of await enforceBounds(streamDir(this.o.root, name), this.o.bounds, this.now(), current)) {
        this.o.logger.info('record.segment_deleted', { file, reason: 'bounds' });
      }
    } catch (e) {
      this.o.logger.warn('record.bounds_failed', { stream: name, error: e });
    } finally {
      this.sweeping.delete(name);
    }
  }

  /** DIR, where every stream's segments are. */
  get root(): string {
    return this.o.root;
  }
}

/** Stream directories under DIR, sorted (an unreadable or missing DIR has none: recorders report that themselves). */
export async function streamNames(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory() && isValidStreamName(d.name)).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

/**
 * Delete the oldest segments of a stream directory beyond the bounds, never `current` (the path being written).
 * Returns the paths deleted.
 */
export async function enforceBounds(dir: string, bounds: Bounds, now: number, current: string | undefined): Promise<string[]> {
  const files = await segmentFiles(dir);
  const newest = files[files.length - 1];
  const currentFile = current !== undefined && current.startsWith(`${dir}/`) ? current.slice(dir.length + 1) : undefined;
  const deleted: string[] = [];
  for (const file of segmentsToDelete(files, bounds, now, currentFile, newest ? newest.mtime : now)) {
    await unlink(join(dir, file));
    deleted.push(join(dir, file));
  }
  return deleted;
}

export interface SegmentFile extends SegmentEntry {
  /** Last modification, ms since the epoch. */
  mtime: number;
}

/** The segment files of a stream directory, oldest first (files with other names are left alone). */
export async function segmentFiles(dir: string): Promise<SegmentFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: SegmentFile[] = [];
  for (const file of names) {
    const start = segmentStart(file);
    if (start === undefined) continue;
    try {
      const s = await stat(join(dir, file));
      if (s.isFile()) out.push({ file, start, bytes: s.size, mtime: s.mtimeMs });
    } catch {
      // deleted meanwhile (the bounds, another sweep)
    }
  }
  return out.sort((a, b) => a.start - b.start);
}
