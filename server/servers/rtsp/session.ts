// An RTSP session (RFC 2326 §3.4, §A.1): what one client set up, its state machine, and its transports.
// A play session is a Reader of a Stream; a record session feeds one.
import type { Reader, ReaderDescription, ReaderEndReason, ReaderSink } from '../../stream/reader.ts';
import { framedFor, type AccessUnit } from '../../stream/access-unit.ts';
import type { Stream } from '../../stream/stream.ts';
import type { RtspConnection } from './connection.ts';
import { writeInterleaved } from '../../protocols/rtsp/interleaved.ts';
import type { UdpPair } from './udp.ts';
import { UnitPacer, type PaceOptions, type PacerClock } from './udp-pacer.ts';
import type { SessionDescription } from '../../protocols/rtsp/sdp.ts';

export type SessionMode = 'play' | 'record';
export type SessionState = 'ready' | 'playing' | 'recording' | 'closed';

export type TrackTransport =
  | { kind: 'tcp'; track: number; rtpChannel: number; rtcpChannel: number }
  | { kind: 'udp'; track: number; pair: UdpPair; peer: string; peerRtpPort: number; peerRtcpPort: number };

// RFC 2326 Appendix A.1: the server state machine, one table.
const TRANSITIONS: Record<SessionMode, Partial<Record<SessionState, SessionState[]>>> = {
  play: { ready: ['playing', 'closed'], playing: ['playing', 'ready', 'closed'] },
  record: { ready: ['recording', 'closed'], recording: ['closed'] },
};

export class SessionStateError extends Error {
  readonly code = 'bad-transition';
  constructor(readonly from: SessionState, readonly to: SessionState) {
    super(`session cannot go from ${from} to ${to}`);
  }
}

export interface SessionOptions {
  id: string;
  mode: SessionMode;
  name: string;
  conn: RtspConnection;
  now: () => number;
  /** record: the SDP the publisher announced. */
  announced?: SessionDescription;
}

export class RtspSession {
  readonly id: string;
  readonly mode: SessionMode;
  readonly name: string;
  readonly conn: RtspConnection;
  readonly announced: SessionDescription | undefined;
  readonly transports = new Map<number, TrackTransport>();
  state: SessionState = 'ready';
  stream: Stream | undefined;
  reader: Reader | undefined;
  /** What the hub sends this session's units to, once it plays. */
  sink: PlayerSink | undefined;
  lastSeen: number;
  /** When the session was created: it must play (or record) within the play timeout of this. */
  readonly createdAt: number;
  /** Whether it ever played or recorded: only sessions that never did are reclaimed at the player limit. */
  started = false;
  /** Set by the server: how to end this session when the hub gives up on it. */
  onEnd: (reason: ReaderEndReason) => void = () => {};
  private readonly now: () => number;

  constructor(o: SessionOptions) {
    this.id = o.id;
    this.mode = o.mode;
    this.name = o.name;
    this.conn = o.conn;
    this.announced = o.announced;
    this.now = o.now;
    this.lastSeen = o.now();
    this.createdAt = this.lastSeen;
  }

  get lowerTransport(): 'tcp' | 'udp' | undefined {
    for (const t of this.transports.values()) return t.kind;
    return undefined;
  }

  transition(to: SessionState): void {
    if (this.state === to && to === 'closed') return;
    const allowed = TRANSITIONS[this.mode][this.state] ?? [];
    if (!allowed.includes(to)) throw new SessionStateError(this.state, to);
    this.state = to;
    if (to === 'playing' || to === 'recording') this.started = true;
  }

  canTransition(to: SessionState): boolean {
    return (TRANSITIONS[this.mode][this.state] ?? []).includes(to);
  }

  touch(): void {
    this.lastSeen = this.now();
  }

  /** Stop sending, and release the UDP ports this session holds. */
  releaseTransports(): void {
    this.sink?.close();
    for (const t of this.transports.values()) if (t.kind === 'udp') t.pair.close();
  }
}

/** RFC 3550 §6.6 BYE for one SSRC: tells players the stream is over, so they end instead of waiting for a timeout. */
export function rtcpBye(ssrc: number): Uint8Array {
  const b = Buffer.alloc(8);
  b[0] = 0x81; // V=2, P=0, SC=1
  b[1] = 203;
  b.writeUInt16BE(1, 2); // length in 32-bit words minus one
  b.writeUInt32BE(ssrc >>> 0, 4);
  return b;
}

export interface PlayerSinkOptions {
  /** UDP only: how the units a player is sent at once (the cached group) are spread out; see udp-pacer.ts. */
  pace?: PaceOptions;
  clock?: PacerClock;
}

/**
 * Delivers a Stream's units to a play session over its transports: one write per unit over TCP, where flow control
 * paces; over UDP through a UnitPacer, so that a joining player's burst does not overflow its receive buffer.
 */
export class PlayerSink implements ReaderSink {
  private pacer: UnitPacer | undefined;

  constructor(
    private readonly session: RtspSession,
    private readonly o: PlayerSinkOptions = {},
  ) {}

  sendUnit(unit: AccessUnit): void {
    const t = this.session.state === 'closed' ? undefined : this.session.transports.get(unit.track);
    if (!t) return;
    if (t.kind === 'tcp') {
      this.session.conn.write(framedFor(unit, t.rtpChannel));
      return;
    }
    this.pacer ??= new UnitPacer((u) => this.sendUdp(u), { ...(this.o.pace ? { pace: this.o.pace } : {}), ...(this.o.clock ? { clock: this.o.clock } : {}) });
    this.pacer.push(unit);
  }

  private sendUdp(unit: AccessUnit): void {
    const t = this.session.state === 'closed' ? undefined : this.session.transports.get(unit.track);
    if (t?.kind !== 'udp') return;
    // One datagram per RTP packet is the protocol; there is no batching send in Node's dgram. The socket is connected
    // to the player (SETUP), so no packet carries an address to look up.
    const rtp = t.pair.rtp;
    udpSend(() => {
      for (const p of unit.packets) rtp.send(p);
    });
  }

  /** Stop: what the pacer still holds is dropped. Idempotent. */
  close(): void {
    this.pacer?.close();
  }

  sendRtcp(track: number, packet: Uint8Array): void {
    const t = this.session.state === 'closed' ? undefined : this.session.transports.get(track);
    if (!t) return;
    if (t.kind === 'tcp') this.session.conn.write(writeInterleaved(t.rtcpChannel, packet));
    else udpSend(() => t.pair.rtcp.send(packet, t.peerRtcpPort, t.peer));
  }

  hold(): void {
    this.session.conn.cork();
  }

  release(): void {
    this.session.conn.uncork();
  }

  describe(): ReaderDescription {
    const transport = this.session.lowerTransport;
    return { protocol: 'rtsp', ...(transport ? { transport } : {}), remote: `${this.session.conn.remoteAddress}:${this.session.conn.remotePort}` };
  }

  backlog(): number {
    if (this.session.state === 'closed') return 0;
    if (this.session.lowerTransport === 'tcp') return this.session.conn.backlog();
    let n = this.pacer?.queuedBytes() ?? 0;
    for (const t of this.session.transports.values()) if (t.kind === 'udp') n += t.pair.rtp.getSendQueueSize();
    return n;
  }

  end(reason: ReaderEndReason): void {
    this.session.onEnd(reason);
  }
}

/** dgram.send throws synchronously on a closed socket or a bad port; one player's socket must never stop the fan-out. */
export function udpSend(send: () => void): void {
  try {
    send();
  } catch {
    // The session is being closed, or its peer gave a port we cannot send to; the sweep ends it.
  }
}
