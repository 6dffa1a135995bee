// The built-in RTSP relay (RFC 2326): publishers ANNOUNCE/SETUP(record)/RECORD, players DESCRIBE/SETUP/PLAY, over
// TCP-interleaved or UDP. This file holds the listener, the connection and session tables, the limits and the timers;
// requests.ts answers a connection's requests and session-requests.ts a session's (gortsplib's server.go,
// server_conn.go and server_session.go); the protocol pieces are pure modules; the fan-out is the Stream hub.
import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import type { Logger } from '../../log.ts';
import { isLoopbackAddress, normalizeAddress } from '../../net.ts';
import type { ReaderEndReason } from '../../stream/reader.ts';
import type { Stream } from '../../stream/stream.ts';
import { RtspAccess } from './access.ts';
import { RtspConnection } from './connection.ts';
import { writeInterleaved } from '../../protocols/rtsp/interleaved.ts';
import { addressKey, evictionThreshold, KeyCounter, pickEviction } from './limits.ts';
import { reasonPhrase, writeResponse } from '../../protocols/rtsp/message.ts';
import type { SessionDescription } from '../../protocols/rtsp/sdp.ts';
import { RtspSession, rtcpBye, udpSend } from './session.ts';
import { UdpPortPool } from './udp.ts';
import {
  DEFAULT_PLAY_TIMEOUT_MS,
  DEFAULT_SESSIONS_PER_CONNECTION,
  DEFAULT_TRACKS_PER_CONNECTION,
  RECLAIM_AFTER_MS,
  REFUSAL_LOG_EVERY_MS,
  refuse,
  type Respond,
  type RtspCore,
  type RtspServerOptions,
} from './core.ts';
import { RtspRequests } from './requests.ts';

export type { Credential, RtspAuthOptions } from './access.ts';
export type { RtspServerOptions } from './core.ts';

export class RtspServer implements RtspCore {
  private readonly server: net.Server;
  private readonly connections = new Set<RtspConnection>();
  private readonly sessions = new Map<string, RtspSession>();
  /** Connections and play sessions per client address (limits.ts addressKey). */
  private readonly connsByAddress = new KeyCounter();
  private readonly playersByAddress = new KeyCounter();
  /** Sessions that have not played (or recorded) yet, and the timer that ends them if they do not in time. */
  private readonly playTimers = new Map<RtspSession, NodeJS.Timeout>();
  private readonly maxConnections: number;
  private readonly evictAt: number;
  private refused = { count: 0, byReason: {} as Record<string, number>, loggedAt: -Infinity };
  /** Sockets answered 503 and about to close. */
  private readonly refusing = new Set<net.Socket>();
  /** Connections closed to make room near the connection cap, and sessions reclaimed at the player limit. */
  evictions = 0;
  reclaimed = 0;
  readonly udp: UdpPortPool;
  readonly now: () => number;
  private readonly random: () => number;
  readonly access: RtspAccess;
  readonly logger: Logger;
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextConnectionId = 1;
  private closing: Promise<void> | undefined;
  /** UDP packets dropped because they came from an address that did not set the session up. */
  foreignPackets = 0;
  /** Sessions open now by lower transport, kept as they open and close (for /metrics, which must not walk them). */
  readonly sessionsByTransport = { tcp: 0, udp: 0 };

  private readonly requests: RtspRequests;

  constructor(readonly o: RtspServerOptions) {
    this.logger = o.logger;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.access = new RtspAccess(o.auth, this.now, this.random, o.authFailureDelayMs);
    this.udp = new UdpPortPool({ host: o.host, ...o.udpPorts });
    this.server = net.createServer((socket) => this.accept(socket));
    // Players plus publishers plus room for probes. accept() enforces it, so that it can make room by closing idle
    // connections; Node's own cap (which drops a connection unseen) is only a backstop for sockets still closing.
    this.maxConnections = o.maxConnections ?? o.maxClients * 2 + 64;
    this.evictAt = evictionThreshold(this.maxConnections);
    this.server.maxConnections = this.maxConnections * 2;
    this.requests = new RtspRequests(this);
  }

  async start(): Promise<{ port: number }> {
    this.server.listen(this.o.port, this.o.host);
    await once(this.server, 'listening');
    const timeout = this.o.sessionTimeoutMs ?? 60_000;
    this.sweepTimer = setInterval(() => this.sweep(timeout), Math.min(5000, timeout / 4));
    this.sweepTimer.unref();
    const port = this.port();
    this.logger.info('rtsp-listening', { host: this.o.host, port });
    return { port };
  }

  port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  session(id: string): RtspSession | undefined {
    return this.sessions.get(id);
  }

  playerCount(): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.mode === 'play') n++;
    return n;
  }

  /** RTSP connections open now (players, publishers, probes), against the connection cap. */
  connectionCount(): number {
    return this.connections.size;
  }

  /** Players per stream name, for the API. */
  playersOf(name: string): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.mode === 'play' && s.name === name && s.state !== 'closed') n++;
    return n;
  }

  /** End the RTSP publisher of stream NAME (DELETE /api/streams/NAME): its connection closes. False without one. */
  endPublisher(name: string): boolean {
    const id = this.o.registry.get(name)?.publisher?.session;
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (session?.mode !== 'record') return false;
    this.closeSession(session, 'ended by an operator');
    session.conn.end();
    return true;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.sweepTimer) clearInterval(this.sweepTimer);
      this.server.close();
      for (const s of [...this.sessions.values()]) this.closeSession(s, 'server closing');
      for (const c of this.connections) c.destroy();
      for (const socket of this.refusing) socket.destroy();
      for (const timer of this.playTimers.values()) clearTimeout(timer);
      this.playTimers.clear();
      await new Promise<void>((resolve) => {
        if (!this.server.listening) resolve();
        else this.server.once('close', () => resolve());
      });
    })();
    return this.closing;
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const remote = normalizeAddress(socket.remoteAddress ?? '');
    const key = addressKey(remote);
    const perIp = this.o.maxConnectionsPerIp ?? 0;
    if (perIp > 0 && this.countsPerIp(remote, 'connections') && this.connsByAddress.get(key) >= perIp) {
      this.refuseConnection(socket, 'max-connections-per-ip', `too many connections from your address (at most ${perIp}); close some and try again`);
      return;
    }
    if (this.connections.size >= this.evictAt) this.evictIdle();
    if (this.connections.size >= this.maxConnections) {
      this.refuseConnection(socket, 'max-connections', `the server is at its connection limit (${this.maxConnections}); try again later`);
      return;
    }
    const id = `c${this.nextConnectionId++}`;
    const logger = this.logger.child({ conn: id, remote: `${socket.remoteAddress}:${socket.remotePort}` });
    const conn = new RtspConnection({
      id,
      socket,
      logger,
      now: this.now,
      ...(this.o.limits ? { limits: this.o.limits } : {}),
      ...(this.o.requestTimeoutMs !== undefined ? { requestTimeoutMs: this.o.requestTimeoutMs } : {}),
      // A connection that holds no session and sends no request for the session timeout is closed. Only requests
      // count: a byte at a time, or frames for no session, keep nobody connected. Connections with sessions stay: TCP
      // players are busy, UDP sessions have their own keep-alive sweep; a connection whose sessions the sweep ends
      // later (a silent UDP player, a paused one) is closed one period after that.
      idleTimeoutMs: this.o.sessionTimeoutMs ?? 60_000,
      handlers: {
        request: (c, req) => this.requests.handle(c, req),
        frame: (c, channel, payload) => this.requests.onInterleaved(c, channel, payload),
        closed: (c) => this.onConnectionClosed(c),
        idle: (c) => c.sessions.size > 0,
      },
    });
    this.connections.add(conn);
    this.connsByAddress.add(conn.addressKey);
    logger.info('connect');
  }

  /** Whether a per-address cap counts this client: loopback (local tools, a proxy in front) only when asked. */
  private countsPerIp(remote: string, which: 'connections' | 'sessions'): boolean {
    return !isLoopbackAddress(remote) || (this.o.perIpLoopback?.[which] ?? false);
  }

  /**
   * Near the connection cap: close the connection that matters least (limits.ts pickEviction), never one with a
   * playing or recording session. It stops counting at once; its socket closes a moment later.
   */
  private evictIdle(): void {
    function* candidates(connections: Iterable<RtspConnection>) {
      for (const conn of connections) {
        let active = false;
        for (const s of conn.sessions) if (s.state === 'playing' || s.state === 'recording') active = true;
        yield { conn, active, sessions: conn.sessions.size, requested: conn.requested, lastRequestAt: conn.lastRequestAt };
      }
    }
    const victim = pickEviction(candidates(this.connections));
    if (!victim) return;
    this.evictions++;
    victim.conn.logger.info('evicted', { reason: 'connection-cap-near', connections: this.connections.size, limit: this.maxConnections, idleMs: this.now() - victim.lastRequestAt });
    this.forgetConnection(victim.conn);
    victim.conn.destroy();
  }

  /**
   * Answer a connection we will not serve with one 503 (ffmpeg prints "503 Service Unavailable" rather than a reset),
   * read and discard what it sent (closing on unread data would send a reset that may overtake the answer), and close.
   */
  private refuseConnection(socket: net.Socket, reason: string, message: string): void {
    this.logger.debug('connection-refused', { reason });
    const r = this.refused;
    r.count++;
    r.byReason[reason] = (r.byReason[reason] ?? 0) + 1;
    const now = this.now();
    if (now - r.loggedAt >= REFUSAL_LOG_EVERY_MS) {
      this.logger.warn('connections-refused', { count: r.count, byReason: r.byReason, last: normalizeAddress(socket.remoteAddress ?? '') });
      this.refused = { count: 0, byReason: {}, loggedAt: now };
    }
    socket.on('error', () => {});
    socket.resume();
    const body = Buffer.from(message + '\n');
    socket.end(writeResponse({ status: 503, reason: reasonPhrase(503), headers: [['Connection', 'close'], ['Content-Type', 'text/plain'], ['Server', 'relaycast']], body }));
    // A peer that never closes its side is not waited for.
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    this.refusing.add(socket);
    socket.once('close', () => {
      clearTimeout(timer);
      this.refusing.delete(socket);
    });
  }

  private forgetConnection(conn: RtspConnection): boolean {
    if (!this.connections.delete(conn)) return false;
    this.connsByAddress.remove(conn.addressKey);
    return true;
  }

  private onConnectionClosed(conn: RtspConnection): void {
    this.forgetConnection(conn);
    // A session dies with its connection: players that close the socket stop receiving at once, even over UDP.
    for (const s of [...conn.sessions]) this.closeSession(s, 'connection closed');
    conn.logger.info('disconnect');
  }

  // ---- sessions -------------------------------------------------------------------------------------------------

  createSession(conn: RtspConnection, mode: 'play' | 'record', name: string, announced: SessionDescription | undefined): RtspSession {
    const id = crypto.randomBytes(8).toString('hex');
    const session = new RtspSession({ id, mode, name, conn, now: this.now, ...(announced ? { announced } : {}) });
    session.onEnd = (reason) => this.endPlayer(session, reason);
    this.sessions.set(id, session);
    conn.sessions.add(session);
    if (mode === 'play') this.playersByAddress.add(conn.addressKey);
    // RFC 2326 leaves the time between SETUP and PLAY to the server: ours is short and keep-alives do not extend it,
    // so a session that is set up and never played holds its place for seconds, not for as long as its client likes.
    const playTimeoutMs = this.o.playTimeoutMs ?? DEFAULT_PLAY_TIMEOUT_MS;
    const timer = setTimeout(() => {
      this.playTimers.delete(session);
      if (session.state !== 'ready' || session.started) return;
      conn.logger.info('play-timeout', { session: session.id, stream: name, mode, timeoutMs: playTimeoutMs });
      this.closeSession(session, 'play-timeout');
    }, playTimeoutMs);
    timer.unref();
    this.playTimers.set(session, timer);
    return session;
  }

  clearPlayTimer(session: RtspSession): void {
    const timer = this.playTimers.get(session);
    if (timer) clearTimeout(timer);
    this.playTimers.delete(session);
  }

  /** undefined = a new session may be created on this connection; otherwise the 503 to answer. */
  sessionLimit(conn: RtspConnection, mode: 'play' | 'record'): Respond | undefined {
    const perConn = this.o.maxSessionsPerConnection ?? DEFAULT_SESSIONS_PER_CONNECTION;
    if (conn.sessions.size >= perConn) {
      conn.logger.warn('session-refused', { reason: 'max-sessions-per-connection', limit: perConn });
      return refuse(503, `this connection already has ${perConn} sessions, the most allowed; tear one down or open another connection`);
    }
    const perIp = this.o.maxSessionsPerIp ?? 0;
    if (mode === 'play' && perIp > 0 && this.countsPerIp(conn.remoteAddress, 'sessions') && this.playersByAddress.get(conn.addressKey) >= perIp) {
      conn.logger.warn('session-refused', { reason: 'max-sessions-per-ip', limit: perIp });
      return refuse(503, `your address already has ${perIp} player sessions, the most allowed; close some and try again`);
    }
    return undefined;
  }

  /** Tracks set up on one connection (interleaved channel pairs, UDP port pairs), across its sessions. */
  trackLimit(conn: RtspConnection): Respond | undefined {
    const max = this.o.maxTracksPerConnection ?? DEFAULT_TRACKS_PER_CONNECTION;
    let n = 0;
    for (const s of conn.sessions) n += s.transports.size;
    if (n < max) return undefined;
    conn.logger.warn('session-refused', { reason: 'max-tracks-per-connection', limit: max });
    return refuse(503, `this connection already has ${max} tracks set up, the most allowed; tear a session down first`);
  }

  sessionHeader(s: RtspSession): string {
    return `${s.id};timeout=${Math.round((this.o.sessionTimeoutMs ?? 60_000) / 1000)}`;
  }

  /** The hub ended a player: tell it with RTCP BYE (ffmpeg and GStreamer end on it), then close. */
  private endPlayer(session: RtspSession, reason: ReaderEndReason): void {
    if (session.state === 'closed') return;
    if (reason !== 'too-slow') this.sendBye(session);
    this.closeSession(session, reason);
    // A player too slow to read gets a reset, not a graceful end: a FIN would wait behind megabytes the player is not
    // reading, in FIN-WAIT-1 with the data held in the kernel.
    if (reason === 'too-slow') session.conn.reset();
    else session.conn.end();
  }

  private sendBye(session: RtspSession): void {
    const stream = session.stream;
    if (!stream) return;
    for (const [track, t] of session.transports) {
      const bye = rtcpBye(stream.ssrcOf(track) ?? 0);
      if (t.kind === 'tcp') session.conn.write(writeInterleaved(t.rtcpChannel, bye));
      else udpSend(() => t.pair.rtcp.send(bye, t.peerRtcpPort, t.peer));
    }
  }

  closeSession(session: RtspSession, why: string): void {
    if (session.state === 'closed') return;
    session.transition('closed');
    this.sessions.delete(session.id);
    const transport = session.lowerTransport;
    if (transport) this.sessionsByTransport[transport]--;
    this.clearPlayTimer(session);
    if (session.conn.sessions.delete(session) && session.mode === 'play') this.playersByAddress.remove(session.conn.addressKey);
    if (session.reader) session.stream?.removeReader(session.reader);
    session.reader = undefined;
    if (session.mode === 'record' && session.stream && session.stream.publisher?.session === session.id) {
      this.o.registry.unpublish(session.stream);
    }
    session.releaseTransports();
    const routes = session.conn.routes;
    for (const [channel, r] of routes) if (r.session === session) routes.delete(channel);
    session.conn.logger.info(session.mode === 'record' ? 'unpublish' : 'teardown', { session: session.id, stream: session.name, why });
  }

  /** UDP sessions that sent neither RTCP nor a keep-alive for the timeout are closed (RFC 2326 §12.37). */
  private sweep(timeoutMs: number): void {
    const now = this.now();
    for (const s of [...this.sessions.values()]) {
      // UDP sessions need RTCP or keep-alives; any session that is set up but not playing or recording (never
      // played, or paused) needs keep-alives too, or it would hold a --max-clients slot forever.
      const idle = s.lowerTransport === 'udp' || s.state === 'ready';
      if (idle && now - s.lastSeen > timeoutMs) {
        // Tell the player why it stops receiving (RTCP BYE), then free the session; the connection idles out.
        if (s.mode === 'play') this.sendBye(s);
        this.closeSession(s, 'timeout');
      }
    }
  }

  // ---- limits and auth ------------------------------------------------------------------------------------------

  /** ffserver's MaxClients (503) and MaxBandwidth (453). */
  /** RTSP player sessions and the players of the other servers: what --max-clients is checked against. */
  allPlayers(): number {
    return this.playerCount() + (this.o.otherPlayers?.() ?? 0);
  }

  admit(stream: Stream): Respond | undefined {
    if (this.allPlayers() >= this.o.maxClients && !this.reclaim()) {
      this.logger.warn('player-refused', { stream: stream.name, reason: 'max-clients', limit: this.o.maxClients });
      return refuse(503, `the server is at its player limit (${this.o.maxClients}); try again later`);
    }
    const max = this.o.maxBandwidthKbps;
    if (max > 0 && this.o.registry.totalEgressKbps() + stream.ingestKbps() > max) {
      this.logger.warn('player-refused', { stream: stream.name, reason: 'max-bandwidth', limitKbps: max });
      return refuse(453, `the server is at its bandwidth limit (${max} kbit/s); try again later`);
    }
    return undefined;
  }

  /**
   * At the player limit, end the play session that was set up longest ago and never played (if it is older than
   * RECLAIM_AFTER_MS), so that its place goes to a player that asks now. Playing and paused players are never taken:
   * those hold their place for as long as they keep their session alive.
   */
  private reclaim(): boolean {
    const now = this.now();
    // With a play timeout shorter than that, half of it: a session that old would soon end anyway.
    const minAge = Math.min(RECLAIM_AFTER_MS, (this.o.playTimeoutMs ?? DEFAULT_PLAY_TIMEOUT_MS) / 2);
    let oldest: RtspSession | undefined;
    for (const s of this.playTimers.keys()) {
      if (s.mode !== 'play' || s.started || s.state !== 'ready' || now - s.createdAt < minAge) continue;
      if (!oldest || s.createdAt < oldest.createdAt) oldest = s;
    }
    if (!oldest) return false;
    this.reclaimed++;
    oldest.conn.logger.info('session-reclaimed', { session: oldest.id, stream: oldest.name, ageMs: now - oldest.createdAt });
    this.closeSession(oldest, 'reclaimed');
    return true;
  }
}