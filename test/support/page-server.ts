// A test double for the relaycast HTTP server, for page-level tests: serves a Vite build of web/, answers
// GET /api/config, and accepts WebSockets at PUBLISH_PATH, recording every message a page sends and letting the test
// script the answers (accept, refuse, close). The real server (server/servers/http, server/servers/ws-publish) has its own tests; this
// one exists so the page can be tested on its own terms, byte by byte.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSION, PUBLISH_PATH, parseClientMessage, type ClientMessage, type PageConfig, type ServerMessage } from '../../shared/protocol.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out.sort();
}

/**
 * Builds the page with Vite into a temporary directory named after a hash of its sources (web/, shared/,
 * vite.config.ts), so test files share one build and never touch dist/web, which the real server serves.
 */
export async function buildPage(): Promise<string> {
  const hash = createHash('sha256');
  for (const f of [...filesUnder(path.join(ROOT, 'web')), ...filesUnder(path.join(ROOT, 'shared')), path.join(ROOT, 'vite.config.ts')]) {
    hash.update(path.relative(ROOT, f));
    hash.update(readFileSync(f));
  }
  const outDir = path.join(tmpdir(), `relaycast-page-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(path.join(outDir, 'index.html'))) return outDir;
  // Build beside it and rename into place, so a concurrent run never serves a half-written build.
  const partial = `${outDir}.partial-${process.pid}-${Date.now()}`;
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn', build: { outDir: partial, emptyOutDir: true } });
  try {
    renameSync(partial, outDir);
  } catch {
    rmSync(partial, { recursive: true, force: true }); // another run got there first; its build is the same
  }
  return outDir;
}

export type Hello = Extract<ClientMessage, { type: 'hello' }>;

export interface Connection {
  ws: WebSocket;
  /** Text messages in arrival order (hello, stats …). */
  texts: ClientMessage[];
  hello: Hello | undefined;
  /** Binary messages in arrival order: the init segment first, then media segments. */
  binaries: Uint8Array[];
  /** Arrival time (Date.now()) of each binary message. */
  binaryTimes: number[];
  /** Everything in arrival order, for ordering checks. */
  order: Array<'text' | 'binary'>;
  closed: Promise<{ code: number; reason: string }>;
  closeInfo: { code: number; reason: string } | undefined;
  send(m: ServerMessage): void;
}

export type HelloAnswer = { accept: true } | { refuse: Extract<ServerMessage, { type: 'refused' }> } | { ignore: true };

export interface FakeServerOptions {
  webRoot: string;
  config?: Partial<PageConfig>;
  /** What to answer a hello; default accept. */
  answer?: (hello: Hello, c: Connection) => HelloAnswer;
  /** Send a stats message every second once a connection is accepted. */
  stats?: boolean;
}

// The same Content-Security-Policy the real server sends with index.html (server/servers/http/static.ts), so a page that
// only works without it fails here.
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'";
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css' };

export class FakePublishServer {
  readonly connections: Connection[] = [];
  private readonly server: http.Server;
  private readonly wss: WebSocketServer;
  private readonly timers = new Set<NodeJS.Timeout>();
  answer: (hello: Hello, c: Connection) => HelloAnswer;
  /** A server that is down: /api/config answers 503 and WebSocket upgrades are cut (pages see "cannot reach"). */
  down = false;

  constructor(private readonly o: FakeServerOptions) {
    this.answer = o.answer ?? (() => ({ accept: true }));
    this.server = http.createServer((req, res) => void this.request(req, res));
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
    this.server.on('upgrade', (req, socket, head) => {
      if (this.down || new URL(req.url ?? '/', 'http://x').pathname !== PUBLISH_PATH) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.connection(ws));
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this.port;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  config(): PageConfig {
    return {
      version: PROTOCOL_VERSION,
      rtspPort: 8554,
      tokenRequired: false,
      keyframeIntervalMs: 2000,
      videoCodecs: ['avc1'],
      audioCodecs: ['opus'],
      outputs: [{ url: 'rtmp://example.invalid/live/****', kind: 'rtmp' }],
      ...this.o.config,
    };
  }

  /** Resolves when `pred` holds, polling every 20 ms; rejects with `what` after `timeoutMs`. */
  async waitFor(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async request(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/config') {
      if (this.down) {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('down\n');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(this.config()));
      return;
    }
    const rel = url.pathname === '/' ? '/index.html' : url.pathname;
    const file = path.resolve(this.o.webRoot, '.' + path.posix.normalize(rel));
    if (!file.startsWith(this.o.webRoot + path.sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const ext = path.extname(file);
    res.writeHead(200, { 'Content-Type': TYPES[ext] ?? 'application/octet-stream', ...(ext === '.html' ? { 'Content-Security-Policy': CSP } : {}) });
    res.end(await readFile(file));
  }

  private connection(ws: WebSocket): void {
    let resolveClosed: (v: { code: number; reason: string }) => void = () => {};
    const c: Connection = {
      ws,
      texts: [],
      hello: undefined,
      binaries: [],
      binaryTimes: [],
      order: [],
      closed: new Promise((r) => (resolveClosed = r)),
      closeInfo: undefined,
      send: (m) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(m));
      },
    };
    this.connections.push(c);
    ws.on('message', (data, isBinary) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      if (isBinary) {
        c.binaries.push(new Uint8Array(bytes));
        c.binaryTimes.push(Date.now());
        c.order.push('binary');
        return;
      }
      c.order.push('text');
      const m = parseClientMessage(bytes.toString('utf8'));
      if (!m.ok) throw new Error(`the page sent a bad control message: ${m.error}`);
      c.texts.push(m.value);
      if (m.value.type !== 'hello') return;
      c.hello = m.value;
      const a = this.answer(m.value, c);
      if ('refuse' in a) {
        c.send(a.refuse);
        ws.close(1008, a.refuse.message.slice(0, 120));
      } else if ('accept' in a) {
        c.send({ type: 'accepted', version: PROTOCOL_VERSION, stream: m.value.stream, rtspPath: `/${m.value.stream}`, rtspPort: this.config().rtspPort, outputs: [] });
        if (this.o.stats) {
          const t = setInterval(() => c.send({ type: 'stats', ingestKbps: 1234, fragments: c.binaries.length, rtspPlayers: 2, outputs: [{ url: 'rtmp://example.invalid/live/****', kind: 'rtmp', state: 'running', restarts: 1 }] }), 1000);
          this.timers.add(t);
          ws.on('close', () => clearInterval(t));
        }
      }
    });
    ws.on('close', (code, reason) => {
      c.closeInfo = { code, reason: reason.toString() };
      resolveClosed(c.closeInfo);
    });
  }
}
