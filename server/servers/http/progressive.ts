// GET|HEAD /NAME.mp4: HTTP progressive fragmented MP4 of a live stream, for players that take a URL (ffplay/ffmpeg,
// mpv, VLC, GStreamer souphttpsrc ! qtdemux, OpenCV, a browser's <video>). This module decides whether a request may
// play (name, read credentials, stream, codecs, --max-clients, --max-bandwidth) and answers the ones that may not;
// progressive-reader.ts streams the ones that may.
import type http from 'node:http';
import { streamNameProblem } from '../../../shared/stream-name.ts';
import type { Logger } from '../../log.ts';
import { chooseTracks, TrackMux, type TrackChoice } from '../../protocols/fmp4/track-mux.ts';
import type { Stream } from '../../stream/stream.ts';
import { basicChallenge, checkCredentials, parseBasic, type Credentials } from './basic-auth.ts';
import { ProgressiveReader } from './progressive-reader.ts';

/** What the route needs of the registry (stream/registry.ts's StreamRegistry). */
export interface ProgressiveRegistry {
  get(name: string): Stream | undefined;
  /** Players of every stream (RTSP and HTTP): what --max-clients counts. */
  totalReaders(): number;
  totalEgressKbps(): number;
}

export interface ProgressiveOptions {
  registry: ProgressiveRegistry;
  logger: Logger;
  /** --max-clients: players of every kind together. */
  maxClients: number;
  /** --max-bandwidth in kbit/s; 0 = no limit. */
  maxBandwidthKbps: number;
  /** --read-user/--read-pass: HTTP Basic on /NAME.mp4 when set. */
  read?: Credentials;
  realm?: string;
  /** For the 415 sentence: where the same stream plays over RTSP. */
  rtspPort?: () => number;
  /** How long a GET waits for a stream's missing H.264 configuration before answering 503 (default 5 s). */
  configWaitMs?: number;
  /** How long a clean end may take to reach a player before its socket is cut (default 10 s). */
  endFlushMs?: number;
  /** A random delay before saying no to wrong credentials, as RTSP does (default 200–600 ms). */
  authFailureDelayMs?: readonly [number, number];
  random?: () => number;
}

/** The stream name of a `/NAME.mp4` path (not yet checked against the name rule), or undefined for any other path. */
export function progressiveName(pathname: string): string | undefined {
  return /^\/([^/]+)\.mp4$/.exec(pathname)?.[1];
}

/** What a 200 (and HEAD) says: a live MP4 of unknown length, never cached, never sniffed, no byte ranges. */
export const PROGRESSIVE_HEADERS: Readonly<http.OutgoingHttpHeaders> = {
  'Content-Type': 'video/mp4',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  // A browser's <video> asks for "Range: bytes=0-"; a live stream has no ranges, and a 200 is a valid answer (RFC 9110 §14.2).
  'Accept-Ranges': 'none',
};

export class ProgressiveServer {
  /** Every player being served, and the stream it plays. */
  private readonly readers = new Map<ProgressiveReader, string>();
  private nextId = 0;
  private closed = false;

  constructor(private readonly o: ProgressiveOptions) {}

  /** Players being served now (for --max-clients). */
  playerCount(): number {
    return this.readers.size;
  }

  /** Players of stream NAME being served now (for /api/streams). */
  playersOf(name: string): number {
    let n = 0;
    for (const playing of this.readers.values()) if (playing === name) n++;
    return n;
  }

  async handle(req: http.IncomingMessage, res: http.ServerResponse, name: string): Promise<void> {
    // shared/stream-name.ts: the one rule for names; a percent-encoded one never passes it (no '%' in names).
    const problem = streamNameProblem(name);
    if (problem !== undefined) return answer(res, 400, problem);
    if (this.o.read && !(await this.authorized(req))) {
      return answer(res, 401, 'this stream needs the read credentials (--read-user/--read-pass): give them as http://USER:PASS@HOST/NAME.mp4', {
        'WWW-Authenticate': basicChallenge(this.o.realm ?? 'relaycast'),
      });
    }
    if (this.closed) return answer(res, 503, 'the server is shutting down', { 'Retry-After': '5' });
    const stream = this.o.registry.get(name);
    if (!stream) return answer(res, 404, `no stream "${name}" is live here; check the name, or start publishing it first`);
    const choice = chooseTracks(stream);
    const unsupported = unsupportedReason(choice, name, this.rtspUrl(req, name));
    if (unsupported) {
      this.o.logger.info('http.player_refused', { stream: name, status: 415, message: unsupported });
      return answer(res, 415, unsupported);
    }
    // ffserver's MaxClients and MaxBandwidth, counted over RTSP and HTTP players together. HTTP has no 453, so both are
    // 503 with Retry-After (RFC 9110 §15.6.4).
    if (this.o.registry.totalReaders() >= this.o.maxClients) {
      this.o.logger.warn('http.player_refused', { stream: name, reason: 'max-clients', limit: this.o.maxClients });
      return answer(res, 503, `the server is at its player limit (${this.o.maxClients}); try again later`, { 'Retry-After': '10' });
    }
    const max = this.o.maxBandwidthKbps;
    if (max > 0 && this.o.registry.totalEgressKbps() + stream.ingestKbps() > max) {
      this.o.logger.warn('http.player_refused', { stream: name, reason: 'max-bandwidth', limitKbps: max });
      return answer(res, 503, `the server is at its bandwidth limit (${max} kbit/s); try again later`, { 'Retry-After': '10' });
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, PROGRESSIVE_HEADERS).end();
      return;
    }
    const id = `http-${++this.nextId}`;
    const left = choice.left.map((t) => `${t.kind} ${t.codec}`);
    this.o.logger.info('http.player_start', { reader: id, stream: name, remote: req.socket.remoteAddress, ...(left.length ? { leftOut: left } : {}) });
    const reader = new ProgressiveReader({
      id,
      res,
      source: stream,
      mux: new TrackMux(choice.carried),
      logger: this.o.logger.child({ stream: name }),
      headers: PROGRESSIVE_HEADERS,
      configWaitMs: this.o.configWaitMs ?? 5000,
      endFlushMs: this.o.endFlushMs ?? 10_000,
      onClosed: (r) => this.readers.delete(r),
    });
    this.readers.set(reader, name);
    reader.start();
  }

  /** Cut every player off (the server is closing; the registry ends the streams after). Idempotent. */
  close(): void {
    this.closed = true;
    for (const r of [...this.readers.keys()]) r.abort();
    this.readers.clear();
  }

  private async authorized(req: http.IncomingMessage): Promise<boolean> {
    const header = req.headers.authorization;
    const check = { failureDelayMs: this.o.authFailureDelayMs, random: this.o.random, presented: header !== undefined };
    if (await checkCredentials(parseBasic(header), this.o.read!, check)) return true;
    if (header !== undefined) this.o.logger.warn('http.auth_failed', { remote: req.socket.remoteAddress });
    return false;
  }

  private rtspUrl(req: http.IncomingMessage, name: string): string | undefined {
    const port = this.o.rtspPort?.();
    return port === undefined ? undefined : rtspUrlFor(req, port, name);
  }
}

/** Where stream NAME plays over RTSP, for a sentence to the client of `req`. */
export function rtspUrlFor(req: http.IncomingMessage, port: number, name: string): string {
  // Only a plain host name or address from Host goes into the sentence (it is echoed back to the client).
  const host = /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/.exec(req.headers.host ?? '')?.[1] ?? 'HOST';
  return `rtsp://${host}:${port}/${name}`;
}

/**
 * Why MP4 cannot carry the stream, or undefined when it can. What MP4 carries is what the hub makes samples of
 * (stream/samples.ts sampleCodecOf). A stream with video that cannot go is refused even if its audio could: a player
 * opening a video URL that plays sound only would look broken. `player` ends the sentence: what cannot take the codec.
 */
export function unsupportedReason(choice: TrackChoice, name: string, rtspUrl: string | undefined, player = 'HTTP playback (MP4) cannot carry'): string | undefined {
  const video = choice.carried.some((t) => t.role === 'video');
  const leftVideo = choice.left.find((t) => t.kind === 'video');
  const instead = rtspUrl ? `; play it over RTSP instead: ${rtspUrl}` : '';
  if (leftVideo && !video) return `stream "${name}" has ${leftVideo.codec} video, which ${player}${instead}`;
  if (choice.carried.length === 0) {
    const what = choice.left.map((t) => `${t.kind} ${t.codec}`).join(', ') || 'neither audio nor video';
    return `stream "${name}" has ${what}, which ${player}${instead}`;
  }
  return undefined;
}

/** An error as JSON: `{ "error": sentence }` (HEAD gets the headers only). Recording playback answers the same way. */
export function answer(res: http.ServerResponse, status: number, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.destroyed) return; // the player left (during the delay after wrong credentials, say)
  const body = JSON.stringify({ error: message });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
