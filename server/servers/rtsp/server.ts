// The built-in RTSP relay (RFC 2326): publishers ANNOUNCE/SETUP(record)/RECORD, players DESCRIBE/SETUP/PLAY, over
// TCP-interleaved or UDP. Sockets and timers live here and in connection.ts/udp.ts; the protocol pieces are pure
// modules; the fan-out is the Stream hub. mediamtx's servers/rtsp + gortsplib's server_session.go are the model.
import crypto from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import type { Logger } from '../../log.ts';
import { isLoopbackAddress, normalizeAddress } from '../../net.ts';
import { isRtcpPacketType } from '../../protocols/rtp/packet.ts';
import type { StreamRegistry } from '../../stream/registry.ts';
import type { ReaderEndReason } from '../../stream/reader.ts';
import type { Stream } from '../../stream/stream.ts';
import { RtspAccess, type RtspAuthOptions } from './access.ts';
import { RtspConnection, type Handled } from './connection.ts';
import { writeInterleaved } from '../../protocols/rtsp/interleaved.ts';
import { addressKey, evictionThreshold, KeyCounter, pickEviction } from './limits.ts';
import { getHeader, reasonPhrase, writeResponse, type Header, type MessageLimits, type RtspRequest } from '../../protocols/rtsp/message.ts';
import { codecOf, parseSdp, playerSdp, writeSdp, type SessionDescription } from '../../protocols/rtsp/sdp.ts';
import { PlayerSink, RtspSession, rtcpBye, udpSend, type TrackTransport } from './session.ts';
import { parseTransport, writeTransport, type TransportSpec } from '../../protocols/rtsp/transport.ts';
import { UdpPortPool } from './udp.ts';
import type { PaceOptions } from './udp-pacer.ts';
import { parseRequestUri, parseTarget, playerTrack, type RtspTarget } from '../../protocols/rtsp/uri.ts';

export type { Credential, RtspAuthOptions } from './access.ts';

export interface RtspServerOptions {
  host: string;
  port: number;
  logger: Logger;
  registry: StreamRegistry;
  udpPorts: { min: number; max: number };
  /** ffserver's MaxClients: players across all streams, of every protocol. */
  maxClients: number;
  /** Players served by other servers (HTTP /NAME.mp4), which --max-clients counts too. */
  otherPlayers?: () => number;
  /** ffserver's MaxBandwidth, kbit/s of all players together; 0 = no limit. */
  maxBandwidthKbps: number;
  auth: RtspAuthOptions;
  /**
   * Most connections at once (players, publishers, probes); default 2 × maxClients + 64. Near it, connections without
   * a playing or recording session are closed to make room, the idlest first (limits.ts pickEviction).
   */
  maxConnections?: number;
  /** Most connections from one address (IPv6: one /64); 0 = no limit. */
  maxConnectionsPerIp?: number;
  /** Most play sessions from one address (IPv6: one /64); 0 = no limit. */
  maxSessionsPerIp?: number;
  /** Whether the two per-address caps count loopback clients too (local tools and proxies are exempt otherwise). */
  perIpLoopback?: { connections: boolean; sessions: boolean };
  /** Sessions on one connection (default 4), and tracks set up on one connection (channel or port pairs, default 16). */
  maxSessionsPerConnection?: number;
  maxTracksPerConnection?: number;
  /** A session must PLAY (or RECORD) within this of its creation by SETUP; keep-alives do not extend it. Default 10 s. */
  playTimeoutMs?: number;
  /** Session keep-alive timeout (RFC 2326 §12.37), and how long a connection without a session may go without a request. */
  sessionTimeoutMs?: number;
  /** Time to finish any request or interleaved frame from its first byte, and to send a first request. */
  requestTimeoutMs?: number;
  limits?: MessageLimits;
  /** Delay before answering a wrong password, [min, max] ms, to slow down guessing. */
  authFailureDelayMs?: [number, number];
  /** How the burst a UDP player starts with is spread out (udp-pacer.ts); DEFAULT_PACE: 4 × real time. */
  udpPace?: PaceOptions;
  now?: () => number;
  random?: () => number;
}

const PUBLIC_METHODS = 'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER';
/** ffmpeg, GStreamer and VLC open one session per connection; an NVR pulling several streams may share one. */
const DEFAULT_SESSIONS_PER_CONNECTION = 4;
const DEFAULT_TRACKS_PER_CONNECTION = 16;
const DEFAULT_PLAY_TIMEOUT_MS = 10_000;
/**
 * At the player limit, a session set up this long ago that never played gives its place to a new player (live555's
 * reclamation, without waiting for the timeout). A real player sends PLAY a round trip after its last SETUP.
 */
const RECLAIM_AFTER_MS = 2000;
/** Refused connections are logged as a count at most this often: a flood must not become a flood of log lines. */
const REFUSAL_LOG_EVERY_MS = 10_000;

type Respond = Handled;

function reply(status: number, headers: Header[] = [], body?: string | Uint8Array, reason?: string): Respond {
  const bytes = typeof body === 'string' ? Buffer.from(body) : (body ?? new Uint8Array(0));
  const h = body !== undefined && typeof body === 'string' && !headers.some(([n]) => n === 'Content-Type') ? [...headers, ['Content-Type', 'text/plain'] as const] : headers;
  return { response: { status, reason: reason ?? reasonPhrase(status), headers: h, body: bytes } };
}

/** An error answer with a sentence in the body that says what to do. */
function refuse(status: number, message: string, extra: Header[] = []): Respond {
  return reply(status, extra, message + '\n');
}

export class RtspServer {
  private readonly server: net.Server;
  private readonly connections = new Set<RtspConnection>();
  private readonly sessions = new Map<string, RtspSession>();
  /** Each connection's sessions (a session dies with its connection). */
  private readonly sessionsByConn = new Map<RtspConnection, Set<RtspSession>>();
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
  private readonly udp: UdpPortPool;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly access: RtspAccess;
  private readonly logger: Logger;
  private sweepTimer: NodeJS.Timeout | undefined;
  private nextConnectionId = 1;
  private closing: Promise<void> | undefined;
  /** UDP packets dropped because they came from an address that did not set the session up. */
  foreignPackets = 0;

  constructor(private readonly o: RtspServerOptions) {
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
        request: (c, req) => this.handle(c, req),
        frame: (c, channel, payload) => this.onInterleaved(c, channel, payload),
        closed: (c) => this.onConnectionClosed(c),
        idle: (c) => (this.sessionsByConn.get(c)?.size ?? 0) > 0,
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
    const sessionsByConn = this.sessionsByConn;
    function* candidates(connections: Iterable<RtspConnection>) {
      for (const conn of connections) {
        const sessions = sessionsByConn.get(conn);
        let active = false;
        for (const s of sessions ?? []) if (s.state === 'playing' || s.state === 'recording') active = true;
        yield { conn, active, sessions: sessions?.size ?? 0, requested: conn.requested, lastRequestAt: conn.lastRequestAt };
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
    for (const s of [...(this.sessionsByConn.get(conn) ?? [])]) this.closeSession(s, 'connection closed');
    this.sessionsByConn.delete(conn);
    conn.logger.info('disconnect');
  }

  // ---- requests -------------------------------------------------------------------------------------------------

  private async handle(conn: RtspConnection, req: RtspRequest): Promise<Respond> {
    if (getHeader(req.headers, 'CSeq') === undefined) return refuse(400, 'missing CSeq header (RFC 2326 §12.17)');
    // Every request URI is checked as written, whatever the method (uri.ts); "*" is the one other form (RFC 2326 §6.1).
    // DESCRIBE, ANNOUNCE and SETUP also need it to name a stream (target()).
    if (req.uri !== '*') {
      const u = parseRequestUri(req.uri);
      if (!u.ok) return refuse(u.error.status, u.error.message);
    }
    const sessionId = getHeader(req.headers, 'Session')?.split(';')[0]?.trim();
    const session = sessionId !== undefined ? this.sessions.get(sessionId) : undefined;
    // OPTIONS may carry a stale Session harmlessly; a keep-alive for a session that is gone must say so (454).
    if (sessionId !== undefined && !session && req.method !== 'OPTIONS') {
      return refuse(454, `session ${sessionId.slice(0, 40)} not found (it timed out or was torn down)`);
    }
    if (session && session.conn !== conn && session.conn.remoteAddress !== conn.remoteAddress) {
      // Only the client that created a session may drive it.
      return refuse(454, 'session not found');
    }
    session?.touch();
    switch (req.method) {
      case 'OPTIONS':
        return reply(200, [['Public', PUBLIC_METHODS]]);
      case 'DESCRIBE':
        return this.describe(conn, req);
      case 'ANNOUNCE':
        return this.announce(conn, req);
      case 'SETUP':
        return this.setup(conn, req, session);
      case 'PLAY':
        return this.play(conn, req, session);
      case 'RECORD':
        return this.record(conn, req, session);
      case 'PAUSE':
        return this.pause(session);
      case 'TEARDOWN':
        if (session) this.closeSession(session, 'teardown');
        return reply(200);
      case 'GET_PARAMETER':
      case 'SET_PARAMETER':
        // Keep-alive (RFC 2326 §10.8/§10.9). We expose no parameters, so a body naming one is not understood.
        if (req.body.length > 0) return refuse(451, 'no parameters are supported; send an empty body as a keep-alive');
        return reply(200, session ? [['Session', this.sessionHeader(session)]] : []);
      default:
        return refuse(501, `method ${req.method.slice(0, 32)} is not implemented`, [['Public', PUBLIC_METHODS]]);
    }
  }

  private target(req: RtspRequest): { ok: true; value: RtspTarget } | { ok: false; respond: Respond } {
    const t = parseTarget(req.uri);
    if (!t.ok) return { ok: false, respond: refuse(t.error.status, t.error.message) };
    return t;
  }

  private async describe(conn: RtspConnection, req: RtspRequest): Promise<Respond> {
    const t = this.target(req);
    if (!t.ok) return t.respond;
    const denied = await this.access.authorize(conn, req, 'read');
    if (denied) return denied;
    const stream = this.o.registry.get(t.value.name);
    if (!stream) return refuse(404, `no stream named "${t.value.name}" is being published`);
    const base = `${t.value.origin}/${t.value.name}/`;
    const sdp = writeSdp(playerSdp(stream.sdp));
    conn.logger.info('describe', { stream: t.value.name });
    return reply(200, [['Content-Base', base], ['Content-Type', 'application/sdp']], sdp);
  }

  private async announce(conn: RtspConnection, req: RtspRequest): Promise<Respond> {
    const t = this.target(req);
    if (!t.ok) return t.respond;
    const denied = await this.access.authorize(conn, req, 'publish');
    if (denied) return denied;
    const type = getHeader(req.headers, 'Content-Type')?.split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/sdp') return refuse(415, 'ANNOUNCE needs an application/sdp body');
    const parsed = parseSdp(Buffer.from(req.body).toString('utf8'));
    if (!parsed.ok) {
      // The reason phrase is what ffmpeg and GStreamer print ("method ANNOUNCE failed: 400 Bad Request (Invalid SDP)");
      // the body says which line and what is wrong with it.
      conn.logger.info('publish-refused', { stream: t.value.name, reason: parsed.error.code });
      return reply(parsed.error.status, [], `the SDP could not be read: ${parsed.error.message}\n`, `${reasonPhrase(parsed.error.status)} (Invalid SDP)`);
    }
    const sdp = parsed.value;
    if (sdp.media.length === 0) return refuse(400, 'the SDP has no media');
    if (sdp.media.some((m) => !m.proto.startsWith('RTP/'))) return refuse(415, 'only RTP media can be published');
    const live = this.o.registry.get(t.value.name);
    if (live?.state === 'live') {
      conn.logger.info('publish-refused', { stream: t.value.name, reason: 'in-use' });
      return reply(403, [], `stream "${t.value.name}" already has a publisher; stop it first or pick another name\n`, 'Forbidden (Stream Already Published)');
    }
    conn.announced = { name: t.value.name, sdp, uri: req.uri };
    conn.logger.info('announce', { stream: t.value.name, codecs: sdp.media.map((m) => codecOf(m).codec) });
    return reply(200);
  }

  private async setup(conn: RtspConnection, req: RtspRequest, existing: RtspSession | undefined): Promise<Respond> {
    const t = this.target(req);
    if (!t.ok) return t.respond;
    const header = getHeader(req.headers, 'Transport');
    if (!header) return refuse(461, 'SETUP needs a Transport header');
    const specs = parseTransport(header);
    if (!specs.ok) return refuse(461, `the Transport header could not be read: ${specs.error.message}`);

    const announced = conn.announced;
    const recording = specs.value.some((s) => s.mode === 'record') || (announced?.name === t.value.name && existing?.mode !== 'play');
    if (existing && existing.name !== t.value.name) return refuse(455, 'a session serves one stream; SETUP the other stream in a new session');
    if (existing && existing.state !== 'ready') return refuse(455, `cannot SETUP while ${existing.state}`);

    let track: number | undefined;
    let stream: Stream | undefined;
    if (recording) {
      if (existing && existing.mode !== 'record') return refuse(455, 'this session plays; it cannot also record');
      const denied = await this.access.authorize(conn, req, 'publish');
      if (denied) return denied;
      if (!announced || announced.name !== t.value.name) return refuse(455, 'ANNOUNCE the stream before SETUP with mode=record');
      track = publisherTrack(announced.sdp, announced.uri, req.uri, t.value.control);
      if (track === undefined) return refuse(404, `the announced SDP has no track "${t.value.control}"`);
    } else {
      if (existing && existing.mode !== 'play') return refuse(455, 'this session records; it cannot also play');
      const denied = await this.access.authorize(conn, req, 'read');
      if (denied) return denied;
      stream = this.o.registry.get(t.value.name);
      if (!stream) return refuse(404, `no stream named "${t.value.name}" is being published`);
      track = playerTrack(t.value.control, stream.tracks.length);
      if (track === undefined) return refuse(404, `stream "${t.value.name}" has no track "${t.value.control}"`);
      if (!existing) {
        const limit = this.sessionLimit(conn, 'play') ?? this.admit(stream);
        if (limit) return limit;
      }
    }
    if (existing?.transports.has(track)) return refuse(455, `track ${track} is already set up`);
    if (!existing && recording) {
      const limit = this.sessionLimit(conn, 'record');
      if (limit) return limit;
    }
    const trackLimit = this.trackLimit(conn);
    if (trackLimit) return trackLimit;

    const wanted = existing?.lowerTransport;
    const spec = specs.value.find((s) => (s.protocol.startsWith('RTP/AVP') && s.delivery !== 'multicast') && (wanted === undefined || s.lowerTransport.toLowerCase() === wanted));
    if (!spec) return refuse(461, 'supported transports: RTP/AVP/TCP;unicast;interleaved=N-M and RTP/AVP;unicast;client_port=N-M (one kind per session)');

    let transport: TrackTransport;
    let answer: TransportSpec;
    if (spec.lowerTransport === 'TCP') {
      const channels = spec.interleaved ?? this.freeChannels(conn);
      if (this.channelInUse(conn, channels[0]) || this.channelInUse(conn, channels[1])) return refuse(461, `interleaved channels ${channels[0]}-${channels[1]} are already in use on this connection`);
      transport = { kind: 'tcp', track, rtpChannel: channels[0], rtcpChannel: channels[1] };
      answer = { protocol: 'RTP/AVP/TCP', lowerTransport: 'TCP', delivery: 'unicast', interleaved: channels, extra: [] };
    } else {
      if (!spec.clientPort) return refuse(461, 'UDP transport needs client_port=N-M');
      if (spec.clientPort.some((p) => p < 1 || p > 65535)) return refuse(461, 'client_port must name ports 1-65535');
      // Never send to anyone but the requester: a destination= naming another host is refused, not obeyed.
      if (spec.destination !== undefined && normalizeAddress(spec.destination) !== conn.remoteAddress) return refuse(461, 'destination must be the requesting client');
      let pair;
      try {
        pair = await this.udp.allocate();
      } catch (err) {
        conn.logger.error('udp-ports-exhausted', { err });
        return refuse(453, 'no UDP ports left; use TCP (e.g. ffplay -rtsp_transport tcp)');
      }
      transport = { kind: 'udp', track, pair, peer: pair.addressFor(conn.remoteAddress), peerRtpPort: spec.clientPort[0], peerRtcpPort: spec.clientPort[1] };
      if (!recording) {
        try {
          await pair.connectRtp(transport.peer, transport.peerRtpPort);
        } catch (err) {
          pair.close();
          conn.logger.warn('udp-connect-failed', { err });
          return refuse(461, `cannot send RTP to ${conn.remoteAddress} port ${transport.peerRtpPort}; use TCP (e.g. ffplay -rtsp_transport tcp)`);
        }
      }
      answer = { protocol: 'RTP/AVP', lowerTransport: 'UDP', delivery: 'unicast', clientPort: spec.clientPort, serverPort: [pair.rtpPort, pair.rtpPort + 1], extra: [] };
    }
    // The await above let other things happen: the connection, the session or the stream may be gone by now.
    if (conn.isClosed || existing?.state === 'closed' || stream?.state === 'ended') {
      if (transport.kind === 'udp') transport.pair.close();
      return refuse(454, 'the session or stream ended during SETUP');
    }
    // Other SETUPs may have taken what was left meanwhile (the player limit too: admit() ran before the await).
    const lateLimit =
      (existing ? undefined : this.sessionLimit(conn, recording ? 'record' : 'play')) ??
      (!existing && !recording && this.allPlayers() >= this.o.maxClients ? refuse(503, `the server is at its player limit (${this.o.maxClients}); try again later`) : undefined) ??
      this.trackLimit(conn);
    if (lateLimit) {
      if (transport.kind === 'udp') transport.pair.close();
      return lateLimit;
    }
    const session = existing ?? this.createSession(conn, recording ? 'record' : 'play', t.value.name, recording ? announced?.sdp : undefined);
    if (stream && !session.stream) session.stream = stream;
    session.transports.set(track, transport);
    if (transport.kind === 'tcp') {
      conn.routes.set(transport.rtpChannel, { session, track, rtcp: false });
      conn.routes.set(transport.rtcpChannel, { session, track, rtcp: true });
    }
    if (transport.kind === 'udp') this.bindUdp(session, transport);
    const ssrc = stream?.ssrcOf(track);
    if (recording) answer.mode = 'record';
    else if (ssrc !== undefined) answer.ssrc = ssrc;
    conn.logger.info('setup', { session: session.id, stream: session.name, mode: session.mode, track, transport: transport.kind });
    return reply(200, [['Transport', writeTransport(answer)], ['Session', this.sessionHeader(session)]]);
  }

  private play(conn: RtspConnection, req: RtspRequest, session: RtspSession | undefined): Respond {
    if (!session) return refuse(454, 'PLAY needs the Session from SETUP');
    if (session.mode !== 'play') return refuse(455, 'a recording session cannot PLAY');
    if (!session.canTransition('playing')) return refuse(455, `cannot PLAY while ${session.state}`);
    const stream = session.stream;
    if (!stream || stream.state === 'ended') return refuse(404, 'the stream has ended');
    const t = parseTarget(req.uri);
    const base = t.ok ? `${t.value.origin}/${t.value.name}/` : req.uri;
    const info: string[] = [];
    // After PAUSE, delivery resumes at the next keyframe, whose numbers are not known yet: RTP-Info is optional
    // (RFC 2326 §12.33), so it is sent only when it is true.
    if (!session.reader) for (const track of session.transports.keys()) {
      const at = stream.rtpInfo(track);
      // RFC 2326 §12.33 RTP-Info: lets the player map the first packet to the start of the range.
      if (at) info.push(`url=${base}trackID=${track};seq=${at.seq};rtptime=${at.rtptime}`);
    }
    const headers: Header[] = [['Session', this.sessionHeader(session)], ['Range', 'npt=0.000-']];
    if (info.length > 0) headers.push(['RTP-Info', info.join(',')]);
    const wasPlaying = session.state === 'playing';
    session.transition('playing');
    this.clearPlayTimer(session);
    return {
      ...reply(200, headers),
      after: () => {
        if (wasPlaying || session.state !== 'playing') return;
        if (session.reader) stream.resumeReader(session.reader);
        else {
          session.sink = new PlayerSink(session, this.o.udpPace ? { pace: this.o.udpPace } : {});
          session.reader = stream.addReader(session.id, session.sink, new Set(session.transports.keys()));
        }
        conn.logger.info('play', { session: session.id, stream: session.name, transport: session.lowerTransport, players: stream.readerCount() });
      },
    };
  }

  private async record(conn: RtspConnection, req: RtspRequest, session: RtspSession | undefined): Promise<Respond> {
    if (!session) return refuse(454, 'RECORD needs the Session from SETUP');
    if (session.mode !== 'record' || !session.announced) return refuse(455, 'a play session cannot RECORD');
    if (!session.canTransition('recording')) return refuse(455, `cannot RECORD while ${session.state}`);
    const denied = await this.access.authorize(conn, req, 'publish');
    if (denied) return denied;
    if (session.transports.size === 0) return refuse(455, 'SETUP at least one track before RECORD');
    const claimed = this.o.registry.publish(session.name, session.announced, {
      protocol: 'rtsp',
      transport: session.lowerTransport ?? 'tcp',
      remote: `${conn.remoteAddress}:${conn.remotePort}`,
      session: session.id,
      since: this.now(),
    });
    if (!claimed.ok) return reply(403, [], claimed.refusal.message + '\n', 'Forbidden (Stream Already Published)');
    session.stream = claimed.stream;
    session.transition('recording');
    this.clearPlayTimer(session);
    conn.logger.info('publish', { session: session.id, stream: session.name, transport: session.lowerTransport });
    return reply(200, [['Session', this.sessionHeader(session)]]);
  }

  private pause(session: RtspSession | undefined): Respond {
    if (!session) return refuse(454, 'PAUSE needs the Session from SETUP');
    if (session.mode !== 'play' || !session.canTransition('ready')) return refuse(455, `cannot PAUSE while ${session.state}`);
    session.transition('ready');
    if (session.reader) session.stream?.pauseReader(session.reader);
    return reply(200, [['Session', this.sessionHeader(session)]]);
  }

  // ---- media in -------------------------------------------------------------------------------------------------

  private onInterleaved(conn: RtspConnection, channel: number, payload: Uint8Array): void {
    // RFC 2326 §10.12 leaves unknown channels undefined; we ignore them (GStreamer sends RTCP before PLAY's answer).
    const route = conn.routes.get(channel);
    if (!route) return;
    const s = route.session;
    if (!route.rtcp) {
      if (s.state === 'recording') s.stream?.onRtp(route.track, payload);
      return;
    }
    s.touch();
    if (s.state === 'recording' && payload.length > 1 && isRtcpPacketType(payload[1] ?? 0)) s.stream?.onRtcp(route.track, payload);
  }

  private bindUdp(session: RtspSession, t: Extract<TrackTransport, { kind: 'udp' }>): void {
    const welcome = (address: string, port: number, expected: number) => address === t.peer && port === expected;
    t.pair.rtp.on('message', (msg, rinfo) => {
      if (!welcome(rinfo.address, rinfo.port, t.peerRtpPort)) {
        this.foreignPackets++;
        return;
      }
      session.touch();
      if (session.state === 'recording') session.stream?.onRtp(t.track, msg);
    });
    t.pair.rtcp.on('message', (msg, rinfo) => {
      if (!welcome(rinfo.address, rinfo.port, t.peerRtcpPort)) {
        this.foreignPackets++;
        return;
      }
      session.touch();
      if (session.state === 'recording') session.stream?.onRtcp(t.track, msg);
    });
  }

  // ---- sessions -------------------------------------------------------------------------------------------------

  private createSession(conn: RtspConnection, mode: 'play' | 'record', name: string, announced: SessionDescription | undefined): RtspSession {
    const id = crypto.randomBytes(8).toString('hex');
    const session = new RtspSession({ id, mode, name, conn, now: this.now, ...(announced ? { announced } : {}) });
    session.onEnd = (reason) => this.endPlayer(session, reason);
    this.sessions.set(id, session);
    let mine = this.sessionsByConn.get(conn);
    if (!mine) this.sessionsByConn.set(conn, (mine = new Set()));
    mine.add(session);
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

  private clearPlayTimer(session: RtspSession): void {
    const timer = this.playTimers.get(session);
    if (timer) clearTimeout(timer);
    this.playTimers.delete(session);
  }

  /** undefined = a new session may be created on this connection; otherwise the 503 to answer. */
  private sessionLimit(conn: RtspConnection, mode: 'play' | 'record'): Respond | undefined {
    const perConn = this.o.maxSessionsPerConnection ?? DEFAULT_SESSIONS_PER_CONNECTION;
    if ((this.sessionsByConn.get(conn)?.size ?? 0) >= perConn) {
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
  private trackLimit(conn: RtspConnection): Respond | undefined {
    const max = this.o.maxTracksPerConnection ?? DEFAULT_TRACKS_PER_CONNECTION;
    let n = 0;
    for (const s of this.sessionsByConn.get(conn) ?? []) n += s.transports.size;
    if (n < max) return undefined;
    conn.logger.warn('session-refused', { reason: 'max-tracks-per-connection', limit: max });
    return refuse(503, `this connection already has ${max} tracks set up, the most allowed; tear a session down first`);
  }

  private sessionHeader(s: RtspSession): string {
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

  private closeSession(session: RtspSession, why: string): void {
    if (session.state === 'closed') return;
    session.transition('closed');
    this.sessions.delete(session.id);
    this.clearPlayTimer(session);
    const mine = this.sessionsByConn.get(session.conn);
    if (mine?.delete(session) && session.mode === 'play') this.playersByAddress.remove(session.conn.addressKey);
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

  private freeChannels(conn: RtspConnection): [number, number] {
    for (let c = 0; c < 254; c += 2) if (!this.channelInUse(conn, c) && !this.channelInUse(conn, c + 1)) return [c, c + 1];
    return [254, 255];
  }

  private channelInUse(conn: RtspConnection, channel: number): boolean {
    return conn.routes.has(channel);
  }

  // ---- limits and auth ------------------------------------------------------------------------------------------

  /** ffserver's MaxClients (503) and MaxBandwidth (453). */
  /** RTSP player sessions and the players of the other servers: what --max-clients is checked against. */
  private allPlayers(): number {
    return this.playerCount() + (this.o.otherPlayers?.() ?? 0);
  }

  private admit(stream: Stream): Respond | undefined {
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

/** Which announced track a publisher's SETUP names (ffmpeg uses "streamid=N", GStreamer "stream=N"). */
function publisherTrack(sdp: SessionDescription, announceUri: string, setupUri: string, control: string): number | undefined {
  const strip = (u: string) => u.replace(/^rtsps?:\/\/[^/]*/, '').replace(/\?.*$/, '').replace(/\/+$/, '');
  for (const [i, m] of sdp.media.entries()) {
    if (m.control === undefined) continue;
    if (m.control === control || strip(m.control) === strip(setupUri)) return i;
    const base = announceUri.endsWith('/') ? announceUri : announceUri + '/';
    if (strip(base + m.control) === strip(setupUri)) return i;
  }
  return sdp.media.length === 1 && control === '' ? 0 : undefined;
}
