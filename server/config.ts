// Command-line flags → a validated Config. Pure: main.ts passes argv and env, tests do too.
import { parseArgs } from 'node:util';
import type { LogLevel } from './log.ts';

export interface Config {
  host: string;
  rtspPort: number;
  httpPort: number;
  udpPorts: { min: number; max: number };
  maxClients: number;
  maxBandwidthKbps: number;
  publisherGraceMs: number;
  publish?: { username: string; password: string };
  read?: { username: string; password: string };
  rtspBasicAuth: boolean;
  logLevel: LogLevel;
}

export const HELP = `relaycast: broadcast from a browser tab to RTSP players and RTMP platforms

Usage: npm run server -- [flags]

  --host ADDR             address to listen on                        (default 0.0.0.0)
  --rtsp-port N           RTSP port                                   (default 8554)
  --http-port N           HTTP port for the page and API              (default 8090)
  --udp-ports MIN-MAX     UDP ports for RTP/RTCP over UDP             (default 10000-19999)
  --max-clients N         most RTSP players at once (503 beyond)      (default 1000)
  --max-bandwidth KBPS    most kbit/s to all players (453 beyond)     (default 1000000; 0 = no limit)
  --publisher-grace SEC   keep players attached this long when a publisher
                          drops, for it to return with the same codecs (default 5; 0 = end at once)
  --publish-user NAME     credentials remote RTSP publishers must give (loopback needs none)
  --publish-pass PASS     (or env RELAYCAST_PUBLISH_PASS, kept out of the process list)
  --read-user NAME        credentials every RTSP player must give (default: none needed)
  --read-pass PASS        (or env RELAYCAST_READ_PASS)
  --rtsp-basic-auth       also accept HTTP Basic auth (password in clear text; Digest is always on)
  --log-level LEVEL       debug | info | warn | error                 (default info)
  -h, --help              this text
`;

export type ConfigResult = { ok: true; config: Config } | { ok: false; error: string } | { ok: 'help' };

export function parseConfig(argv: string[], env: Record<string, string | undefined> = {}): ConfigResult {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string', default: '0.0.0.0' },
        'rtsp-port': { type: 'string', default: '8554' },
        'http-port': { type: 'string', default: '8090' },
        'udp-ports': { type: 'string', default: '10000-19999' },
        'max-clients': { type: 'string', default: '1000' },
        'max-bandwidth': { type: 'string', default: '1000000' },
        'publisher-grace': { type: 'string', default: '5' },
        'publish-user': { type: 'string' },
        'publish-pass': { type: 'string' },
        'read-user': { type: 'string' },
        'read-pass': { type: 'string' },
        'rtsp-basic-auth': { type: 'boolean', default: false },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    return { ok: false, error: `${(err as Error).message}. Run with --help for the flags.` };
  }
  if (values.help) return { ok: 'help' };
  try {
    const rtspPort = port(values['rtsp-port'], '--rtsp-port');
    const httpPort = port(values['http-port'], '--http-port');
    const udpPorts = range(values['udp-ports']);
    const logLevel = values['log-level'];
    if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new Error(`--log-level must be debug, info, warn or error, not "${logLevel}"`);
    const publish = credential('publish', values['publish-user'], values['publish-pass'] ?? env.RELAYCAST_PUBLISH_PASS);
    const read = credential('read', values['read-user'], values['read-pass'] ?? env.RELAYCAST_READ_PASS);
    const config: Config = {
      host: values.host,
      rtspPort,
      httpPort,
      udpPorts,
      maxClients: int(values['max-clients'], '--max-clients', 1),
      maxBandwidthKbps: int(values['max-bandwidth'], '--max-bandwidth', 0),
      publisherGraceMs: Math.round(num(values['publisher-grace'], '--publisher-grace') * 1000),
      rtspBasicAuth: values['rtsp-basic-auth'],
      logLevel: logLevel as LogLevel,
      ...(publish ? { publish } : {}),
      ...(read ? { read } : {}),
    };
    if (rtspPort !== 0 && rtspPort === httpPort) throw new Error('--rtsp-port and --http-port must differ');
    return { ok: true, config };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function int(v: string, flag: string, min: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min) throw new Error(`${flag} must be a whole number ≥ ${min}, not "${v}"`);
  return Number(v);
}

function num(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a number of seconds ≥ 0, not "${v}"`);
  return n;
}

function port(v: string, flag: string): number {
  const n = int(v, flag, 0);
  if (n > 65535) throw new Error(`${flag} must be a port number 0-65535, not ${v}`);
  return n;
}

function range(v: string): { min: number; max: number } {
  const m = /^(\d+)-(\d+)$/.exec(v);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || max - min < 3) {
    throw new Error(`--udp-ports must be MIN-MAX within 1024-65535 with room for two pairs, e.g. 10000-19999; got "${v}"`);
  }
  return { min, max };
}

function credential(role: string, user: string | undefined, pass: string | undefined): { username: string; password: string } | undefined {
  if (user === undefined && pass === undefined) return undefined;
  if (!user || !pass) throw new Error(`--${role}-user and --${role}-pass go together (the password may come from RELAYCAST_${role.toUpperCase()}_PASS)`);
  return { username: user, password: pass };
}
