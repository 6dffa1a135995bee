// Cheap lock-out attacks on the RTSP server (issue 12 item 2), as small programs the lock-out tests run while a real
// player tries to play: sockets that hold a connection slot while saying nothing or next to nothing, and clients that
// hold sessions without playing. Each keeps its attack going: what the server closes is opened again, from loopback
// addresses other than 127.0.0.1 (Linux routes all of 127.0.0.0/8 to lo), so that per-address limits can tell the
// attacker from the player.
import net from 'node:net';
import { parseIncoming } from '../../../server/protocols/rtsp/interleaved.ts';
import { getHeader, type RtspResponse } from '../../../server/protocols/rtsp/message.ts';
import { requestText, sleep } from './helpers.ts';

/** 127.0.0.2, 127.0.0.3, ...: `count` attacker addresses. */
export function attackerAddresses(count: number, first = 2): string[] {
  if (first < 2 || first + count > 255) throw new RangeError('attacker addresses are 127.0.0.2 to 127.0.0.254');
  return Array.from({ length: count }, (_, i) => `127.0.0.${first + i}`);
}

export interface FloodStats {
  /** Connections that were established. */
  opened: number;
  /** Of those, closed by the server (not by us at stop()). */
  closedByServer: number;
  /** Connections the server answered with 503 (refused at once). */
  refused: number;
  /** How long each connection closed by the server had been held, ms. */
  heldMs: number[];
  /** Connections open at most at once. */
  peakOpen: number;
}

/**
 * `perAddress` connections from each address, each doing `behave` once connected; whatever the server closes is
 * opened again after `reopenMs`, until stop().
 */
export class SocketFlood {
  readonly stats: FloodStats = { opened: 0, closedByServer: 0, refused: 0, heldMs: [], peakOpen: 0 };
  private readonly sockets = new Set<net.Socket>();
  private running = true;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly o: {
      port: number;
      addresses: string[];
      perAddress: number;
      reopenMs: number;
      /** What an attacker socket does once connected; returns a cleanup. */
      behave?: (socket: net.Socket) => () => void;
    },
  ) {}

  /** Open every connection; resolves once each has connected or failed once. */
  async start(): Promise<void> {
    const firsts: Array<Promise<void>> = [];
    for (const address of this.o.addresses) for (let i = 0; i < this.o.perAddress; i++) firsts.push(this.slot(address));
    await Promise.all(firsts);
  }

  open(): number {
    return this.sockets.size;
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const all = [...this.sockets];
    for (const s of all) s.destroy();
    await Promise.all(all.map((s) => (s.closed ? undefined : new Promise((r) => s.once('close', r)))));
  }

  /** One attacker connection; when it closes, another takes its place. Resolves when the first attempt settles. */
  private slot(address: string): Promise<void> {
    return new Promise<void>((settled) => {
      const socket = net.connect({ port: this.o.port, host: '127.0.0.1', localAddress: address });
      let openedAt = 0;
      let cleanup = () => {};
      let answered = '';
      socket.on('connect', () => {
        openedAt = Date.now();
        this.sockets.add(socket);
        this.stats.opened++;
        this.stats.peakOpen = Math.max(this.stats.peakOpen, this.sockets.size);
        if (this.o.behave) cleanup = this.o.behave(socket);
        settled();
      });
      socket.on('data', (chunk: Buffer) => {
        if (answered.length < 32) answered += chunk.toString('latin1');
      });
      socket.on('error', () => settled());
      socket.on('close', () => {
        cleanup();
        settled();
        const wasOpen = this.sockets.delete(socket);
        if (!this.running) return;
        if (wasOpen) {
          this.stats.closedByServer++;
          if (answered.startsWith('RTSP/1.0 503')) this.stats.refused++;
          else this.stats.heldMs.push(Date.now() - openedAt);
        }
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (this.running) void this.slot(address);
        }, this.o.reopenMs);
        this.timers.add(timer);
      });
    });
  }
}

/** Sends `$`, a channel and a 65535-byte length, then one byte every `everyMs`: a frame that never ends. */
export function tricklePartialFrame(everyMs: number): (socket: net.Socket) => () => void {
  return (socket) => {
    socket.write(Buffer.from([0x24, 0x00, 0xff, 0xff]));
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(Buffer.from([0x80]));
    }, everyMs);
    return () => clearInterval(timer);
  };
}

export interface SquatStats {
  /** SETUPs answered 200: sessions created. */
  sessions: number;
  /** Refusals by status, and the sentences that came with them. */
  refusals: Map<number, number>;
  reasons: Set<string>;
  /** Keep-alives answered 454: the server had ended a session despite them. */
  expired: number;
  /** Sessions held at once on one connection, at most. */
  maxPerConnection: number;
  /** Sessions held at once by this squatter, at most. */
  maxHeld: number;
}

/**
 * A client on one connection from `address` that keeps up to `target` sessions of `url` set up and never plays them,
 * sending a GET_PARAMETER keep-alive for each every `keepAliveMs` (RFC 2326 §10.8), and setting up again whatever the
 * server ends. Reconnects if the connection is closed.
 */
export class SessionSquatter {
  readonly stats: SquatStats = { sessions: 0, refusals: new Map(), reasons: new Set(), expired: 0, maxPerConnection: 0, maxHeld: 0 };
  private running = true;
  private socket: net.Socket | undefined;
  private done: Promise<void> | undefined;
  private cseq = 1;
  private buf = Buffer.alloc(0);
  private waiting: ((r: RtspResponse | undefined) => void) | undefined;
  held: string[] = [];

  constructor(private readonly o: { port: number; address: string; url: string; target: number; keepAliveMs: number; retryMs?: number }) {}

  start(): void {
    this.done = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.socket?.destroy();
    await this.done;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.socket || this.socket.destroyed) {
        this.held = [];
        if (!(await this.connect())) {
          await sleep(this.o.retryMs ?? 100);
          continue;
        }
      }
      // Top up: new sessions until the target or a refusal.
      while (this.running && this.held.length < this.o.target) {
        const r = await this.request('SETUP', `${this.o.url}/trackID=0`, [['Transport', 'RTP/AVP/TCP;unicast']]);
        if (!r) break;
        if (r.status !== 200) {
          this.stats.refusals.set(r.status, (this.stats.refusals.get(r.status) ?? 0) + 1);
          this.stats.reasons.add(Buffer.from(r.body).toString('utf8').trim());
          break;
        }
        const id = getHeader(r.headers, 'Session')?.split(';')[0];
        if (id) this.held.push(id);
        this.stats.sessions++;
        this.stats.maxHeld = Math.max(this.stats.maxHeld, this.held.length);
      }
      // Keep every session alive; forget the ones the server ended (they are set up again next round).
      for (const id of [...this.held]) {
        if (!this.running) break;
        const r = await this.request('GET_PARAMETER', this.o.url, [['Session', id]]);
        if (r?.status === 454) {
          this.stats.expired++;
          this.held = this.held.filter((x) => x !== id);
        }
      }
      // Sessions the server just confirmed alive, all on this connection. (Counted before the keep-alives, a session
      // the server had already ended to make room still looked held, and a full CI run once saw 8 "on" a connection.)
      this.stats.maxPerConnection = Math.max(this.stats.maxPerConnection, this.held.length);
      await sleep(this.o.keepAliveMs);
    }
  }

  private connect(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = net.connect({ port: this.o.port, host: '127.0.0.1', localAddress: this.o.address });
      socket.once('connect', () => {
        this.socket = socket;
        this.buf = Buffer.alloc(0);
        resolve(true);
      });
      socket.on('error', () => resolve(false));
      socket.on('data', (chunk: Buffer) => this.onData(chunk));
      socket.on('close', () => {
        this.waiting?.(undefined);
        this.waiting = undefined;
        resolve(false);
      });
    });
  }

  private request(method: string, uri: string, headers: Array<[string, string]>): Promise<RtspResponse | undefined> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        socket.destroy();
        resolve(undefined);
      }, 5000);
      this.waiting = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
      socket.write(requestText(method, uri, [['CSeq', String(this.cseq++)], ...headers]));
    });
  }

  private onData(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      const r = parseIncoming(this.buf);
      if (r.kind !== 'ok') return;
      this.buf = this.buf.subarray(r.consumed);
      if (r.value.type === 'response') {
        const w = this.waiting;
        this.waiting = undefined;
        w?.(r.value.response);
      }
    }
  }
}
