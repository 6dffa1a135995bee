// GET /api/status: what the status page (/status) shows, in one answer read at one moment: the server (version,
// uptime, CPU, memory, connections, listeners) and every stream with its publisher, tracks, readers and outputs.
// The server writes it (server/servers/http/api.ts); the page checks every field it reads with parseStatus().
import { OUTPUT_STATES, RECORDING_STATES, type OutputStatus, type Parse, type RecordingStatus } from './protocol.ts';

export const STATUS_PATH = '/api/status';

export interface ServerStatus {
  /** package.json's version. */
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  /** CPU time over the last interval, in percent of one core (top's convention: 2 busy cores make 200). */
  cpuPercent: number;
  cores: number;
  rssBytes: number;
  connections: {
    /** RTSP TCP connections (players, publishers, probes). */
    rtsp: number;
    /** RTSP sessions (players and publishers) by lower transport. */
    rtspSessions: { tcp: number; udp: number };
    /** Players of /NAME.mp4. */
    http: number;
    /** Viewer-page sockets, watching or waiting. */
    viewer: number;
    /** Streams with a publisher, by how it reached us (websocket: a browser page). */
    publishers: { rtsp: number; websocket: number };
  };
  /** The listeners; host is the bound address ("0.0.0.0" or "::" for every interface). */
  listening: Array<{ protocol: 'http' | 'https' | 'rtsp'; host: string; port: number }>;
}

export interface StatusStream {
  name: string;
  source: 'browser' | 'rtsp';
  state: 'live' | 'waiting' | 'ended';
  since: string;
  /** Null while the stream waits for its publisher to come back. `remote` only for the operator (loopback, admin token). */
  publisher: { protocol: 'rtsp' | 'websocket'; transport: 'tcp' | 'udp'; since: string; remote?: string } | null;
  video?: { codec: string; profile?: string; width?: number; height?: number; fps?: number };
  audio?: { codec: string; sampleRate?: number; channels?: number };
  ingestKbps: number;
  /** Players now, by how they read. */
  readers: { rtspTcp: number; rtspUdp: number; http: number; viewer: number };
  /** Players skipped to a keyframe for falling behind, and disconnected for staying behind, since the stream began. */
  playerDrops: { skips: number; disconnected: number };
  outputs: OutputStatus[];
  recording?: RecordingStatus;
}

export interface StatusJson {
  server: ServerStatus;
  streams: StatusStream[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length <= 2048;
const oneOf = <T extends string>(values: readonly T[], v: unknown): v is T => values.includes(v as T);

/** Thrown inside the parser only; parseStatus turns it into its error. */
class Bad extends Error {}

function need<T>(ok: boolean, value: T, what: string): T {
  if (!ok) throw new Bad(what);
  return value;
}
const obj = (v: unknown, what: string): Record<string, unknown> => need(isObject(v), v as Record<string, unknown>, `${what} is not an object`);
const num = (v: unknown, what: string): number => need(isNum(v), v as number, `${what} is not a number`);
const str = (v: unknown, what: string): string => need(isStr(v), v as string, `${what} is not a string`);
const optNum = (o: Record<string, unknown>, k: string): { [key: string]: number } => (o[k] === undefined ? {} : { [k]: num(o[k], k) });
const optStr = (o: Record<string, unknown>, k: string): { [key: string]: string } => (o[k] === undefined ? {} : { [k]: str(o[k], k) });

function server(v: unknown): ServerStatus {
  const s = obj(v, 'server');
  const c = obj(s['connections'], 'server.connections');
  const sessions = obj(c['rtspSessions'], 'rtspSessions');
  const publishers = obj(c['publishers'], 'publishers');
  const listening = need(Array.isArray(s['listening']), s['listening'] as unknown[], 'server.listening is not a list').map((l) => {
    const o = obj(l, 'a listener');
    const protocol = need(oneOf(['http', 'https', 'rtsp'] as const, o['protocol']), o['protocol'] as 'http' | 'https' | 'rtsp', 'a listener has no known protocol');
    return { protocol, host: str(o['host'], 'listener host'), port: num(o['port'], 'listener port') };
  });
  return {
    version: str(s['version'], 'version'),
    startedAt: str(s['startedAt'], 'startedAt'),
    uptimeSeconds: num(s['uptimeSeconds'], 'uptimeSeconds'),
    cpuPercent: num(s['cpuPercent'], 'cpuPercent'),
    cores: num(s['cores'], 'cores'),
    rssBytes: num(s['rssBytes'], 'rssBytes'),
    connections: {
      rtsp: num(c['rtsp'], 'connections.rtsp'),
      rtspSessions: { tcp: num(sessions['tcp'], 'rtspSessions.tcp'), udp: num(sessions['udp'], 'rtspSessions.udp') },
      http: num(c['http'], 'connections.http'),
      viewer: num(c['viewer'], 'connections.viewer'),
      publishers: { rtsp: num(publishers['rtsp'], 'publishers.rtsp'), websocket: num(publishers['websocket'], 'publishers.websocket') },
    },
    listening,
  };
}

function output(v: unknown): OutputStatus {
  const o = obj(v, 'an output');
  const kind = need(oneOf(['rtsp', 'rtmp'] as const, o['kind']), o['kind'] as OutputStatus['kind'], 'an output has no known kind');
  const state = need(oneOf(OUTPUT_STATES, o['state']), o['state'] as OutputStatus['state'], 'an output has no known state');
  return { url: str(o['url'], 'output url'), kind, state, restarts: num(o['restarts'], 'output restarts'), ...optStr(o, 'lastError'), ...optNum(o, 'retryInMs') };
}

function stream(v: unknown): StatusStream {
  const s = obj(v, 'a stream');
  const name = str(s['name'], 'stream name');
  const where = `stream "${name.slice(0, 64)}"`;
  const p = s['publisher'] === null ? null : obj(s['publisher'], `${where}: publisher`);
  const r = obj(s['readers'], `${where}: readers`);
  const drops = obj(s['playerDrops'], `${where}: playerDrops`);
  const video = s['video'] === undefined ? undefined : obj(s['video'], `${where}: video`);
  const audio = s['audio'] === undefined ? undefined : obj(s['audio'], `${where}: audio`);
  const rec = s['recording'] === undefined ? undefined : obj(s['recording'], `${where}: recording`);
  const outputs = need(Array.isArray(s['outputs']), s['outputs'] as unknown[], `${where}: outputs is not a list`);
  return {
    name,
    source: need(oneOf(['browser', 'rtsp'] as const, s['source']), s['source'] as StatusStream['source'], `${where}: unknown source`),
    state: need(oneOf(['live', 'waiting', 'ended'] as const, s['state']), s['state'] as StatusStream['state'], `${where}: unknown state`),
    since: str(s['since'], 'since'),
    publisher: p && {
      protocol: need(oneOf(['rtsp', 'websocket'] as const, p['protocol']), p['protocol'] as 'rtsp' | 'websocket', `${where}: unknown publisher protocol`),
      transport: need(oneOf(['tcp', 'udp'] as const, p['transport']), p['transport'] as 'tcp' | 'udp', `${where}: unknown publisher transport`),
      since: str(p['since'], 'publisher since'),
      ...optStr(p, 'remote'),
    },
    ...(video ? { video: { codec: str(video['codec'], 'video codec'), ...optStr(video, 'profile'), ...optNum(video, 'width'), ...optNum(video, 'height'), ...optNum(video, 'fps') } } : {}),
    ...(audio ? { audio: { codec: str(audio['codec'], 'audio codec'), ...optNum(audio, 'sampleRate'), ...optNum(audio, 'channels') } } : {}),
    ingestKbps: num(s['ingestKbps'], 'ingestKbps'),
    readers: { rtspTcp: num(r['rtspTcp'], 'readers.rtspTcp'), rtspUdp: num(r['rtspUdp'], 'readers.rtspUdp'), http: num(r['http'], 'readers.http'), viewer: num(r['viewer'], 'readers.viewer') },
    playerDrops: { skips: num(drops['skips'], 'playerDrops.skips'), disconnected: num(drops['disconnected'], 'playerDrops.disconnected') },
    outputs: outputs.map(output),
    ...(rec
      ? { recording: { state: need(oneOf(RECORDING_STATES, rec['state']), rec['state'] as RecordingStatus['state'], `${where}: unknown recording state`), ...optStr(rec, 'file'), ...optStr(rec, 'error') } }
      : {}),
  };
}

/** Page side: check an answer of GET /api/status. Never throws. */
export function parseStatus(v: unknown): Parse<StatusJson> {
  try {
    const o = obj(v, 'the answer');
    const streams = need(Array.isArray(o['streams']), o['streams'] as unknown[], 'streams is not a list');
    return { ok: true, value: { server: server(o['server']), streams: streams.map(stream) } };
  } catch (err) {
    if (err instanceof Bad) return { ok: false, error: err.message };
    throw err;
  }
}
