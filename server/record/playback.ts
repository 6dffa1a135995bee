// Recordings over HTTP, MediaMTX's playback server in spirit:
//   GET /api/recordings                       every recorded stream: segments, bytes, first start, last end
//   GET /api/recordings/NAME                  its segments: start, duration, size, codecs
//   GET /recordings/NAME.mp4?start=ISO&duration=S
//       one fragmented MP4 of that span: from the keyframe at or before `start` (fragments start on keyframes, see
//       recorder.ts) to `start + duration`, across segments, with timestamps rebased to 0. It is streamed as it is
//       read, one fragment at a time, with back-pressure from the response; nothing is built in memory.
// The read credentials (--read-user/--read-pass) apply to all three, as to /NAME.mp4.
import type http from 'node:http';
import { join } from 'node:path';
import { SAMPLE_FLAGS_NON_SYNC, SAMPLE_FLAGS_SYNC } from '../../shared/fmp4/boxes.ts';
import { buildFragment, type TrackRun } from '../../shared/fmp4/merge.ts';
import type { FragmentTrackInfo } from '../../shared/fmp4/reader.ts';
import { streamNameProblem } from '../../shared/stream-name.ts';
import type { Logger } from '../log.ts';
import { basicChallenge, checkCredentials, parseBasic, type Credentials } from '../servers/http/basic-auth.ts';
import { answer } from '../servers/http/progressive.ts';
import { streamDir } from './paths.ts';
import { segmentFiles, streamNames } from './recordings.ts';
import { openSegment, readFragment, summarizeSegment, type OpenSegment, type SegmentSummary } from './segment-info.ts';

export interface RecordingRoutesOptions {
  /** --record DIR. */
  root: string;
  logger: Logger;
  read?: Credentials;
  authFailureDelayMs?: readonly [number, number];
}

export interface SegmentJson {
  start: string;
  /** Seconds. */
  duration: number;
  size: number;
  codecs: string[];
}

interface Segment {
  path: string;
  start: number;
  bytes: number;
  summary: SegmentSummary;
}

/** Summaries are read from the files once per size and modification time (a segment being written changes). */
const CACHE_LIMIT = 10_000;

export class RecordingRoutes {
  private readonly cache = new Map<string, { bytes: number; mtime: number; summary: SegmentSummary }>();
  private nextId = 0;

  constructor(private readonly o: RecordingRoutesOptions) {}

  /** Answers the paths it owns and says whether it did. */
  async handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    const path = url.pathname;
    const mp4 = /^\/recordings\/([^/]+)\.mp4$/.exec(path)?.[1];
    const api = path === '/api/recordings' ? '' : /^\/api\/recordings\/([^/]+)$/.exec(path)?.[1];
    if (mp4 === undefined && api === undefined) return false;
    const name = mp4 ?? api!;
    if (name !== '') {
      const problem = streamNameProblem(name);
      if (problem !== undefined) return sent(res, 400, problem);
    }
    if (this.o.read && !(await this.authorized(req))) {
      answer(res, 401, 'recordings need the read credentials (--read-user/--read-pass): give them as http://USER:PASS@HOST/...', { 'WWW-Authenticate': basicChallenge('relaycast') });
      return true;
    }
    if (mp4 !== undefined) await this.play(req, res, mp4, url.searchParams);
    else if (name === '') json(res, 200, await this.listAll());
    else {
      const segments = await this.segments(name);
      if (segments.length === 0) return sent(res, 404, `no recording of stream "${name}" here; GET /api/recordings lists the recorded streams`);
      json(res, 200, { name, segments: segments.map(segmentJson) });
    }
    return true;
  }

  private async listAll(): Promise<Array<{ name: string; segments: number; size: number; start: string; end: string }>> {
    const out = [];
    for (const name of await streamNames(this.o.root)) {
      const segments = await this.segments(name);
      const first = segments[0];
      const last = segments[segments.length - 1];
      if (!first || !last) continue;
      out.push({
        name,
        segments: segments.length,
        size: segments.reduce((n, s) => n + s.bytes, 0),
        start: new Date(first.start).toISOString(),
        end: new Date(last.start + last.summary.durationMs).toISOString(),
      });
    }
    return out;
  }

  /** The readable segments of NAME, oldest first. */
  private async segments(name: string): Promise<Segment[]> {
    const dir = streamDir(this.o.root, name);
    const out: Segment[] = [];
    for (const f of await segmentFiles(dir)) {
      const path = join(dir, f.file);
      const cached = this.cache.get(path);
      let summary = cached && cached.bytes === f.bytes && cached.mtime === f.mtime ? cached.summary : undefined;
      if (!summary) {
        summary = await summarizeSegment(path).catch(() => undefined);
        if (!summary) continue; // being created, or deleted meanwhile
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(path, { bytes: f.bytes, mtime: f.mtime, summary });
      }
      out.push({ path, start: f.start, bytes: f.bytes, summary });
    }
    return out;
  }

  private async play(req: http.IncomingMessage, res: http.ServerResponse, name: string, q: URLSearchParams): Promise<void> {
    const start = Date.parse(q.get('start') ?? '');
    const seconds = Number(q.get('duration') ?? '');
    if (!Number.isFinite(start) || !/^\d{4}-\d{2}-\d{2}T/.test(q.get('start') ?? '')) {
      answer(res, 400, 'give start=ISO8601 (e.g. start=2026-12-04T18:00:00Z): where the span begins');
      return;
    }
    if (!(seconds > 0) || q.get('duration')?.trim() === '') {
      answer(res, 400, 'give duration=SECONDS (more than 0): how long the span is');
      return;
    }
    const end = start + seconds * 1000;
    const all = await this.segments(name);
    const first = all.findIndex((s) => s.start < end && s.start + s.summary.durationMs > start);
    if (first < 0) {
      answer(res, 404, `no recording of stream "${name}" between ${new Date(start).toISOString()} and ${new Date(end).toISOString()}; GET /api/recordings/${name} lists its segments`);
      return;
    }
    // One MP4 has one init segment: the span stops at a segment recorded with other codecs.
    const init = all[first]!.summary.init;
    const span = all.slice(first).filter((s) => s.start < end);
    const usable = span.findIndex((s) => Buffer.compare(s.summary.init, init) !== 0);
    const segments = usable < 0 ? span : span.slice(0, usable);
    const id = `recording-${++this.nextId}`;
    this.o.logger.info('record.playback_start', { id, stream: name, start: new Date(start).toISOString(), seconds, segments: segments.length, remote: req.socket.remoteAddress });
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': 'video/mp4', 'Cache-Control': 'no-store' }).end();
      return;
    }
    const r = await new SpanWriter(res, start, end).write(segments);
    this.o.logger.info('record.playback_end', { id, ...r });
  }

  private async authorized(req: http.IncomingMessage): Promise<boolean> {
    const header = req.headers.authorization;
    if (await checkCredentials(parseBasic(header), this.o.read!, { failureDelayMs: this.o.authFailureDelayMs, presented: header !== undefined })) return true;
    if (header !== undefined) this.o.logger.warn('http.auth_failed', { remote: req.socket.remoteAddress });
    return false;
  }
}

/** Writes the span's init segment and fragments to a response, one fragment at a time. */
class SpanWriter {
  private sequence = 0;
  private fragments = 0;
  private bytes = 0;
  private started = false;

  constructor(
    private readonly res: http.ServerResponse,
    private readonly start: number,
    private readonly end: number,
  ) {}

  async write(segments: readonly Segment[]): Promise<{ fragments: number; bytes: number; outcome: string }> {
    let shiftMs = 0;
    let outEnd = 0;
    /** Wall time of output time 0. */
    let origin = 0;
    for (const s of segments) {
      const seg = await openSegment(s.path).catch(() => undefined);
      if (!seg) continue;
      try {
        let from = 0;
        if (!this.started) {
          from = await cutPoint(seg, this.start - s.start);
          const cut = await readFragment(seg, from);
          if (!cut) continue;
          // Output time 0 is the earliest sample of the cut fragment, whatever its track: nothing is negative.
          const cutMs = Math.min(...cut.parsed.tracks.map((t) => (Number(t.baseDecodeTime) * 1000) / timescale(seg, t.trackId)));
          origin = s.start + cutMs;
          shiftMs = -cutMs;
          this.res.writeHead(200, { 'Content-Type': 'video/mp4', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' });
          this.started = true;
          if (!(await this.send([seg.init]))) return this.done('client-closed');
        } else {
          // Back to back with what came before, or later by the gap in the recording; never overlapping.
          shiftMs = Math.max(s.start - origin, outEnd);
        }
        for (let i = from; i < seg.fragments.length; i++) {
          const f = await readFragment(seg, i);
          if (!f) continue;
          if (s.start + f.ms >= this.end) return this.done('complete');
          const chunks = this.rebased(seg, f.parsed.tracks, f.bytes, shiftMs, s.start);
          if (!chunks) continue;
          if (!(await this.send(chunks))) return this.done('client-closed');
          outEnd = Math.max(outEnd, shiftMs + f.endMs);
        }
      } finally {
        await seg.fh.close();
      }
    }
    if (!this.started) {
      answer(this.res, 404, 'the recording of that span could not be read');
      return this.done('unreadable');
    }
    return this.done('complete');
  }

  /**
   * A fragment moved by `shiftMs` on the output timeline, as a new moof+mdat (views of its samples) holding only the
   * samples before the span's end; undefined when none is.
   */
  private rebased(seg: OpenSegment, tracks: readonly FragmentTrackInfo[], bytes: Uint8Array, shiftMs: number, segStart: number): Uint8Array[] | undefined {
    const runs: TrackRun[] = [];
    for (const t of tracks) {
      const scale = timescale(seg, t.trackId);
      const shift = Math.round((shiftMs * scale) / 1000);
      const endTicks = ((this.end - segStart) * scale) / 1000;
      const base = Number(t.baseDecodeTime);
      const run: TrackRun = { trackId: t.trackId, entries: [], decodeTimes: [], data: [], bytes: 0 };
      for (const s of t.sampleList) {
        if (base + s.decodeOffset >= endTicks) break;
        run.decodeTimes.push(Math.max(0, base + s.decodeOffset + shift));
        run.entries.push({ size: s.size, duration: s.duration, flags: s.sync ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC, compositionOffset: s.compositionOffset });
        run.data.push(bytes.subarray(s.offset, s.offset + s.size));
        run.bytes += s.size;
      }
      runs.push(run);
    }
    if (runs.every((r) => r.entries.length === 0)) return undefined;
    return buildFragment(runs, ++this.sequence);
  }

  /** Write chunks, waiting while the response is full; false once the client has gone. */
  private async send(chunks: readonly Uint8Array[]): Promise<boolean> {
    const res = this.res;
    if (res.destroyed) return false;
    let full = false;
    res.cork();
    for (const c of chunks) {
      full = !res.write(c) || full;
      this.bytes += c.length;
    }
    res.uncork();
    this.fragments++;
    if (full) await drainOrClose(res);
    return !res.destroyed;
  }

  private done(outcome: string): { fragments: number; bytes: number; outcome: string } {
    if (this.started && !this.res.destroyed) this.res.end();
    return { fragments: this.fragments, bytes: this.bytes, outcome };
  }
}

/** Resolves when the response can take more, or has closed; no listener is left behind either way. */
function drainOrClose(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function timescale(seg: OpenSegment, trackId: number): number {
  return seg.info.tracks.find((t) => t.id === trackId)?.timescale ?? 1000;
}

/** Index of the fragment playback starts with: the last that starts on a keyframe at or before `ms` (segment time). */
async function cutPoint(seg: OpenSegment, ms: number): Promise<number> {
  let cut = 0;
  for (let i = 0; i < seg.fragments.length; i++) {
    const f = await readFragment(seg, i);
    if (!f) continue;
    if (f.ms > ms) break;
    if (f.keyframe) cut = i;
  }
  return cut;
}

function segmentJson(s: Segment): SegmentJson {
  return { start: new Date(s.start).toISOString(), duration: Math.round(s.summary.durationMs) / 1000, size: s.bytes, codecs: s.summary.codecs };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function sent(res: http.ServerResponse, status: number, message: string): true {
  answer(res, status, message);
  return true;
}
