// The server as a real process (node --import tsx server/main.ts, as `npm run server` runs it, minus the tsx CLI
// wrapper so signals reach the server itself): SIGTERM while a browser publisher is live shuts down cleanly and
// takes its ffmpegs with it; SIGKILL runs no handler at all, and the ffmpegs still exit on their own when their
// stdin (our pipe) reaches EOF.
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isProcessAlive, processCommandLine, waitFor } from '../../support/ffmpeg.ts';
import { startNginxRtmp, type NginxRtmp } from '../../support/nginx-rtmp.ts';
import { loadPublisherMedia, WsPublisher, type PublisherMedia } from '../../support/ws-publisher.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../../server/main.ts', import.meta.url));

const SERVER_OPTIONS = { cwd: ROOT, reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, cleanup: true } as const;
type ServerProcess = ResultPromise<typeof SERVER_OPTIONS>;

interface Server {
  proc: ServerProcess;
  logs: Array<Record<string, unknown>>;
  stderr: () => string;
  httpPort: number;
  rtspPort: number;
  /** Resolves with the first log line matching `pred`. */
  waitLog(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
}

let media: PublisherMedia;
let nginx: NginxRtmp;
const servers: Server[] = [];
const publishers: WsPublisher[] = [];
/** ffmpeg PIDs the servers reported, to clean up after a failed assertion. */
const ffmpegPids = new Set<number>();

beforeAll(async () => {
  [media, nginx] = await Promise.all([loadPublisherMedia(), startNginxRtmp()]);
});

afterEach(async () => {
  await Promise.all(publishers.splice(0).map((p) => p.dispose()));
  for (const s of servers.splice(0)) {
    if (s.proc.exitCode === null && s.proc.pid !== undefined) s.proc.kill('SIGKILL');
    await s.proc;
  }
  // Only after a failed assertion: never leave an ffmpeg we caused to be started.
  for (const pid of ffmpegPids) {
    if (isProcessAlive(pid) && processCommandLine(pid).includes('ffmpeg')) process.kill(pid, 'SIGKILL');
  }
  ffmpegPids.clear();
});

afterAll(async () => {
  await nginx?.stop();
});

async function startServer(flags: string[]): Promise<Server> {
  // Its own UDP range, away from the in-process relays of other test files (test/support/relay.ts).
  const udp = 61000 + (process.pid % 20) * 100;
  const proc: ServerProcess = execa(process.execPath, ['--import', 'tsx', MAIN, '--host', '127.0.0.1', '--http-port', '0', '--rtsp-port', '0', '--udp-ports', `${udp}-${udp + 99}`, ...flags], SERVER_OPTIONS);
  const logs: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let partial = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        const l = JSON.parse(line) as Record<string, unknown>;
        logs.push(l);
        if (l['event'] === 'egress.spawn' && typeof l['pid'] === 'number') ffmpegPids.add(l['pid']);
      } catch {
        logs.push({ event: 'non-json', line });
      }
    }
    for (const w of waiters) w();
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c: string) => (stderr += c));
  let exited = false;
  void proc.then(() => {
    exited = true;
    for (const w of waiters) w();
  });
  const waitLog = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 20_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = logs.find(pred);
        if (hit) return done(() => resolve(hit));
        if (exited) return done(() => reject(new Error(`server exited (${proc.exitCode}); stderr: ${stderr.slice(0, 1000)}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(0, 1000)}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        waiters.delete(check);
        f();
      };
      waiters.add(check);
      check();
    });
  const server: Server = { proc, logs, stderr: () => stderr, httpPort: 0, rtspPort: 0, waitLog };
  servers.push(server);
  // Port 0: the real ports come in the listening lines (JSON on stdout); 'ready' follows once everything is up.
  // The first start on a checkout with a page may build it with Vite: allow for that.
  await waitLog((l) => l['event'] === 'ready', 120_000);
  server.httpPort = Number(logs.find((l) => l['event'] === 'http-listening')?.['port']);
  server.rtspPort = Number(logs.find((l) => l['event'] === 'rtsp-listening')?.['port']);
  expect(server.httpPort).toBeGreaterThan(0);
  expect(server.rtspPort).toBeGreaterThan(0);
  return server;
}

/** Publish NAME into `s` until both RTMP outputs run; returns their ffmpeg PIDs. */
async function goLive(s: Server, name: string): Promise<number[]> {
  const p = new WsPublisher({ port: s.httpPort, stream: name, media });
  publishers.push(p);
  await p.connectOrThrow();
  p.start();
  const running = (l: Record<string, unknown>): boolean => l['event'] === 'egress.running' && l['stream'] === name;
  await s.waitLog((l) => running(l) && s.logs.filter(running).length === 2, 15_000);
  const pids = s.logs.filter((l) => l['event'] === 'egress.spawn' && l['stream'] === name).map((l) => l['pid'] as number);
  expect(pids).toHaveLength(2);
  for (const pid of pids) {
    expect(isProcessAlive(pid)).toBe(true);
    expect(processCommandLine(pid)).toContain('ffmpeg');
  }
  return pids;
}

describe('the server process', () => {
  it('a start that fails (a TLS certificate that cannot be read) exits 1 with the reason, leaving no port open', async () => {
    const r = await execa(process.execPath, ['--import', 'tsx', MAIN, '--host', '127.0.0.1', '--http-port', '0', '--rtsp-port', '0', '--tls-cert', '/nonexistent/cert.pem', '--tls-key', '/nonexistent/key.pem'], {
      cwd: ROOT,
      reject: false,
      stdin: 'ignore',
      timeout: 30_000,
    });
    // Not killed by the timeout: nothing (an RTSP listener opened first) kept the process alive.
    expect(r.timedOut).toBe(false);
    expect(r.exitCode).toBe(1);
    expect(String(r.stderr)).toContain('/nonexistent/cert.pem');
  });

  it('SIGTERM while a publisher is live: the server exits 0 and no ffmpeg child remains', async () => {
    const s = await startServer(['--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`, '--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}-copy`]);
    const pids = await goLive(s, 'termcam');
    const pub = publishers[0]!;

    s.proc.kill('SIGTERM');
    const r = await s.proc;
    expect(r.exitCode, s.stderr()).toBe(0);
    expect(s.logs.some((l) => l['event'] === 'shutdown' && l['signal'] === 'SIGTERM')).toBe(true);
    // relay.close() waits for every ffmpeg, so they are gone by the time the server has exited.
    for (const pid of pids) expect(isProcessAlive(pid), `ffmpeg ${pid}`).toBe(false);
    expect(s.logs.filter((l) => l['event'] === 'egress.closed')).toHaveLength(2);
    // The page is told the server went away (1001), rather than losing its connection (1006).
    expect(await waitFor(() => pub.closes.length > 0, 2_000)).toBe(true);
    expect(pub.closes[0]).toEqual({ code: 1001, reason: 'server shutting down' });

  });

  it('SIGKILL: the orphaned ffmpegs see EOF on stdin and exit within a few seconds', async () => {
    const s = await startServer(['--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}`, '--output', `rtmp://127.0.0.1:${nginx.port}/live/{stream}-copy`]);
    const pids = await goLive(s, 'killcam');
    s.proc.kill('SIGKILL');
    const r = await s.proc;
    expect(r.signal).toBe('SIGKILL');
    expect(await waitFor(() => pids.every((pid) => !isProcessAlive(pid)), 5_000)).toBe(true);
  });
});
