// One stream's recording: a hub reader (ReaderSink, kind 'output') that writes the stream as fragmented MP4 segments,
// DIR/NAME/START.mp4, copying the samples as they arrived (TrackMux + SampleMuxer, as HTTP playback and the ffmpeg
// feed do). A segment starts on a video keyframe: the first one, the first after --record-segment seconds, and the
// first after a codec change (a new init segment) or a new publisher.
//
// Crash-safe by construction: a file is the init segment followed by whole moof+mdat fragments, appended in order, so
// it is a valid fMP4 after every write; a write cut short by a crash is trimmed on the next start (segment-scan.ts).
// A fragment is cut at each keyframe (where playback can start) and at each write; writes are gathered (writev) about
// once a second, never a syscall per frame, all asynchronous, in one ordered chain per stream.
//
// A failure (ENOSPC, EACCES, EROFS, a missing or replaced directory, a disk that does not keep up) stops this stream's
// recording with a sentence in the log and the API, and retries with backoff; the hub never waits for the disk
// (backlog() is 0: the recorder bounds its own queue).
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from '../egress/backoff.ts';
import type { Logger } from '../log.ts';
import type { Sample } from '../protocols/fmp4/sample.ts';
import { chooseTracks, TrackMux, type MuxSource } from '../protocols/fmp4/track-mux.ts';
import type { AccessUnit } from '../stream/access-unit.ts';
import type { ReaderEndReason, ReaderSink } from '../stream/reader.ts';
import type { RecordingStatus } from '../../shared/protocol.ts';
import { fsProblem } from './fs-problem.ts';
import { segmentPath } from './paths.ts';

/** What the recorder needs of the hub's stream (stream/stream.ts's Stream). */
export interface RecordSource extends MuxSource {
  samplesOf(unit: AccessUnit): readonly Sample[] | null;
}

/**
 * waiting: no segment yet (a configuration or the first keyframe to come); recording: a segment is open and written;
 * error: stopped by a failure, retrying with backoff; closed: the stream ended or the server is closing.
 */
export type RecorderState = RecordingStatus['state'];

const TRANSITIONS: Readonly<Record<RecorderState, readonly RecorderState[]>> = {
  waiting: ['recording', 'error', 'closed'],
  recording: ['error', 'closed'],
  error: ['recording', 'closed'],
  closed: [],
};

export type { RecordingStatus };

export interface RecorderStats {
  segments: number;
  /** writev calls (each one syscall for up to IOV_MAX chunks) and the bytes they wrote. */
  writes: number;
  bytes: number;
}

export interface RecorderOptions {
  name: string;
  /** --record DIR; the segments go to DIR/NAME. */
  root: string;
  source: RecordSource;
  segmentMs: number;
  logger: Logger;
  /** How long samples are gathered before one write (default 1 s). */
  flushMs?: number;
  /** Bytes waiting for the disk beyond which the recording stops as "the disk does not keep up" (default 64 MiB). */
  maxBacklogBytes?: number;
  now?: () => number;
  backoff?: BackoffOptions;
  /** A segment file was opened (the bounds are checked then). */
  onSegment?: (path: string) => void;
}

interface Segment {
  path: string;
  /** Per carried track (TrackMux order): the decode time subtracted so the segment starts at 0, in its clock. */
  bases: number[];
  /** Index (TrackMux order) of the track whose keyframes start segments. */
  key: number;
  keyRate: number;
}

export class Recorder implements ReaderSink {
  state: RecorderState = 'waiting';
  private readonly mux: TrackMux;
  /** Stream track index → TrackMux index, for the tracks recorded (fixed for the recorder's life). */
  private readonly muxIndex: ReadonlyMap<number, number>;
  /** TrackMux index of the track whose keyframes start segments: the video track, else the first (audio). */
  private readonly keyIndex: number;
  private readonly now: () => number;
  private readonly flushMs: number;
  private readonly maxBacklog: number;
  private readonly backoff: Backoff;
  private segment: Segment | undefined;
  /** The next keyframe starts a new segment (a new publisher). */
  private rotate = false;
  /** Fragments cut but not yet handed to the disk chain. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Bytes handed to the chain and not written yet. */
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** After a failure, the retry delay has passed: the next keyframe may open a segment again. */
  private retryDue = false;
  /** Every disk operation, in order. */
  private disk: Promise<void> = Promise.resolve();
  /** Bumped by a failure: operations queued before it are skipped. */
  private generation = 0;
  private file: FileHandle | undefined;
  /** Bytes of the open file known written: what a failed write is cut back to. */
  private fileBytes = 0;
  private lastStart = 0;
  private recordingSince = 0;
  private error: string | undefined;
  /** The configuration versions MP4 could not carry: not tried again until one changes. */
  private refused: string | undefined;
  private closing: Promise<void> | undefined;
  readonly stats: RecorderStats = { segments: 0, writes: 0, bytes: 0 };

  constructor(private readonly o: RecorderOptions) {
    this.mux = new TrackMux(chooseTracks(o.source).carried);
    this.muxIndex = new Map(this.mux.tracks.map((t, i) => [t.index, i]));
    this.keyIndex = Math.max(0, this.mux.tracks.findIndex((t) => t.role === 'video'));
    this.now = o.now ?? Date.now;
    this.flushMs = o.flushMs ?? 1000;
    this.maxBacklog = o.maxBacklogBytes ?? 64 * 1024 * 1024;
    this.backoff = new Backoff(o.backoff ?? DEFAULT_BACKOFF);
  }

  /** The hub tracks recorded (give them to Stream.addReader). */
  trackSet(): ReadonlySet<number> {
    return this.mux.trackSet();
  }

  carriesAnything(): boolean {
    return this.mux.tracks.length > 0;
  }

  status(): RecordingStatus {
    return {
      state: this.state,
      ...(this.segment && this.state === 'recording' ? { file: basename(this.segment.path) } : {}),
      ...(this.error !== undefined ? { error: this.error } : {}),
    };
  }

  /** The segment being written, if any (the bounds never delete it). */
  currentPath(): string | undefined {
    return this.segment?.path;
  }

  /** A new publisher took the stream: its first keyframe starts a new segment. */
  publisherChanged(): void {
    this.rotate = true;
  }

  // ReaderSink ------------------------------------------------------------------------------------------------------

  sendUnit(unit: AccessUnit): void {
    if (this.state === 'closed' || (this.state === 'error' && !this.retryDue)) return;
    const i = this.muxIndex.get(unit.track);
    if (i === undefined) return;
    const samples = this.o.source.samplesOf(unit);
    if (!samples || samples.length === 0) return;
    const ready = this.mux.readiness(this.o.source);
    if (ready.state === 'waiting') return;
    if (ready.state === 'changed' && this.segment) this.endSegment(); // one init segment per file
    const video = this.mux.tracks[i]!.role === 'video';
    // Where in this unit a segment may start: on a video keyframe; in a stream without video, on any unit of its audio.
    const opening = i !== this.keyIndex ? undefined : video ? samples.find((s) => s.keyframe) : samples[0];
    if (!this.segment || (opening && this.due(samples[0]!))) {
      if (!opening || !this.startSegment(opening, i)) return;
    } else if (video && opening) {
      this.cut(); // a keyframe opens a fragment: where playback of a span can start
    }
    this.add(unit.track, i, samples);
  }

  sendRtcp(): void {}

  backlog(): number {
    return 0;
  }

  end(reason: ReaderEndReason): void {
    this.o.logger.info('record.stream_ended', { reason });
    void this.close();
  }

  // ------------------------------------------------------------------------------------------------------------------

  /** Write what is pending, close the file and stop for good. Idempotent; resolves when the disk is done. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.segment) this.endSegment();
      if (this.retryTimer) clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.transition('closed');
      await this.disk;
      if (this.file) await this.file.close().catch(() => undefined);
      this.file = undefined;
    })();
    return this.closing;
  }

  /** Whether the segment in progress has reached its length at `sample` (or a new publisher asked for a new one). */
  private due(sample: Sample): boolean {
    const s = this.segment!;
    return this.rotate || ((sample.dts - s.bases[s.key]!) * 1000) / s.keyRate >= this.o.segmentMs;
  }

  /** Open a new segment whose first sample (of track index `key`) is `first`; false when none can be made. */
  private startSegment(first: Sample, key: number): boolean {
    if (this.segment) this.endSegment();
    const configs = this.mux.tracks.map((t) => this.o.source.sampleConfig(t.index)!);
    const versions = configs.map((c) => c.version).join(',');
    if (versions === this.refused) return false;
    let init: Uint8Array;
    try {
      init = this.mux.start(this.o.source).init;
    } catch (e) {
      this.refused = versions;
      this.fail(`the stream's codec configuration cannot go into MP4 (${e instanceof Error ? e.message : String(e)}); recording resumes when it changes`, false);
      return false;
    }
    this.refused = undefined;
    const keyRate = configs[key]!.clockRate;
    const start = Math.max(this.now(), this.lastStart + 1); // two segments never share a name
    let path: string;
    try {
      path = segmentPath(this.o.root, this.o.name, start);
    } catch (e) {
      this.fail((e as Error).message, false);
      return false;
    }
    this.lastStart = start;
    this.rotate = false;
    this.segment = { path, key, keyRate, bases: configs.map((c) => Math.round((first.dts * c.clockRate) / keyRate)) };
    this.stats.segments++;
    this.pending = [init];
    this.pendingBytes = init.length;
    const generation = this.generation;
    this.chain(path, async () => {
      await mkdir(dirname(path), { recursive: true });
      this.file = await open(path, 'wx');
      this.fileBytes = 0;
      if (generation !== this.generation || this.state === 'closed') return;
      if (this.state !== 'recording') {
        this.transition('recording');
        this.recordingSince = this.now();
        if (this.error !== undefined) this.o.logger.info('record.resumed', { file: path });
        this.error = undefined;
        this.retryDue = false;
      }
      this.o.logger.info('record.segment_start', { file: path });
      this.o.onSegment?.(path);
    });
    return true;
  }

  /** Samples of track `track` (TrackMux index `i`) into the open segment, on its timeline (starting at 0). */
  private add(track: number, i: number, samples: readonly Sample[]): void {
    const base = this.segment!.bases[i]!;
    const shifted: Sample[] = [];
    // Audio from just before the segment's first keyframe belongs to the one before.
    for (const s of samples) if (s.dts >= base) shifted.push({ pts: s.pts - base, dts: s.dts - base, keyframe: s.keyframe, data: s.data });
    if (!this.mux.add(track, shifted)) return;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.flushMs);
  }

  /** The samples added so far become one moof+mdat, waiting for the next write. */
  private cut(): void {
    const f = this.mux.current?.fragment();
    if (!f) return;
    this.pending.push(...f.chunks);
    this.pendingBytes += f.bytes;
  }

  /** Hand what is pending to the disk in one gathered write. */
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.cut();
    if (this.pending.length === 0 || !this.segment) return;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.inFlight + bytes > this.maxBacklog) {
      this.fail(`the disk does not keep up with the stream (${Math.round((this.inFlight + bytes) / 1048576)} MiB waiting to be written to ${this.segment.path})`);
      return;
    }
    this.inFlight += bytes;
    const path = this.segment.path;
    this.chain(path, async () => {
      const file = this.file;
      if (!file) return;
      try {
        const r = await file.writev(chunks);
        this.stats.writes++;
        this.stats.bytes += r.bytesWritten;
        if (r.bytesWritten !== bytes) throw Object.assign(new Error(`only ${r.bytesWritten} of ${bytes} bytes were written`), { code: 'ENOSPC' });
      } catch (e) {
        // A write cut short (a full disk) leaves part of a fragment: cut it off, so the file stays a valid fMP4; a file
        // that got nothing whole (not even its init segment) is removed.
        await (this.fileBytes > 0 ? file.truncate(this.fileBytes) : unlink(path)).catch(() => undefined);
        throw e;
      }
      this.fileBytes += bytes;
      this.inFlight -= bytes;
    });
  }

  /** Finish the segment in progress: its last fragment is written, then the file is closed. */
  private endSegment(): void {
    this.flush();
    this.segment = undefined;
    this.chain(undefined, async () => {
      const file = this.file;
      this.file = undefined;
      await file?.close();
    });
  }

  /** Queue a disk operation after the others; a failure stops the recording (operations queued before it are skipped). */
  private chain(path: string | undefined, op: () => Promise<void>): void {
    const generation = this.generation;
    this.disk = this.disk.then(async () => {
      if (generation !== this.generation) return;
      try {
        await op();
      } catch (e) {
        if (generation === this.generation) this.fail(fsProblem(e, path ?? this.o.root));
      }
    });
  }

  /** Stop recording with `sentence`; retry after a backoff delay (or, `retry` false, when the configuration changes). */
  private fail(sentence: string, retry = true): void {
    if (this.state === 'closed') return;
    this.generation++;
    this.pending = [];
    this.pendingBytes = 0;
    this.inFlight = 0;
    this.segment = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const file = this.file;
    this.file = undefined;
    void file?.close().catch(() => undefined);
    const healthy = this.state === 'recording' ? this.now() - this.recordingSince : 0;
    if (this.state !== 'error') this.transition('error');
    this.retryDue = !retry; // without a timer, the next configuration may try at once
    const delay = retry ? this.backoff.next(healthy) : 0;
    this.error = `recording of stream "${this.o.name}" stopped: ${sentence}${retry ? `; retrying in ${delay >= 1000 ? `${Math.round(delay / 1000)} s` : `${delay} ms`}` : ''}`;
    this.o.logger.error('record.failed', { message: this.error });
    if (!retry) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.retryDue = true;
    }, delay);
  }

  private transition(to: RecorderState): void {
    if (this.state === to) return;
    if (!TRANSITIONS[this.state].includes(to)) throw new Error(`Recorder: no transition from ${this.state} to ${to}`);
    this.state = to;
  }
}
