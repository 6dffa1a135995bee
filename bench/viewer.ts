// npm run bench:viewer [-- --seconds 20 --warmup 5 --preset 720p --fps 30]
//
// Glass-to-glass latency of the viewer page on loopback: the publisher page in headless Chromium draws Date.now() into
// every frame (source=clock, shared/clock-pattern.ts) and uploads it to the relay (its own process); the viewer page
// (/watch/NAME) in another page of the same browser decodes it with WebCodecs onto its canvas, and each frame it draws
// is read back from that canvas: latency = Date.now() when read − the time drawn into it (one machine, one clock).
// The read happens on the viewer's next animation frame after the draw, so it adds up to one display frame (~16 ms).
//
// Prints one JSON object on stdout and a table on stderr.
import type { Browser } from 'playwright-core';
import { CLOCK_BITS, clockBlockRect, decodeClock } from '../shared/clock-pattern.ts';
import { launchChromium, openPage, waitReady, waitState, type OpenedPage } from '../test/support/browser.ts';
import { Interrupt } from './interrupt.ts';
import { machine, systemTicks, treeCpuSeconds } from './proc.ts';
import { latencySummary, pageBenchSettings } from './page-bench.ts';
import { startRelayProcess, type RelayProcess } from './relay-process.ts';

const { seconds, warmup, fps, preset, width, height } = pageBenchSettings('viewer');
const TARGETS = { p50: 100, p95: 150 };
const STREAM = 'viewerbench';
/** The centre of each clock block on the decoded picture: all decodeClock() reads of a frame. */
const centers = Array.from({ length: CLOCK_BITS }, (_, i) => {
  const r = clockBlockRect(i, width);
  return [Math.floor(r.x + r.size / 2), Math.floor(r.y + r.size / 2)] as const;
});
const band = Math.max(...centers.map(([, y]) => y)) + 1;

const log = (s: string) => process.stderr.write(`${s}\n`);

/** One frame the viewer drew: when it was read (ms since 1970) and the grey level at each block centre. */
type Read = [at: number, ...grey: number[]];

let relay: RelayProcess | undefined;
let browser: Browser | undefined;
let publisher: OpenedPage | undefined;
let viewer: OpenedPage | undefined;
let exitCode = 0;
const interrupt = new Interrupt();
const sleep = (ms: number) => interrupt.sleep(ms);

/** The time a frame shows, from its block centres, as decodeClock() reads a grey frame (unsure blocks: undefined). */
function clockOf(grey: readonly number[]): number | undefined {
  const frame = new Uint8Array(width * band);
  centers.forEach(([x, y], i) => (frame[y * width + x] = grey[i] ?? 0));
  return decodeClock(frame, width, 40);
}

try {
  relay = await startRelayProcess([]);
  browser = await launchChromium();
  const page = `/?stream=${STREAM}&source=clock&audio=none&preset=${preset}&fps=${fps}`;
  log(`relay up; opening ${page} and /watch/${STREAM} in headless Chromium...`);
  [publisher, viewer] = await Promise.all([openPage(browser, relay.httpPort, page), openPage(browser, relay.httpPort, `/watch/${STREAM}`)]);
  await waitReady(publisher.page, 30_000);
  const clickedAt = Date.now();
  await publisher.page.getByRole('button', { name: /Go live/ }).click();
  await waitState(publisher.page, 'live', 30_000);
  await viewer.page.waitForSelector('[data-testid="viewer-status"][data-state="playing"]', { timeout: 30_000 });
  const playingAfterMs = Date.now() - clickedAt;
  log(`viewer playing ${playingAfterMs} ms after Go live; reading its canvas...`);

  // Each animation frame in which the viewer has drawn a new frame, read the clock blocks off its largest canvas. A
  // string, not a function: tsx would wrap a function's inner closures in a helper the page does not have.
  await viewer.page.evaluate(`(() => {
    const centers = ${JSON.stringify(centers)};
    const band = ${band};
    window.__clockReads = [];
    const canvas = [...document.querySelectorAll('canvas')].sort((a, b) => b.clientWidth * b.clientHeight - a.clientWidth * a.clientHeight)[0];
    const ctx = canvas.getContext('2d');
    let last = -1;
    const tick = () => {
      const drawn = window.__viewerStats.videoDrawn;
      if (drawn !== last) {
        last = drawn;
        const at = Date.now();
        const px = ctx.getImageData(0, 0, canvas.width, band).data;
        window.__clockReads.push([at, ...centers.map(([x, y]) => {
          const i = (y * canvas.width + x) * 4;
          return Math.round((px[i] * 299 + px[i + 1] * 587 + px[i + 2] * 114) / 1000);
        })]);
      }
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`);
  const take = (): Promise<Read[]> => viewer!.page.evaluate(() => (window as unknown as { __clockReads: Read[] }).__clockReads.splice(0));

  await sleep(warmup * 1000);
  await take();
  const stats0 = (await viewer.page.evaluate(() => (window as unknown as { __viewerStats: { videoDrawn: number; videoDropped: number } }).__viewerStats));
  const cpu0 = treeCpuSeconds(relay.pid).total;
  const sys0 = systemTicks();
  const until = Date.now() + seconds * 1000;
  const samples: number[] = [];
  let reads = 0;
  let unreadable = 0;
  while (Date.now() < until) {
    await sleep(500);
    for (const [at, ...grey] of await take()) {
      reads++;
      const shown = clockOf(grey);
      if (shown === undefined) unreadable++;
      else samples.push(at - shown);
    }
  }
  const relayCpu = ((treeCpuSeconds(relay.pid).total - cpu0) / seconds) * 100;
  const sys1 = systemTicks();
  const stats1 = (await viewer.page.evaluate(() => (window as unknown as { __viewerStats: { videoDrawn: number; videoDropped: number; state: string } }).__viewerStats));
  if (samples.length === 0) throw new Error(`no frame drawn by the viewer showed a readable clock (${reads} frames read)`);

  const latency = latencySummary(samples);
  const result = {
    bench: 'viewer',
    machine: machine(),
    settings: {
      publisher: page,
      viewer: `/watch/${STREAM}`,
      video: `${width}x${height}@${fps}, WebCodecs H.264 in headless Chromium (/usr/bin/chromium, --disable-gpu), clock pattern source`,
      path: 'page → WebSocket (fMP4, one fragment per frame) → relay hub → viewer WebSocket (fMP4) → WebCodecs VideoDecoder → canvas',
      measure: 'Date.now() on the viewer\'s first animation frame after each draw − the clock drawn into that frame (adds ≤ one display frame)',
      warmupSeconds: warmup,
      seconds,
      transport: 'loopback (127.0.0.1)',
      chromium: browser.version(),
    },
    latencyMs: latency,
    frames: {
      readInWindow: reads,
      drawnFpsInWindow: Math.round(((stats1.videoDrawn - stats0.videoDrawn) / seconds) * 10) / 10,
      droppedInWindow: stats1.videoDropped - stats0.videoDropped,
      unreadableClockInWindow: unreadable,
    },
    startup: { playingAfterGoLiveMs: playingAfterMs },
    relayCpuPercentOfOneCore: Math.round(relayCpu * 10) / 10,
    machineBusyPercent: Math.round(((sys1.busy - sys0.busy) / (sys1.total - sys0.total)) * 1000) / 10,
    viewerStateAtEnd: stats1.state,
    pageErrors: [...publisher.errors, ...viewer.errors].slice(0, 10),
    targets: TARGETS,
    met: { p50: latency.p50 <= TARGETS.p50, p95: latency.p95 <= TARGETS.p95 },
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  log('');
  log(`  ${result.settings.video}; ${machine().cpus} cores; machine busy ${result.machineBusyPercent}%`);
  log('  latency (ms)        p50    p95    p99    max   samples   drawn fps');
  log(`  page → viewer   ${[latency.p50, latency.p95, latency.p99, latency.max].map((v) => String(v).padStart(6)).join(' ')}   ${String(latency.samples).padStart(7)}   ${result.frames.drawnFpsInWindow}`);
  log(`  targets: p50 ≤ ${TARGETS.p50} ms ${result.met.p50 ? 'met' : 'NOT met'}, p95 ≤ ${TARGETS.p95} ms ${result.met.p95 ? 'met' : 'NOT met'}`);
} catch (err) {
  exitCode = 1;
  log(`bench:viewer failed: ${err instanceof Error ? err.message : String(err)}`);
  for (const p of [publisher, viewer]) if (p?.errors.length) log(`page errors:\n${p.errors.join('\n')}`);
  if (relay) log(`relay log (tail):\n${relay.log().slice(-3000)}`);
} finally {
  await viewer?.close().catch(() => undefined);
  await publisher?.close().catch(() => undefined);
  await browser?.close().catch(() => undefined);
  await relay?.stop().catch(() => undefined);
}
process.exit(exitCode);
