// One fuzz run, for the bench:fuzz program and for its test: a relay in this process (test/support/relay.ts, port 0,
// no page build), a real ffmpeg publishing a live stream for the RTSP players' captures to reach, the RTSP fuzzer, the
// WebSocket fuzzer, then the checks that the relay is still whole: OPTIONS answered, a real ffmpeg player decodes the
// live stream, a new ffmpeg publisher reaches a new ffmpeg player, a well-behaved page's hello is accepted.
//
// The relay runs in process so that a crash is this process's uncaught exception, caught and reported here with its
// stack (a child would just vanish), and so that the relay's own error-level logs can be read.
import { execa } from 'execa';
import { startTestRelay, publish, stopProcess, waitLive, type Publisher, type TestRelay } from '../test/support/relay.ts';
import { RtspTestClient } from '../test/support/rtsp-client.ts';
import { ffmpegPath } from '../test/support/ffmpeg.ts';
import { loadPublisherMedia, WsPublisher } from '../test/support/ws-publisher.ts';
import { fuzzRtsp, type RtspFuzzResult } from './fuzz-rtsp.ts';
import { wsMaterial } from './fuzz-ws-inputs.ts';
import { fuzzWs, type WsFuzzResult } from './fuzz-ws.ts';
import { machine } from './proc.ts';

export const LIVE_STREAM = 'fuzz-live';

export interface FuzzRunOptions {
  /** Cases per fuzzer. */
  requests: number;
  seed: number;
  rtspConcurrency?: number;
  wsConcurrency?: number;
  /** Replay only these cases (the indices a previous run printed). */
  only?: { rtsp?: number[]; ws?: number[] };
  log?: (line: string) => void;
}

export interface PlayerCheck {
  ok: boolean;
  /** What ffmpeg printed at -v error (empty when it decoded cleanly). */
  stderr: string;
  ms: number;
}

export interface FuzzReport {
  bench: 'fuzz';
  machine: ReturnType<typeof machine>;
  settings: { requests: number; seed: number; rtspConcurrency: number; wsConcurrency: number; relay: string; replay: string };
  rtsp: RtspFuzzResult;
  ws: WsFuzzResult;
  relay: {
    /** Uncaught exceptions and unhandled rejections in this process while the relay ran (the relay's crashes). */
    crashes: string[];
    /** The relay's error-level log lines (a handler that threw, an internal error). */
    errors: Array<Record<string, unknown>>;
    /** Warning log lines by event. */
    warnings: Record<string, number>;
  };
  afterwards: {
    optionsStatus: number | null;
    livePublisherStillRunning: boolean;
    ffmpegPlaysLiveStream: PlayerCheck;
    newFfmpegPublisherToPlayer: PlayerCheck;
    pagePublisherAccepted: boolean;
  };
  timing: { totalMs: number; setupMs: number; rtspMs: number; wsMs: number; checksMs: number };
}

export async function runFuzz(o: FuzzRunOptions): Promise<FuzzReport> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const crashes: string[] = [];
  const onCrash = (err: unknown) => crashes.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  const rtspConcurrency = o.rtspConcurrency ?? 32;
  const wsConcurrency = o.wsConcurrency ?? 16;
  // Every case may publish under a name of its own: room for them all, and for every player.
  const flags = ['--max-publishers', '2000', '--max-clients', '5000'];
  let relay: TestRelay | undefined;
  let live: Publisher | undefined;
  let after: Publisher | undefined;
  const warnings: Record<string, number> = {};
  const errors: Array<Record<string, unknown>> = [];
  // The in-process relay logs at debug into an array: fold it into counts as it goes so 10,000 cases stay small.
  const drainLogs = () => {
    if (!relay) return;
    for (const l of relay.logs) {
      if (l['level'] === 'error' && errors.length < 100) errors.push(l);
      else if (l['level'] === 'warn') warnings[String(l['event'])] = (warnings[String(l['event'])] ?? 0) + 1;
    }
    relay.logs.length = 0;
  };
  try {
    const [media, started] = await Promise.all([loadPublisherMedia(), startTestRelay(flags)]);
    relay = started;
    live = publish({ url: relay.url(LIVE_STREAM), audio: 'opus', gop: 30 });
    await waitLive(relay.relay, LIVE_STREAM, 20_000);
    const setupMs = performance.now() - t0;
    log(`relay on rtsp ${relay.rtspPort} / http ${relay.relay.http.port()}, ${LIVE_STREAM} live; ${o.requests} RTSP cases...`);

    const rtsp = await fuzzRtsp({
      port: relay.rtspPort,
      liveStream: LIVE_STREAM,
      requests: o.requests,
      seed: o.seed,
      concurrency: rtspConcurrency,
      ...(o.only?.rtsp ? { only: o.only.rtsp } : {}),
      onProgress: (n) => {
        if (n % 500 === 0) {
          drainLogs();
          log(`  rtsp ${n}`);
        }
      },
    });
    drainLogs();
    log(`${o.requests} WebSocket cases...`);
    const ws = await fuzzWs({
      httpPort: relay.relay.http.port(),
      material: wsMaterial(media),
      requests: o.requests,
      seed: o.seed,
      concurrency: wsConcurrency,
      ...(o.only?.ws ? { only: o.only.ws } : {}),
      onProgress: (n) => {
        if (n % 500 === 0) {
          drainLogs();
          log(`  ws ${n}`);
        }
      },
    });
    drainLogs();

    log('checking the relay still serves...');
    const c0 = performance.now();
    const optionsStatus = await options(relay.url(LIVE_STREAM));
    const livePublisherStillRunning = live.exitCode === null;
    const ffmpegPlaysLiveStream = await playFrames(relay.url(LIVE_STREAM));
    after = publish({ url: relay.url('fuzz-after'), audio: 'opus', gop: 30 });
    let newFfmpegPublisherToPlayer: PlayerCheck;
    try {
      await waitLive(relay.relay, 'fuzz-after', 20_000);
      newFfmpegPublisherToPlayer = await playFrames(relay.url('fuzz-after'));
    } catch (err) {
      newFfmpegPublisherToPlayer = { ok: false, stderr: err instanceof Error ? err.message : String(err), ms: 0 };
    }
    const page = new WsPublisher({ port: relay.relay.http.port(), stream: 'fuzz-after-ws', media });
    const pagePublisherAccepted = (await page.connect()).kind === 'accepted';
    await page.dispose();
    const checksMs = performance.now() - c0;
    drainLogs();
    return {
      bench: 'fuzz',
      machine: machine(),
      settings: {
        requests: o.requests,
        seed: o.seed,
        rtspConcurrency,
        wsConcurrency,
        relay: `in process (startRelay, port 0, no page build) ${flags.join(' ')}; ${LIVE_STREAM} published by ffmpeg (640x360 x264 + Opus over RTSP/TCP)`,
        replay: `npm run bench:fuzz -- --requests ${o.requests} --seed ${o.seed} --only rtsp:I,J or ws:I,J`,
      },
      rtsp,
      ws,
      relay: { crashes, errors, warnings },
      afterwards: { optionsStatus, livePublisherStillRunning, ffmpegPlaysLiveStream, newFfmpegPublisherToPlayer, pagePublisherAccepted },
      timing: { totalMs: Math.round(performance.now() - t0), setupMs: Math.round(setupMs), rtspMs: rtsp.ms, wsMs: ws.ms, checksMs: Math.round(checksMs) },
    };
  } finally {
    if (live) await stopProcess(live);
    if (after) await stopProcess(after);
    await relay?.close();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  }
}

/** No crash, and every check afterwards passed. */
export function healthy(r: FuzzReport): boolean {
  const a = r.afterwards;
  return r.relay.crashes.length === 0 && a.optionsStatus === 200 && a.livePublisherStillRunning && a.ffmpegPlaysLiveStream.ok && a.newFfmpegPublisherToPlayer.ok && a.pagePublisherAccepted;
}

async function options(url: string): Promise<number | null> {
  try {
    const c = await RtspTestClient.connect(url);
    try {
      const r = await Promise.race([c.request('OPTIONS', url), new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      return r?.status ?? null;
    } finally {
      await c.close();
    }
  } catch {
    return null;
  }
}

/** A real ffmpeg player: DESCRIBE, SETUP, PLAY over TCP, and 30 decoded frames with nothing at -v error. */
async function playFrames(url: string): Promise<PlayerCheck> {
  const t = performance.now();
  const r = await execa(ffmpegPath(), ['-hide_banner', '-v', 'error', '-rtsp_transport', 'tcp', '-i', url, '-frames:v', '30', '-f', 'null', '-'], { reject: false, timeout: 20_000, stdin: 'ignore' });
  const stderr = String(r.stderr).trim();
  return { ok: r.exitCode === 0 && stderr === '', stderr: stderr.slice(0, 1000), ms: Math.round(performance.now() - t) };
}
