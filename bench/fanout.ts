// npm run bench:fanout [-- --readers 500 --seconds 30 --transport tcp|udp]
// Publishes a 2.5 Mbit/s 720p30 H.264 + Opus stream into a relay running as its own process, attaches N readers (our
// own test client, RTP over TCP interleaved or over UDP port pairs), and reports the relay's CPU and memory and what
// each reader received. Prints one JSON object.
import { execa } from 'execa';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { RtspTestClient } from '../test/support/rtsp-client.ts';
import { cpuTimes, machine, median, rssBytes } from './proc.ts';
import { serverNodeFlags } from './relay-process.ts';

const { values } = parseArgs({
  options: {
    readers: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '30' },
    bitrate: { type: 'string', default: '2500k' },
    transport: { type: 'string', default: 'tcp' },
  },
});
if (values.transport !== 'tcp' && values.transport !== 'udp') throw new Error(`--transport is tcp or udp, not ${values.transport}`);
const transport: 'tcp' | 'udp' = values.transport;
const readers = Number(values.readers);
const seconds = Number(values.seconds);

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'relaycast-bench-'));
const clip = path.join(dir, 'clip.mkv');
// Encode once, then replay with -c copy: the publisher costs almost nothing, so the machine measures the relay.
process.stderr.write(`encoding a 720p30 ${values.bitrate}bit/s clip...\n`);
await execa('ffmpeg', [
  '-v', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
  '-t', '10', '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-g', '60', '-b:v', values.bitrate,
  '-maxrate', values.bitrate, '-bufsize', values.bitrate, '-c:a', 'libopus', '-b:a', '64k', clip,
]);

const rtspPort = await freePort();
const httpPort = await freePort();
// node --import tsx (with `npm run server`'s Node flags): one process, so its PID is the relay's and cleanup on exit ends it.
const server = execa(process.execPath, [...serverNodeFlags(), '--import', 'tsx', 'server/main.ts', '--host', '127.0.0.1', '--rtsp-port', String(rtspPort), '--http-port', String(httpPort), '--log-level', 'warn', '--max-clients', String(readers + 10), '--max-bandwidth', '0'], { reject: false, stdout: 'ignore', stderr: 'inherit', cleanup: true });
const url = `rtsp://127.0.0.1:${rtspPort}/bench`;
await waitListening(rtspPort);
const serverPid = server.pid ?? 0;
const publisher = execa('ffmpeg', ['-v', 'error', '-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'rtsp', '-rtsp_transport', 'tcp', url], { reject: false, cleanup: true });
await new Promise((r) => setTimeout(r, 2000));

process.stderr.write(`attaching ${readers} readers...\n`);
const clients: RtspTestClient[] = [];
for (let i = 0; i < readers; i++) {
  const c = await RtspTestClient.connect(url);
  await c.play({ transport, countOnly: true });
  clients.push(c);
}
const startBytes = clients.map((c) => c.totalBytes);
const cpu0 = cpuTimes(serverPid);
const t0 = performance.now();
process.stderr.write(`measuring for ${seconds} s...\n`);
await new Promise((r) => setTimeout(r, seconds * 1000));
const elapsed = (performance.now() - t0) / 1000;
const cpu1 = cpuTimes(serverPid);
const userPercent = ((cpu1.user - cpu0.user) / elapsed) * 100;
const systemPercent = ((cpu1.system - cpu0.system) / elapsed) * 100;
const cpuPercent = userPercent + systemPercent;
const rss = rssBytes(serverPid);
const got = clients.map((c, i) => c.totalBytes - (startBytes[i] ?? 0));
const expectedBytes = (parseRate(values.bitrate) + 64_000) / 8 * elapsed;
const closedEarly = clients.filter((c) => (c as unknown as { socket: net.Socket }).socket.destroyed).length;

// The relay's own view: players it skipped to a keyframe or disconnected for falling behind.
const api = (await (await fetch(`http://127.0.0.1:${httpPort}/api/streams`)).json()) as Array<{ name: string; playerDrops?: { skips: number; disconnected: number } }>;
const drops = api.find((s) => s.name === 'bench')?.playerDrops ?? { skips: -1, disconnected: -1 };

for (const c of clients) void c.close();
publisher.kill('SIGINT');
server.kill('SIGTERM');
await Promise.allSettled([publisher, server]);
rmSync(dir, { recursive: true, force: true });

const result = {
  bench: 'fanout',
  machine: machine(),
  settings: { readers, seconds, video: `1280x720@30 H.264 ${values.bitrate}bit/s`, audio: 'Opus 64 kbit/s', transport: transport === 'tcp' ? 'tcp-interleaved' : 'udp' },
  server: {
    cpuPercentOfOneCore: round(cpuPercent),
    cpuPercentPerReader: round(cpuPercent / readers, 4),
    // Kernel time is mostly the sends (one syscall per datagram over UDP; on loopback it includes the receive path).
    userPercent: round(userPercent),
    systemPercent: round(systemPercent),
    rssMiB: round(rss / 1048576),
  },
  perReaderBytes: { min: Math.min(...got), median: median(got), expectedApprox: Math.round(expectedBytes) },
  readersBelow95PercentOfMedian: got.filter((b) => b < 0.95 * median(got)).length,
  readersDisconnected: closedEarly,
  drops: { relaySkipsToKeyframe: drops.skips, relayDisconnects: drops.disconnected },
  targets: { cpuPercentPerReader: 0.1, minShareOfMedian: 0.95 },
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
process.stderr.write(
  `\n  readers ${readers}  server CPU ${result.server.cpuPercentOfOneCore}% of a core (${result.server.cpuPercentPerReader}%/reader; user ${result.server.userPercent}%, system ${result.server.systemPercent}%)  RSS ${result.server.rssMiB} MiB\n` +
    `  bytes/reader min ${result.perReaderBytes.min}  median ${result.perReaderBytes.median}  below 95%: ${result.readersBelow95PercentOfMedian}  disconnected: ${closedEarly}  relay skips: ${drops.skips}  relay drops: ${drops.disconnected}\n`,
);
process.exit(0);

function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function parseRate(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(s);
  const n = Number(m?.[1] ?? 0);
  return m?.[2]?.toLowerCase() === 'm' ? n * 1e6 : m?.[2]?.toLowerCase() === 'k' ? n * 1e3 : n;
}

async function waitListening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the relay did not listen on ${port} within 10 s`);
}
