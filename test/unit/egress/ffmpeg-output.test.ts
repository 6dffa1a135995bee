// FfmpegOutput's supervision logic with a fake child process and fake timers: restart/backoff,
// prelude replay, backlog dropping, stderr handling and close() escalation. The same class against a
// real ffmpeg and nginx-rtmp is in test/integration/egress/.
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseInitSegment, parseMediaSegment } from '../../../shared/fmp4/reader.ts';
import { createLogger } from '../../../server/log.ts';
import { writeFixtureFile } from '../../support/fmp4-fixtures.ts';
import {
  FfmpegOutput,
  type ChildProcessLike,
  type ExitInfo,
  type FfmpegOutputOptions,
  type OutputState,
} from '../../../server/egress/ffmpeg-output.ts';
import { OutputUrlError } from '../../../server/egress/output-url.ts';
import { parseFfmpegLogLine } from '../../../server/egress/ffmpeg-log.ts';

const URL = 'rtmp://user:pa55word@a.rtmp.youtube.com/live2/abcd-efgh-1234-wxyz';
const SECRETS = ['pa55word', 'abcd-efgh-1234-wxyz'];

class FakeChild implements ChildProcessLike {
  static nextPid = 1000;
  readonly pid = FakeChild.nextPid++;
  readonly stdin: Writable;
  readonly stderr = new PassThrough();
  readonly exited: Promise<ExitInfo>;
  readonly received: Buffer[] = [];
  readonly signals: string[] = [];
  /** While true, stdin accepts bytes but never finishes writing them (a stalled ffmpeg). */
  stalled = false;
  exitOnEof = true;
  ignoreSigterm = false;
  done = false;
  #resolve!: (i: ExitInfo) => void;

  constructor(readonly args: readonly string[]) {
    this.exited = new Promise((r) => (this.#resolve = r));
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        this.received.push(chunk);
        if (!this.stalled) cb();
      },
      final: (cb) => {
        cb();
        if (this.exitOnEof) this.exit(0);
      },
    });
  }
  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (signal === 'SIGKILL' || (signal === 'SIGTERM' && !this.ignoreSigterm)) this.exit(undefined, signal);
  }
  exit(exitCode: number | undefined, signal?: string): void {
    if (this.done) return;
    this.done = true;
    this.stderr.end();
    this.stdin.destroy();
    this.#resolve({ exitCode, signal, spawnError: undefined });
  }
  say(text: string): void {
    this.stderr.write(text);
  }
  progress(frame: number): void {
    this.say(`frame=${frame}\nfps=30.00\nout_time_us=${frame * 33_333}\nprogress=continue\n`);
  }
  bytes(): number {
    return this.received.reduce((n, b) => n + b.length, 0);
  }
}

const INIT = new Uint8Array([1, 1, 1, 1]);
const GOP = [new Uint8Array([2, 2, 2, 2, 2, 2, 2, 2])];

let children: FakeChild[];
let logs: string[];
let states: [OutputState, OutputState][];

function make(extra: Partial<FfmpegOutputOptions> = {}): FfmpegOutput {
  return new FfmpegOutput({
    name: 'cam1',
    url: URL,
    kind: 'rtmp',
    hasAudio: true,
    logger: createLogger({ level: 'debug', sink: (l) => logs.push(l) }),
    prelude: () => [INIT, ...GOP],
    spawn: (_file, args) => {
      const c = new FakeChild(args);
      children.push(c);
      return c;
    },
    onState: (to, from) => states.push([from, to]),
    ...extra,
  });
}

/** Let stream events and promise callbacks run (fake timers do not block them). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

beforeEach(() => {
  children = [];
  logs = [];
  states = [];
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('FfmpegOutput (fake process)', () => {
  it('refuses a bad URL or stream name at construction, with a typed error', () => {
    expect(() => make({ url: 'rtmp://host/app/key -y' })).toThrow(OutputUrlError);
    expect(() => make({ url: '-f' })).toThrow(OutputUrlError);
    expect(() => make({ name: '../x' })).toThrow(OutputUrlError);
    expect(() => make({ kind: 'rtsp' })).toThrow(OutputUrlError);
  });

  it('starts, writes the prelude then live fragments, and is running once ffmpeg reports frames', async () => {
    const out = make();
    expect(out.state).toBe('idle');
    out.start();
    expect(out.state).toBe('starting');
    expect(children).toHaveLength(1);
    const c = children[0]!;
    expect(c.args.at(-1)).toBe(URL);
    out.write(new Uint8Array([3, 3]), false);
    await settle();
    expect(Buffer.concat(c.received)).toEqual(Buffer.from([1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3]));
    c.progress(0);
    await settle();
    expect(out.state).toBe('starting');
    c.progress(12);
    await settle();
    expect(out.state).toBe('running');
    expect(out.snapshot()).toMatchObject({
      name: 'cam1',
      kind: 'rtmp',
      url: 'rtmp://user:****@a.rtmp.youtube.com/live2/ab…yz',
      state: 'running',
      restarts: 0,
      bytesWritten: 14,
      droppedFragments: 0,
      frames: 12,
      pid: c.pid,
    });
    await out.close();
  });

  it('restarts after 1 s, 2 s, 4 s … (max 8 s), replays the prelude each time, resets after a healthy run', async () => {
    const out = make();
    out.start();
    const delays: number[] = [];
    // What the snapshot says about the next start, as the page shows it ("retrying in 8 s").
    const announced: Array<number | undefined> = [];
    for (let i = 0; i < 7; i++) {
      const c = children.at(-1)!;
      c.say('[tcp @ 0x55d1c0] [error] Connection to tcp://a.rtmp.youtube.com:1935 failed: Connection refused\n');
      c.exit(1);
      await settle();
      expect(out.state).toBe('backoff');
      announced.push(out.snapshot().retryInMs);
      const before = children.length;
      let waited = 0;
      while (children.length === before) {
        await vi.advanceTimersByTimeAsync(500);
        waited += 500;
        if (waited > 60_000) throw new Error('no restart');
      }
      delays.push(waited);
      expect(out.state).toBe('starting');
      // Every start begins with the init segment and the cached GOP.
      await settle();
      expect(Buffer.concat(children.at(-1)!.received)).toEqual(Buffer.from([1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2]));
    }
    expect(delays).toEqual([1_000, 2_000, 4_000, 8_000, 8_000, 8_000, 8_000]);
    expect(announced).toEqual(delays);
    expect(out.snapshot().restarts).toBe(7);
    expect(out.snapshot().lastError).toBe('tcp: Connection to tcp://a.rtmp.youtube.com:1935 failed: Connection refused');

    // A run that stays up for 5 s resets the delay to 1 s.
    const c = children.at(-1)!;
    c.progress(30);
    await settle();
    expect(out.state).toBe('running');
    await vi.advanceTimersByTimeAsync(5_000);
    c.exit(1);
    await settle();
    const before = children.length;
    await vi.advanceTimersByTimeAsync(999);
    expect(children.length).toBe(before);
    await vi.advanceTimersByTimeAsync(1);
    expect(children.length).toBe(before + 1);
    await out.close();
    expect(states[0]).toEqual(['idle', 'starting']);
    expect(states.at(-1)![1]).toBe('stopped');
  });

  it('says how ffmpeg ended when it printed no error', async () => {
    const out = make();
    out.start();
    children[0]!.exit(undefined, 'SIGSEGV');
    await settle();
    expect(out.snapshot().lastError).toBe('ffmpeg killed by SIGSEGV');
    await out.close();
  });

  it('an audio-only output resumes on the next fragment once the backlog clears (there are no keyframes to wait for)', async () => {
    // Callbacks of writes ffmpeg has not taken yet; drain() lets it read them all.
    const held: Array<() => void> = [];
    const drain = async (): Promise<void> => {
      while (held.length > 0) {
        held.shift()!();
        await settle();
      }
    };
    const out = make({
      hasVideo: false,
      maxBacklogBytes: 100,
      spawn: (_f, args) => {
        const c = new FakeChild(args);
        (c as { stdin: Writable }).stdin = new Writable({
          highWaterMark: 1,
          write: (chunk: Buffer, _e, cb) => (c.received.push(chunk), held.push(cb)),
          final: (cb) => (cb(), c.exit(0)),
        });
        children.push(c);
        return c;
      },
    });
    out.start();
    const frag = new Uint8Array(100);
    out.write(frag, false); // 12 ≤ 100 → queued
    out.write(frag, false); // over → dropped
    expect(out.snapshot().droppedFragments).toBe(1);
    await drain(); // ffmpeg reads again: the backlog clears
    out.write(frag, false); // not a keyframe, but audio: resumes
    expect(out.snapshot().droppedFragments).toBe(1);
    expect(logs.some((l) => l.includes('egress.backlog_resumed'))).toBe(true);
    const closing = out.close();
    await drain();
    await closing;
  });

  it('drops fragments while the stdin backlog is over the limit, until a keyframe', async () => {
    const out = make({ maxBacklogBytes: 100 });
    out.start();
    const c = children[0]!;
    c.stalled = true; // ffmpeg stops reading (slow destination): the backlog only grows
    const frag = new Uint8Array(60);
    out.write(frag, true); // backlog 12 (the prelude) → queued
    out.write(frag, false); // backlog 72 ≤ 100 → queued
    out.write(frag, false); // backlog 132 > 100 → dropped; now waiting for a keyframe
    out.write(frag, false); // not a keyframe → dropped
    out.write(frag, true); // a keyframe, but the backlog is still over → dropped
    expect(out.snapshot()).toMatchObject({ droppedFragments: 3, bytesWritten: 12 + 120 });
    expect(logs.filter((l) => l.includes('egress.backlog_full'))).toHaveLength(1);
    // close(): stdin cannot drain, so the 2 s grace runs out and SIGTERM ends it.
    const closing = out.close();
    await vi.advanceTimersByTimeAsync(2_000);
    await closing;
    expect(c.signals).toEqual(['SIGTERM']);
  });

  it('resumes on the next keyframe once the backlog is back under the limit', async () => {
    let release: (() => void) | undefined;
    let stall = true;
    const out = make({
      maxBacklogBytes: 100,
      spawn: (_f, args) => {
        const c = new FakeChild(args);
        // A stdin that holds every write until release() is called.
        (c as { stdin: Writable }).stdin = new Writable({
          highWaterMark: 1,
          write: (chunk: Buffer, _e, cb) => {
            c.received.push(chunk);
            if (stall) release = cb;
            else cb();
          },
          final: (cb) => {
            cb();
            c.exit(0);
          },
        });
        children.push(c);
        return c;
      },
    });
    out.start(); // prelude: 4 bytes (held), 8 bytes (queued)
    const frag = new Uint8Array(100);
    out.write(frag, false); // 12 ≤ 100 → queued (backlog 112)
    out.write(frag, false); // 112 > 100 → drop, wait for keyframe
    out.write(frag, true); // still over → drop
    expect(out.snapshot().droppedFragments).toBe(2);
    stall = false;
    release?.();
    await settle();
    expect(children[0]!.stdin.writableLength).toBe(0);
    out.write(frag, false); // under the limit but not a keyframe → drop
    expect(out.snapshot().droppedFragments).toBe(3);
    out.write(frag, true); // keyframe → resume
    out.write(frag, false);
    expect(out.snapshot().droppedFragments).toBe(3);
    await settle();
    expect(children[0]!.bytes()).toBe(12 + 100 + 200);
    expect(logs.some((l) => l.includes('egress.backlog_resumed'))).toBe(true);
    await out.close();
  });

  it('allows a prelude larger than the backlog limit (a long GOP must not be dropped at start)', async () => {
    const out = make({ maxBacklogBytes: 100, prelude: () => [INIT, new Uint8Array(500)] });
    out.start();
    const c = children[0]!;
    c.stalled = true;
    out.write(new Uint8Array(10), false); // backlog 504 ≤ 100 + 504
    out.write(new Uint8Array(10), false);
    expect(out.snapshot().droppedFragments).toBe(0);
    out.write(new Uint8Array(200), false); // but not beyond limit + prelude
    out.write(new Uint8Array(10), false);
    expect(out.snapshot().droppedFragments).toBe(1);
    const closing = out.close();
    await vi.advanceTimersByTimeAsync(2_000);
    await closing;
  });

  it('ignores writes while in backoff and never throws after ffmpeg is gone', async () => {
    const out = make();
    out.start();
    const c = children[0]!;
    c.exit(1);
    expect(() => out.write(new Uint8Array(10), true)).not.toThrow();
    await settle();
    expect(out.state).toBe('backoff');
    expect(() => out.write(new Uint8Array(10), true)).not.toThrow();
    expect(out.snapshot().bytesWritten).toBe(12);
    await out.close();
    expect(() => out.write(new Uint8Array(10), true)).not.toThrow();
  });

  it('turns stderr into masked log lines; progress lines are not logged; lastError is the last real error', async () => {
    const out = make();
    out.start();
    const c = children[0]!;
    c.say('[flv @ 0x5612] [warning] Failed to update header with correct duration.\n');
    c.say(`[tcp @ 0x5645] [error] Connection to tcp://a.rtmp.youtube.com:1935?tcp_nodelay=1 failed: Connection refused\n`);
    c.say(`[error] ${URL}: Connection refused\r\n`);
    c.say('[error] Conversion failed!\n');
    c.say('[warning] Guessed Channel Layout for Input Stream #0.1 : mono\n');
    c.progress(1);
    c.say('[rtmp @ 0x1] [error] Server error: stream key abcd-efgh-1234-wxyz ');
    c.say('is not valid\n');
    await settle();
    expect(out.snapshot().lastError).toBe('rtmp: Server error: stream key **** is not valid');
    // How ffmpeg 5.1 ends a failed start: a summary, then an empty error line.
    c.say('[error] Error initializing output stream 0:1 -- \n[error] \n');
    c.say('[error] Conversion failed!\n');
    c.exit(1);
    await settle();
    expect(out.snapshot().lastError).toBe('rtmp: Server error: stream key **** is not valid');
    const all = logs.join('\n');
    for (const s of SECRETS) expect(all).not.toContain(s);
    const ffmpegLines = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l['event'] === 'egress.ffmpeg');
    expect(ffmpegLines.filter((l) => l['level'] === 'warn').map((l) => l['line'])).toEqual([
      'flv: Failed to update header with correct duration.',
      'tcp: Connection to tcp://a.rtmp.youtube.com:1935?tcp_nodelay=1 failed: Connection refused',
      'rtmp://user:****@a.rtmp.youtube.com/live2/ab…yz: Connection refused',
      'Conversion failed!',
      'rtmp: Server error: stream key **** is not valid',
      // The empty "[error] " line after it is not logged.
      'Error initializing output stream 0:1 --',
      'Conversion failed!',
    ]);
    expect(ffmpegLines.some((l) => String(l['line']).includes('frame='))).toBe(false);
    // The spawn log shows the command with the URL masked.
    const spawn = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['event'] === 'egress.spawn');
    expect((spawn?.['args'] as string[]).at(-1)).toBe('rtmp://user:****@a.rtmp.youtube.com/live2/ab…yz');
    await out.close();
  });

  it('bounds stderr: a line without newline is cut at 8 KiB, and warn lines per run are capped', async () => {
    const out = make();
    out.start();
    const c = children[0]!;
    c.say('[error] ' + 'x'.repeat(20_000));
    for (let i = 0; i < 80; i++) c.say(`[error] packet ${i} broken\n`);
    await settle();
    const parsed = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    const warned = parsed.filter((l) => l['event'] === 'egress.ffmpeg' && l['level'] === 'warn');
    expect(warned.length).toBe(50);
    expect(Math.max(...parsed.map((l) => String(l['line'] ?? '').length))).toBeLessThanOrEqual(8 * 1024);
    expect(parsed.some((l) => l['event'] === 'egress.ffmpeg_log_limited')).toBe(true);
    expect(out.snapshot().lastError).toBe('packet 79 broken');
    await out.close();
  });

  it('close() ends stdin and waits for ffmpeg to exit by itself', async () => {
    const out = make();
    out.start();
    const c = children[0]!;
    const closing = out.close();
    await settle();
    await closing;
    expect(c.signals).toEqual([]);
    expect(out.state).toBe('stopped');
    expect(out.snapshot().pid).toBeUndefined();
  });

  it('close() sends SIGTERM after 2 s and SIGKILL after 2 s more, and is idempotent', async () => {
    const out = make();
    out.start();
    const c = children[0]!;
    c.exitOnEof = false;
    c.ignoreSigterm = true;
    const a = out.close();
    const b = out.close();
    expect(a).toBe(b);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(c.signals).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.signals).toEqual(['SIGTERM']);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(c.signals).toEqual(['SIGTERM', 'SIGKILL']);
    await a;
    expect(out.state).toBe('stopped');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() during backoff cancels the restart and leaves no timers', async () => {
    const out = make();
    out.start();
    children[0]!.exit(1);
    await settle();
    expect(out.state).toBe('backoff');
    expect(vi.getTimerCount()).toBe(1);
    await out.close();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(children).toHaveLength(1);
    expect(out.state).toBe('stopped');
  });

  it('close() before start() just stops', async () => {
    const out = make();
    await out.close();
    expect(out.state).toBe('stopped');
    expect(children).toHaveLength(0);
    expect(() => out.start()).toThrow(/already started/);
  });

  it('a missing ffmpeg binary is a terminal failure with the install command', async () => {
    const out = make({
      ffmpegPath: '/nonexistent/ffmpeg',
      spawn: () => {
        const c = new FakeChild([]);
        children.push(c);
        // execa reports ENOENT through the result, after the fact.
        (c as unknown as { exited: Promise<ExitInfo> }).exited = Promise.resolve({
          exitCode: undefined,
          signal: undefined,
          spawnError: 'ENOENT',
        });
        return c;
      },
    });
    out.start();
    await settle();
    expect(out.state).toBe('failed');
    expect(out.snapshot().lastError).toMatch(/install ffmpeg \(apt-get install -y ffmpeg\)/);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(children).toHaveLength(1);
    await out.close();
    expect(out.state).toBe('stopped');
  });

  it('a spawn function that throws is a failure too, never an exception out of start()', () => {
    const out = make({
      spawn: () => {
        throw new Error(`cannot run ${URL}`);
      },
    });
    expect(() => out.start()).not.toThrow();
    expect(out.state).toBe('failed');
    for (const s of SECRETS) expect(out.snapshot().lastError).not.toContain(s);
  });
});

describe('parseFfmpegLogLine', () => {
  it.each([
    ['[tcp @ 0x55d1c0a3] [error] Connection refused', { context: 'tcp', level: 'error', message: 'Connection refused' }],
    ['[error] rtmp://h/a/****: Connection refused', { context: undefined, level: 'error', message: 'rtmp://h/a/****: Connection refused' }],
    [
      '[mov,mp4,m4a,3gp,3g2,mj2 @ 0x1] [warning] moov atom not found',
      { context: 'mov,mp4,m4a,3gp,3g2,mj2', level: 'warning', message: 'moov atom not found' },
    ],
    ['Consider increasing the value', { context: undefined, level: undefined, message: 'Consider increasing the value' }],
  ])('%s', (line, parsed) => {
    expect(parseFfmpegLogLine(line)).toEqual(parsed);
  });
});
