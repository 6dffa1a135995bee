// relaycast's own RTSP player for tests and benchmarks: DESCRIBE, SETUP every track over TCP (interleaved) or UDP,
// PLAY, then count what arrives. Built on the project's own pure parsers. Light enough to run hundreds at once.
import type dgram from 'node:dgram';
import { bindUdpPair } from './udp-pair.ts';
import net from 'node:net';
import { once } from 'node:events';
import { h264Flags, H264_FLAG_IDR } from '../../server/protocols/rtp/h264.ts';
import { parseRtpHeader, seqDelta } from '../../server/protocols/rtp/packet.ts';
import { buildReceiverReport } from '../../server/protocols/rtp/rtcp.ts';
import { authorizationHeader } from '../../server/protocols/rtsp/auth.ts';
import { parseIncoming } from '../../server/protocols/rtsp/interleaved.ts';
import { getHeader, writeRequest, type Header, type RtspResponse } from '../../server/protocols/rtsp/message.ts';
import { codecOf, parseSdp, resolveControl, type SessionDescription } from '../../server/protocols/rtsp/sdp.ts';

export interface TrackCounters {
  packets: number;
  bytes: number;
  rtcp: number;
  /** performance.now() of the first packet carrying an H.264 IDR, if any. */
  firstIdrAt?: number;
  firstPacketAt?: number;
  /** Parsed packets only (not count-only): steps between consecutive sequence numbers other than +1, and those going back. */
  seqJumps: number;
  seqBackwards: number;
  /** Parsed packets only: RTP timestamps that went back (RFC 3550 §5.1: monotonic per SSRC, modulo wrap). */
  tsBackwards: number;
  lastSeq?: number;
  lastTs?: number;
  ssrcs: Set<number>;
  /** UDP: the server's RTP and RTCP ports from the SETUP answer. */
  serverPorts?: [number, number];
}

export interface PlayOptions {
  transport: 'tcp' | 'udp';
  /** After PLAY, count received bytes (totalBytes) without parsing: benchmarks with hundreds of readers. */
  countOnly?: boolean;
  credentials?: { username: string; password: string };
}

export class RtspTestClient {
  readonly tracks: TrackCounters[] = [];
  totalBytes = 0;
  playSentAt = 0;
  sdp: SessionDescription | undefined;
  session: string | undefined;
  byeReceived = false;
  closed: Promise<void>;
  private readonly socket: net.Socket;
  private pending: Buffer | undefined;
  private cseq = 1;
  private waiting: Array<(r: RtspResponse) => void> = [];
  private udp: dgram.Socket[] = [];
  private h264Track = -1;
  private countOnly = false;
  private rawCounting = false;
  /** Called with every RTP packet of a parsed (not count-only) player, after the counters. */
  onPacket: ((track: number, packet: Uint8Array) => void) | undefined;
  /** Count-only TCP: bytes left of the interleaved frame being skipped, and a partial frame header. */
  private skipLeft = 0;
  private headerPart: number[] = [];
  private rawWalking = true;
  private auth: { username: string; password: string; realm?: string; nonce?: string; scheme: 'Basic' | 'Digest' } | undefined;

  private constructor(readonly url: string, socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.onData(c));
    socket.on('error', () => {});
    this.closed = once(socket, 'close').then(() => undefined);
  }

  static async connect(url: string): Promise<RtspTestClient> {
    const u = new URL(url);
    const socket = net.connect(Number(u.port || 554), u.hostname);
    await once(socket, 'connect');
    return new RtspTestClient(url, socket);
  }

  request(method: string, uri: string, headers: Header[] = [], body?: Uint8Array): Promise<RtspResponse> {
    const all: Header[] = [['CSeq', String(this.cseq++)], ...headers];
    if (this.session && !headers.some(([n]) => n === 'Session')) all.push(['Session', this.session]);
    if (this.auth) {
      all.push(['Authorization', authorizationHeader({ ...this.auth, method, uri })]);
    }
    const p = new Promise<RtspResponse>((resolve) => this.waiting.push(resolve));
    this.socket.write(writeRequest({ method, uri, headers: all, body: body ?? new Uint8Array(0) }));
    return p;
  }

  /** Answer a 401 challenge once, as ffmpeg does. */
  private async authed(method: string, uri: string, headers: Header[], creds: PlayOptions['credentials']): Promise<RtspResponse> {
    let r = await this.request(method, uri, headers);
    if (r.status === 401 && creds && !this.auth) {
      const challenge = r.headers.filter(([n]) => n.toLowerCase() === 'www-authenticate').map(([, v]) => v).find((v) => v.startsWith('Digest'));
      const realm = /realm="([^"]*)"/.exec(challenge ?? '')?.[1];
      const nonce = /nonce="([^"]*)"/.exec(challenge ?? '')?.[1];
      this.auth = { ...creds, scheme: 'Digest', ...(realm ? { realm } : {}), ...(nonce ? { nonce } : {}) };
      r = await this.request(method, uri, headers);
    }
    return r;
  }

  /** DESCRIBE, SETUP each track, PLAY. Throws with the status if any step fails. */
  async play(o: PlayOptions): Promise<RtspResponse> {
    this.countOnly = o.countOnly ?? false;
    const d = await this.authed('DESCRIBE', this.url, [['Accept', 'application/sdp']], o.credentials);
    if (d.status !== 200) throw new RtspStatusError('DESCRIBE', d);
    const sdp = parseSdp(Buffer.from(d.body).toString());
    if (!sdp.ok) throw sdp.error;
    this.sdp = sdp.value;
    const base = getHeader(d.headers, 'Content-Base') ?? this.url;
    for (const [i, m] of sdp.value.media.entries()) {
      this.tracks.push({ packets: 0, bytes: 0, rtcp: 0, seqJumps: 0, seqBackwards: 0, tsBackwards: 0, ssrcs: new Set() });
      if (codecOf(m).codec === 'H264') this.h264Track = i;
      let transport: string;
      if (o.transport === 'tcp') {
        transport = `RTP/AVP/TCP;unicast;interleaved=${2 * i}-${2 * i + 1}`;
      } else {
        const [rtp, rtcp] = await this.bindUdpPair(i);
        transport = `RTP/AVP;unicast;client_port=${rtp}-${rtcp}`;
      }
      const s = await this.request('SETUP', resolveControl(base, m.control, i), [['Transport', transport]]);
      if (s.status !== 200) throw new RtspStatusError('SETUP', s);
      this.session ??= getHeader(s.headers, 'Session')?.split(';')[0];
      const sp = /server_port=(\d+)-(\d+)/.exec(getHeader(s.headers, 'Transport') ?? '');
      const track = this.tracks[i];
      if (sp && track) track.serverPorts = [Number(sp[1]), Number(sp[2])];
    }
    this.playSentAt = performance.now();
    const p = await this.request('PLAY', base, [['Range', 'npt=0.000-']]);
    if (p.status !== 200) throw new RtspStatusError('PLAY', p);
    if (this.countOnly && o.transport === 'tcp') {
      this.rawCounting = true;
      // A frame the parser had begun: the walker takes over from its first bytes.
      const rest = this.pending;
      this.pending = undefined;
      if (rest) this.walkFrames(rest);
    }
    return p;
  }

  /** Stop reading from the socket: the server sees a stalled player. */
  stall(): void {
    this.socket.pause();
  }

  /** Read again after stall(). */
  resume(): void {
    this.socket.resume();
  }

  /** UDP: an RTCP receiver report from each track's RTCP port to the server's, as players send to stay alive. */
  sendReceiverReports(): void {
    const rr = buildReceiverReport({ ssrc: 0x7e57c11e, cname: 'relaycast-test' });
    for (const [i, t] of this.tracks.entries()) {
      const rtcp = this.udp[2 * i + 1];
      if (t.serverPorts && rtcp) rtcp.send(rr, t.serverPorts[1], new URL(this.url).hostname);
    }
  }

  async close(): Promise<void> {
    for (const u of this.udp) u.close();
    this.udp = [];
    this.socket.destroy();
    await this.closed;
  }

  private async bindUdpPair(track: number): Promise<[number, number]> {
    const { rtp, rtcp, ports } = await bindUdpPair();
    rtp.on('message', (m) => this.onRtp(track, m));
    rtcp.on('message', (m) => this.onRtcp(track, m));
    this.udp.push(rtp, rtcp);
    return ports;
  }

  private onData(chunk: Buffer): void {
    if (this.rawCounting) {
      // Benchmarks: after PLAY only media arrives; counting chunk bytes keeps hundreds of readers cheap.
      this.totalBytes += chunk.length;
      this.walkFrames(chunk);
      return;
    }
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let off = 0;
    while (off < buf.length) {
      const r = parseIncoming(buf.subarray(off));
      if (r.kind === 'more') break;
      if (r.kind === 'error') {
        this.socket.destroy();
        return;
      }
      off += r.consumed;
      const m = r.value;
      if (m.type === 'response') this.waiting.shift()?.(m.response);
      else if (m.type === 'frame') {
        const track = m.frame.channel >> 1;
        if (m.frame.channel % 2 === 0) this.onRtp(track, m.frame.payload);
        else this.onRtcp(track, m.frame.payload);
      }
    }
    if (off < buf.length) this.pending = buf.subarray(off);
  }

  /**
   * Count-only TCP: step over '$' frame headers (RFC 2326 §10.12) to count packets per track without copying or
   * parsing payloads. Anything but a frame (which a count-only player never asks for) stops the walk.
   */
  private walkFrames(chunk: Buffer): void {
    let off = 0;
    while (this.rawWalking && off < chunk.length) {
      if (this.skipLeft > 0) {
        const n = Math.min(this.skipLeft, chunk.length - off);
        this.skipLeft -= n;
        off += n;
        continue;
      }
      this.headerPart.push(chunk[off++]!);
      if (this.headerPart[0] !== 0x24) {
        this.rawWalking = false;
        return;
      }
      if (this.headerPart.length < 4) continue;
      const [, channel = 0, hi = 0, lo = 0] = this.headerPart;
      this.headerPart = [];
      this.skipLeft = (hi << 8) | lo;
      const t = this.tracks[channel >> 1];
      if (!t) continue;
      if (channel % 2 === 0) {
        t.packets++;
        t.bytes += this.skipLeft;
      } else {
        t.rtcp++;
      }
    }
  }

  private onRtp(track: number, packet: Uint8Array): void {
    const t = this.tracks[track];
    if (!t) return;
    t.packets++;
    t.bytes += packet.length;
    this.totalBytes += packet.length;
    if (this.countOnly) return;
    t.firstPacketAt ??= performance.now();
    const rtp = parseRtpHeader(packet);
    if (rtp) {
      if (t.lastSeq !== undefined) {
        const d = seqDelta(rtp.sequenceNumber, t.lastSeq);
        if (d !== 1) t.seqJumps++;
        if (d <= 0) t.seqBackwards++;
      }
      if (t.lastTs !== undefined && ((rtp.timestamp - t.lastTs) | 0) < 0) t.tsBackwards++;
      t.lastSeq = rtp.sequenceNumber;
      t.lastTs = rtp.timestamp;
      t.ssrcs.add(rtp.ssrc);
    }
    this.onPacket?.(track, packet);
    if (track === this.h264Track && t.firstIdrAt === undefined) {
      const h = parseRtpHeader(packet);
      if (h && h264Flags(packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength)) & H264_FLAG_IDR) t.firstIdrAt = performance.now();
    }
  }

  private onRtcp(track: number, packet: Uint8Array): void {
    const t = this.tracks[track];
    if (t) t.rtcp++;
    // RFC 3550 §6.6: BYE may follow SR in a compound packet; look at every packet type in it.
    for (let off = 0; off + 4 <= packet.length; ) {
      if (packet[off + 1] === 203) this.byeReceived = true;
      off += 4 * (((packet[off + 2] ?? 0) << 8) + (packet[off + 3] ?? 0) + 1);
    }
  }
}

export class RtspStatusError extends Error {
  constructor(readonly method: string, readonly response: RtspResponse) {
    super(`${method} answered ${response.status} ${response.reason}: ${Buffer.from(response.body).toString().trim()}`);
  }
}
