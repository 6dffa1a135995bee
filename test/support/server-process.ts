// The server as a real child process (node --import tsx server/main.ts, signals reaching the server itself), for
// tests that kill it: its JSON log lines, its ports, and a wait for a log line.
import { execa, type ResultPromise } from 'execa';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

const OPTIONS = { cwd: ROOT, reject: false, stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', buffer: false, cleanup: true } as const;
export type ServerChild = ResultPromise<typeof OPTIONS>;

export type LogLine = Record<string, unknown>;

export interface ServerProcess {
  proc: ServerChild;
  logs: LogLine[];
  httpPort: number;
  rtspPort: number;
  /** The first log line (from the start) matching `pred`; rejects when the server exits or after timeoutMs. */
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGKILL (no handler runs) and wait for the exit. */
  kill(): Promise<void>;
}

/** Start the server with `flags` on 127.0.0.1, ports 0, and wait for its 'ready' line. */
export async function startServerProcess(flags: string[], udpBase: number): Promise<ServerProcess> {
  const proc: ServerChild = execa(process.execPath, ['--import', 'tsx', MAIN, '--host', '127.0.0.1', '--http-port', '0', '--rtsp-port', '0', '--udp-ports', `${udpBase}-${udpBase + 99}`, ...flags], OPTIONS);
  const logs: LogLine[] = [];
  let stderr = '';
  let partial = '';
  let exited = false;
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') logs.push(parseLine(line));
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', (c: string) => (stderr += c));
  void proc.then(() => (exited = true));
  const waitLog = async (pred: (l: LogLine) => boolean, timeoutMs = 20_000): Promise<LogLine> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = logs.find(pred);
      if (hit) return hit;
      if (exited) throw new Error(`the server exited (${proc.exitCode}); stderr: ${stderr.slice(0, 1000)}`);
      if (Date.now() > deadline) throw new Error(`no matching log line within ${timeoutMs} ms; stderr: ${stderr.slice(0, 1000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.pid !== undefined) proc.kill('SIGKILL');
    await proc;
  };
  try {
    // The first start on a checkout may build the pages with Vite: allow for that.
    await waitLog((l) => l['event'] === 'ready', 120_000);
  } catch (e) {
    await kill();
    throw e;
  }
  const port = (event: string): number => Number(logs.find((l) => l['event'] === event)?.['port']);
  return { proc, logs, httpPort: port('http-listening'), rtspPort: port('rtsp-listening'), waitLog, kill };
}

function parseLine(line: string): LogLine {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return { event: 'non-json', line };
  }
}
