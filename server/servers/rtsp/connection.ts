// One RTSP TCP connection: turns bytes into requests and interleaved frames, writes responses in order, and enforces
// the limits that keep a bad client from hurting anyone else: message size (the parser), a deadline for every message
// (the first request, each request, each interleaved frame: 10 s from its first byte, as gortsplib's read timeout),
// and an idle deadline that only complete requests reset.
// Methods are handled elsewhere (server.ts); this file knows sockets, not RTSP semantics.
import type net from 'node:net';
import type { Logger } from '../../log.ts';
import { isLoopbackAddress, normalizeAddress } from '../../net.ts';
import { ProtocolError } from '../../protocols/rtsp/errors.ts';
import { parseIncoming } from '../../protocols/rtsp/interleaved.ts';
import { addressKey } from './limits.ts';
import type { SessionDescription } from '../../protocols/rtsp/sdp.ts';
import type { RtspSession } from './session.ts';
import { DEFAULT_LIMITS, getHeader, reasonPhrase, writeResponse, type MessageLimits, type RtspRequest, type RtspResponse } from '../../protocols/rtsp/message.ts';

export interface Handled {
  response: RtspResponse;
  /** Runs after the response is written, e.g. PLAY starts sending media only once its response is on the wire. */
  after?: () => void;
  /** Close the connection after the response. */
  close?: boolean;
}

export interface ConnectionHandlers {
  request(conn: RtspConnection, req: RtspRequest): Promise<Handled> | Handled;
  frame(conn: RtspConnection, channel: number, payload: Uint8Array): void;
  closed(conn: RtspConnection): void;
  /** No request for idleTimeoutMs: true keeps the connection (it holds a session), false closes it. */
  idle(conn: RtspConnection): boolean;
}

export interface ConnectionOptions {
  id: string;
  socket: net.Socket;
  handlers: ConnectionHandlers;
  logger: Logger;
  limits?: MessageLimits;
  /** Time to finish a message from its first byte, and to send the first request after connecting. */
  requestTimeoutMs?: number;
  /** Time without a complete request after which handlers.idle() decides whether to keep the connection. */
  idleTimeoutMs?: number;
  now?: () => number;
}

const DOLLAR = 0x24;
/** Requests a client may send before reading the answers; RTSP clients send one or two. */
const MAX_PIPELINED = 16;
/** An unfinished request may hold this much: 64 KiB of headers plus the 64 KiB body limit. */
const MAX_PARTIAL_REQUEST = 128 * 1024;

export class RtspConnection {
  readonly id: string;
  readonly socket: net.Socket;
  readonly remoteAddress: string;
  /** What its connections and sessions are counted under (limits.ts addressKey). */
  readonly addressKey: string;
  readonly remotePort: number;
  readonly logger: Logger;
  /** Roles this connection has proved credentials for (publish, read); checked once, then remembered. */
  readonly authorized = new Set<'publish' | 'read'>();
  /** Interleaved channel → session track (RFC 2326 §10.12): one lookup per incoming packet. */
  readonly routes = new Map<number, { session: RtspSession; track: number; rtcp: boolean }>();
  /** The sessions set up on this connection (a session dies with its connection). */
  readonly sessions = new Set<RtspSession>();
  /** What this connection ANNOUNCEd, until its SETUP with mode=record creates the session. */
  announced: { name: string; sdp: SessionDescription; uri: string } | undefined;
  /** When the connection was accepted, and when its last complete request arrived (connectedAt until one does). */
  readonly connectedAt: number;
  lastRequestAt: number;
  /** Whether any complete request arrived: a connection that never sent one is the first to go under pressure. */
  requested = false;
  private pending: Buffer | undefined;
  private partialTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private closed = false;
  /** A framing error or too many requests: nothing more is read; the answers owed, then one error, then close. */
  private failing = false;
  private readonly limits: MessageLimits;
  private readonly requestTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly now: () => number;

  constructor(private readonly o: ConnectionOptions) {
    this.id = o.id;
    this.socket = o.socket;
    this.logger = o.logger;
    this.remoteAddress = normalizeAddress(o.socket.remoteAddress ?? '');
    this.addressKey = addressKey(this.remoteAddress);
    this.remotePort = o.socket.remotePort ?? 0;
    this.limits = o.limits ?? DEFAULT_LIMITS;
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.idleTimeoutMs = o.idleTimeoutMs ?? 60_000;
    this.now = o.now ?? Date.now;
    this.connectedAt = this.now();
    this.lastRequestAt = this.connectedAt;
    o.socket.setNoDelay(true);
    o.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    o.socket.on('error', (err) => this.logger.debug('socket-error', { err }));
    o.socket.on('close', () => this.onClose());
    // A client says something at once (ffmpeg, VLC and GStreamer send OPTIONS or DESCRIBE on connect): one that does
    // not has the same deadline as an unfinished request.
    this.armPartialTimer();
    this.armIdleTimer();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  isLoopback(): boolean {
    return isLoopbackAddress(this.remoteAddress);
  }

  /** The peer is this machine, connecting to one of its own non-loopback addresses. */
  isSameHost(): boolean {
    return this.remoteAddress !== '' && this.remoteAddress === normalizeAddress(this.socket.localAddress ?? '');
  }

  /** Writes until uncork() leave together, in one writev (Node counts nested corks). */
  cork(): void {
    this.socket.cork();
  }

  uncork(): void {
    this.socket.uncork();
  }

  write(data: Uint8Array): void {
    if (!this.closed && !this.socket.writableEnded) this.socket.write(data);
  }

  /** Bytes queued in user space, not yet taken by the kernel. */
  backlog(): number {
    return this.socket.writableLength;
  }

  /** Flush what is queued, then close. */
  end(): void {
    if (this.closed) return;
    this.socket.end();
    // A peer that stopped reading never lets end() finish: do not wait for it forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Close with a TCP reset (SO_LINGER 0), dropping what is queued, in Node and in the kernel. For a peer that stopped
   * reading: destroy() would leave the socket in FIN-WAIT-1 holding megabytes of unsent data until the kernel gives up
   * on it; a reset frees them at once, and the peer sees ECONNRESET instead of a clean end.
   */
  reset(): void {
    if (this.socket.destroyed) return;
    this.socket.resetAndDestroy();
  }

  private onData(chunk: Buffer): void {
    if (this.failing) return; // the connection is being closed: the rest is not read
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let offset = 0;
    while (offset < buf.length && !this.closed && !this.failing) {
      const view = buf.subarray(offset);
      const r = parseIncoming(view, this.limits);
      if (r.kind === 'more') break;
      if (r.kind === 'error') {
        this.fail(r.error);
        return;
      }
      offset += r.consumed;
      const msg = r.value;
      if (msg.type === 'frame') this.frame(msg.frame.channel, msg.frame.payload);
      else if (msg.type === 'request') this.enqueue(msg.request);
      // Responses: we send no requests to clients, so a response is unsolicited; ignore it.
    }
    if (this.failing) return;
    // Whatever completed, the deadline now runs for the message that follows it (a publisher's chunks often end
    // inside a frame), from this moment; nothing completed, it keeps running for the one still unfinished. Until the
    // first request, the deadline from connecting stands: frames alone do not make a client.
    const progressed = offset > 0 && this.requested;
    if (progressed) this.clearPartialTimer();
    if (offset < buf.length) {
      buf = buf.subarray(offset);
      if (buf[0] !== DOLLAR && buf.length > MAX_PARTIAL_REQUEST) {
        // Re-parsing a huge unfinished header section on every chunk would cost CPU; no real client sends one.
        this.fail(new ProtocolError('request-too-large', `request headers and body over ${MAX_PARTIAL_REQUEST} bytes`, 400));
        return;
      }
      this.pending = buf;
      // Requests and interleaved frames alike: a frame is at most 64 KiB and a publisher sends it in one write, so
      // one that is still unfinished after the deadline comes from a client trickling bytes to hold the connection.
      this.armPartialTimer();
    } else if (this.requested) {
      this.clearPartialTimer();
    }
  }

  private armPartialTimer(): void {
    if (this.partialTimer) return;
    this.partialTimer = setTimeout(() => {
      this.partialTimer = undefined;
      if (!this.requested && this.pending === undefined) {
        // Not a byte since connecting (or only whole frames, on no session): nothing to answer.
        this.logger.info('idle-timeout', { waitedMs: this.requestTimeoutMs, requests: 0 });
        this.destroy();
        return;
      }
      const what = this.pending?.[0] === DOLLAR ? 'interleaved frame' : 'request';
      this.fail(new ProtocolError('request-timeout', `${what} not finished within ${this.requestTimeoutMs} ms`, 408));
    }, this.requestTimeoutMs);
  }

  /** The idle deadline restarts with every complete request, and with nothing else: bytes of media do not count. */
  private armIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.closed) return;
      if (this.o.handlers.idle(this)) this.armIdleTimer();
      else {
        this.logger.info('idle-timeout', { idleMs: this.idleTimeoutMs });
        this.destroy();
      }
    }, this.idleTimeoutMs);
  }

  private clearPartialTimer(): void {
    if (this.partialTimer) clearTimeout(this.partialTimer);
    this.partialTimer = undefined;
  }

  /**
   * Framing is lost after a bad message, or the client sent more than we take: read nothing more, answer the requests
   * already accepted (in order, as they would have been), then this error, and close this connection only. Logged
   * once: whatever else the client sends is never parsed.
   */
  private fail(err: ProtocolError): void {
    if (this.failing) return;
    this.failing = true;
    this.logger.warn('bad-request', { code: err.code, status: err.status, message: err.message });
    this.pending = undefined;
    this.clearPartialTimer();
    this.socket.pause();
    const response = writeResponse({
      status: err.status,
      reason: reasonPhrase(err.status),
      headers: [['Content-Type', 'text/plain'], ['Connection', 'close']],
      body: Buffer.from(err.message + '\n'),
    });
    this.chain = this.chain.then(() => {
      this.write(response);
      this.end();
      // Read (and discard, see onData) again, so the client's own close ends the connection at once.
      if (!this.closed) this.socket.resume();
    });
  }

  /** Frames that follow a request still being handled (RECORD, then RTP at once) wait for it, keeping order. */
  private frame(channel: number, payload: Uint8Array): void {
    if (this.inFlight === 0) {
      this.o.handlers.frame(this, channel, payload);
      return;
    }
    this.chain = this.chain.then(() => {
      if (!this.closed) this.o.handlers.frame(this, channel, payload);
    });
  }

  /** Requests are answered strictly in order, even when one waits (the delayed 401). */
  private enqueue(req: RtspRequest): void {
    this.requested = true;
    this.lastRequestAt = this.now();
    this.armIdleTimer();
    if (this.inFlight >= MAX_PIPELINED) {
      // The first MAX_PIPELINED are answered; this one and all after it get one 400 (fail()).
      this.fail(new ProtocolError('too-many-requests', `more than ${MAX_PIPELINED} requests sent without waiting for answers; the first ${MAX_PIPELINED} were answered`, 400));
      return;
    }
    this.inFlight++;
    // Read nothing more until the answers are out: frames that follow a pending request queue up in memory, so a
    // client must not be able to pile them up behind a slow (delayed 401) answer. TCP flow control holds the rest.
    if (this.inFlight === 1) this.socket.pause();
    this.chain = this.chain.then(async () => {
      try {
        await this.handle(req);
      } finally {
        this.inFlight--;
        if (this.inFlight === 0 && !this.closed && !this.failing) this.socket.resume();
      }
    });
  }

  private async handle(req: RtspRequest): Promise<void> {
    if (this.closed) return;
    let handled: Handled;
    try {
      handled = await this.o.handlers.request(this, req);
    } catch (err) {
      this.logger.error('handler-failed', { method: req.method, err });
      handled = { response: { status: 500, reason: reasonPhrase(500), headers: [], body: new Uint8Array(0) } };
    }
    if (this.closed) return;
    // RFC 2326 §12.17: every response echoes the request's CSeq.
    const cseq = getHeader(req.headers, 'CSeq');
    const headers = handled.response.headers.filter(([n]) => n.toLowerCase() !== 'cseq');
    if (cseq !== undefined) headers.unshift(['CSeq', cseq]);
    headers.push(['Server', 'relaycast']);
    this.write(writeResponse({ ...handled.response, headers }));
    handled.after?.();
    if (handled.close) this.end();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearPartialTimer();
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.pending = undefined;
    this.o.handlers.closed(this);
  }
}
