// Composition root: flags → logger → stream registry → RTSP relay → ingest + egress → HTTP. Nothing else creates
// long-lived things, and close() takes them down in reverse order.
import { readFileSync } from 'node:fs';
import { HELP, parseConfig, type Config } from './config.ts';
import { expandOutputUrl, maskUrl, parseOutputUrl, type OutputKind } from './egress/output-url.ts';
import { checkWebBuilt, WEB_DIST } from './servers/http/web-build.ts';
import { HttpServer, type HttpServerOptions } from './servers/http/server.ts';
import { IngestServer } from './servers/ws-publish/ingest-server.ts';
import { HubOutputs } from './egress/hub-outputs.ts';
import type { Destination } from './egress/stream-outputs.ts';
import { createLogger, type Logger } from './log.ts';
import { RelayMetrics } from './metrics/relay-metrics.ts';
import { RtspServer, type RtspAuthOptions, type RtspServerOptions } from './servers/rtsp/server.ts';
import type { ReaderPolicy } from './stream/reader.ts';
import { StreamRegistry } from './stream/registry.ts';
import { Recordings } from './record/recordings.ts';
import type { StreamSnapshot } from './stream/stream.ts';
import type { OutputStatus } from '../shared/protocol.ts';
import type { ServerStatus } from '../shared/status.ts';

type ServerConnections = Omit<ServerStatus['connections'], 'publishers'>;

/** package.json's version, which GET /api/status reports. */
const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface Relay {
  registry: StreamRegistry;
  rtsp: RtspServer;
  ingest: IngestServer;
  outputs: HubOutputs;
  http: HttpServer;
  /** --record: undefined when nothing is recorded. */
  recordings: Recordings | undefined;
  metrics: RelayMetrics;
  close(): Promise<void>;
}

/** Settings that have no flag: tests shorten timeouts, shrink the reader policy, or stop trusting loopback. */
export interface RelayOverrides {
  rtsp?: Partial<Pick<RtspServerOptions, 'sessionTimeoutMs' | 'requestTimeoutMs' | 'authFailureDelayMs' | 'limits' | 'udpPace' | 'maxConnections' | 'maxSessionsPerConnection' | 'maxTracksPerConnection'>>;
  auth?: Partial<Pick<RtspAuthOptions, 'trustLoopback' | 'realm'>>;
  policy?: ReaderPolicy;
  /** Skip checking that the pages are built (tests pass their own webRoot or need none). */
  skipWebCheck?: boolean;
  webRoot?: string;
  ffmpegPath?: string;
  /** How long a publisher socket may take to send hello, and then its init segment. */
  helloTimeoutMs?: number;
  /** Timings of HTTP playback (/NAME.mp4). */
  progressive?: HttpServerOptions['progressive'];
  /** Timings of the viewer socket (/ws/view). */
  viewer?: HttpServerOptions['viewer'];
  /** The operator's API: whether loopback needs no admin token (tests turn it off to act as a remote client). */
  api?: { trustLoopback?: boolean };
}

/** Start everything; tests call this with port 0. */
export async function startRelay(config: Config, rootLogger: Logger, overrides: RelayOverrides = {}): Promise<Relay> {
  // /metrics reads what the parts below keep (called only at a scrape, once they exist); refusals and authentication
  // failures are counted from the events they log, so every part gets the tapped logger.
  const metrics: RelayMetrics = new RelayMetrics({
    streams: (): StreamSnapshot[] => registry.list(),
    outputs: (name): OutputStatus[] | undefined => outputs.statusOf(name),
    rtspSessions: (): { tcp: number; udp: number } => rtsp.sessionsByTransport,
  });
  const logger: Logger = metrics.tap(rootLogger);
  const registry = new StreamRegistry({
    logger: logger.child({ component: 'streams' }),
    graceMs: config.publisherGraceMs,
    ...(overrides.policy ? { policy: overrides.policy } : {}),
  });
  const rtsp = new RtspServer({
    host: config.host,
    port: config.rtspPort,
    logger: logger.child({ component: 'rtsp' }),
    registry,
    udpPorts: config.udpPorts,
    maxClients: config.maxClients,
    // HTTP players and viewers count against --max-clients as RTSP players do (http is made below; called only later).
    otherPlayers: (): number => http.progressivePlayers() + http.viewerPlayers(),
    maxBandwidthKbps: config.maxBandwidthKbps,
    maxConnectionsPerIp: config.maxConnectionsPerIp,
    maxSessionsPerIp: config.maxSessionsPerIp,
    perIpLoopback: config.perIpLoopback,
    playTimeoutMs: config.playTimeoutMs,
    auth: {
      ...(config.publish ? { publish: config.publish } : {}),
      ...(config.read ? { read: config.read } : {}),
      allowBasic: config.rtspBasicAuth,
      trustLoopback: true,
      realm: 'relaycast',
      ...overrides.auth,
    },
    ...overrides.rtsp,
  });
  const destinations = (name: string): Destination[] =>
    [...config.outputs, ...(config.streamOutputs[name] ?? [])].map((t) => ({ url: expandOutputUrl(t, name), kind: outputKind(t) }));
  // Every stream, from a browser or an RTSP publisher (cameras, ffmpeg, GStreamer), reaches its destinations from the
  // hub's units.
  const outputs = new HubOutputs({
    registry,
    destinations,
    logger: logger.child({ component: 'egress' }),
    // A browser publisher is asked for a keyframe at once, so a (re)started ffmpeg does not wait a whole group.
    onOutputStart: (name) => ingest.askKeyframe(name, 'an output (re)started'),
    ...(overrides.ffmpegPath ? { ffmpegPath: overrides.ffmpegPath } : {}),
  });
  const ingest = new IngestServer({
    logger: logger.child({ component: 'ingest' }),
    registry,
    rtspPort: () => rtsp.port(),
    rtspPlayers: (name) => rtsp.playersOf(name),
    destinations,
    outputStatus: (name) => outputs.statusOf(name),
    // Called for the page's stats, after startRelay has made the recordings (below).
    recordingStatus: (name) => recordings?.statusOf(name),
    maxPublishers: config.maxPublishers,
    ...(config.publishToken !== undefined ? { publishToken: config.publishToken } : {}),
    ...(overrides.helloTimeoutMs !== undefined ? { helloTimeoutMs: overrides.helloTimeoutMs } : {}),
  });
  const record = config.record;
  const recordings = record && new Recordings({
    registry,
    root: record.dir,
    records: (name) => record.streams === 'all' || record.streams.includes(name),
    segmentMs: record.segmentMs,
    bounds: { maxBytes: record.maxBytes, maxAgeMs: record.maxAgeMs },
    logger: logger.child({ component: 'record' }),
  });
  // Before any publisher: the last segments a crash left are trimmed first.
  await recordings?.start();
  if (!overrides.skipWebCheck) checkWebBuilt(logger.child({ component: 'web' }));
  const http = new HttpServer({
    host: config.host,
    port: config.httpPort,
    logger: logger.child({ component: 'http' }),
    webRoot: overrides.webRoot ?? WEB_DIST,
    ingest,
    registry,
    hubOutputs: outputs,
    ...(recordings ? { recordings } : {}),
    rtspPort: () => rtsp.port(),
    rtspPlayers: (name) => rtsp.playersOf(name),
    outputs: () => config.outputs.map((t) => ({ url: maskUrl(t), kind: outputKind(t) })),
    allowOrigins: config.allowOrigins,
    maxClients: config.maxClients,
    maxBandwidthKbps: config.maxBandwidthKbps,
    ...(config.read ? { read: config.read } : {}),
    ...(overrides.progressive ? { progressive: overrides.progressive } : {}),
    ...(overrides.viewer ? { viewer: overrides.viewer } : {}),
    publisherGraceMs: config.publisherGraceMs,
    ...(config.publishToken !== undefined ? { publishToken: config.publishToken } : {}),
    ...(config.tls ? { tls: config.tls } : {}),
    operator: {
      metrics,
      endRtspPublisher: (name) => rtsp.endPublisher(name),
      listeners: (): Array<{ name: string; up: boolean }> => [
        { name: 'http', up: http.port() !== 0 },
        { name: 'rtsp', up: rtsp.port() !== 0 },
      ],
      ...(config.adminToken !== undefined ? { adminToken: config.adminToken } : {}),
      trustLoopback: overrides.api?.trustLoopback ?? true,
      server: {
        version: VERSION,
        startedAt: Date.now(),
        connections: (): ServerConnections => ({ rtsp: rtsp.connectionCount(), rtspSessions: { ...rtsp.sessionsByTransport }, http: http.progressivePlayers(), viewer: http.viewerPlayers() }),
        listening: (): ServerStatus['listening'] => [
          { protocol: config.tls ? 'https' : 'http', host: config.host, port: http.port() },
          { protocol: 'rtsp', host: config.host, port: rtsp.port() },
        ],
      },
    },
  });
  // Listen only once everything that can fail without a socket (the page build, reading the TLS files) has worked, so
  // a failed start leaves no listener keeping the process alive.
  await rtsp.start();
  try {
    await http.start();
  } catch (err) {
    await rtsp.close();
    throw err;
  }
  return {
    registry,
    rtsp,
    ingest,
    outputs,
    http,
    recordings,
    metrics,
    close: async () => {
      // Ingest first: it tells each publisher "server shutting down" (1001) and waits for the ffmpegs; http.close()
      // terminates whatever sockets are left, which would otherwise cut the pages off with no close frame (1006).
      await ingest.close();
      await http.close();
      // Every path ends: its destinations' ffmpegs are waited for.
      await registry.close();
      await outputs.close();
      // The streams have ended (registry.close): each recorder writes its last fragment and closes its file.
      await recordings?.close();
      await rtsp.close();
    },
  };
}

/** Output templates were checked by parseConfig; this only reads their kind. */
function outputKind(template: string): OutputKind {
  const parsed = parseOutputUrl(template);
  if (!parsed.ok) throw parsed.error;
  return parsed.value.kind;
}

async function main(): Promise<void> {
  const parsed = parseConfig(process.argv.slice(2), process.env, (p) => readFileSync(p, 'utf8'));
  if (parsed.ok === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (!parsed.ok) {
    process.stderr.write(`relaycast: ${parsed.error}\n`);
    process.exitCode = 2;
    return;
  }
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  let relay: Relay;
  try {
    relay = await startRelay(config, logger);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (another program uses the port: pick another with --http-port / --rtsp-port)' : e.code === 'EACCES' ? ' (ports below 1024 need root)' : '';
    process.stderr.write(`relaycast: could not start: ${e.message}${hint}\n`);
    process.exitCode = 1;
    return;
  }
  const shown = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const scheme = config.tls ? 'https' : 'http';
  logger.info('ready', {
    page: `${scheme}://${shown}:${relay.http.port()}/?stream=NAME`,
    rtsp: `rtsp://${shown}:${relay.rtsp.port()}/NAME`,
    outputs: config.outputs.map((t) => maskUrl(t)),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown', { signal });
    relay.close().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 8000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
