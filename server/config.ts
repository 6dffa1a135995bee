// Command-line flags and the optional JSON config file → a validated Config. Pure: main.ts passes argv, env and a
// file reader; tests pass their own. Precedence: flag > config file > default.
import { parseArgs } from 'node:util';
import { parseOutputUrl } from './egress/output-url.ts';
import type { LogLevel } from './log.ts';
import { isValidStreamName } from '../shared/stream-name.ts';

export interface Config {
  host: string;
  rtspPort: number;
  httpPort: number;
  udpPorts: { min: number; max: number };
  maxClients: number;
  maxBandwidthKbps: number;
  /** RTSP connections and player sessions from one address (IPv6: one /64); 0 = no limit. */
  maxConnectionsPerIp: number;
  maxSessionsPerIp: number;
  /**
   * Whether those caps count loopback clients too. Only a cap set explicitly (flag or config file) does: the defaults
   * leave local tools, benchmarks and a proxy in front (whose clients all arrive from loopback) alone.
   */
  perIpLoopback: { connections: boolean; sessions: boolean };
  /** An RTSP session must PLAY (or RECORD) within this of its SETUP; keep-alives do not extend it. */
  playTimeoutMs: number;
  maxPublishers: number;
  publisherGraceMs: number;
  publish?: { username: string; password: string };
  read?: { username: string; password: string };
  rtspBasicAuth: boolean;
  publishToken?: string;
  allowOrigins: string[];
  tls?: { cert: string; key: string };
  /** Output URL templates for every stream ({stream} → NAME). */
  outputs: string[];
  /** Extra output templates per stream name, from the config file. */
  streamOutputs: Record<string, string[]>;
  logLevel: LogLevel;
}

export const HELP = `relaycast: broadcast from a browser tab to RTSP and HTTP players and RTMP platforms

Usage: npm run server -- [flags]

  --host ADDR             address to listen on (HTTP and RTSP)        (default 0.0.0.0)
  --http-port N           HTTP port: the page, /api/streams, WebSocket (default 8090)
  --rtsp-port N           RTSP port                                   (default 8554)
  --output URL            also send every stream to this rtmp(s):// or rtsp(s):// URL;
                          repeatable; {stream} is replaced by the stream name
  --config FILE           JSON config file (see README): any flag below, plus per-stream outputs
  --publish-token TOKEN   token browsers on other machines must give to publish
                          (or env RELAYCAST_PUBLISH_TOKEN; loopback needs none)
  --allow-origin ORIGIN   also accept WebSocket publishers from pages at ORIGIN (repeatable)
  --tls-cert FILE         serve HTTPS/WSS with this certificate (PEM) ...
  --tls-key FILE          ... and key: needed for cameras in browsers on other machines
  --max-publishers N      most browser publishers at once             (default 100)
  --udp-ports MIN-MAX     UDP ports for RTP/RTCP over UDP             (default 10000-19999)
  --max-clients N         most RTSP and HTTP players at once (503 beyond)      (default 1000)
  --max-bandwidth KBPS    most kbit/s to all RTSP and HTTP players (RTSP 453, HTTP 503 beyond)
                          (default 1000000; 0 = no limit)
  --max-connections-per-ip N
                          most RTSP connections from one address, IPv6 /64 (default 64; 0 = no limit);
                          the default spares loopback, a value you set applies to loopback too
  --max-sessions-per-ip N most RTSP player sessions from one address (503 beyond) (default 32; 0 = no
                          limit); loopback as above
  --play-timeout SEC      an RTSP session must PLAY within this of its SETUP; keep-alives do not
                          extend it (default 10)
  --publisher-grace SEC   keep players and outputs attached this long when a publisher
                          drops, for it to return with the same codecs (default 5; 0 = end at once)
  --publish-user NAME     credentials remote RTSP publishers must give (loopback needs none)
  --publish-pass PASS     (or env RELAYCAST_PUBLISH_PASS, kept out of the process list)
  --read-user NAME        credentials every player must give: RTSP Digest, HTTP Basic (default: none needed)
  --read-pass PASS        (or env RELAYCAST_READ_PASS)
  --rtsp-basic-auth       also accept Basic auth on RTSP (clear-text password; Digest is always on)
  --log-level LEVEL       debug | info | warn | error                 (default info)
  -h, --help              this text
`;

export type ConfigResult = { ok: true; config: Config } | { ok: false; error: string } | { ok: 'help' };

const OPTIONS = {
  host: { type: 'string' },
  'http-port': { type: 'string' },
  'rtsp-port': { type: 'string' },
  output: { type: 'string', multiple: true },
  config: { type: 'string' },
  'publish-token': { type: 'string' },
  'allow-origin': { type: 'string', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'max-publishers': { type: 'string' },
  'udp-ports': { type: 'string' },
  'max-clients': { type: 'string' },
  'max-bandwidth': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'max-sessions-per-ip': { type: 'string' },
  'play-timeout': { type: 'string' },
  'publisher-grace': { type: 'string' },
  'publish-user': { type: 'string' },
  'publish-pass': { type: 'string' },
  'read-user': { type: 'string' },
  'read-pass': { type: 'string' },
  'rtsp-basic-auth': { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type FlagName = Exclude<keyof typeof OPTIONS, 'help' | 'config'>;

/** Config-file keys are the flag names in camelCase (httpPort, maxClients...), plus "outputs" and "streams". */
const FILE_KEYS: Record<string, FlagName> = Object.fromEntries(
  (Object.keys(OPTIONS) as Array<keyof typeof OPTIONS>)
    .filter((k): k is FlagName => k !== 'help' && k !== 'config' && k !== 'output')
    .map((k) => [k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()), k]),
);

export function parseConfig(
  argv: string[],
  env: Record<string, string | undefined> = {},
  readFile: (path: string) => string = () => {
    throw new Error('no config file reader');
  },
): ConfigResult {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, allowPositionals: false, options: OPTIONS }));
  } catch (err) {
    return { ok: false, error: `${(err as Error).message}. Run with --help for the flags.` };
  }
  if (values.help) return { ok: 'help' };
  try {
    const file: ConfigFile = values.config !== undefined ? readConfigFile(values.config, readFile) : { flags: {}, outputs: [], allowOrigins: [], streams: {} };
    const get = (k: FlagName): string | undefined => {
      const v = values[k];
      if (typeof v === 'string') return v;
      const f = file.flags[k];
      return f === undefined ? undefined : String(f);
    };
    const rtspPort = port(get('rtsp-port') ?? '8554', '--rtsp-port');
    const httpPort = port(get('http-port') ?? '8090', '--http-port');
    const logLevel = get('log-level') ?? 'info';
    if (!['debug', 'info', 'warn', 'error'].includes(logLevel)) throw new Error(`--log-level must be debug, info, warn or error, not "${logLevel}"`);
    const publish = credential('publish', get('publish-user'), get('publish-pass') ?? env.RELAYCAST_PUBLISH_PASS);
    const read = credential('read', get('read-user'), get('read-pass') ?? env.RELAYCAST_READ_PASS);
    const token = get('publish-token') ?? env.RELAYCAST_PUBLISH_TOKEN;
    if (token !== undefined && token.length < 8) throw new Error('--publish-token must be at least 8 characters');
    const cert = get('tls-cert');
    const key = get('tls-key');
    if ((cert === undefined) !== (key === undefined)) throw new Error('--tls-cert and --tls-key go together');
    const outputs = [...file.outputs, ...(values.output ?? [])].map((u) => checkOutput(u));
    const connectionsPerIp = get('max-connections-per-ip');
    const sessionsPerIp = get('max-sessions-per-ip');
    const playTimeout = num(get('play-timeout') ?? '10', '--play-timeout');
    if (playTimeout <= 0) throw new Error('--play-timeout must be more than 0 seconds');
    const allowOrigins = [...(values['allow-origin'] ?? []), ...file.allowOrigins].map(checkOrigin);
    const config: Config = {
      host: get('host') ?? '0.0.0.0',
      rtspPort,
      httpPort,
      udpPorts: range(get('udp-ports') ?? '10000-19999'),
      maxClients: int(get('max-clients') ?? '1000', '--max-clients', 1),
      maxBandwidthKbps: int(get('max-bandwidth') ?? '1000000', '--max-bandwidth', 0),
      maxConnectionsPerIp: int(connectionsPerIp ?? '64', '--max-connections-per-ip', 0),
      maxSessionsPerIp: int(sessionsPerIp ?? '32', '--max-sessions-per-ip', 0),
      perIpLoopback: { connections: connectionsPerIp !== undefined, sessions: sessionsPerIp !== undefined },
      playTimeoutMs: Math.round(playTimeout * 1000),
      maxPublishers: int(get('max-publishers') ?? '100', '--max-publishers', 1),
      publisherGraceMs: Math.round(num(get('publisher-grace') ?? '5', '--publisher-grace') * 1000),
      rtspBasicAuth: values['rtsp-basic-auth'] ?? file.flags['rtsp-basic-auth'] === true,
      allowOrigins,
      outputs,
      streamOutputs: file.streams,
      logLevel: logLevel as LogLevel,
      ...(publish ? { publish } : {}),
      ...(read ? { read } : {}),
      ...(token !== undefined ? { publishToken: token } : {}),
      ...(cert !== undefined && key !== undefined ? { tls: { cert, key } } : {}),
    };
    if (rtspPort !== 0 && rtspPort === httpPort) throw new Error('--rtsp-port and --http-port must differ');
    return { ok: true, config };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

interface ConfigFile {
  flags: Partial<Record<FlagName, string | number | boolean>>;
  outputs: string[];
  allowOrigins: string[];
  streams: Record<string, string[]>;
}

function readConfigFile(path: string, readFile: (path: string) => string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFile(path));
  } catch (err) {
    throw new Error(`cannot read --config ${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`--config ${path} must hold a JSON object`);
  const out: ConfigFile = { flags: {}, outputs: [], allowOrigins: [], streams: {} };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'outputs') out.outputs = stringList(v, `"outputs" in ${path}`);
    else if (k === 'allowOrigin' || k === 'allowOrigins') out.allowOrigins = stringList(v, `"${k}" in ${path}`);
    else if (k === 'streams') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`"streams" in ${path} must map stream names to { "outputs": [...] }`);
      for (const [name, s] of Object.entries(v)) {
        if (!isValidStreamName(name)) throw new Error(`"streams" in ${path}: "${name}" is not a valid stream name`);
        const list = (s as { outputs?: unknown } | null)?.outputs;
        out.streams[name] = stringList(list, `"streams.${name}.outputs" in ${path}`).map((u) => checkOutput(u));
      }
    } else {
      const flag = FILE_KEYS[k];
      if (!flag) throw new Error(`unknown key "${k}" in ${path}; keys are the flag names in camelCase (e.g. "httpPort"), "outputs" and "streams"`);
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') throw new Error(`"${k}" in ${path} must be a string, number or boolean`);
      out.flags[flag] = v;
    }
  }
  return out;
}

function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`${what} must be a list of strings`);
  return v;
}

function checkOutput(url: string): string {
  const r = parseOutputUrl(url);
  // The error message never contains the URL itself: it may hold a stream key.
  if (!r.ok) throw new Error(`--output: ${r.error.message}`);
  return url;
}

function checkOrigin(o: string): string {
  let u: URL;
  try {
    u = new URL(o);
  } catch {
    throw new Error(`--allow-origin "${o}" is not an origin like https://example.com`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== o.replace(/\/$/, '')) throw new Error(`--allow-origin "${o}" is not an origin like https://example.com`);
  return u.origin;
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
