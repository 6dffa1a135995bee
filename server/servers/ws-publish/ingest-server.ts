// Browser publishers over WebSocket (protocol in shared/protocol.ts). Each socket walks hello → init → live; every
// byte is checked (control messages at runtime, fMP4 box by box) before anything reaches the relay or ffmpeg, and
// nothing is spawned until a valid init segment has arrived. A bad socket is closed with a reason; nobody else notices.
// The page's samples go into the stream hub in process (relay-feed.ts); the hub owns the rest: RTSP players, the
// configured destinations (egress/), the grace period that keeps them attached while a page reconnects.
import type { WebSocket, RawData } from 'ws';
import { parseInitSegment, parseMediaSegment, type InitInfo } from '../../../shared/fmp4/reader.ts';
import { CLOSE, PROTOCOL_VERSION, parseClientMessage, type ClientMessage, type RefusalCode, type ServerMessage } from '../../../shared/protocol.ts';
import { isValidStreamName, streamNameProblem } from '../../../shared/stream-name.ts';
import { maskUrl } from '../../egress/output-url.ts';
import type { Destination } from '../../egress/stream-outputs.ts';
import type { OutputStatus, RecordingStatus } from '../../../shared/protocol.ts';
import type { Logger } from '../../log.ts';
import { sameSecret } from '../../net.ts';
import type { StreamRegistry } from '../../stream/registry.ts';
import { RelayFeed } from './relay-feed.ts';

export interface IngestOptions {
  logger: Logger;
  registry: StreamRegistry;
  /** The relay's RTSP port, for the page's RTSP URL. */
  rtspPort: () => number;
  rtspPlayers: (name: string) => number;
  /** The configured destinations of a stream, shown (masked, idle) before its outputs exist. */
  destinations: (name: string) => Destination[];
  /** The state of a stream's outputs (the hub's; see egress/hub-outputs.ts), once it has any. */
  outputStatus: (name: string) => OutputStatus[] | undefined;
  /** --record: the state of a stream's recording on the server, undefined when it is not recorded. */
  recordingStatus?: (name: string) => RecordingStatus | undefined;
  /** Needed by publishers that are not on loopback; without one, only loopback may publish. */
  publishToken?: string;
  maxPublishers: number;
  /** How long a socket may take to send hello, and then (separately) its init segment. Default 10 s. */
  helloTimeoutMs?: number;
  statsIntervalMs?: number;
}

type SocketState = 'hello' | 'init' | 'live' | 'closed';

interface Publisher {
  ws: WebSocket;
  remote: string;
  loopback: boolean;
  state: SocketState;
  hello?: Extract<ClientMessage, { type: 'hello' }>;
  /** What the init segment declared: every fragment is checked against it. */
  info?: InitInfo;
  /** This socket's publication in the hub, from its init segment until it closes. */
  feed?: RelayFeed | undefined;
  lastDecodeTime: Map<number, number>;
  fragments: number;
  timers: NodeJS.Timeout[];
}

export class IngestServer {
  private readonly attached = new Map<string, Publisher>();
  private readonly sockets = new Set<Publisher>();
  private sessions = 0;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly o: IngestOptions) {
    this.unsubscribe = o.registry.on((e) => {
      if (e.type === 'gop-overflow') this.askKeyframe(e.stream.name, 'the keyframe interval is longer than the cache');
    });
  }

  handle(ws: WebSocket, remote: string, loopback: boolean): void {
    if (this.closed) {
      ws.close(CLOSE.goingAway, 'server shutting down');
      return;
    }
    const p: Publisher = { ws, remote, loopback, state: 'hello', lastDecodeTime: new Map(), fragments: 0, timers: [] };
    this.sockets.add(p);
    const log = this.o.logger.child({ remote });
    log.info('ws-connect');
    this.deadline(p, 'bad-message', 'no hello');
    ws.on('message', (data: RawData, isBinary: boolean) => {
      try {
        this.onMessage(p, toBytes(data), isBinary);
      } catch (err) {
        this.crash(p, err);
      }
    });
    ws.on('error', (err) => log.debug('ws-error', { err }));
    ws.on('close', (code, reason) => {
      log.info('ws-close', { code, reason: reason.toString().slice(0, 123), stream: p.hello?.stream });
      const wasLive = p.state === 'live' && p.hello !== undefined;
      this.detach(p);
      // 1000 is the page's Stop: end the stream now instead of waiting out the reconnect grace period.
      if (code === CLOSE.normal && wasLive && p.hello) this.endNow(p.hello.stream);
    });
  }

  /** What the init segment of NAME's current (or last) page declared, for /api/streams. */
  info(name: string): InitInfo | undefined {
    return this.attached.get(name)?.info;
  }

  /** Every socket is told "server shutting down" (1001); the hub ends the streams (the registry's close). Idempotent. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.unsubscribe();
      for (const p of [...this.sockets]) this.closeSocket(p, CLOSE.goingAway, 'server shutting down');
    }
    return Promise.resolve();
  }

  private onMessage(p: Publisher, data: Uint8Array, isBinary: boolean): void {
    if (p.state === 'closed') return;
    if (!isBinary) {
      const m = parseClientMessage(Buffer.from(data).toString('utf8'));
      if (!m.ok) return this.fail(p, CLOSE.policy, 'bad-message', m.error);
      if (m.value.type === 'hello') {
        if (p.state !== 'hello') return this.fail(p, CLOSE.policy, 'bad-message', 'hello was already sent');
        return this.onHello(p, m.value);
      }
      return; // page stats: informational; the server's own view is authoritative
    }
    if (p.state === 'hello') return this.fail(p, CLOSE.policy, 'bad-message', 'send a hello message before any media');
    if (p.state === 'init') return this.onInit(p, data);
    if (p.state === 'live') this.onFragment(p, data);
  }

  private onHello(p: Publisher, hello: Extract<ClientMessage, { type: 'hello' }>): void {
    const refuse = (code: RefusalCode, message: string) => this.refuse(p, code, message);
    if (hello.version !== PROTOCOL_VERSION) return refuse('bad-version', `this server speaks protocol version ${PROTOCOL_VERSION}; reload the page`);
    if (!isValidStreamName(hello.stream)) return refuse('bad-name', streamNameProblem(hello.stream) ?? 'bad stream name');
    if (!p.loopback) {
      if (!this.o.publishToken) return refuse('bad-token', 'publishing from another machine needs a token: start the server with --publish-token');
      if (!hello.token || !sameSecret(hello.token, this.o.publishToken)) return refuse('bad-token', 'the publish token is wrong; ask the server operator for the --publish-token value');
    }
    if (hello.video && !/^avc[13]\./.test(hello.video.codec)) return refuse('bad-codec', `video codec ${hello.video.codec} cannot be relayed; use H.264 (avc1)`);
    if (hello.audio && hello.audio.codec !== 'opus' && !hello.audio.codec.startsWith('mp4a')) return refuse('bad-codec', `audio codec ${hello.audio.codec} cannot be relayed; use Opus`);
    const name = hello.stream;
    const holder = this.attached.get(name);
    if (holder && hello.resume === true && sameHost(holder.remote, p.remote)) {
      // A page reconnecting before the server noticed its old socket die (no close frame): the new one takes over.
      this.o.logger.info('publisher-takeover', { stream: name, remote: p.remote });
      this.detach(holder);
      holder.ws.terminate();
    } else if (holder) {
      return refuse('in-use', `stream "${name}" is already live from another tab or machine; stop it there or pick another name`);
    }
    if (this.o.registry.get(name)?.state === 'live') return refuse('in-use', `stream "${name}" is already published over RTSP; pick another name`);
    // Streams in their grace period keep their outputs: they count as publishers until they end.
    const carried = new Set([...this.attached.keys(), ...this.o.registry.waiting('websocket')]);
    if (!carried.has(name) && carried.size >= this.o.maxPublishers) return refuse('limit', `the server already carries ${this.o.maxPublishers} browser streams (its --max-publishers limit); try again later`);
    p.hello = hello;
    p.state = 'init';
    this.attached.set(name, p);
    // The hello deadline is met; the init segment gets one of its own.
    p.timers.forEach(clearTimeout);
    p.timers = [];
    this.deadline(p, 'bad-init', 'no init segment after hello');
    this.send(p, {
      type: 'accepted',
      version: PROTOCOL_VERSION,
      stream: name,
      rtspPath: `/${name}`,
      rtspPort: this.o.rtspPort(),
      outputs: this.outputs(name),
    });
    this.o.logger.info('publisher-accepted', { stream: name, remote: p.remote, resume: hello.resume === true, video: hello.video?.codec, audio: hello.audio?.codec });
  }

  private onInit(p: Publisher, data: Uint8Array): void {
    const hello = p.hello;
    if (!hello) return;
    const parsed = parseInitSegment(data);
    if (!parsed.ok) return this.fail(p, CLOSE.unsupportedData, 'bad-init', `the first binary message must be an fMP4 init segment: ${parsed.error.message}`);
    const info = parsed.value;
    const problem = mismatch(info, hello);
    if (problem) return this.fail(p, CLOSE.unsupportedData, 'bad-init', problem);
    const name = hello.stream;
    // Into the hub: a stream in its grace period with the same codecs continues (players and outputs stay attached);
    // otherwise a new one starts. If an RTSP publisher took NAME meanwhile, refuse.
    const feed = new RelayFeed({ name, info, registry: this.o.registry, remote: p.remote, logger: this.o.logger.child({ stream: name }) });
    const published = feed.attach(`ws-${++this.sessions}`);
    if (!published.ok) return this.refuse(p, 'in-use', `stream "${name}" is already published over RTSP; pick another name`);
    p.feed = feed;
    p.info = info;
    p.state = 'live';
    p.timers.forEach(clearTimeout);
    p.timers = [];
    const stats = setInterval(() => this.sendStats(p), this.o.statsIntervalMs ?? 1000);
    p.timers.push(stats);
    this.o.logger.info('publisher-live', { stream: name, tracks: info.tracks.map((t) => t.codec) });
  }

  private onFragment(p: Publisher, data: Uint8Array): void {
    const info = p.info;
    if (!info) return;
    const parsed = parseMediaSegment(data, info);
    if (!parsed.ok) return this.fail(p, CLOSE.unsupportedData, 'bad-fragment', `a media segment was rejected: ${parsed.error.message}`);
    for (const t of parsed.value.tracks) {
      const time = Number(t.baseDecodeTime);
      const last = p.lastDecodeTime.get(t.trackId);
      // ISO/IEC 14496-12 §8.8.12: tfdt is the decode time of the first sample; going back in time breaks muxers.
      // Only the start times must not go back: a page sending one frame per fragment cannot know a frame's
      // duration yet, so declared durations are estimates and may overlap the next fragment a little.
      if (last !== undefined && time < last) return this.fail(p, CLOSE.unsupportedData, 'bad-fragment', `track ${t.trackId} went back in time (${time} < ${last})`);
      p.lastDecodeTime.set(t.trackId, time);
    }
    p.fragments++;
    // The hub keeps views of `data` (the samples), not copies: ws gives every message memory of its own.
    p.feed?.write(data, parsed.value);
  }

  /** Close the socket with `code` and "<what> within N s" unless the timers are cleared first. */
  private deadline(p: Publisher, code: string, what: string): void {
    const ms = this.o.helloTimeoutMs ?? 10_000;
    p.timers.push(setTimeout(() => this.fail(p, CLOSE.policy, code, `${what} within ${ms / 1000} s`), ms));
  }

  /** Ask NAME's page for a keyframe now (an output (re)started, or the cached group overflowed). */
  askKeyframe(name: string, reason: string): void {
    const p = this.attached.get(name);
    if (p && p.state === 'live') this.send(p, { type: 'keyframe-request', reason });
  }

  private sendStats(p: Publisher): void {
    const name = p.hello?.stream;
    const stream = name === undefined ? undefined : this.o.registry.get(name);
    if (!stream || p.state !== 'live' || name === undefined) return;
    const recording = this.o.recordingStatus?.(name);
    this.send(p, { type: 'stats', ingestKbps: Math.round(stream.ingestKbps()), fragments: p.fragments, rtspPlayers: this.o.rtspPlayers(name), outputs: this.outputs(name), ...(recording ? { recording } : {}) });
  }

  /** NAME's outputs as the page shows them: the hub's, or the configured destinations (idle) before they exist. */
  private outputs(name: string): OutputStatus[] {
    return this.o.outputStatus(name) ?? this.o.destinations(name).map((d) => ({ url: maskUrl(d.url, name), kind: d.kind, state: 'idle' as const, restarts: 0 }));
  }

  private refuse(p: Publisher, code: RefusalCode, message: string): void {
    this.o.logger.warn('publisher-refused', { remote: p.remote, code, message, stream: p.hello?.stream });
    this.send(p, { type: 'refused', code, message });
    this.closeSocket(p, CLOSE.policy, message);
  }

  private fail(p: Publisher, status: number, code: string, message: string): void {
    if (p.state === 'closed') return;
    this.o.logger.warn('publisher-rejected', { remote: p.remote, code, message, stream: p.hello?.stream });
    this.send(p, { type: 'error', code, message });
    this.closeSocket(p, status, message);
  }

  private crash(p: Publisher, err: unknown): void {
    this.o.logger.error('ingest-failed', { remote: p.remote, err });
    this.closeSocket(p, CLOSE.serverError, 'internal error');
  }

  private closeSocket(p: Publisher, status: number, reason: string): void {
    if (p.state === 'closed') return;
    this.detach(p);
    // RFC 6455 §5.5: a close reason fits in 123 bytes.
    p.ws.close(status, truncateUtf8(reason, 123));
  }

  private detach(p: Publisher): void {
    if (p.state === 'closed') return;
    p.state = 'closed';
    this.sockets.delete(p);
    for (const t of p.timers) clearTimeout(t);
    p.timers = [];
    // The hub keeps the stream's players and outputs for its grace period, as for any publisher that drops.
    p.feed?.detach();
    p.feed = undefined;
    const name = p.hello?.stream;
    if (name !== undefined && this.attached.get(name) === p) this.attached.delete(name);
  }

  /** Cut a publisher's connection as a network failure would (operators; tests of the page's reconnect). */
  drop(name: string): boolean {
    const p = this.attached.get(name);
    if (!p) return false;
    p.ws.terminate();
    return true;
  }

  /**
   * End NAME's browser publisher for good (DELETE /api/streams/NAME): closed with 1008, which the page does not retry.
   * False when no page publishes NAME.
   */
  endPublisher(name: string): boolean {
    const p = this.attached.get(name);
    if (!p) return false;
    this.o.logger.info('publisher-ended', { stream: name, remote: p.remote, by: 'operator' });
    // The page shows the error's sentence ("The server stopped the upload: …"), not the advice for a bad token.
    this.send(p, { type: 'error', code: 'ended-by-operator', message: 'an operator of this server ended the stream' });
    this.closeSocket(p, CLOSE.policy, 'an operator ended this stream');
    return true;
  }

  /** Stop a stream at once (the page pressed Stop: the socket closed with 1000): players get BYE, outputs end. */
  endNow(name: string): void {
    if (this.attached.has(name)) return;
    const stream = this.o.registry.get(name);
    if (stream?.state === 'waiting' && stream.publisher === undefined) this.o.registry.end(stream);
  }

  private send(p: Publisher, m: ServerMessage): void {
    if (p.ws.readyState === p.ws.OPEN) p.ws.send(JSON.stringify(m));
  }
}

/**
 * The init segment must carry what hello promised. (parseInitSegment already refuses more than one track of a kind
 * and video that is not H.264.)
 */
function mismatch(info: InitInfo, hello: Extract<ClientMessage, { type: 'hello' }>): string | undefined {
  const hasVideo = info.tracks.some((t) => t.kind === 'video');
  const hasAudio = info.tracks.some((t) => t.kind === 'audio');
  if (Boolean(hello.video) !== hasVideo) return hello.video ? 'hello announced video but the init segment has none' : 'the init segment has video that hello did not announce';
  if (Boolean(hello.audio) !== hasAudio) return hello.audio ? 'hello announced audio but the init segment has none' : 'the init segment has audio that hello did not announce';
  return undefined;
}

/** "1.2.3.4:5678" and "1.2.3.4:9999" are the same host. */
function sameHost(a: string, b: string): boolean {
  return a.slice(0, a.lastIndexOf(':')) === b.slice(0, b.lastIndexOf(':'));
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return data;
}

function truncateUtf8(s: string, max: number): string {
  let out = s;
  while (Buffer.byteLength(out) > max) out = out.slice(0, -1);
  return out;
}
