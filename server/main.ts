// Composition root: flags → logger → stream registry → RTSP relay. Nothing else creates long-lived things.
import { HELP, parseConfig, type Config } from './config.ts';
import { createLogger, type Logger } from './log.ts';
import { RtspServer, type RtspAuthOptions, type RtspServerOptions } from './rtsp/server.ts';
import type { ReaderPolicy } from './stream/reader.ts';
import { StreamRegistry } from './stream/registry.ts';

export interface Relay {
  registry: StreamRegistry;
  rtsp: RtspServer;
  close(): Promise<void>;
}

/** Settings that have no flag: tests shorten timeouts, shrink the reader policy, or stop trusting loopback. */
export interface RelayOverrides {
  rtsp?: Partial<Pick<RtspServerOptions, 'sessionTimeoutMs' | 'requestTimeoutMs' | 'authFailureDelayMs' | 'limits'>>;
  auth?: Partial<Pick<RtspAuthOptions, 'trustLoopback' | 'realm'>>;
  policy?: ReaderPolicy;
}

/** Start everything; tests call this with port 0. */
export async function startRelay(config: Config, logger: Logger, overrides: RelayOverrides = {}): Promise<Relay> {
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
    maxBandwidthKbps: config.maxBandwidthKbps,
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
  await rtsp.start();
  return {
    registry,
    rtsp,
    close: async () => {
      registry.close();
      await rtsp.close();
    },
  };
}

async function main(): Promise<void> {
  const parsed = parseConfig(process.argv.slice(2), process.env);
  if (parsed.ok === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (!parsed.ok) {
    process.stderr.write(`relaycast: ${parsed.error}\n`);
    process.exitCode = 2;
    return;
  }
  const logger = createLogger({ level: parsed.config.logLevel });
  let relay: Relay;
  try {
    relay = await startRelay(parsed.config, logger);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? ' (another program uses the port: pick another with --rtsp-port / --http-port)' : e.code === 'EACCES' ? ' (ports below 1024 need root)' : '';
    process.stderr.write(`relaycast: could not start: ${e.message}${hint}\n`);
    process.exitCode = 1;
    return;
  }
  const { host, rtspPort } = parsed.config;
  logger.info('ready', { rtsp: `rtsp://${host === '0.0.0.0' ? '127.0.0.1' : host}:${relay.rtsp.port()}/NAME` });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown', { signal, rtspPort });
    relay.close().then(() => process.exit(0), () => process.exit(1));
    setTimeout(() => process.exit(1), 5000).unref();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
