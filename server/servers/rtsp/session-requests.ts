// A session's requests (gortsplib's server_session.go): SETUP of each track over TCP or UDP, PLAY, RECORD, PAUSE, and
// the media a recording session sends in. The session table and the limits stay in server.ts (RtspCore).
import { isRtcpPacketType } from '../../protocols/rtp/packet.ts';
import { getHeader, type Header, type RtspRequest } from '../../protocols/rtsp/message.ts';
import type { SessionDescription } from '../../protocols/rtsp/sdp.ts';
import { parseTransport, writeTransport, type TransportSpec } from '../../protocols/rtsp/transport.ts';
import { parseTarget, playerTrack } from '../../protocols/rtsp/uri.ts';
import { normalizeAddress } from '../../net.ts';
import type { Stream } from '../../stream/stream.ts';
import type { RtspConnection } from './connection.ts';
import { refuse, reply, targetOf, type Respond, type RtspCore } from './core.ts';
import { PlayerSink, type RtspSession, type TrackTransport } from './session.ts';

export class SessionRequests {
  constructor(private readonly core: RtspCore) {}

  async setup(conn: RtspConnection, req: RtspRequest, existing: RtspSession | undefined): Promise<Respond> {
    const t = targetOf(req);
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
      const denied = await this.core.access.authorize(conn, req, 'publish');
      if (denied) return denied;
      if (!announced || announced.name !== t.value.name) return refuse(455, 'ANNOUNCE the stream before SETUP with mode=record');
      track = publisherTrack(announced.sdp, announced.uri, req.uri, t.value.control);
      if (track === undefined) return refuse(404, `the announced SDP has no track "${t.value.control}"`);
    } else {
      if (existing && existing.mode !== 'play') return refuse(455, 'this session records; it cannot also play');
      const denied = await this.core.access.authorize(conn, req, 'read');
      if (denied) return denied;
      stream = this.core.o.registry.get(t.value.name);
      if (!stream) return refuse(404, `no stream named "${t.value.name}" is being published`);
      track = playerTrack(t.value.control, stream.tracks.length);
      if (track === undefined) return refuse(404, `stream "${t.value.name}" has no track "${t.value.control}"`);
      if (!existing) {
        const limit = this.core.sessionLimit(conn, 'play') ?? this.core.admit(stream);
        if (limit) return limit;
      }
    }
    if (existing?.transports.has(track)) return refuse(455, `track ${track} is already set up`);
    if (!existing && recording) {
      const limit = this.core.sessionLimit(conn, 'record');
      if (limit) return limit;
    }
    const trackLimit = this.core.trackLimit(conn);
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
        pair = await this.core.udp.allocate();
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
      (existing ? undefined : this.core.sessionLimit(conn, recording ? 'record' : 'play')) ??
      (!existing && !recording && this.core.allPlayers() >= this.core.o.maxClients ? refuse(503, `the server is at its player limit (${this.core.o.maxClients}); try again later`) : undefined) ??
      this.core.trackLimit(conn);
    if (lateLimit) {
      if (transport.kind === 'udp') transport.pair.close();
      return lateLimit;
    }
    const session = existing ?? this.core.createSession(conn, recording ? 'record' : 'play', t.value.name, recording ? announced?.sdp : undefined);
    if (!existing) this.core.sessionsByTransport[transport.kind]++;
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
    return reply(200, [['Transport', writeTransport(answer)], ['Session', this.core.sessionHeader(session)]]);
  }

  play(conn: RtspConnection, req: RtspRequest, session: RtspSession | undefined): Respond {
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
    const headers: Header[] = [['Session', this.core.sessionHeader(session)], ['Range', 'npt=0.000-']];
    if (info.length > 0) headers.push(['RTP-Info', info.join(',')]);
    const wasPlaying = session.state === 'playing';
    session.transition('playing');
    this.core.clearPlayTimer(session);
    return {
      ...reply(200, headers),
      after: () => {
        if (wasPlaying || session.state !== 'playing') return;
        if (session.reader) stream.resumeReader(session.reader);
        else {
          session.sink = new PlayerSink(session, this.core.o.udpPace ? { pace: this.core.o.udpPace } : {});
          session.reader = stream.addReader(session.id, session.sink, new Set(session.transports.keys()));
        }
        conn.logger.info('play', { session: session.id, stream: session.name, transport: session.lowerTransport, players: stream.readerCount() });
      },
    };
  }

  async record(conn: RtspConnection, req: RtspRequest, session: RtspSession | undefined): Promise<Respond> {
    if (!session) return refuse(454, 'RECORD needs the Session from SETUP');
    if (session.mode !== 'record' || !session.announced) return refuse(455, 'a play session cannot RECORD');
    if (!session.canTransition('recording')) return refuse(455, `cannot RECORD while ${session.state}`);
    const denied = await this.core.access.authorize(conn, req, 'publish');
    if (denied) return denied;
    if (session.transports.size === 0) return refuse(455, 'SETUP at least one track before RECORD');
    const claimed = this.core.o.registry.publish(session.name, session.announced, {
      protocol: 'rtsp',
      transport: session.lowerTransport ?? 'tcp',
      remote: `${conn.remoteAddress}:${conn.remotePort}`,
      session: session.id,
      since: this.core.now(),
    });
    if (!claimed.ok) {
      // Another publisher took the name between ANNOUNCE and RECORD.
      conn.logger.info('publish-refused', { stream: session.name, reason: claimed.refusal.code });
      return reply(403, [], claimed.refusal.message + '\n', 'Forbidden (Stream Already Published)');
    }
    session.stream = claimed.stream;
    session.transition('recording');
    this.core.clearPlayTimer(session);
    conn.logger.info('publish', { session: session.id, stream: session.name, transport: session.lowerTransport });
    return reply(200, [['Session', this.core.sessionHeader(session)]]);
  }

  pause(session: RtspSession | undefined): Respond {
    if (!session) return refuse(454, 'PAUSE needs the Session from SETUP');
    if (session.mode !== 'play' || !session.canTransition('ready')) return refuse(455, `cannot PAUSE while ${session.state}`);
    session.transition('ready');
    if (session.reader) session.stream?.pauseReader(session.reader);
    return reply(200, [['Session', this.core.sessionHeader(session)]]);
  }

  // ---- media in -------------------------------------------------------------------------------------------------

  onInterleaved(conn: RtspConnection, channel: number, payload: Uint8Array): void {
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
        this.core.foreignPackets++;
        return;
      }
      session.touch();
      if (session.state === 'recording') session.stream?.onRtp(t.track, msg);
    });
    t.pair.rtcp.on('message', (msg, rinfo) => {
      if (!welcome(rinfo.address, rinfo.port, t.peerRtcpPort)) {
        this.core.foreignPackets++;
        return;
      }
      session.touch();
      if (session.state === 'recording') session.stream?.onRtcp(t.track, msg);
    });
  }

  private freeChannels(conn: RtspConnection): [number, number] {
    for (let c = 0; c < 254; c += 2) if (!this.channelInUse(conn, c) && !this.channelInUse(conn, c + 1)) return [c, c + 1];
    return [254, 255];
  }

  private channelInUse(conn: RtspConnection, channel: number): boolean {
    return conn.routes.has(channel);
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
