// The relay under test, in its own process (`node --import tsx server/main.ts ...`), so /proc reads of its PID and
// its ffmpeg children measure the server and nothing else. stop() ends it by PID, then any child it left behind.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { commandLine, descendants } from './proc.ts';

export interface RelayProcess {
  pid: number;
  httpPort: number;
  rtspPort: number;
  /** The relay's stderr so far (warnings and errors at --log-level warn). */
  log(): string;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export interface RelayProcessOptions {
  startTimeoutMs?: number;
  /** Node flags after `--import tsx`, so they may name TypeScript: e.g. ['--import', '/abs/bench/soak-probe.ts']. */
  nodeFlags?: string[];
  /** Extra environment for the relay (on top of ours). */
  env?: Record<string, string>;
}

/**
 * Start the relay on 127.0.0.1 and wait until its HTTP port answers (it listens on RTSP first, may build the page
 * with Vite, then opens HTTP). `flags` are extra server flags, e.g. ['--output', 'rtmp://…/{stream}'].
 */
export async function startRelayProcess(flags: string[] = [], o: RelayProcessOptions = {}): Promise<RelayProcess> {
  const httpPort = await freePort();
  let rtspPort = await freePort();
  while (rtspPort === httpPort) rtspPort = await freePort();
  const args = [...serverNodeFlags(), ...extraNodeFlags(), '--import', 'tsx', ...(o.nodeFlags ?? []), 'server/main.ts', '--host', '127.0.0.1', '--http-port', String(httpPort), '--rtsp-port', String(rtspPort), '--log-level', 'warn', ...flags];
  // With extra Node flags (a profiler, --trace-gc), what they print goes to our stderr, never into the JSON on stdout.
  const stdout = extraNodeFlags().length > 0 ? process.stderr : 'ignore';
  const child = execa(process.execPath, args, { reject: false, stdin: 'ignore', stdout, stderr: 'pipe', buffer: false, cleanup: true, ...(o.env ? { env: o.env } : {}) });
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start the relay process');
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
  });
  let exited = false;
  const done = child.then(() => {
    exited = true;
  });
  const stop = async (): Promise<void> => {
    // ffmpegs the relay owns: killed by the relay on SIGTERM; remembered so none outlives a relay that hangs.
    const children = descendants(pid).filter((c) => commandLine(c)[0]?.endsWith('ffmpeg'));
    if (!exited) {
      kill(pid, 'SIGTERM');
      const t = setTimeout(() => {
        if (!exited) kill(pid, 'SIGKILL');
      }, 10_000);
      await done;
      clearTimeout(t);
    }
    for (const c of children) {
      // Still there and still an ffmpeg (not a recycled PID): an orphan of ours.
      if (commandLine(c)[0]?.endsWith('ffmpeg')) kill(c, 'SIGKILL');
    }
  };
  const deadline = Date.now() + (o.startTimeoutMs ?? 180_000);
  while (!(await canConnect(httpPort))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`the relay did not open its HTTP port ${exited ? '(it exited)' : 'in time'}:\n${stderr.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { pid, httpPort, rtspPort, log: () => stderr, stop };
}

/**
 * The Node flags `npm run server` gives the relay ("tsx FLAGS server/main.ts" in package.json), so the benchmark
 * measures the process a user runs, heap settings included.
 */
export function serverNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts?: Record<string, string> };
  const words = (pkg.scripts?.['server'] ?? '').trim().split(/\s+/);
  const main = words.indexOf('server/main.ts');
  const flags = words.slice(1, main);
  if (words[0] !== 'tsx' || main < 0 || flags.some((f) => !f.startsWith('--'))) {
    throw new Error(`package.json's "server" script is not "tsx [node flags] server/main.ts": ${words.join(' ')}`);
  }
  return flags;
}

/** RELAYCAST_BENCH_NODE_ARGS: more Node flags for the relay, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--trace-gc". */
export function extraNodeFlags(): string[] {
  return (process.env['RELAYCAST_BENCH_NODE_ARGS'] ?? '').split(/\s+/).filter(Boolean);
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone (ESRCH)
  }
}
