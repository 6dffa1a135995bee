// One ffmpeg process per destination, supervised (habit 12: the only place that spawns processes).
//
//   idle ─start()→ starting ─progress frame>0→ running
//                    │  └─────────exit─────────┐  │
//                    │ (spawn failed)          ▼  ▼ exit
//                    ▼                        backoff ─timer→ starting
//                  failed          close() from anywhere → stopped
//
// The caller (ingest) must never wait for a destination: write() queues into ffmpeg's stdin and
// returns; when the queue passes maxBacklogBytes the output skips to the next keyframe (habit 7). Each
// (re)start replays prelude() (init segment + cached GOP) so ffmpeg always begins on a keyframe.
// If this process dies, ffmpeg sees EOF on stdin and exits by itself (tested), so nothing is left.
import type { Readable, Writable } from 'node:stream';
import { execa } from 'execa';
import type { Logger } from '../log.ts';
import { isValidStreamName } from '../../shared/stream-name.ts';
import { buildFfmpegArgs, type AacSampleRate } from './argv.ts';
import { classifyStderrLine, StderrLines } from './ffmpeg-log.ts';
import { Backoff, DEFAULT_BACKOFF } from './backoff.ts';
import { maskUrl, OutputUrlError, redactUrl, type OutputKind } from './output-url.ts';

export type OutputState = 'idle' | 'starting' | 'running' | 'backoff' | 'stopped' | 'failed';

const TRANSITIONS: Readonly<Record<OutputState, readonly OutputState[]>> = {
  idle: ['starting', 'stopped'],
  starting: ['running', 'backoff', 'failed', 'stopped'],
  running: ['backoff', 'stopped'],
  backoff: ['starting', 'stopped'],
  failed: ['stopped'],
  stopped: [],
};

export interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
  /** Set when the process never ran (e.g. "ENOENT": no ffmpeg at that path). */
  spawnError: string | undefined;
}

/** The part of a child process FfmpegOutput uses; tests can pass a fake. */
export interface ChildProcessLike {
  readonly pid: number | undefined;
  readonly stdin: Writable;
  readonly stderr: Readable;
  kill(signal: NodeJS.Signals): void;
  /** Settles (never rejects) once the process is gone. */
  readonly exited: Promise<ExitInfo>;
}

export type SpawnFn = (file: string, args: readonly string[]) => ChildProcessLike;

/** The real spawner: execa 9, stdin piped, stdout ignored, stderr streamed, killed if we exit normally. */
export const spawnWithExeca: SpawnFn = (file, args) => {
  const sub = execa(file, args, {
    stdin: 'pipe',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    buffer: false,
    cleanup: true,
    // FfmpegOutput.close() escalates SIGTERM → SIGKILL itself, on its own clock.
    forceKillAfterDelay: false,
  });
  const exited: Promise<ExitInfo> = sub.then(
    (r) => ({
      exitCode: r.exitCode,
      signal: r.signal,
      spawnError:
        r.exitCode === undefined && r.signal === undefined ? (typeof r.code === 'string' ? r.code : 'spawn failed') : undefined,
    }),
    (e: unknown) => ({ exitCode: undefined, signal: undefined, spawnError: e instanceof Error ? e.message : String(e) }),
  );
  return { pid: sub.pid, stdin: sub.stdin, stderr: sub.stderr, kill: (s) => void sub.kill(s), exited };
};

export interface FfmpegOutputOptions {
  /** Stream name (checked with shared/stream-name.ts). */
  name: string;
  /** Expanded destination URL (a secret: only its masked form is ever logged or returned). */
  url: string;
  kind: OutputKind;
  hasAudio: boolean;
  /** Default true. */
  hasVideo?: boolean;
  logger: Logger;
  /** Bytes to replay after every (re)start: the init segment, then the cached keyframe group. */
  prelude: () => Uint8Array[];
  ffmpegPath?: string;
  backoff?: { initialMs: number; maxMs: number; resetAfterMs?: number };
  /** Bytes queued in ffmpeg's stdin beyond which fragments are dropped until the next keyframe. */
  maxBacklogBytes?: number;
  aacSampleRate?: AacSampleRate;
  /** The input's audio is AAC already: an RTMP destination copies it instead of encoding it again. */
  audioIsAac?: boolean;
  /** After close() ends stdin: wait this long for ffmpeg to exit, then SIGTERM, then as long again, then SIGKILL. */
  closeGraceMs?: number;
  spawn?: SpawnFn;
  now?: () => number;
  onState?: (state: OutputState, previous: OutputState) => void;
}

export interface OutputSnapshot {
  name: string;
  kind: OutputKind;
  /** Masked. */
  url: string;
  state: OutputState;
  /** Times ffmpeg was started again after the first start. */
  restarts: number;
  /** The last meaningful ffmpeg error line (masked), or why it exited. */
  lastError?: string;
  /** When the current state was entered (ms since epoch, from `now`). */
  since: number;
  /** Bytes handed to ffmpeg's stdin, prelude included. */
  bytesWritten: number;
  /** Fragments skipped because ffmpeg's stdin backlog was over the limit (until the next keyframe). */
  droppedFragments: number;
  /** Video frames ffmpeg reports written in the current run. */
  frames: number;
  pid?: number;
  /** In backoff: milliseconds until ffmpeg is started again. */
  retryInMs?: number;
}

export const DEFAULT_MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
/** ffmpeg can repeat an error per packet; after this many warn lines per run the rest go to debug. */
const MAX_WARN_LINES_PER_RUN = 50;

export class FfmpegOutput {
  readonly #o: FfmpegOutputOptions;
  readonly #args: readonly string[];
  readonly #maskedUrl: string;
  readonly #log: Logger;
  readonly #spawn: SpawnFn;
  readonly #now: () => number;
  readonly #backoff: Backoff;
  readonly #maxBacklog: number;
  readonly #graceMs: number;

  #state: OutputState = 'idle';
  #since: number;
  #child: ChildProcessLike | undefined;
  #restarts = 0;
  #lastError: string | undefined;
  /** The error line of the current run, if ffmpeg printed one (else exit says how it ended). */
  #lastErrorThisRun: string | undefined;
  #bytesWritten = 0;
  #dropped = 0;
  #frames = 0;
  #waitingForKeyframe = false;
  /** Prelude bytes that may sit in the backlog on top of maxBacklogBytes right after a (re)start. */
  #preludeAllowance = 0;
  #runningSince: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** When the backoff timer fires. */
  #retryAt: number | undefined;
  #closing: Promise<void> | undefined;
  #stderr = new StderrLines();
  #progress = new Map<string, string>();
  #warnLines = 0;

  constructor(o: FfmpegOutputOptions) {
    if (!isValidStreamName(o.name)) {
      throw new OutputUrlError('invalid_stream_name', 'FfmpegOutput needs a valid stream name.');
    }
    const args = buildFfmpegArgs({
      kind: o.kind,
      url: o.url,
      hasAudio: o.hasAudio,
      ...(o.hasVideo === false ? { hasVideo: false } : {}),
      ...(o.aacSampleRate !== undefined ? { aacSampleRate: o.aacSampleRate } : {}),
      ...(o.audioIsAac ? { audioIsAac: true } : {}),
    });
    if (!args.ok) throw args.error;
    this.#o = o;
    this.#args = args.value;
    this.#maskedUrl = maskUrl(o.url, o.name);
    this.#spawn = o.spawn ?? spawnWithExeca;
    this.#now = o.now ?? Date.now;
    this.#since = this.#now();
    this.#backoff = new Backoff({
      initialMs: o.backoff?.initialMs ?? DEFAULT_BACKOFF.initialMs,
      maxMs: o.backoff?.maxMs ?? DEFAULT_BACKOFF.maxMs,
      resetAfterMs: o.backoff?.resetAfterMs ?? DEFAULT_BACKOFF.resetAfterMs,
    });
    this.#maxBacklog = o.maxBacklogBytes ?? DEFAULT_MAX_BACKLOG_BYTES;
    this.#graceMs = o.closeGraceMs ?? 2_000;
    this.#log = o.logger.child({ component: 'egress', stream: o.name, kind: o.kind, url: this.#maskedUrl });
  }

  get state(): OutputState {
    return this.#state;
  }

  snapshot(): OutputSnapshot {
    const s: OutputSnapshot = {
      name: this.#o.name,
      kind: this.#o.kind,
      url: this.#maskedUrl,
      state: this.#state,
      restarts: this.#restarts,
      since: this.#since,
      bytesWritten: this.#bytesWritten,
      droppedFragments: this.#dropped,
      frames: this.#frames,
    };
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    if (this.#child?.pid !== undefined) s.pid = this.#child.pid;
    if (this.#state === 'backoff' && this.#retryAt !== undefined) s.retryInMs = Math.max(0, this.#retryAt - this.#now());
    return s;
  }

  start(): void {
    if (this.#state !== 'idle') throw new Error(`FfmpegOutput.start(): already started (state '${this.#state}')`);
    this.#launch();
  }

  /**
   * Queue one fragment (moof+mdat), whole or as the chunks of one gathered write (its header, then views of the
   * samples). Never blocks, never throws. `keyframe` is true when the fragment starts with a video sync sample.
   * The bytes must not be modified afterwards (they are queued as is).
   */
  write(fragment: Uint8Array | readonly Uint8Array[], keyframe: boolean): void {
    // Without video every fragment is a place ffmpeg can resume from: audio frames stand alone.
    const resumes = keyframe || this.#o.hasVideo === false;
    const child = this.#child;
    // Not running (backoff, closed…): nothing to do, the next start replays the prelude.
    if (!child || this.#closing || (this.#state !== 'starting' && this.#state !== 'running')) return;
    const stdin = child.stdin;
    if (!stdin.writable) return;
    const backlog = stdin.writableLength;
    if (backlog <= this.#maxBacklog) this.#preludeAllowance = 0;
    if (this.#waitingForKeyframe && !resumes) {
      this.#dropped++;
      return;
    }
    if (backlog > this.#maxBacklog + this.#preludeAllowance) {
      if (!this.#waitingForKeyframe) {
        this.#log.warn('egress.backlog_full', { backlogBytes: backlog, limitBytes: this.#maxBacklog });
      }
      this.#waitingForKeyframe = true;
      this.#dropped++;
      return;
    }
    if (this.#waitingForKeyframe) {
      this.#waitingForKeyframe = false;
      this.#log.info('egress.backlog_resumed', { droppedFragments: this.#dropped });
    }
    if (fragment instanceof Uint8Array) {
      this.#writeRaw(stdin, fragment);
      return;
    }
    // Corked, the chunks leave in one writev: no copy of the media, one wake-up of ffmpeg.
    stdin.cork();
    for (const c of fragment) this.#writeRaw(stdin, c);
    stdin.uncork();
  }

  /** Stop for good: end stdin, wait for ffmpeg (then SIGTERM, then SIGKILL). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const child = this.#child;
    if (child) {
      try {
        child.stdin.end();
      } catch {
        // already destroyed: the exit below tells the rest
      }
      if (!(await settlesWithin(child.exited, this.#graceMs))) {
        this.#log.warn('egress.close_sigterm', { pid: child.pid });
        child.kill('SIGTERM');
        if (!(await settlesWithin(child.exited, this.#graceMs))) {
          this.#log.warn('egress.close_sigkill', { pid: child.pid });
          child.kill('SIGKILL');
          await child.exited;
        }
      }
    }
    this.#child = undefined;
    this.#transition('stopped');
    this.#log.info('egress.closed', { restarts: this.#restarts, droppedFragments: this.#dropped });
  }

  #transition(to: OutputState): void {
    const from = this.#state;
    if (from === to) return;
    if (!TRANSITIONS[from].includes(to)) {
      throw new Error(`FfmpegOutput: no transition from '${from}' to '${to}'`);
    }
    this.#state = to;
    this.#since = this.#now();
    this.#o.onState?.(to, from);
  }

  #launch(): void {
    this.#transition('starting');
    this.#progress.clear();
    this.#frames = 0;
    this.#warnLines = 0;
    this.#lastErrorThisRun = undefined;
    this.#runningSince = undefined;
    this.#waitingForKeyframe = false;
    this.#stderr = new StderrLines();
    const ffmpeg = this.#o.ffmpegPath ?? 'ffmpeg';
    let child: ChildProcessLike;
    try {
      child = this.#spawn(ffmpeg, this.#args);
    } catch (e) {
      this.#fail(`could not start ${ffmpeg}: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.#child = child;
    this.#log.info('egress.spawn', {
      pid: child.pid,
      restarts: this.#restarts,
      args: this.#args.map((a) => redactUrl(a, this.#o.url)),
    });
    // EPIPE (ffmpeg died with data queued) and write-after-destroy land here; the exit handler
    // decides what happens next. Without a listener Node would throw them as uncaught.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      this.#log.debug('egress.stdin_error', { code: e.code, message: redactUrl(e.message, this.#o.url) });
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => this.#onStderr(child, chunk));
    child.stderr.on('error', () => {});
    void child.exited.then((info) => this.#onExit(child, info));

    let preludeBytes = 0;
    try {
      for (const chunk of this.#o.prelude()) {
        this.#writeRaw(child.stdin, chunk);
        preludeBytes += chunk.byteLength;
      }
    } catch (e) {
      // A throwing prelude is the caller's bug; ffmpeg will fail on the bad input and be restarted.
      this.#log.error('egress.prelude_error', { message: e instanceof Error ? e.message : String(e) });
    }
    this.#preludeAllowance = preludeBytes;
  }

  #writeRaw(stdin: Writable, bytes: Uint8Array): void {
    try {
      stdin.write(bytes);
      this.#bytesWritten += bytes.byteLength;
    } catch (e) {
      this.#log.debug('egress.write_error', { message: e instanceof Error ? e.message : String(e) });
    }
  }

  #fail(reason: string): void {
    this.#lastError = redactUrl(reason, this.#o.url);
    this.#child = undefined;
    this.#log.error('egress.failed', { lastError: this.#lastError });
    this.#transition('failed');
  }

  #onExit(child: ChildProcessLike, info: ExitInfo): void {
    if (child !== this.#child) return;
    this.#flushStderr(child);
    if (this.#closing) return; // close() owns the rest
    if (info.spawnError !== undefined) {
      const missing = info.spawnError === 'ENOENT';
      this.#fail(
        missing
          ? `ffmpeg not found at "${this.#o.ffmpegPath ?? 'ffmpeg'}": install ffmpeg (apt-get install -y ffmpeg) or set its path`
          : `could not start ffmpeg: ${info.spawnError}`,
      );
      return;
    }
    this.#child = undefined;
    const healthyFor = this.#runningSince === undefined ? 0 : this.#now() - this.#runningSince;
    const delay = this.#backoff.next(healthyFor);
    const how = info.signal !== undefined ? `killed by ${info.signal}` : `exited with code ${info.exitCode}`;
    // Keep the error line ffmpeg gave; otherwise say how it ended.
    if (this.#lastErrorThisRun === undefined) this.#lastError = `ffmpeg ${how}`;
    this.#lastErrorThisRun = undefined;
    this.#log.warn('egress.exit', {
      exitCode: info.exitCode,
      signal: info.signal,
      lastError: this.#lastError,
      ranForMs: healthyFor,
      retryInMs: delay,
    });
    this.#transition('backoff');
    this.#retryAt = this.#now() + delay;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closing) return;
      this.#restarts++;
      this.#launch();
    }, delay);
  }

  #onStderr(child: ChildProcessLike, chunk: string): void {
    if (child !== this.#child) return;
    for (const line of this.#stderr.push(chunk)) this.#onLine(line);
  }

  #flushStderr(child: ChildProcessLike): void {
    if (child !== this.#child) return;
    for (const line of this.#stderr.end()) this.#onLine(line);
  }

  #onLine(raw: string): void {
    const line = classifyStderrLine(raw);
    if (line.kind === 'progress') {
      this.#progress.set(line.key, line.value);
      if (line.key === 'progress') this.#onProgress();
      return;
    }
    const text = redactUrl(line.text, this.#o.url);
    if (line.lastError) {
      this.#lastError = text;
      this.#lastErrorThisRun = text;
    }
    if (line.warn && this.#warnLines < MAX_WARN_LINES_PER_RUN) {
      this.#warnLines++;
      this.#log.warn('egress.ffmpeg', { ffmpegLevel: line.level, line: text });
      if (this.#warnLines === MAX_WARN_LINES_PER_RUN) {
        this.#log.warn('egress.ffmpeg_log_limited', { limit: MAX_WARN_LINES_PER_RUN });
      }
    } else {
      this.#log.debug('egress.ffmpeg', { ffmpegLevel: line.level, line: text });
    }
  }

  #onProgress(): void {
    const frames = Number(this.#progress.get('frame') ?? '0');
    const outUs = Number(this.#progress.get('out_time_us') ?? '0');
    if (Number.isFinite(frames)) this.#frames = frames;
    if (this.#state === 'starting' && (frames > 0 || outUs > 0)) {
      this.#runningSince = this.#now();
      this.#transition('running');
      this.#log.info('egress.running', { pid: this.#child?.pid, restarts: this.#restarts });
    }
  }
}

/** Resolves true if `p` settles within `ms`, false otherwise; leaves no timer behind. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
