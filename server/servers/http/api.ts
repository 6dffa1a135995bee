// The JSON API and the operator's routes: GET /api/streams (every stream, whether a browser or an RTSP publisher feeds
// it), GET|DELETE /api/streams/NAME, DELETE /api/readers/ID, GET /api/status (the status page's), GET /metrics,
// GET /healthz.
import type http from 'node:http';
import { availableParallelism } from 'node:os';
import { avcProfileName, parseSps } from '../../../shared/fmp4/avc.ts';
import type { OutputStatus } from '../../../shared/protocol.ts';
import type { InitInfo } from '../../../shared/fmp4/reader.ts';
import { STATUS_PATH, type ServerStatus, type StatusJson, type StatusStream } from '../../../shared/status.ts';
import { streamNameProblem } from '../../../shared/stream-name.ts';
import type { Logger } from '../../log.ts';
import { CpuMeter } from '../../metrics/cpu-meter.ts';
import { sameSecret } from '../../net.ts';
import type { Reader } from '../../stream/reader.ts';
import type { IngestServer } from '../ws-publish/ingest-server.ts';
import { h264SpropParameterSets } from '../../protocols/rtsp/sdp.ts';
import type { StreamRegistry } from '../../stream/registry.ts';
import type { PublisherInfo, Stream } from '../../stream/stream.ts';
import type { RecordingStatus } from '../../record/recorder.ts';
import { ffprobeStreams, type FfprobeStream } from './ffprobe-json.ts';

export interface StreamJson {
  name: string;
  source: 'browser' | 'rtsp';
  state: string;
  since: string;
  video?: { codec: string; profile?: string; width?: number; height?: number; fps?: number };
  audio?: { codec: string; sampleRate?: number; channels?: number };
  ingestKbps: number;
  rtspPlayers: number;
  /** Players of http://HOST:8090/NAME.mp4. */
  httpPlayers: number;
  /** Relay players of this stream skipped to a keyframe for falling behind, and disconnected for staying behind. */
  playerDrops: { skips: number; disconnected: number };
  outputs: OutputStatus[];
  /** --record: this stream's recording (state, file, the sentence when it stopped); absent when it is not recorded. */
  recording?: RecordingStatus;
}

/** Every stream the hub carries, whatever its source: one list. */
export function listStreams(
  registry: StreamRegistry,
  ingest: IngestServer,
  rtspPlayers: (name: string) => number,
  hubOutputs: (name: string) => OutputStatus[],
  httpPlayers: (name: string) => number = () => 0,
  recording: (name: string) => RecordingStatus | undefined = () => undefined,
): StreamJson[] {
  return registry.list().flatMap((snap) => {
    const stream = registry.get(snap.name);
    return stream ? [streamJson(stream, ingest, rtspPlayers, hubOutputs, httpPlayers, recording)] : [];
  });
}

function streamJson(
  stream: Stream,
  ingest: IngestServer,
  rtspPlayers: (name: string) => number,
  hubOutputs: (name: string) => OutputStatus[],
  httpPlayers: (name: string) => number,
  recording: (name: string) => RecordingStatus | undefined = () => undefined,
): StreamJson {
  const snap = stream.snapshot();
  const rec = recording(snap.name);
  const browser = stream.source === 'websocket';
  return {
    name: snap.name,
    source: browser ? 'browser' : 'rtsp',
    state: snap.state,
    since: new Date(snap.since).toISOString(),
    ...(browser ? browserMedia(stream, ingest.info(snap.name)) : rtspMedia(stream)),
    ingestKbps: snap.ingestKbps,
    rtspPlayers: rtspPlayers(snap.name),
    httpPlayers: httpPlayers(snap.name),
    playerDrops: { skips: snap.readerSkips, disconnected: snap.readersDropped },
    outputs: hubOutputs(snap.name),
    ...(rec ? { recording: rec } : {}),
  };
}

/** A browser stream's tracks as its init segment declared them (WebCodecs codec strings), while its page is there. */
function browserMedia(stream: Stream, info: InitInfo | undefined): Pick<StreamJson, 'video' | 'audio'> {
  if (!info) return rtspMedia(stream);
  const v = info.tracks.find((t) => t.kind === 'video');
  const a = info.tracks.find((t) => t.kind === 'audio');
  return {
    ...(v ? { video: { codec: v.codec, ...opt('profile', v.profile), ...opt('width', v.width), ...opt('height', v.height), fps: stream.videoFps() } } : {}),
    ...(a ? { audio: { codec: a.codec, ...opt('sampleRate', a.sampleRate), ...opt('channels', a.channels) } } : {}),
  };
}

function rtspMedia(stream: Stream): Pick<StreamJson, 'video' | 'audio'> {
  const r: Pick<StreamJson, 'video' | 'audio'> = {};
  for (const t of stream.tracks) {
    if (t.codec.kind === 'video' && !r.video) {
      r.video = { codec: t.codec.codec.toLowerCase(), fps: stream.videoFps() };
      if (t.codec.codec === 'H264') {
        // RFC 6184 §8.1: the SPS in sprop-parameter-sets gives profile and size without decoding anything.
        const sps = h264SpropParameterSets(t.media.fmtp).find((n) => ((n[0] ?? 0) & 0x1f) === 7);
        const info = sps ? parseSps(sps) : undefined;
        if (info?.ok) r.video = { ...r.video, profile: avcProfileName(info.value.profileIdc, info.value.constraintFlags), width: info.value.width, height: info.value.height };
      }
    } else if (t.codec.kind === 'audio' && !r.audio) {
      r.audio = { codec: t.codec.codec.toLowerCase(), sampleRate: t.codec.clockRate, ...opt('channels', t.codec.channels) };
    }
  }
  return r;
}

function opt<K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } {
  return (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };
}

/** GET /api/streams/NAME: the list's entry, the publisher, ffprobe-shaped tracks, and the players. */
export interface StreamDetailJson extends StreamJson {
  publisher: { protocol: 'rtsp' | 'websocket'; transport: 'tcp' | 'udp'; since: string; remote?: string } | null;
  streams: FfprobeStream[];
  readers: ReaderJson[];
}

export interface ReaderJson {
  id: string;
  protocol: string;
  transport?: 'tcp' | 'udp';
  /** ADDRESS:PORT; shown to the operator only (loopback or the admin token), as it identifies a viewer. */
  remote?: string;
  since: string;
  /** Bytes of media handed to this reader (the units' RTP packets; framing not counted). */
  bytesSent: number;
  skips: number;
  droppedUnits: number;
}

export interface OperatorApiOptions {
  registry: StreamRegistry;
  ingest: IngestServer;
  logger: Logger;
  rtspPlayers: (name: string) => number;
  httpPlayers: (name: string) => number;
  outputs: (name: string) => OutputStatus[];
  /** --record: a stream's recording, undefined when it is not recorded. */
  recording?: (name: string) => RecordingStatus | undefined;
  /** Close the RTSP publisher of NAME (servers/rtsp RtspServer.endPublisher). */
  endRtspPublisher: (name: string) => boolean;
  /** GET /metrics: the relay's Prometheus registry (metrics/relay-metrics.ts). */
  metrics: { readonly contentType: string; text(): Promise<string> };
  /** GET /healthz: every listener and whether it is up. */
  listeners: () => Array<{ name: string; up: boolean }>;
  /** GET /api/status: what only the composition root knows of the server. */
  server: ServerSources;
  /** --admin-token: a Bearer token for the DELETE routes from anywhere; without it they are loopback-only. */
  adminToken?: string;
  /** Whether a trusted local request needs no token (tests turn it off to act as a remote client). */
  trustLoopback: boolean;
  /** Loopback socket AND loopback Host (server.ts's rule, shared with publishing). */
  trustedLocal: (req: http.IncomingMessage) => boolean;
  /** A random delay before saying no to a wrong token, [min, max] ms (default 200–600). */
  authFailureDelayMs?: readonly [number, number];
  random?: () => number;
}

/** GET /api/status's server block, as main.ts knows it (the version, the start, the RTSP server's counts). */
export interface ServerSources {
  version: string;
  /** Date.now() when the relay started. */
  startedAt: number;
  connections(): Omit<ServerStatus['connections'], 'publishers'>;
  listening(): ServerStatus['listening'];
}

type Access = { ok: true } | { ok: false; status: 401 | 403; message: string; headers?: http.OutgoingHttpHeaders };

/** The operator's routes. handle() answers the paths it owns (any method) and says whether it did. */
export class OperatorApi {
  private readonly cpu = new CpuMeter();

  constructor(private readonly o: OperatorApiOptions) {}

  async handle(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): Promise<boolean> {
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    if (pathname === '/metrics') {
      if (!read) return notAllowed(res, 'GET, HEAD');
      const text = await this.o.metrics.text();
      send(res, 200, text, this.o.metrics.contentType);
      return true;
    }
    if (pathname === '/healthz') {
      if (!read) return notAllowed(res, 'GET, HEAD');
      const down = this.o.listeners().filter((l) => !l.up).map((l) => l.name);
      if (down.length === 0) sendJson(res, 200, { ok: true });
      else sendJson(res, 503, { ok: false, down, error: `not listening: ${down.join(', ')}` });
      return true;
    }
    if (pathname === STATUS_PATH) {
      if (!read) return notAllowed(res, 'GET, HEAD');
      sendJson(res, 200, this.status(req));
      return true;
    }
    const stream = /^\/api\/streams\/([^/]+)$/.exec(pathname)?.[1];
    if (stream !== undefined) {
      if (read) return this.detail(req, res, stream);
      if (method === 'DELETE') return this.endStream(req, res, stream);
      return notAllowed(res, 'GET, HEAD, DELETE');
    }
    const reader = /^\/api\/readers\/([^/]+)$/.exec(pathname)?.[1];
    if (reader !== undefined) {
      if (method === 'DELETE') return this.endReader(req, res, reader);
      return notAllowed(res, 'DELETE');
    }
    return false;
  }

  private detail(req: http.IncomingMessage, res: http.ServerResponse, raw: string): boolean {
    const found = this.find(res, raw);
    if (!found) return true;
    const operator = this.access(req).ok;
    const body: StreamDetailJson = {
      ...streamJson(found, this.o.ingest, this.o.rtspPlayers, this.o.outputs, this.o.httpPlayers, this.o.recording),
      publisher: publisherJson(found.publisher, operator),
      streams: ffprobeStreams(found),
      readers: found.players().map((r) => readerJson(r, operator)),
    };
    sendJson(res, 200, body);
    return true;
  }

  /** GET /api/status: the server and every stream, as the status page shows them. */
  private status(req: http.IncomingMessage): StatusJson {
    const operator = this.access(req).ok;
    const streams = this.o.registry.list().flatMap((snap) => {
      const stream = this.o.registry.get(snap.name);
      return stream ? [this.statusStream(stream, operator)] : [];
    });
    const publishers = { rtsp: 0, websocket: 0 };
    for (const s of streams) if (s.publisher) publishers[s.publisher.protocol]++;
    const src = this.o.server;
    return {
      server: {
        version: src.version,
        startedAt: new Date(src.startedAt).toISOString(),
        uptimeSeconds: Math.max(0, Math.floor((Date.now() - src.startedAt) / 1000)),
        cpuPercent: this.cpu.read(),
        cores: availableParallelism(),
        rssBytes: process.memoryUsage.rss(),
        connections: { ...src.connections(), publishers },
        listening: src.listening(),
      },
      streams,
    };
  }

  private statusStream(stream: Stream, operator: boolean): StatusStream {
    const { name, source, since, video, audio, ingestKbps, playerDrops, outputs, recording } = streamJson(stream, this.o.ingest, this.o.rtspPlayers, this.o.outputs, this.o.httpPlayers, this.o.recording);
    return {
      name,
      source,
      state: stream.state,
      since,
      publisher: publisherJson(stream.publisher, operator),
      ...(video ? { video } : {}),
      ...(audio ? { audio } : {}),
      ingestKbps,
      readers: readerCounts(stream.players()),
      playerDrops,
      outputs,
      ...(recording ? { recording } : {}),
    };
  }

  private async endStream(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<boolean> {
    if (!(await this.authorized(req, res))) return true;
    const stream = this.find(res, raw);
    if (!stream) return true;
    const protocol = stream.publisher?.protocol;
    // The publisher first, so it cannot send into the ended stream, then the stream, skipping its grace period:
    // players get their end (RTCP BYE, the last chunk) as when a publisher leaves for good, and outputs stop.
    if (protocol === 'rtsp') this.o.endRtspPublisher(stream.name);
    else if (protocol === 'websocket') this.o.ingest.endPublisher(stream.name);
    this.o.registry.end(stream);
    this.o.logger.info('api.stream_ended', { stream: stream.name, publisher: protocol ?? null, remote: req.socket.remoteAddress });
    sendJson(res, 200, { ended: stream.name, publisher: protocol ?? null });
    return true;
  }

  private async endReader(req: http.IncomingMessage, res: http.ServerResponse, id: string): Promise<boolean> {
    if (!(await this.authorized(req, res))) return true;
    const ended = this.o.registry.list().some((s) => this.o.registry.get(s.name)?.endPlayer(id) === true);
    if (!ended) {
      sendJson(res, 404, { error: `no player ${id.slice(0, 64)} is reading any stream; GET /api/streams/NAME lists the players of NAME` });
      return true;
    }
    this.o.logger.info('api.reader_ended', { reader: id, remote: req.socket.remoteAddress });
    sendJson(res, 200, { ended: id });
    return true;
  }

  /** The live stream NAME, or undefined once the 400/404 is answered. */
  private find(res: http.ServerResponse, raw: string): Stream | undefined {
    const problem = streamNameProblem(raw);
    if (problem !== undefined) {
      sendJson(res, 400, { error: problem });
      return undefined;
    }
    const stream = this.o.registry.get(raw);
    if (!stream) sendJson(res, 404, { error: `no stream "${raw}" is live here; GET /api/streams lists the streams` });
    return stream;
  }

  /** Whether the request may change things; if not, answers 401/403 (after a short delay for a wrong token). */
  private async authorized(req: http.IncomingMessage, res: http.ServerResponse): Promise<boolean> {
    const a = this.access(req);
    if (a.ok) return true;
    if (req.headers.authorization !== undefined) {
      // A wrong token: a short random delay makes guessing slow and timing useless (as RTSP and /NAME.mp4 do).
      const [min, max] = this.o.authFailureDelayMs ?? [200, 600];
      await new Promise((r) => setTimeout(r, min + (this.o.random ?? Math.random)() * (max - min)));
      this.o.logger.warn('api.auth_failed', { remote: req.socket.remoteAddress });
    }
    sendJson(res, a.status, { error: a.message }, a.headers);
    return false;
  }

  private access(req: http.IncomingMessage): Access {
    if (this.o.trustLoopback && this.o.trustedLocal(req)) return { ok: true };
    const token = this.o.adminToken;
    if (token === undefined) {
      return { ok: false, status: 403, message: 'this server takes changes from its own machine only; start it with --admin-token TOKEN and send "Authorization: Bearer TOKEN" to make them from elsewhere' };
    }
    const given = /^Bearer +(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given !== undefined && sameSecret(given, token)) return { ok: true };
    // RFC 6750 §3: the challenge, with invalid_token when a token was given and is wrong.
    const challenge = given === undefined ? 'Bearer realm="relaycast"' : 'Bearer realm="relaycast", error="invalid_token"';
    const message = given === undefined ? 'this needs the admin token: send "Authorization: Bearer TOKEN" (the server\'s --admin-token)' : 'the admin token is wrong; use the server\'s --admin-token value';
    return { ok: false, status: 401, message, headers: { 'WWW-Authenticate': challenge } };
  }
}

/** The publisher as the API shows it: its address only to the operator (it identifies a person or a camera). */
function publisherJson(p: PublisherInfo | undefined, operator: boolean): StreamDetailJson['publisher'] {
  return p ? { protocol: p.protocol, transport: p.transport, since: new Date(p.since).toISOString(), ...(operator ? { remote: p.remote } : {}) } : null;
}

/**
 * A stream's players by how they read. This walks the players, which /metrics must not do at each scrape; the status
 * page asks once a second, and an operator has few of them open.
 */
function readerCounts(players: readonly Reader[]): StatusStream['readers'] {
  const n = { rtspTcp: 0, rtspUdp: 0, http: 0, viewer: 0 };
  for (const r of players) {
    if (r.protocol === 'rtsp') {
      if (r.sink.describe?.().transport === 'udp') n.rtspUdp++;
      else n.rtspTcp++;
    } else if (r.protocol === 'http' || r.protocol === 'viewer') {
      n[r.protocol]++;
    }
  }
  return n;
}

function readerJson(r: Reader, operator: boolean): ReaderJson {
  const d = r.sink.describe?.();
  return {
    id: r.id,
    protocol: r.protocol,
    ...(d?.transport ? { transport: d.transport } : {}),
    ...(operator && d?.remote ? { remote: d.remote } : {}),
    since: new Date(r.since).toISOString(),
    bytesSent: r.stats.bytes,
    skips: r.stats.skips,
    droppedUnits: r.stats.droppedUnits,
  };
}

function notAllowed(res: http.ServerResponse, allow: string): true {
  sendJson(res, 405, { error: `only ${allow} here` }, { Allow: allow });
  return true;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  send(res, status, JSON.stringify(body, null, 2), 'application/json', headers);
}

function send(res: http.ServerResponse, status: number, text: string, type: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

/** What HttpServer is given for the operator's routes; it adds the rest (registry, players, the loopback rule). */
export type OperatorRoutes = Pick<OperatorApiOptions, 'endRtspPublisher' | 'metrics' | 'listeners' | 'adminToken' | 'trustLoopback' | 'server'>;
