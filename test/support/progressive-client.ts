// A raw HTTP player of /NAME.mp4 for tests: it keeps every byte of the response and splits it into the init segment
// and moof+mdat pairs, each checked by the project's strict fMP4 reader (shared/fmp4/reader.ts), so a test can look at
// what a real player was sent: the first sample, every tfdt, how the response ended. It can stop reading (a slow
// player) while its socket stays open.
import http from 'node:http';
import { parseInitSegment, parseMediaSegment, type FragmentInfo, type InitInfo } from '../../shared/fmp4/reader.ts';

export interface ProgressiveFragment {
  bytes: Uint8Array;
  info: FragmentInfo;
  /** performance.now() when its last byte arrived. */
  at: number;
}

export interface ProgressiveEnd {
  /** The chunked response ended with its last chunk (a clean end), rather than the connection being cut. */
  complete: boolean;
  at: number;
}

export class ProgressiveClient {
  status = 0;
  headers: http.IncomingHttpHeaders = {};
  /** Every body byte so far. */
  received = 0;
  init: InitInfo | undefined;
  /** The init segment's bytes (ftyp + moov). */
  initBytes: Uint8Array | undefined;
  readonly fragments: ProgressiveFragment[] = [];
  /** Whatever did not parse (should stay empty). */
  readonly problems: string[] = [];
  /** Resolves with the status and headers once they arrive. */
  readonly response: Promise<{ status: number; headers: http.IncomingHttpHeaders }>;
  /** Resolves when the response is over, however it ended. */
  readonly ended: Promise<ProgressiveEnd>;
  private readonly req: http.ClientRequest;
  private res: http.IncomingMessage | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private readonly waiters: Array<() => void> = [];

  constructor(url: string, o: { method?: 'GET' | 'HEAD'; headers?: http.OutgoingHttpHeaders } = {}) {
    let resolveResponse!: (r: { status: number; headers: http.IncomingHttpHeaders }) => void;
    let resolveEnd!: (e: ProgressiveEnd) => void;
    this.response = new Promise((r) => (resolveResponse = r));
    this.ended = new Promise((r) => (resolveEnd = r));
    let done = false;
    const finish = (complete: boolean) => {
      if (done) return;
      done = true;
      resolveEnd({ complete, at: performance.now() });
      this.wake();
    };
    this.req = http.request(url, { method: o.method ?? 'GET', headers: o.headers ?? {}, agent: false }, (res) => {
      this.res = res;
      this.status = res.statusCode ?? 0;
      this.headers = res.headers;
      resolveResponse({ status: this.status, headers: this.headers });
      res.on('data', (chunk: Buffer) => this.take(chunk));
      res.on('end', () => finish(res.complete));
      res.on('close', () => finish(res.complete));
      res.on('error', () => finish(false));
    });
    this.req.on('error', (e) => {
      resolveResponse({ status: 0, headers: {} });
      this.problems.push(`request: ${e.message}`);
      finish(false);
    });
    this.req.end();
  }

  /** The body so far as text (for error answers). */
  body(): string {
    return this.pending.toString('utf8');
  }

  /** Stop reading: the kernel buffers fill and the server's writes back up. */
  pause(): void {
    this.res?.pause();
  }

  resume(): void {
    this.res?.resume();
  }

  close(): void {
    this.req.destroy();
  }

  /** Resolves when `pred` holds (checked on every fragment), or rejects after timeoutMs. */
  async until(pred: (c: ProgressiveClient) => boolean, timeoutMs: number, what = 'the condition'): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let over = false;
    void this.ended.then(() => (over = true));
    while (!pred(this)) {
      if (over) throw new Error(`the response ended before ${what} (${this.fragments.length} fragments; ${this.problems.join('; ')})`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${what} not reached within ${timeoutMs} ms (${this.fragments.length} fragments)`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Fragments of a track (by track ID), in arrival order. */
  trackFragments(trackId: number): ProgressiveFragment[] {
    return this.fragments.filter((f) => f.info.tracks.some((t) => t.trackId === trackId));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private take(chunk: Buffer): void {
    this.received += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    if (this.status !== 200) return;
    for (;;) {
      const boxes = completeBoxes(this.pending, 2);
      if (!boxes) break;
      const bytes = new Uint8Array(this.pending.subarray(0, boxes));
      if (!this.init) {
        const init = parseInitSegment(bytes);
        if (!init.ok) this.problems.push(`init: ${init.error.message}`);
        else this.init = init.value;
        this.initBytes = bytes;
      } else {
        const f = parseMediaSegment(bytes, this.init);
        if (!f.ok) this.problems.push(`fragment ${this.fragments.length}: ${f.error.message}`);
        else this.fragments.push({ bytes, info: f.value, at: performance.now() });
      }
      this.pending = this.pending.subarray(boxes);
    }
    this.wake();
  }
}

/** Bytes of the first `count` whole top-level boxes (ftyp+moov, or moof+mdat), or undefined until they are all here. */
function completeBoxes(buf: Buffer, count: number): number | undefined {
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 8 > buf.length) return undefined;
    const size = buf.readUInt32BE(at);
    if (size < 8) return undefined;
    at += size;
    if (at > buf.length) return undefined;
  }
  return at;
}

/** Every tfdt of a track, in arrival order (bigint only past 2^53, which these tests never reach). */
export function decodeTimes(c: ProgressiveClient, trackId: number): number[] {
  return c.fragments.flatMap((f) => f.info.tracks.filter((t) => t.trackId === trackId).map((t) => Number(t.baseDecodeTime)));
}

/** The track ID of the init segment's video (or audio) track. */
export function trackIdOf(c: ProgressiveClient, kind: 'video' | 'audio'): number {
  const t = c.init?.tracks.find((x) => x.kind === kind);
  if (!t) throw new Error(`no ${kind} track in the init segment`);
  return t.id;
}
