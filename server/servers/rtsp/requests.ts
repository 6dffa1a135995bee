// A connection's requests (gortsplib's server_conn.go): the checks every request gets, the dispatch, and the methods
// that need no session (OPTIONS, DESCRIBE, ANNOUNCE, keep-alives). SETUP, PLAY, RECORD and PAUSE are session-requests.ts.
import { getHeader, reasonPhrase, type RtspRequest } from '../../protocols/rtsp/message.ts';
import { codecOf, parseSdp, playerSdp, writeSdp } from '../../protocols/rtsp/sdp.ts';
import { parseRequestUri } from '../../protocols/rtsp/uri.ts';
import type { RtspConnection } from './connection.ts';
import { PUBLIC_METHODS, refuse, reply, targetOf, type Respond, type RtspCore } from './core.ts';
import { SessionRequests } from './session-requests.ts';

export class RtspRequests {
  private readonly sessionRequests: SessionRequests;

  constructor(private readonly core: RtspCore) {
    this.sessionRequests = new SessionRequests(core);
  }

  /** RTP and RTCP over the connection (interleaved frames), for the session that set their channel up. */
  onInterleaved(conn: RtspConnection, channel: number, payload: Uint8Array): void {
    this.sessionRequests.onInterleaved(conn, channel, payload);
  }

  async handle(conn: RtspConnection, req: RtspRequest): Promise<Respond> {
    if (getHeader(req.headers, 'CSeq') === undefined) return refuse(400, 'missing CSeq header (RFC 2326 §12.17)');
    // Every request URI is checked as written, whatever the method (uri.ts); "*" is the one other form (RFC 2326 §6.1).
    // DESCRIBE, ANNOUNCE and SETUP also need it to name a stream (target()).
    if (req.uri !== '*') {
      const u = parseRequestUri(req.uri);
      if (!u.ok) return refuse(u.error.status, u.error.message);
    }
    const sessionId = getHeader(req.headers, 'Session')?.split(';')[0]?.trim();
    const session = sessionId !== undefined ? this.core.session(sessionId) : undefined;
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
        return this.sessionRequests.setup(conn, req, session);
      case 'PLAY':
        return this.sessionRequests.play(conn, req, session);
      case 'RECORD':
        return this.sessionRequests.record(conn, req, session);
      case 'PAUSE':
        return this.sessionRequests.pause(session);
      case 'TEARDOWN':
        if (session) this.core.closeSession(session, 'teardown');
        return reply(200);
      case 'GET_PARAMETER':
      case 'SET_PARAMETER':
        // Keep-alive (RFC 2326 §10.8/§10.9). We expose no parameters, so a body naming one is not understood.
        if (req.body.length > 0) return refuse(451, 'no parameters are supported; send an empty body as a keep-alive');
        return reply(200, session ? [['Session', this.core.sessionHeader(session)]] : []);
      default:
        return refuse(501, `method ${req.method.slice(0, 32)} is not implemented`, [['Public', PUBLIC_METHODS]]);
    }
  }

  private async describe(conn: RtspConnection, req: RtspRequest): Promise<Respond> {
    const t = targetOf(req);
    if (!t.ok) return t.respond;
    const denied = await this.core.access.authorize(conn, req, 'read');
    if (denied) return denied;
    const stream = this.core.o.registry.get(t.value.name);
    if (!stream) return refuse(404, `no stream named "${t.value.name}" is being published`);
    const base = `${t.value.origin}/${t.value.name}/`;
    const sdp = writeSdp(playerSdp(stream.sdp));
    conn.logger.info('describe', { stream: t.value.name });
    return reply(200, [['Content-Base', base], ['Content-Type', 'application/sdp']], sdp);
  }

  private async announce(conn: RtspConnection, req: RtspRequest): Promise<Respond> {
    const t = targetOf(req);
    if (!t.ok) return t.respond;
    const denied = await this.core.access.authorize(conn, req, 'publish');
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
    const live = this.core.o.registry.get(t.value.name);
    if (live?.state === 'live') {
      conn.logger.info('publish-refused', { stream: t.value.name, reason: 'in-use' });
      return reply(403, [], `stream "${t.value.name}" already has a publisher; stop it first or pick another name\n`, 'Forbidden (Stream Already Published)');
    }
    conn.announced = { name: t.value.name, sdp, uri: req.uri };
    conn.logger.info('announce', { stream: t.value.name, codecs: sdp.media.map((m) => codecOf(m).codec) });
    return reply(200);
  }
}
