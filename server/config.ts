// Command-line flags and the optional JSON config file → a validated Config. Pure: main.ts passes argv, env and a
// file reader; tests pass their own. Precedence: flag > config file > default.
import { parseArgs } from 'node:util';
import { parseOutputUrl } from './egress/output-url.ts';
import type { LogFormat, LogLevel } from './log.ts';
import { isValidStreamName } from '../shared/stream-name.ts';
import { parseAge, parseSize } from './record/bounds.ts';

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
  /** Bearer token for DELETE /api/streams/NAME and /api/readers/ID from other machines; loopback needs none. */
  adminToken?: string;
  allowOrigins: string[];
  tls?: { cert: string; key: string };
  /** Output URL templates for every stream ({stream} → NAME). */
  outputs: string[];
  /** Extra output templates per stream name, from the config file. */
  streamOutputs: Record<string, string[]>;
  logLevel: LogLevel;
  /** json: one JSON object per line (default); pretty: readable lines for a terminal. */
  logFormat: LogFormat;
  /** --record DIR and its settings; absent: nothing is recorded. */
  record?: RecordConfig;
}

export interface RecordConfig {
  dir: string;
  /** The streams recorded: every one, or those named by --record-streams and the config file's streams.NAME.record. */
  streams: 'all' | string[];
  segmentMs: number;
  /** Per stream; undefined = no bound. */
  maxBytes?: number;
  maxAgeMs?: number;
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
  --admin-token TOKEN     Bearer token for DELETE /api/streams/NAME and /api/readers/ID
                          from other machines (or env RELAYCAST_ADMIN_TOKEN; loopback needs none)
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
  --record DIR            record every stream to DIR/NAME/START.mp4 (fragmented MP4 segments)
  --record-streams LIST   record only these streams (NAME,NAME...; or "record": true per stream in --config)
  --record-segment SEC    start a new segment at the first keyframe after SEC seconds (default 60)
  --record-max-size SIZE  delete a stream's oldest segments beyond SIZE in all (e.g. 500M, 20G)
  --record-max-age AGE    delete segments older than AGE (e.g. 24h, 7d)
  --log-level LEVEL       debug | info | warn | error                 (default info)
  --log-format FORMAT     json (one JSON object per line) | pretty (for a terminal)  (default json)
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
  'admin-token': { type: 'string' },
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
  'log-format': { type: 'string' },
  record: { type: 'string' },
  'record-streams': { type: 'string' },
  'record-segment': { type: 'string' },
  'record-max-size': { type: 'string' },
  'record-max-age': { type: 'string' },
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
    const file: ConfigFile = values.config !== undefined ? readConfigFile(values.config, readFile) : { flags: {}, outputs: [], allowOrigins: [], streams: {}, recordStreams: [] };
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
    const logFormat = get('log-format') ?? 'json';
    if (logFormat !== 'json' && logFormat !== 'pretty') throw new Error(`--log-format must be json or pretty, not "${logFormat}"`);
    const publish = credential('publish', get('publish-user'), get('publish-pass') ?? env.RELAYCAST_PUBLISH_PASS);
    const read = credential('read', get('read-user'), get('read-pass') ?? env.RELAYCAST_READ_PASS);
    const token = get('publish-token') ?? env.RELAYCAST_PUBLISH_TOKEN;
    if (token !== undefined && token.length < 8) throw new Error('--publish-token must be at least 8 characters');
    const adminToken = get('admin-token') ?? env.RELAYCAST_ADMIN_TOKEN;
    if (adminToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(adminToken)) throw new Error('--admin-token must be at least 16 characters, with no spaces (it is sent as "Authorization: Bearer TOKEN")');
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
      ...recordConfig(get, file.recordStreams),
      logLevel: logLevel as LogLevel,
      logFormat,
      ...(publish ? { publish } : {}),
      ...(read ? { read } : {}),
      ...(token !== undefined ? { publishToken: token } : {}),
      ...(adminToken !== undefined ? { adminToken } : {}),
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
  /** Streams with "record": true. */
  recordStreams: string[];
}

function readConfigFile(path: string, readFile: (path: string) => string): ConfigFile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFile(path));
  } catch (err) {
    throw new Error(`cannot read --config ${path}: ${(err as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`--config ${path} must hold a JSON object`);
  const out: ConfigFile = { flags: {}, outputs: [], allowOrigins: [], streams: {}, recordStreams: [] };
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'outputs') out.outputs = stringList(v, `"outputs" in ${path}`);
    else if (k === 'allowOrigin' || k === 'allowOrigins') out.allowOrigins = stringList(v, `"${k}" in ${path}`);
    else if (k === 'streams') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`"streams" in ${path} must map stream names to { "outputs": [...] }`);
      for (const [name, s] of Object.entries(v)) {
        if (!isValidStreamName(name)) throw new Error(`"streams" in ${path}: "${name}" is not a valid stream name`);
        const entry = s as { outputs?: unknown; record?: unknown } | null;
        if (entry?.record !== undefined && typeof entry.record !== 'boolean') throw new Error(`"streams.${name}.record" in ${path} must be true or false`);
        if (entry?.record === true) out.recordStreams.push(name);
        // A stream entry may only say "record": true.
        if (entry?.record === undefined || entry.outputs !== undefined) out.streams[name] = stringList(entry?.outputs, `"streams.${name}.outputs" in ${path}`).map((u) => checkOutput(u));
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

/** --record and its flags; the streams chosen by --record-streams and the config file, else all. */
function recordConfig(get: (k: FlagName) => string | undefined, fileStreams: string[]): { record?: RecordConfig } {
  const dir = get('record');
  const listed = get('record-streams')?.split(',').map((n) => n.trim()).filter((n) => n !== '') ?? [];
  for (const n of listed) if (!isValidStreamName(n)) throw new Error(`--record-streams: "${n}" is not a valid stream name`);
  const others = (['record-streams', 'record-segment', 'record-max-size', 'record-max-age'] as const).filter((k) => get(k) !== undefined);
  if (dir === undefined || dir.trim() === '') {
    if (others.length > 0 || fileStreams.length > 0) throw new Error(`--${others[0] ?? 'record-streams'} (or "record": true in --config) needs --record DIR: where recordings go`);
    return {};
  }
  const segment = num(get('record-segment') ?? '60', '--record-segment');
  if (segment < 1) throw new Error('--record-segment must be at least 1 second');
  const streams = [...new Set([...listed, ...fileStreams])];
  const maxSize = get('record-max-size');
  const maxAge = get('record-max-age');
  return {
    record: {
      dir,
      streams: streams.length > 0 ? streams : 'all',
      segmentMs: Math.round(segment * 1000),
      ...(maxSize !== undefined ? { maxBytes: parseSize(maxSize, '--record-max-size') } : {}),
      ...(maxAge !== undefined ? { maxAgeMs: parseAge(maxAge, '--record-max-age') } : {}),
    },
  };
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
