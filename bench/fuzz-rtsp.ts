// The RTSP fuzzer's sockets: each case on its own TCP connection to the relay. It reads every answer, checks its
// status line byte for byte, and knows how many answers to wait for by running the bytes it sent through the relay's
// own pure parser (server/protocols/rtsp/interleaved.ts): N complete requests get N answers; bytes the parser refuses get one
// 4xx and a close; an unfinished request or '$' frame gets nothing yet. So a case ends as soon as its answers are in,
// instead of after a fixed quiet period, and an answer that never comes is seen.
import { bindUdpPair } from '../test/support/udp-pair.ts';
import net from 'node:net';
import { parseIncoming } from '../server/protocols/rtsp/interleaved.ts';
import { getHeader, type RtspResponse } from '../server/protocols/rtsp/message.ts';
import { CAPTURED_SESSION, loadRtspCorpus, rtspCase, type RtspCase, type Target } from './fuzz-rtsp-inputs.ts';
import { Rng } from './random.ts';

/** How a case ended. */
export const RTSP_OUTCOMES = [
  /** Every complete request answered; the connection stays open. */
  'answered',
  /** Every complete request answered, then the relay closed (after refusing unparseable bytes or a 17th pipelined request with a 400). */
  'answered-closed',
  /** Complete requests answered; an unfinished request or '$' frame was left waiting (the relay's timers own it). */
  'answered-partial-pending',
  /** The relay closed before answering every complete request (and, for unparseable bytes, before its 400). */
  'closed-unanswered',
  /** No close and not every answer within the case deadline. */
  'stalled',
  /** The unmutated session steps before the mutated one were not answered (the relay refused a real peer's step). */
  'prefix-failed',
] as const;
export type RtspOutcome = (typeof RTSP_OUTCOMES)[number];

export interface RtspFuzzOptions {
  port: number;
  liveStream: string;
  requests: number;
  seed: number;
  concurrency?: number;
  /** Only these case indices (replaying a case found earlier). */
  only?: number[];
  caseDeadlineMs?: number;
  onProgress?: (done: number) => void;
}

export interface RtspFuzzResult {
  cases: number;
  answers: number;
  /** Answers by status code. */
  byStatus: Record<string, number>;
  /** Answers whose start line is not "RTSP/1.0 NNN reason" with NNN 200 or 4xx/5xx. */
  malformed: Array<{ case: number; line: string }>;
  byOutcome: Record<RtspOutcome, number>;
  byKind: Record<string, number>;
  /** The first few case indices of each unusual outcome, to replay with --only. */
  examples: Partial<Record<RtspOutcome | 'status-500', number[]>>;
  /** RTP/RTCP datagrams the relay sent to our UDP sink (UDP players' captures point there). */
  udpSinkPackets: number;
  bytesSent: number;
  ms: number;
}

/** RFC 2326 §7.1: Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase CRLF. */
const STATUS_LINE = /^RTSP\/1\.0 (\d{3}) [^\r\n]*\r\n/;

export function wellFormedStatus(status: number): boolean {
  return status === 200 || (status >= 400 && status <= 599);
}

export async function fuzzRtsp(o: RtspFuzzOptions): Promise<RtspFuzzResult> {
  const started = performance.now();
  const corpus = loadRtspCorpus();
  const sink = await bindUdpSink();
  const target: Target = { port: o.port, liveStream: o.liveStream, udpSink: sink.ports };
  const result: RtspFuzzResult = {
    cases: 0,
    answers: 0,
    byStatus: {},
    malformed: [],
    byOutcome: Object.fromEntries(RTSP_OUTCOMES.map((k) => [k, 0])) as Record<RtspOutcome, number>,
    byKind: {},
    examples: {},
    udpSinkPackets: 0,
    bytesSent: 0,
    ms: 0,
  };
  const indices = o.only ?? Array.from({ length: o.requests }, (_, i) => i);
  let next = 0;
  const worker = async () => {
    while (next < indices.length) {
      const index = indices[next++]!;
      const c = rtspCase(Rng.forCase(o.seed, 'rtsp', index), index, corpus, target);
      const r = await runCase(c, o.port, o.caseDeadlineMs ?? 3000);
      result.cases++;
      result.bytesSent += r.bytesSent;
      result.byOutcome[r.outcome]++;
      result.byKind[c.kind] = (result.byKind[c.kind] ?? 0) + 1;
      if (r.outcome !== 'answered' && r.outcome !== 'answered-closed' && r.outcome !== 'answered-partial-pending') example(result, r.outcome, index);
      for (const a of r.answers) {
        result.answers++;
        const key = a.status === undefined ? 'unparsed' : String(a.status);
        result.byStatus[key] = (result.byStatus[key] ?? 0) + 1;
        if (a.status === undefined || !wellFormedStatus(a.status)) result.malformed.push({ case: index, line: a.line.slice(0, 200) });
        if (a.status === 500) example(result, 'status-500', index);
      }
      o.onProgress?.(result.cases);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 32, indices.length) }, worker));
  } finally {
    result.udpSinkPackets = sink.packets();
    sink.close();
  }
  result.ms = Math.round(performance.now() - started);
  return result;
}

function example(r: RtspFuzzResult, key: RtspOutcome | 'status-500', index: number): void {
  const list = (r.examples[key] ??= []);
  if (list.length < 10) list.push(index);
}

interface Answer {
  status: number | undefined;
  /** The start line as sent. */
  line: string;
  response?: RtspResponse;
}

interface CaseResult {
  outcome: RtspOutcome;
  answers: Answer[];
  bytesSent: number;
}

/** server/servers/rtsp/connection.ts MAX_PIPELINED: requests in flight at once; the next one is refused (400) and the connection closed. */
const MAX_PIPELINED = 16;

export interface Expected {
  /** Responses owed: one per complete request, plus the 400 that refuses unparseable bytes (end 'error'). */
  answers: number;
  /** 'error': unparseable bytes follow, so a 400 and a close; 'partial': an unfinished request or frame waits. */
  end: 'complete' | 'partial' | 'error';
  /**
   * More than MAX_PIPELINED requests: if they are all in flight at once the 17th is refused with a 400 and the
   * connection closed, so MAX_PIPELINED + 1 answers and a close also count as answered. Whether they are depends on how
   * TCP delivers the bytes (the relay answers as it parses), so either outcome is right.
   */
  orPipelineLimit: boolean;
}

/** What the relay owes for `bytes`, by its own parser (server/protocols/rtsp/interleaved.ts). */
export function expectedAnswers(bytes: Uint8Array): Expected {
  let requests = 0;
  let off = 0;
  let end: Expected['end'] = 'complete';
  while (off < bytes.length) {
    const r = parseIncoming(bytes.subarray(off));
    if (r.kind === 'more') {
      end = 'partial';
      break;
    }
    if (r.kind === 'error') {
      end = 'error';
      break;
    }
    off += r.consumed;
    if (r.value.type === 'request') requests++;
  }
  return { answers: requests + (end === 'error' ? 1 : 0), end, orPipelineLimit: requests > MAX_PIPELINED };
}

async function runCase(c: RtspCase, port: number, deadlineMs: number): Promise<CaseResult> {
  const conn = await RawConnection.open(port);
  let bytesSent = 0;
  try {
    const deadline = Date.now() + deadlineMs;
    let session: string | undefined;
    for (const step of c.prefix) {
      const bytes = withSession(step, session);
      conn.write(bytes);
      bytesSent += bytes.length;
      // A step that is a client's response (ffmpeg answering the capture server's GET_PARAMETER) gets no answer.
      const want = conn.answers.length + expectedAnswers(bytes).answers;
      if (!(await conn.waitFor(() => conn.answers.length >= want || conn.closed, deadline)) || conn.answers.length < want) {
        return { outcome: 'prefix-failed', answers: conn.answers, bytesSent };
      }
      const s = conn.answers[conn.answers.length - 1]?.response;
      session = (s && getHeader(s.headers, 'Session')?.split(';')[0]?.trim()) || session;
    }
    const payload = withSession(c.payload, session);
    const expect = expectedAnswers(payload);
    const base = conn.answers.length;
    let from = 0;
    for (const f of [...c.splits, 1]) {
      const to = Math.round(f * payload.length);
      if (to > from && !conn.closed) {
        conn.write(payload.subarray(from, to));
        bytesSent += to - from;
        if (c.gapMs > 0 && to < payload.length) await new Promise((r) => setTimeout(r, c.gapMs));
      }
      from = Math.max(from, to);
    }
    const got = () => conn.answers.length - base;
    const answered = () => got() >= expect.answers || (conn.closed && expect.orPipelineLimit && got() >= MAX_PIPELINED + 1);
    // A refusal of unparseable bytes closes the connection: wait for that too.
    const done = () => conn.closed || (expect.end !== 'error' && got() >= expect.answers);
    if (!(await conn.waitFor(done, deadline))) return { outcome: 'stalled', answers: conn.answers, bytesSent };
    if (conn.closed) return { outcome: answered() ? 'answered-closed' : 'closed-unanswered', answers: conn.answers, bytesSent };
    return { outcome: expect.end === 'partial' ? 'answered-partial-pending' : 'answered', answers: conn.answers, bytesSent };
  } finally {
    conn.destroy();
  }
}

function withSession(bytes: Uint8Array, session: string | undefined): Uint8Array {
  if (session === undefined) return bytes;
  const text = Buffer.from(bytes).toString('latin1');
  return text.includes(CAPTURED_SESSION) ? Buffer.from(text.replaceAll(CAPTURED_SESSION, session), 'latin1') : bytes;
}

/** One TCP connection that splits what the relay sends into answers (raw start line kept) and '$' frames. */
class RawConnection {
  readonly answers: Answer[] = [];
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  /** Resolves true once cond() holds, false at the deadline. */
  async waitFor(cond: () => boolean, deadline: number): Promise<boolean> {
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    return true;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.buf.length === 0) break;
      if (this.buf[0] !== 0x24 && !this.buf.subarray(0, 5).equals(Buffer.from('RTSP/').subarray(0, Math.min(5, this.buf.length)))) {
        // Neither a frame nor a response: the relay wrote something no RTSP client can read. Keep the line, stop.
        const line = this.buf.subarray(0, 200).toString('latin1');
        this.answers.push({ status: undefined, line });
        this.buf = Buffer.alloc(0);
        this.socket.destroy();
        break;
      }
      const r = parseIncoming(this.buf);
      if (r.kind === 'more') break;
      if (r.kind === 'error') {
        this.answers.push({ status: undefined, line: this.buf.subarray(0, 200).toString('latin1') });
        this.buf = Buffer.alloc(0);
        this.socket.destroy();
        break;
      }
      if (r.value.type === 'response') {
        const raw = this.buf.subarray(0, r.consumed).toString('latin1');
        const m = STATUS_LINE.exec(raw);
        this.answers.push({ status: m ? Number(m[1]) : undefined, line: raw.split('\r\n')[0] ?? '', response: r.value.response });
      }
      this.buf = this.buf.subarray(r.consumed);
    }
    this.wake?.();
  }
}

/** An even/odd UDP port pair of ours that counts what arrives: where UDP players' captures ask for RTP. */
async function bindUdpSink(): Promise<{ ports: [number, number]; packets: () => number; close: () => void }> {
  const { rtp, rtcp, ports } = await bindUdpPair();
  let n = 0;
  rtp.on('message', () => n++);
  rtcp.on('message', () => n++);
  return {
    ports,
    packets: () => n,
    close: () => {
      rtp.close();
      rtcp.close();
    },
  };
}
