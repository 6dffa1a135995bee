// What the request handlers (requests.ts, session-requests.ts) need of the server (server.ts): its options, its session
// table, its limits. gortsplib splits the same way: server.go holds the listener and the tables, server_conn.go answers
// a connection's requests, server_session.go drives a session's state.
import type { Logger } from '../../log.ts';
import { reasonPhrase, type Header, type MessageLimits, type RtspRequest } from '../../protocols/rtsp/message.ts';
import type { SessionDescription } from '../../protocols/rtsp/sdp.ts';
import { parseTarget, type RtspTarget } from '../../protocols/rtsp/uri.ts';
import type { StreamRegistry } from '../../stream/registry.ts';
import type { Stream } from '../../stream/stream.ts';
import type { RtspAccess, RtspAuthOptions } from './access.ts';
import type { Handled, RtspConnection } from './connection.ts';
import type { RtspSession } from './session.ts';
import type { UdpPortPool } from './udp.ts';
import type { PaceOptions } from './udp-pacer.ts';

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

export const PUBLIC_METHODS = 'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, PAUSE, RECORD, TEARDOWN, GET_PARAMETER, SET_PARAMETER';
/** ffmpeg, GStreamer and VLC open one session per connection; an NVR pulling several streams may share one. */
export const DEFAULT_SESSIONS_PER_CONNECTION = 4;
export const DEFAULT_TRACKS_PER_CONNECTION = 16;
export const DEFAULT_PLAY_TIMEOUT_MS = 10_000;
/**
 * At the player limit, a session set up this long ago that never played gives its place to a new player (live555's
 * reclamation, without waiting for the timeout). A real player sends PLAY a round trip after its last SETUP.
 */
export const RECLAIM_AFTER_MS = 2000;
/** Refused connections are logged as a count at most this often: a flood must not become a flood of log lines. */
export const REFUSAL_LOG_EVERY_MS = 10_000;

export type Respond = Handled;

export function reply(status: number, headers: Header[] = [], body?: string | Uint8Array, reason?: string): Respond {
  const bytes = typeof body === 'string' ? Buffer.from(body) : (body ?? new Uint8Array(0));
  const h = body !== undefined && typeof body === 'string' && !headers.some(([n]) => n === 'Content-Type') ? [...headers, ['Content-Type', 'text/plain'] as const] : headers;
  return { response: { status, reason: reason ?? reasonPhrase(status), headers: h, body: bytes } };
}

/** An error answer with a sentence in the body that says what to do. */
export function refuse(status: number, message: string, extra: Header[] = []): Respond {
  return reply(status, extra, message + '\n');
}

/** A request URI that must name a stream (DESCRIBE, ANNOUNCE, SETUP), or the answer that says why it does not. */
export function targetOf(req: RtspRequest): { ok: true; value: RtspTarget } | { ok: false; respond: Respond } {
  const t = parseTarget(req.uri);
  if (!t.ok) return { ok: false, respond: refuse(t.error.status, t.error.message) };
  return t;
}

/** The server as its request handlers see it. */
export interface RtspCore {
  readonly o: RtspServerOptions;
  readonly logger: Logger;
  readonly access: RtspAccess;
  readonly udp: UdpPortPool;
  readonly now: () => number;
  /** UDP packets dropped because they came from an address that did not set the session up. */
  foreignPackets: number;
  /** Sessions open now by lower transport. */
  readonly sessionsByTransport: { tcp: number; udp: number };
  session(id: string): RtspSession | undefined;
  createSession(conn: RtspConnection, mode: 'play' | 'record', name: string, announced: SessionDescription | undefined): RtspSession;
  closeSession(session: RtspSession, why: string): void;
  clearPlayTimer(session: RtspSession): void;
  /** undefined = a new session may be created on this connection; otherwise the 503 to answer. */
  sessionLimit(conn: RtspConnection, mode: 'play' | 'record'): Respond | undefined;
  trackLimit(conn: RtspConnection): Respond | undefined;
  /** --max-clients and --max-bandwidth for a new player of `stream`. */
  admit(stream: Stream): Respond | undefined;
  allPlayers(): number;
  sessionHeader(s: RtspSession): string;
}
