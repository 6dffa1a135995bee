// npm run bench:soak [-- --minutes 60 --readers 50 --reconnecting 5 --reconnect-every 10 --sample-every 10
//                       --bitrate 2500k --heap-snapshots]
//
// Does the relay hold steady for an hour? One browser-style publisher (the page's WebSocket protocol, a 720p30 H.264 +
// Opus clip replayed in real time, one moof+mdat per frame: bench/ws-publisher.ts) into a relay running as its own
// process (bench/relay-process.ts, `npm run server`'s Node flags), 50 RTSP/TCP readers that stay the whole run and 5 that
// hang up and come back every 10 s. Every 10 s: the relay's RSS (from /proc) and its V8 heap (from bench/soak-probe.ts,
// preloaded into the relay). Prints one JSON object: the samples, RSS and heap growth after a warm-up of min(5 min, N/4)
// (end minus warm-up, and a least-squares slope), and each steady reader's bytes as a fraction of the most any got.
//
// --heap-snapshots: two V8 heap snapshots of the relay, at the end of the warm-up and at the end, kept in a temp dir
// whose path the JSON gives; compare them with `npx tsx bench/heap-diff.ts A B`.
//
// Ctrl-C stops the run early: what was measured is still printed, and the relay (by PID) and every socket are closed.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { RtspStatusError, RtspTestClient } from '../test/support/rtsp-client.ts';
import { buildClip } from './clip.ts';
import { Interrupt } from './interrupt.ts';
import { machine, median, rssBytes, rssParts } from './proc.ts';
import { serverNodeFlags, startRelayProcess, type RelayProcess } from './relay-process.ts';
import type { ProbeSample } from './soak-probe.ts';
import { ClipPublisher } from './ws-publisher.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    readers: { type: 'string', default: '50' },
    reconnecting: { type: 'string', default: '5' },
    'reconnect-every': { type: 'string', default: '10' },
    'sample-every': { type: 'string', default: '10' },
    bitrate: { type: 'string', default: '2500k' },
    'heap-snapshots': { type: 'boolean', default: false },
  },
});
const minutes = positive(values.minutes, '--minutes');
const steadyCount = whole(values.readers, '--readers');
const reconnectingCount = whole(values.reconnecting, '--reconnecting');
const reconnectEvery = positive(values['reconnect-every'], '--reconnect-every');
const sampleEvery = positive(values['sample-every'], '--sample-every');
const warmupSeconds = Math.min(300, (minutes * 60) / 4);
const STREAM = 'soak';
const FPS = 30;

const log = (s: string) => process.stderr.write(`${s}\n`);
const interrupt = new Interrupt();
const dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-soak-'));
const snapshotDir = values['heap-snapshots'] ? mkdtempSync(path.join(os.tmpdir(), 'relaycast-soak-heap-')) : undefined;
const probeFile = path.join(dir, 'probe.json');

interface Sample {
  /** Seconds since the readers were attached. */
  t: number;
  rssMiB: number;
  heapUsedMiB: number | null;
  heapTotalMiB: number | null;
  externalMiB: number | null;
  arrayBuffersMiB: number | null;
  /** Resident anonymous memory (everything but mapped files: V8's heap, malloc, stacks). */
  rssAnonMiB: number;
  /** Resident V8 heap, all spaces. */
  v8ResidentMiB: number | null;
  /** Native memory: resident anonymous minus V8's heap (malloc arenas: Node, libuv, V8's own malloc, Buffers). */
  nativeMiB: number | null;
  /** Resident bytes of each V8 space, MiB. */
  spacesMiB: Record<string, number> | null;
  /** Bytes all steady readers had received, MiB. */
  steadyMiB: number;
  reconnects: number;
}

let relay: RelayProcess | undefined;
let publisher: ClipPublisher | undefined;
let pump: NodeJS.Timeout | undefined;
const steady: RtspTestClient[] = [];
const steadyClosed = new Set<number>();
const cycling = new Set<RtspTestClient>();
let stopping = false;
/** Wakes the reconnecting readers' sleeps when the run stops. */
const halt = new AbortController();
let exitCode = 0;
const reconnect = { cycles: 0, failures: 0, lastError: '' };
const samples: Sample[] = [];
const snapshots: Array<{ at: string; t: number; file: string }> = [];

try {
  log(`encoding the clip (1280x720@${FPS}, ${values.bitrate}bit/s)...`);
  const clip = await buildClip({ dir, width: 1280, height: 720, fps: FPS, seconds: 10, videoBitrate: values.bitrate, audioBitrate: '64k' });
  interrupt.check();
  relay = await startRelayProcess(['--max-clients', String(steadyCount + reconnectingCount + 50)], {
    nodeFlags: ['--import', fileURLToPath(new URL('./soak-probe.ts', import.meta.url))],
    env: { RELAYCAST_PROBE_FILE: probeFile, ...(snapshotDir ? { RELAYCAST_PROBE_SNAPSHOT_DIR: snapshotDir } : {}) },
  });
  const url = `rtsp://127.0.0.1:${relay.rtspPort}/${STREAM}`;
  publisher = new ClipPublisher({ httpPort: relay.httpPort, stream: STREAM, clip });
  await publisher.start();
  const pub = publisher;
  pump = setInterval(() => pub.pump(), 4);

  log(`attaching ${steadyCount} steady readers...`);
  for (let i = 0; i < steadyCount; i++) {
    const c = await attach(url);
    steady.push(c);
    void c.closed.then(() => {
      if (!stopping) steadyClosed.add(i);
    });
  }
  // The last reader's keyframe-group burst (up to a GOP at once) must land before the counts start, or it alone
  // would count it inside the window.
  await interrupt.sleep(3000);
  const start = steady.map((c) => c.totalBytes);
  const t0 = performance.now();
  // Reconnecting readers, staggered so one hangs up every reconnectEvery/reconnectingCount seconds.
  const loops = Array.from({ length: reconnectingCount }, (_, k) => cycle(url, (k * reconnectEvery * 1000) / Math.max(1, reconnectingCount)));

  log(`soaking ${minutes} min (warm-up ${warmupSeconds} s), sampling every ${sampleEvery} s...`);
  const end = t0 + minutes * 60_000;
  let warmupSnapshot = false;
  try {
    for (let next = t0; next <= end + 1; next += sampleEvery * 1000) {
      await interrupt.sleep(Math.max(0, next - performance.now()));
      samples.push(sample(relay.pid, (performance.now() - t0) / 1000, start));
      const last = samples[samples.length - 1]!;
      if (samples.length % 6 === 1) log(`  ${fmtTime(last.t)}  RSS ${last.rssMiB} MiB (V8 ${last.v8ResidentMiB ?? "?"}, native ${last.nativeMiB ?? "?"})  heap ${last.heapUsedMiB ?? '?'} MiB  reconnects ${reconnect.cycles}`);
      if (snapshotDir && !warmupSnapshot && last.t >= warmupSeconds) {
        warmupSnapshot = true;
        snapshots.push({ at: 'warm-up end', t: last.t, file: await snapshot(relay.pid, snapshotDir, 1) });
      }
    }
    if (snapshotDir) snapshots.push({ at: 'end', t: (performance.now() - t0) / 1000, file: await snapshot(relay.pid, snapshotDir, snapshots.length + 1) });
  } catch (err) {
    if (!interrupt.signal) throw err;
    exitCode = 130;
    log('interrupted: reporting what was measured so far');
  }
  // Stop the publisher and let what is in flight arrive, so every reader's count ends at the same frame.
  publisher.pause();
  await delay(2000);
  stopping = true;
  halt.abort();
  const got = steady.map((c, i) => c.totalBytes - (start[i] ?? 0));
  const api = await streamDrops(relay.httpPort);
  await Promise.allSettled(loops.map((l) => l.catch(() => undefined)));
  report(got, api, publisher);
} catch (err) {
  exitCode = exitCode || 1;
  log(`bench:soak failed: ${err instanceof Error ? err.message : String(err)}`);
  if (relay) log(`relay log (tail):\n${relay.log().slice(-3000)}`);
} finally {
  stopping = true;
  halt.abort();
  if (pump) clearInterval(pump);
  await Promise.allSettled([...steady, ...cycling].map((c) => c.close()));
  await publisher?.close().catch(() => undefined);
  await relay?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);

/** DESCRIBE until the stream is live (the publisher may still be starting), then PLAY over TCP, counting bytes only. */
async function attach(url: string, timeoutMs = 20_000): Promise<RtspTestClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = await RtspTestClient.connect(url);
    try {
      await c.play({ transport: 'tcp', countOnly: true });
      return c;
    } catch (err) {
      await c.close();
      if (!(err instanceof RtspStatusError) || Date.now() > deadline) throw err;
      await interrupt.sleep(200);
    }
  }
}

/** One reconnecting reader: play for reconnectEvery seconds, hang up, play again, until the run stops. */
async function cycle(url: string, offsetMs: number): Promise<void> {
  const sleep = (ms: number) => delay(ms, undefined, { signal: halt.signal }).catch(() => undefined);
  await sleep(offsetMs);
  while (!stopping && !interrupt.signal) {
    let c: RtspTestClient | undefined;
    try {
      c = await RtspTestClient.connect(url);
      cycling.add(c);
      await c.play({ transport: 'tcp', countOnly: true });
      reconnect.cycles++;
    } catch (err) {
      reconnect.failures++;
      reconnect.lastError = err instanceof Error ? err.message : String(err);
    }
    await sleep(reconnectEvery * 1000);
    if (c) {
      await c.close();
      cycling.delete(c);
    }
  }
}

function sample(pid: number, t: number, start: number[]): Sample {
  const probe = readProbe();
  const mib = (b: number | undefined) => (b === undefined ? null : round(b / 1048576, 2));
  const parts = rssParts(pid);
  return {
    t: round(t, 1),
    rssMiB: round(rssBytes(pid) / 1048576, 2),
    rssAnonMiB: round(parts.anon / 1048576, 2),
    v8ResidentMiB: mib(probe?.v8Physical),
    nativeMiB: probe ? round((parts.anon - probe.v8Physical) / 1048576, 2) : null,
    spacesMiB: probe ? Object.fromEntries(Object.entries(probe.spaces).map(([k, v]) => [k, round(v / 1048576, 2)])) : null,
    heapUsedMiB: mib(probe?.heapUsed),
    heapTotalMiB: mib(probe?.heapTotal),
    externalMiB: mib(probe?.external),
    arrayBuffersMiB: mib(probe?.arrayBuffers),
    steadyMiB: round(steady.reduce((n, c, i) => n + c.totalBytes - (start[i] ?? 0), 0) / 1048576, 1),
    reconnects: reconnect.cycles,
  };
}

function readProbe(): ProbeSample | undefined {
  try {
    const p = JSON.parse(readFileSync(probeFile, 'utf8')) as ProbeSample;
    // Written every second by the relay; older than 5 s means the relay is stuck or the probe is not loaded.
    return Date.now() - p.at < 5000 ? p : undefined;
  } catch {
    return undefined;
  }
}

/** SIGUSR2 to the relay: the probe writes relay-N.heapsnapshot. Waits until the file is complete. */
async function snapshot(pid: number, into: string, n: number): Promise<string> {
  const file = path.join(into, `relay-${n}.heapsnapshot`);
  log(`  heap snapshot ${n}...`);
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  while (!existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`the relay wrote no heap snapshot to ${file} within 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return file;
}

/** Least-squares slope of y over x (per unit of x). */
function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? 0 : sxy / sxx;
}

function growth(key: 'rssMiB' | 'rssAnonMiB' | 'v8ResidentMiB' | 'nativeMiB' | 'heapUsedMiB' | 'externalMiB' | 'arrayBuffersMiB') {
  const after = samples.filter((s) => s.t >= warmupSeconds && s[key] !== null);
  const first = after[0];
  const last = after[after.length - 1];
  if (!first || !last || after.length < 2) return null;
  const v = (s: Sample) => s[key] ?? 0;
  return {
    atWarmupMiB: v(first),
    atEndMiB: v(last),
    growthMiB: round(v(last) - v(first), 2),
    slopeMiBPerMin: round(slope(after.map((s) => [s.t / 60, v(s)])) , 3),
    maxMiB: Math.max(...after.map(v)),
    minMiB: Math.min(...after.map(v)),
  };
}

function report(got: number[], api: { skips: number; disconnected: number } | undefined, p: ClipPublisher | undefined): void {
  const max = Math.max(1, ...got);
  const fractions = got.map((g) => round(g / max, 5));
  const elapsed = samples[samples.length - 1]?.t ?? 0;
  const result = {
    bench: 'soak',
    machine: machine(),
    settings: {
      minutes,
      measuredMinutes: round(elapsed / 60, 2),
      interrupted: interrupt.signal !== undefined,
      warmupSeconds,
      sampleEverySeconds: sampleEvery,
      publisher: `1 browser-style WebSocket publisher (bench/ws-publisher.ts), 1280x720@${FPS} H.264 ${values.bitrate}bit/s + Opus 64 kbit/s, one moof+mdat per frame`,
      steadyReaders: steadyCount,
      reconnectingReaders: reconnectingCount,
      reconnectEverySeconds: reconnectEvery,
      readers: 'RTSP over TCP (interleaved), test/support/rtsp-client.ts counting bytes',
      relay: `node ${serverNodeFlags().join(' ')} --import tsx --import bench/soak-probe.ts server/main.ts --log-level warn, own process`,
      memory: 'RSS: /proc/PID/status VmRSS (rssAnon: RssAnon); heap: process.memoryUsage() and v8.getHeapSpaceStatistics() inside the relay (bench/soak-probe.ts), at most 1 s old; native = RssAnon - V8 resident heap',
    },
    growthAfterWarmup: { rss: growth('rssMiB'), rssAnon: growth('rssAnonMiB'), v8Resident: growth('v8ResidentMiB'), native: growth('nativeMiB'), heapUsed: growth('heapUsedMiB'), external: growth('externalMiB'), arrayBuffers: growth('arrayBuffersMiB') },
    steadyReaders: {
      bytesMin: Math.min(...got),
      bytesMax: max,
      fractionOfMax: { min: Math.min(...fractions), median: median(fractions), below999: fractions.filter((f) => f < 0.999).length, each: fractions },
      disconnected: steadyClosed.size,
    },
    reconnectingReaders: reconnect,
    relayPlayerDrops: api ?? null,
    publisher: p ? { ...p.counters, problem: p.problem ?? null } : null,
    heapSnapshots: snapshotDir ? { dir: snapshotDir, files: snapshots, compare: snapshots.length >= 2 ? `npx tsx bench/heap-diff.ts ${snapshots[0]!.file} ${snapshots[snapshots.length - 1]!.file}` : null } : null,
    targets: { rssGrowthAfterWarmupMiB: 10, steadyReaderFractionOfMax: 0.999, forMinutes: 60 },
    samples,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  const g = result.growthAfterWarmup;
  log('');
  log(`  ${result.settings.measuredMinutes} min, ${steadyCount} steady + ${reconnectingCount} reconnecting readers; ${result.machine.cpus} cores`);
  log(`  RSS after warm-up: ${g.rss ? `${g.rss.atWarmupMiB} → ${g.rss.atEndMiB} MiB (${g.rss.growthMiB >= 0 ? '+' : ''}${g.rss.growthMiB} MiB, slope ${g.rss.slopeMiBPerMin} MiB/min)` : 'n/a'}`);
  log(`  of which V8 heap ${g.v8Resident ? `${g.v8Resident.growthMiB >= 0 ? '+' : ''}${g.v8Resident.growthMiB} MiB` : 'n/a'}, native ${g.native ? `${g.native.growthMiB >= 0 ? '+' : ''}${g.native.growthMiB} MiB` : 'n/a'}`);
  log(`  heap used after warm-up: ${g.heapUsed ? `${g.heapUsed.atWarmupMiB} → ${g.heapUsed.atEndMiB} MiB (slope ${g.heapUsed.slopeMiBPerMin} MiB/min)` : 'n/a'}`);
  log(`  steady readers: min ${result.steadyReaders.fractionOfMax.min} of the max, ${result.steadyReaders.fractionOfMax.below999} below 0.999, ${steadyClosed.size} disconnected; reconnects ${reconnect.cycles} (${reconnect.failures} failed)`);
}

async function streamDrops(port: number): Promise<{ skips: number; disconnected: number } | undefined> {
  try {
    const list = (await (await fetch(`http://127.0.0.1:${port}/api/streams`)).json()) as Array<{ name: string; playerDrops?: { skips: number; disconnected: number } }>;
    return Array.isArray(list) ? list.find((s) => s.name === STREAM)?.playerDrops : undefined;
  } catch {
    return undefined;
  }
}

function fmtTime(t: number): string {
  return `${Math.floor(t / 60)}:${String(Math.floor(t % 60)).padStart(2, '0')}`;
}

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function positive(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) usage(`${flag} must be a positive number, not "${s}"`);
  return n;
}

function whole(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0) usage(`${flag} must be a whole number, not "${s}"`);
  return n;
}

function usage(problem: string): never {
  process.stderr.write(`bench:soak: ${problem}\n`);
  process.exit(2);
}
