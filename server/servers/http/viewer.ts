// The viewer WebSocket, /ws/view?stream=NAME (protocol in shared/view-protocol.ts), for the page at /watch/NAME.
// This module decides whether a socket may watch (request, version, read credentials, --max-clients,
// --max-bandwidth), answers the ones that may not, and follows the registry so each session joins its stream when it
// goes live; viewer-session.ts streams to the ones that may.
//
// Not the publisher's rules: any page may watch (a viewer sends nothing but pause/play). With --read-user/--read-pass
// the credentials come as the authSubprotocol() a page can offer, or as HTTP Basic from a client that is not a page
// of another site (a browser sends cached Basic credentials with any site's WebSocket; a subprotocol it never invents).
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { streamNameProblem } from '../../../shared/stream-name.ts';
import {
  parseAuthSubprotocol,
  parseViewClientMessage,
  VIEW_AUTH_PREFIX,
  VIEW_CLOSE,
  VIEW_PROTOCOL_VERSION,
  VIEW_SUBPROTOCOL,
  type ViewServerMessage,
} from '../../../shared/view-protocol.ts';
import type { Logger } from '../../log.ts';
import { normalizeAddress } from '../../net.ts';
import type { RegistryEvent } from '../../stream/registry.ts';
import type { Stream } from '../../stream/stream.ts';
import { checkCredentials, parseBasic, type Credentials } from './basic-auth.ts';
import { rtspUrlFor } from './progressive.ts';
import { ViewerSession } from './viewer-session.ts';

/** What the viewer needs of the registry (stream/registry.ts's StreamRegistry). */
export interface ViewerRegistry {
  get(name: string): Stream | undefined;
  on(listener: (e: RegistryEvent) => void): () => void;
  /** Players of every stream in a hub (RTSP, HTTP, viewers): what --max-clients counts. */
  totalReaders(): number;
  totalEgressKbps(): number;
}

export interface ViewerOptions {
  registry: ViewerRegistry;
  logger: Logger;
  /** --max-clients: players of every kind together (a viewer waiting for its stream holds a place too). */
  maxClients: number;
  /** --max-bandwidth in kbit/s; 0 = no limit. */
  maxBandwidthKbps: number;
  /** --read-user/--read-pass. */
  read?: Credentials;
  /** --publisher-grace, for the sentence a viewer sees while its broadcaster is away. */
  graceMs: number;
  /** For the sentence when the page cannot play a codec: the RTSP port. */
  rtspPort?: () => number;
  /** A random delay before saying no to wrong credentials (default 200–600 ms). */
  authFailureDelayMs?: readonly [number, number];
  random?: () => number;
  /** Ping every socket this often; one that has not answered the last ping by the next is cut. Default 30 s. */
  pingIntervalMs?: number;
}

/** Longer request targets are refused (414): a stream name is at most 64 characters. */
export const MAX_VIEW_URL = 1024;

/** Who asks to watch what, as the upgrade request said. */
interface Viewer {
  name: string;
  /** ADDRESS:PORT. */
  remote: string;
  rtspUrl: string | undefined;
}

/** How the upgrade request is answered when it is refused before the WebSocket exists. */
export type Deny = (status: number, message: string) => void;

export class ViewerServer {
  private readonly wss: WebSocketServer;
  private readonly sessions = new Map<ViewerSession, WebSocket>();
  /** Sessions by stream name, for the registry's events. */
  private readonly byName = new Map<string, Set<ViewerSession>>();
  private readonly alive = new WeakSet<WebSocket>();
  private readonly unsubscribe: () => void;
  private readonly pinger: NodeJS.Timeout;
  private nextId = 0;
  private closed = false;

  constructor(private readonly o: ViewerOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      // A page sends only small control messages.
      maxPayload: 4096,
      perMessageDeflate: false,
      // Pick the version; never echo the credentials' subprotocol (upgrade() refused offers without the version).
      handleProtocols: (offered) => (offered.has(VIEW_SUBPROTOCOL) ? VIEW_SUBPROTOCOL : false),
    });
    this.unsubscribe = o.registry.on((e) => this.onRegistry(e));
    this.pinger = setInterval(() => this.ping(), o.pingIntervalMs ?? 30_000);
    this.pinger.unref();
  }

  /** Viewer sockets open now, watching or waiting (for --max-clients). */
  playerCount(): number {
    return this.sessions.size;
  }

  /** Viewers that hold a place but are in no hub (waiting for their stream), which the registry does not count. */
  waitingCount(): number {
    let n = 0;
    for (const s of this.sessions.keys()) if (!s.inHub) n++;
    return n;
  }

  /**
   * An upgrade request for the viewer path. `pageOrigin`: the request comes from one of our own pages or from no
   * page at all (no Origin), so HTTP Basic credentials in it were meant for us.
   */
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer, pageOrigin: boolean, deny: Deny): void {
    const target = req.url ?? '/';
    if (target.length > MAX_VIEW_URL) return deny(414, `the request target is ${target.length} characters long; the limit is ${MAX_VIEW_URL}`);
    const url = new URL(target, 'http://localhost');
    const name = url.searchParams.get('stream');
    if (name === null) return deny(400, 'say which stream to watch: /ws/view?stream=NAME');
    const problem = streamNameProblem(name);
    if (problem !== undefined) return deny(400, problem);
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    if (offered.length > 0 && !offered.includes(VIEW_SUBPROTOCOL)) {
      return deny(400, `this server speaks the viewer protocol ${VIEW_SUBPROTOCOL}; reload the page`);
    }
    if (this.closed) return deny(503, 'the server is shutting down');
    const given = offered.find((p) => p.startsWith(VIEW_AUTH_PREFIX));
    const basic = pageOrigin ? req.headers.authorization : undefined;
    const credentials = given !== undefined ? parseAuthSubprotocol(given) : parseBasic(basic);
    const presented = given !== undefined || basic !== undefined;
    const remote = `${normalizeAddress(req.socket.remoteAddress ?? '')}:${req.socket.remotePort ?? 0}`;
    const port = this.o.rtspPort?.();
    const rtspUrl = port === undefined ? undefined : rtspUrlFor(req, port, name);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.admit(ws, { name, remote, rtspUrl }, credentials, presented).catch((err: unknown) => {
        this.o.logger.error('viewer.failed', { err, stream: name });
        ws.terminate();
      });
    });
  }

  /** Close every viewer socket (the server is closing). Idempotent; waits for the sockets to close. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.pinger);
    const sockets = [...this.wss.clients];
    for (const s of [...this.sessions.keys()]) s.fail('server-closing', 'The server is shutting down.', VIEW_CLOSE.goingAway);
    await Promise.all(
      sockets.map(
        (ws) =>
          new Promise<void>((resolve) => {
            if (ws.readyState === ws.CLOSED) return resolve();
            // A page that does not answer the close frame at once is cut.
            const cut = setTimeout(() => ws.terminate(), 500);
            ws.once('close', () => {
              clearTimeout(cut);
              resolve();
            });
            if (ws.readyState !== ws.CLOSING) ws.close(VIEW_CLOSE.goingAway, 'server shutting down');
          }),
      ),
    );
    this.wss.close();
  }

  private async admit(ws: WebSocket, who: Viewer, credentials: Credentials | undefined, presented: boolean): Promise<void> {
    const { name, remote } = who;
    // Until the session exists, a message from the page is ignored (it sends only pause/play).
    ws.on('error', () => {});
    const hello: ViewServerMessage = { type: 'hello', version: VIEW_PROTOCOL_VERSION, stream: name, serverTime: Date.now() };
    ws.send(JSON.stringify(hello));
    const refuse = (code: 'unauthorized' | 'limit', message: string, closeCode: number): void => {
      this.o.logger.warn('viewer.refused', { stream: name, remote, code });
      const m: ViewServerMessage = { type: 'error', code, message };
      ws.send(JSON.stringify(m));
      ws.close(closeCode, code);
    };
    if (this.o.read) {
      const ok = await checkCredentials(credentials, this.o.read, { failureDelayMs: this.o.authFailureDelayMs, random: this.o.random, presented });
      if (ws.readyState !== ws.OPEN) return;
      if (!ok) {
        const sentence = presented ? 'The user name or password is wrong.' : 'This stream needs the viewer user name and password (the server runs with --read-user/--read-pass).';
        return refuse('unauthorized', sentence, VIEW_CLOSE.policy);
      }
    }
    if (this.closed) return refuse('limit', 'The server is shutting down.', VIEW_CLOSE.goingAway);
    // ffserver's MaxClients and MaxBandwidth, over RTSP, HTTP and viewers together; a waiting viewer holds a place.
    if (this.o.registry.totalReaders() + this.waitingCount() >= this.o.maxClients) {
      return refuse('limit', `The server is at its player limit (${this.o.maxClients}); try again later.`, VIEW_CLOSE.tryAgainLater);
    }
    const stream = this.o.registry.get(name);
    const max = this.o.maxBandwidthKbps;
    if (stream && max > 0 && this.o.registry.totalEgressKbps() + stream.ingestKbps() > max) {
      return refuse('limit', `The server is at its bandwidth limit (${max} kbit/s); try again later.`, VIEW_CLOSE.tryAgainLater);
    }
    this.start(ws, who, stream);
  }

  private start(ws: WebSocket, { name, remote, rtspUrl }: Viewer, stream: Stream | undefined): void {
    const id = `viewer-${++this.nextId}`;
    const session = new ViewerSession({
      id,
      ws,
      name,
      remote,
      logger: this.o.logger.child({ stream: name }),
      rtspUrl,
      graceMs: this.o.graceMs,
      onClosed: (s) => this.forget(s),
    });
    this.sessions.set(session, ws);
    let named = this.byName.get(name);
    if (!named) this.byName.set(name, (named = new Set()));
    named.add(session);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
    ws.on('close', () => session.close('client-closed'));
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const m = isBinary ? undefined : parseViewClientMessage(Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8'));
      if (!m?.ok) {
        session.fail('bad-request', m ? m.error : 'a viewer sends text messages only', VIEW_CLOSE.unsupportedData);
        return;
      }
      if (m.value.type === 'pause') session.pause();
      else session.play();
    });
    this.o.logger.info('viewer.start', { viewer: id, stream: name, remote, live: stream !== undefined });
    if (stream) session.attach(stream);
    else session.announceWaiting();
  }

  private forget(s: ViewerSession): void {
    this.sessions.delete(s);
    const named = this.byName.get(s.streamName);
    named?.delete(s);
    if (named?.size === 0) this.byName.delete(s.streamName);
  }

  private onRegistry(e: RegistryEvent): void {
    const named = this.byName.get(e.stream.name);
    if (!named) return;
    for (const s of [...named]) {
      if (e.type === 'stream-live') {
        if (s.inHub) s.publisherBack();
        else s.attach(e.stream);
      } else if (e.type === 'stream-waiting') {
        // A page's Stop leaves (grace starts) and ends the stream in one go: tell only of an absence that lasts.
        setImmediate(() => s.publisherAway());
      }
      // stream-ended reaches each session through the hub (ReaderSink.end), before this event.
    }
  }

  private ping(): void {
    for (const ws of this.sessions.values()) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }
}
