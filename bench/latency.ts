// npm run bench:latency [-- --seconds 20 --warmup 5 --preset 720p --fps 30]
//
// Glass-to-glass latency on loopback: the publisher page in headless Chromium draws Date.now() into every frame
// (source=clock, shared/clock-pattern.ts), encodes it with WebCodecs and uploads it to the relay (its own process);
// an ffmpeg RTSP player set for minimal delay decodes the stream to 8-bit grey, and each frame's time is read back
// the moment its last byte arrives: latency = Date.now() - drawn time (one machine, one clock).
//
// Prints one JSON object on stdout and a table on stderr.
import { execa } from 'execa';
import type { Browser } from 'playwright-core';
import { CLOCK_BLOCK, CLOCK_WIDTH, decodeClock } from '../shared/clock-pattern.ts';
import { launchChromium, openPage, waitReady, waitState, type OpenedPage } from '../test/support/browser.ts';
import { machine, systemTicks, treeCpuSeconds } from './proc.ts';
import { Interrupt } from './interrupt.ts';
import { latencySummary, pageBenchSettings } from './page-bench.ts';
import { startRelayProcess, type RelayProcess } from './relay-process.ts';

const { seconds, warmup, fps, preset, width, height } = pageBenchSettings('latency');
const STREAM = 'latency';
// Only the rows holding the pattern go through the pipe: the block row scaled to the frame, rounded up to even.
const rows = Math.min(height, 2 * Math.ceil((CLOCK_BLOCK * (width / CLOCK_WIDTH)) / 2) + 2);

const log = (s: string) => process.stderr.write(`${s}\n`);

let relay: RelayProcess | undefined;
let browser: Browser | undefined;
let opened: OpenedPage | undefined;
let reader: ReturnType<typeof startReader> | undefined;
let exitCode = 0;
const interrupt = new Interrupt();
const sleep = (ms: number) => interrupt.sleep(ms);

function startReader(url: string) {
  // Minimal-delay player: no input buffering (-fflags nobuffer), decoder without frame threads (-flags low_delay
  // turns frame threading off in libavcodec, which would hold thread_count frames), no probing beyond what the SDP
  // says, every frame passed through as it is decoded (-fps_mode passthrough: rawvideo would otherwise duplicate or
  // drop frames to a constant rate) and flushed to the pipe at once (-flush_packets 1: no 32 KB avio buffering).
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    '-rtsp_transport', 'tcp', '-fflags', 'nobuffer', '-flags', 'low_delay', '-probesize', '32', '-analyzeduration', '0',
    '-i', url,
    '-map', '0:v:0', '-vf', `crop=${width}:${rows}:0:0`, '-fps_mode', 'passthrough',
    '-pix_fmt', 'gray', '-f', 'rawvideo', '-flush_packets', '1', 'pipe:1',
  ];
  return execa('ffmpeg', args, { reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, cleanup: true });
}

try {
  relay = await startRelayProcess([]);
  const page = `http://127.0.0.1:${relay.httpPort}/?stream=${STREAM}&source=clock&audio=none&preset=${preset}&fps=${fps}`;
  log(`relay up; opening ${page} in headless Chromium...`);
  browser = await launchChromium();
  opened = await openPage(browser, relay.httpPort, `/?stream=${STREAM}&source=clock&audio=none&preset=${preset}&fps=${fps}`);
  await waitReady(opened.page, 30_000);
  const clickedAt = Date.now();
  await opened.page.getByRole('button', { name: /Go live/ }).click();
  await waitState(opened.page, 'live', 30_000);
  const liveAfterMs = Date.now() - clickedAt;
  log(`page live after ${liveAfterMs} ms; starting the RTSP reader...`);

  const frameBytes = width * rows;
  const samples: number[] = [];
  let frames = 0;
  let undecodable = 0;
  let windowFrames = 0;
  let windowUndecodable = 0;
  let firstFrameAt = 0;
  let measureFrom = 0;
  let measureUntil = 0;
  const url = `rtsp://127.0.0.1:${relay.rtspPort}/${STREAM}`;
  let readerErr = '';
  const attachReader = (): NonNullable<typeof reader> => {
    const r = startReader(url);
    r.stderr.on('data', (c: Buffer) => {
      if (readerErr.length < 10_000) readerErr += c.toString();
    });
    let pending: Buffer = Buffer.alloc(0);
    r.stdout.on('data', (chunk: Buffer) => {
      const now = Date.now();
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (pending.length >= frameBytes) {
        const frame = pending.subarray(0, frameBytes);
        pending = pending.subarray(frameBytes);
        frames++;
        if (now >= measureFrom && now < measureUntil) windowFrames++;
        const t = decodeClock(frame, width, 40);
        if (t === undefined) {
          undecodable++;
          if (now >= measureFrom && now < measureUntil) windowUndecodable++;
          continue;
        }
        if (firstFrameAt === 0) {
          firstFrameAt = now;
          measureFrom = now + warmup * 1000;
          measureUntil = measureFrom + seconds * 1000;
        }
        if (now >= measureFrom && now < measureUntil) samples.push(now - t);
      }
    });
    return r;
  };
  // "live" on the page means the relay accepted the socket; the stream reaches the RTSP relay with the init segment a
  // moment later, and until then the reader gets 404 and exits: start it again until frames come.
  const readerDeadline = Date.now() + 20_000;
  reader = attachReader();
  while (firstFrameAt === 0) {
    if (reader.exitCode !== null) {
      if (Date.now() > readerDeadline) throw new Error(`the RTSP reader decoded no clock frame within 20 s: ${readerErr.slice(-2000)}`);
      readerErr = '';
      await sleep(200);
      reader = attachReader();
    }
    if (Date.now() > readerDeadline + 5000) throw new Error(`the RTSP reader decoded no clock frame within 25 s: ${readerErr.slice(-2000)}`);
    await sleep(50);
  }
  log(`first frame ${firstFrameAt - clickedAt} ms after Go live; warming up ${warmup} s, then measuring ${seconds} s...`);
  await sleep(Math.max(0, measureFrom - Date.now()));
  const cpu0 = treeCpuSeconds(relay.pid).total;
  const sys0 = systemTicks();
  while (Date.now() < measureUntil) {
    interrupt.check();
    if (reader.exitCode !== null) throw new Error(`the RTSP reader exited during the measurement: ${readerErr.slice(-2000)}`);
    await sleep(200);
  }
  const relayCpu = ((treeCpuSeconds(relay.pid).total - cpu0) / seconds) * 100;
  const sys1 = systemTicks();
  const pageState = await opened.page.getAttribute('[data-testid="status"]', 'data-state');
  if (samples.length === 0) throw new Error('no frame could be read in the measurement window');

  const latency = latencySummary(samples);
  const result = {
    bench: 'latency',
    machine: machine(),
    settings: {
      page: `/?stream=${STREAM}&source=clock&audio=none&preset=${preset}&fps=${fps}`,
      video: `${width}x${height}@${fps}, WebCodecs H.264 in headless Chromium (/usr/bin/chromium, --disable-gpu), clock pattern source`,
      path: 'page → WebSocket (fMP4, one fragment per frame) → relay → ffmpeg -c copy → built-in RTSP relay → ffmpeg RTSP/TCP player',
      reader: 'ffmpeg -rtsp_transport tcp -fflags nobuffer -flags low_delay -probesize 32 -analyzeduration 0 … -fps_mode passthrough -pix_fmt gray -f rawvideo -flush_packets 1',
      warmupSeconds: warmup,
      seconds,
      transport: 'loopback (127.0.0.1)',
      ffmpeg: (await execa('ffmpeg', ['-version'])).stdout.split('\n')[0] ?? '',
      chromium: browser.version(),
    },
    latencyMs: latency,
    frames: {
      decodedInWindow: windowFrames,
      fpsInWindow: Math.round((windowFrames / seconds) * 10) / 10,
      undecodableClockInWindow: windowUndecodable,
      decodedTotal: frames,
      undecodableClockTotal: undecodable,
    },
    startup: { liveAfterGoLiveMs: liveAfterMs, firstFrameAfterGoLiveMs: firstFrameAt - clickedAt },
    relayCpuPercentOfOneCore: Math.round(relayCpu * 10) / 10,
    machineBusyPercent: Math.round(((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * 1000) / 10,
    pageStateAtEnd: pageState,
    pageErrors: opened.errors.slice(0, 10),
    targets: { p50: 120, p95: 200 },
    met: { p50: latency.p50 <= 120, p95: latency.p95 <= 200 },
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  log('');
  log(`  ${result.settings.video}; ${machine().cpus} cores; machine busy ${result.machineBusyPercent}%`);
  log('  latency (ms)    p50    p95    p99    max   samples   fps');
  log(`  glass→glass  ${[latency.p50, latency.p95, latency.p99, latency.max].map((v) => String(v).padStart(6)).join(' ')}   ${String(latency.samples).padStart(7)}   ${result.frames.fpsInWindow}`);
  log(`  targets: p50 ≤ 120 ms ${result.met.p50 ? 'met' : 'NOT met'}, p95 ≤ 200 ms ${result.met.p95 ? 'met' : 'NOT met'}`);
} catch (err) {
  exitCode = 1;
  log(`bench:latency failed: ${err instanceof Error ? err.message : String(err)}`);
  if (opened?.errors.length) log(`page errors:\n${opened.errors.join('\n')}`);
  if (relay) log(`relay log (tail):\n${relay.log().slice(-3000)}`);
} finally {
  if (reader && reader.exitCode === null && reader.pid !== undefined) {
    reader.kill('SIGKILL');
    await reader;
  }
  await opened?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await relay?.stop().catch(() => undefined);
}
process.exit(exitCode);
