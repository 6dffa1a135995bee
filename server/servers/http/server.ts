// HTTP(S) on --http-port: the pages, the JSON API, HTTP playback (/NAME.mp4), the publisher WebSocket (ws, noServer)
// and the viewer WebSocket (viewer.ts).
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import { PROTOCOL_VERSION, PUBLISH_PATH, type PageConfig } from '../../../shared/protocol.ts';
import { VIEW_PATH } from '../../../shared/view-protocol.ts';
import type { HubOutputs } from '../../egress/hub-outputs.ts';
import type { IngestServer } from '../ws-publish/ingest-server.ts';
import type { Logger } from '../../log.ts';
import { isLoopbackAddress, isLoopbackHost, normalizeAddress } from '../../net.ts';
import type { StreamRegistry } from '../../stream/registry.ts';
import { listStreams, OperatorApi, type OperatorRoutes } from './api.ts';
import { RecordingRoutes } from '../../record/playback.ts';
import type { Recordings } from '../../record/recordings.ts';
import { ProgressiveServer, progressiveName, type ProgressiveOptions } from './progressive.ts';
import { serveStatic } from './static.ts';
import { ViewerServer, type ViewerOptions } from './viewer.ts';

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  webRoot: string;
  ingest: IngestServer;
  registry: StreamRegistry;
  hubOutputs: HubOutputs;
  rtspPort: () => number;
  rtspPlayers: (name: string) => number;
  outputs: () => PageConfig['outputs'];
  publishToken?: string;
  allowOrigins: string[];
  tls?: { cert: string; key: string };
  keyframeIntervalMs?: number;
  /** --max-clients and --max-bandwidth: HTTP players count with RTSP players. */
  maxClients: number;
  maxBandwidthKbps: number;
  /** --read-user/--read-pass: HTTP Basic on /NAME.mp4 when set. */
  read?: { username: string; password: string };
  /** Timings of /NAME.mp4 (tests shorten them). */
  progressive?: Partial<Pick<ProgressiveOptions, 'configWaitMs' | 'endFlushMs' | 'authFailureDelayMs'>>;
  /** /metrics, /healthz, GET|DELETE /api/streams/NAME, DELETE /api/readers/ID (api.ts). */
  operator?: OperatorRoutes;
  /** --record: /api/recordings, /recordings/NAME.mp4 and each stream's recording state. */
  recordings?: Recordings;
  /** --publisher-grace, which viewers are told while a broadcaster is away. */
  publisherGraceMs?: number;
  /** Timings of the viewer socket (tests shorten them). */
  viewer?: Partial<Pick<ViewerOptions, 'authFailureDelayMs' | 'pingIntervalMs'>>;
}

/** About 16 MiB: a 1080p keyframe at a high bitrate fits; nothing bigger is a single frame. */
export const MAX_PAYLOAD = 16 * 1024 * 1024;

export class HttpServer {
  private readonly server: http.Server | https.Server;
  private readonly wss: WebSocketServer;
  private readonly scheme: 'http' | 'https';
  private readonly progressive: ProgressiveServer;
  private readonly operator: OperatorApi | undefined;
  private readonly viewer: ViewerServer;
  private readonly recordingRoutes: RecordingRoutes | undefined;

  constructor(private readonly o: HttpServerOptions) {
    this.recordingRoutes = o.recordings && new RecordingRoutes({ root: o.recordings.root, logger: o.logger, ...(o.read ? { read: o.read } : {}), ...(o.progressive?.authFailureDelayMs ? { authFailureDelayMs: o.progressive.authFailureDelayMs } : {}) });
    this.viewer = new ViewerServer({
      registry: o.registry,
      logger: o.logger,
      maxClients: o.maxClients,
      maxBandwidthKbps: o.maxBandwidthKbps,
      graceMs: o.publisherGraceMs ?? 0,
      rtspPort: o.rtspPort,
      ...(o.read ? { read: o.read } : {}),
      ...o.viewer,
    });
    this.progressive = new ProgressiveServer({
      // Viewers waiting for their stream hold a place that the hubs do not count.
      registry: { get: (name) => o.registry.get(name), totalReaders: () => o.registry.totalReaders() + this.viewer.waitingCount(), totalEgressKbps: () => o.registry.totalEgressKbps() },
      logger: o.logger,
      maxClients: o.maxClients,
      maxBandwidthKbps: o.maxBandwidthKbps,
      rtspPort: o.rtspPort,
      ...(o.read ? { read: o.read } : {}),
      ...o.progressive,
    });
    this.operator = o.operator && new OperatorApi({
      ...o.operator,
      registry: o.registry,
      ingest: o.ingest,
      logger: o.logger,
      rtspPlayers: o.rtspPlayers,
      httpPlayers: (name) => this.progressive.playersOf(name),
      outputs: (name) => o.hubOutputs.statusOf(name) ?? [],
      recording: (name) => o.recordings?.statusOf(name),
      trustedLocal: (req) => this.trustedLocal(req),
    });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.request(req, res).catch((err: unknown) => {
        o.logger.error('http-failed', { err, url: req.url });
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('internal error\n');
      });
    };
    this.scheme = o.tls ? 'https' : 'http';
    this.server = o.tls ? https.createServer({ cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) }, handler) : http.createServer(handler);
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 30_000;
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
    this.server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
  }

  async start(): Promise<{ port: number }> {
    this.server.listen(this.o.port, this.o.host);
    await once(this.server, 'listening');
    const port = this.port();
    this.o.logger.info('http-listening', { host: this.o.host, port, scheme: this.scheme });
    return { port };
  }

  port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Players of /NAME.mp4 being served now. */
  progressivePlayers(): number {
    return this.progressive.playerCount();
  }

  /** Viewer sockets (/ws/view) open now, watching or waiting for their stream. */
  viewerPlayers(): number {
    return this.viewer.playerCount();
  }

  async close(): Promise<void> {
    this.progressive.close();
    await this.viewer.close();
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async request(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end('malformed request target\n');
      return;
    }
    // The operator's routes answer their own methods (DELETE among them).
    if (this.operator && (await this.operator.handle(req, res, url.pathname))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('only GET here\n');
      return;
    }
    if (this.recordingRoutes && (await this.recordingRoutes.handle(req, res, url))) return;
    const mp4 = progressiveName(url.pathname);
    if (mp4 !== undefined) return this.progressive.handle(req, res, mp4);
    if (url.pathname === '/api/streams') return json(res, listStreams(this.o.registry, this.o.ingest, this.o.rtspPlayers, (name) => this.o.hubOutputs.statusOf(name) ?? [], (name) => this.progressive.playersOf(name), (name) => this.o.recordings?.statusOf(name)));
    if (url.pathname === '/api/config') {
      const loopback = this.trustedLocal(req);
      const cfg: PageConfig = {
        version: PROTOCOL_VERSION,
        rtspPort: this.o.rtspPort(),
        // Without a configured token nobody off loopback can publish; asking the page for one would only mislead.
        tokenRequired: !loopback && this.o.publishToken !== undefined,
        keyframeIntervalMs: this.o.keyframeIntervalMs ?? 2000,
        videoCodecs: ['avc1'],
        audioCodecs: ['opus'],
        outputs: this.o.outputs(),
      };
      return json(res, cfg);
    }
    if (url.pathname.startsWith('/api/')) {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: `no API at ${url.pathname}` }));
      return;
    }
    if (await serveStatic(this.o.webRoot, url.pathname, res)) return;
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }

  private upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Node removes its own error handler before 'upgrade': a reset during our answer must not crash the process.
    socket.on('error', () => {});
    const deny = (status: number, message: string) => {
      this.o.logger.warn('ws-denied', { status, message, origin: req.headers.origin, remote: req.socket.remoteAddress });
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(message) + 1}\r\n\r\n${message}\n`);
    };
    let pathname: string;
    try {
      pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      return deny(400, 'malformed request target');
    }
    const origin = req.headers.origin;
    // Watching has its own rules (viewer.ts): any page may watch; read credentials when set.
    if (pathname === VIEW_PATH) return this.viewer.upgrade(req, socket, head, origin === undefined || this.originAllowed(origin, req.headers.host), deny);
    if (pathname !== PUBLISH_PATH) return deny(404, `WebSocket publishing is at ${PUBLISH_PATH}, watching at ${VIEW_PATH}?stream=NAME`);
    // Cross-site WebSocket hijacking: a browser always sends Origin; a page from elsewhere must not publish here.
    if (origin !== undefined && !this.originAllowed(origin, req.headers.host)) {
      return deny(403, `pages from ${origin.slice(0, 100)} may not publish here; start the server with --allow-origin ${origin.slice(0, 100)} to allow it`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const remote = normalizeAddress(req.socket.remoteAddress ?? '');
      // DNS rebinding: a page from evil.example rebound to 127.0.0.1 connects from loopback with Host and Origin
      // both evil.example (so the Origin check passes). Only a loopback literal in Host earns loopback's trust.
      this.o.ingest.handle(ws, `${remote}:${req.socket.remotePort ?? 0}`, this.trustedLocal(req));
    });
  }

  /** Loopback's no-token trust needs a loopback socket AND a Host that is a loopback literal (see isLoopbackHost). */
  private trustedLocal(req: http.IncomingMessage): boolean {
    if (!isLoopbackAddress(normalizeAddress(req.socket.remoteAddress ?? ''))) return false;
    const host = req.headers.host;
    // Non-browser clients may omit Host (HTTP/1.0); a browser always sends one, so a rebound page cannot.
    return host === undefined || isLoopbackHost(host);
  }

  private originAllowed(origin: string, host: string | undefined): boolean {
    if (host !== undefined && origin === `${this.scheme}://${host}`) return true;
    return this.o.allowOrigins.includes(origin);
  }
}

function json(res: http.ServerResponse, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
