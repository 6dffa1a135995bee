// The status page's words and numbers: pure functions from GET /api/status's answer to the text the page shows.
import type { OutputStatus, RecordingStatus } from '../../shared/protocol.ts';
import type { ServerStatus, StatusStream } from '../../shared/status.ts';
import { problemInWords } from '../outputs-text.ts';

type Listener = ServerStatus['listening'][number];

/** The URL of a listener as this page's visitor can reach it: a wildcard bind is shown with the page's own host. */
export function listeningUrl(l: Listener, pageHostname: string): string {
  const wildcard = l.host === '0.0.0.0' || l.host === '::' || l.host === '';
  const host = wildcard ? pageHostname : l.host;
  // RFC 3986 §3.2.2: an IPv6 literal goes in brackets (location.hostname already has them).
  const shown = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${l.protocol}://${shown}:${l.port}/`;
}

/** rtsp://HOST:PORT/NAME, or undefined when the server reports no RTSP listener. */
export function rtspUrl(listening: ServerStatus['listening'], pageHostname: string, name: string): string | undefined {
  const rtsp = listening.find((l) => l.protocol === 'rtsp');
  return rtsp && `${listeningUrl(rtsp, pageHostname)}${name}`;
}

/** "45 s", "12 min 5 s", "3 h 4 min", "2 d 3 h". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** How long ago ISO time `iso` was, at `nowMs` (ms since 1970), as formatDuration says it. */
export function since(iso: string, nowMs: number): string {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? '–' : formatDuration((nowMs - at) / 1000);
}

/** "12.5 % of a core" (top's convention), with the number of cores to compare with. */
export function cpuText(percent: number, cores: number): string {
  return `${percent.toLocaleString('en', { maximumFractionDigits: 1 })} % of a core (${cores} ${cores === 1 ? 'core' : 'cores'})`;
}

/** Where the stream comes from: "Browser" or "RTSP publisher (UDP)", and the publisher's address when the server gave it. */
export function sourceText(s: StatusStream): { kind: string; address: string } {
  const p = s.publisher;
  const kind = s.source === 'browser' ? 'Browser' : `RTSP publisher${p ? ` (${p.transport.toUpperCase()})` : ''}`;
  if (!p) return { kind, address: 'gone; waiting for it to come back' };
  // The server shows addresses to its operator only (a request from its own machine, or with the admin token).
  return { kind, address: p.remote ?? 'address shown on the server\'s own machine only' };
}

const VIDEO_CODECS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^(h264|avc[13])\b/i, 'H.264'],
  [/^(h265|hevc|hvc1|hev1)\b/i, 'H.265'],
  [/^(vp8)\b/i, 'VP8'],
  [/^(vp9|vp09)\b/i, 'VP9'],
  [/^(av1|av01)\b/i, 'AV1'],
];

const AUDIO_CODECS: ReadonlyArray<readonly [RegExp, string]> = [
  [/^opus$/i, 'Opus'],
  [/^(mpeg4-generic|aac|mp4a)\b/i, 'AAC'],
  [/^pcma$/i, 'G.711 A-law'],
  [/^pcmu$/i, 'G.711 µ-law'],
];

function codecName(table: ReadonlyArray<readonly [RegExp, string]>, codec: string): string {
  return table.find(([re]) => re.test(codec))?.[1] ?? codec;
}

/** "H.264 High · 1280×720 · 30 fps"; "–" without video. */
export function videoText(v: StatusStream['video']): string {
  if (!v) return '–';
  const parts = [[codecName(VIDEO_CODECS, v.codec), v.profile].filter(Boolean).join(' ')];
  if (v.width && v.height) parts.push(`${v.width}×${v.height}`);
  if (v.fps !== undefined) parts.push(`${v.fps} fps`);
  return parts.join(' · ');
}

/** "Opus · 48 kHz · stereo"; "–" without audio. */
export function audioText(a: StatusStream['audio']): string {
  if (!a) return '–';
  const parts = [codecName(AUDIO_CODECS, a.codec)];
  if (a.sampleRate) parts.push(`${(a.sampleRate / 1000).toLocaleString('en', { maximumFractionDigits: 3 })} kHz`);
  if (a.channels) parts.push(a.channels === 1 ? 'mono' : a.channels === 2 ? 'stereo' : `${a.channels} channels`);
  return parts.join(' · ');
}

/** The players by how they read, for a small list: [label, count]. */
export function readerRows(r: StatusStream['readers']): Array<[string, number]> {
  return [
    ['RTSP TCP', r.rtspTcp],
    ['RTSP UDP', r.rtspUdp],
    ['HTTP', r.http],
    ['Viewer', r.viewer],
  ];
}

export function readerTotal(r: StatusStream['readers']): number {
  return r.rtspTcp + r.rtspUdp + r.http + r.viewer;
}

/** "2 skips, 1 dropped" */
export function dropsText(d: StatusStream['playerDrops']): string {
  return `${d.skips} ${d.skips === 1 ? 'skip' : 'skips'}, ${d.disconnected} dropped`;
}

/** Restarts and, when ffmpeg failed before, its last error in words (outputStateWords already says it while failing). */
export function outputDetail(o: OutputStatus): string {
  const restarts = `${o.restarts} ${o.restarts === 1 ? 'restart' : 'restarts'}`;
  const showsError = o.state === 'backoff' || o.state === 'failed';
  return o.lastError !== undefined && !showsError ? `${restarts}; last error: ${problemInWords(o.lastError)}` : restarts;
}

/** The server's recording of a stream (--record) in a few words. */
export function recordingText(r: RecordingStatus | undefined): string {
  if (!r || r.state === 'closed') return 'not recorded';
  if (r.state === 'recording') return r.file ? `recording to ${r.file}` : 'recording';
  if (r.state === 'waiting') return 'starts at the next keyframe';
  return `stopped: ${r.error ?? 'an error'}`;
}

/** The connections line: "RTSP 3 (sessions: 2 TCP, 1 UDP) · HTTP 1 · viewers 0 · publishers: 1 RTSP, 1 browser". */
export function connectionsText(c: ServerStatus['connections']): string {
  return [
    `RTSP ${c.rtsp} (sessions: ${c.rtspSessions.tcp} TCP, ${c.rtspSessions.udp} UDP)`,
    `HTTP players ${c.http}`,
    `viewers ${c.viewer}`,
    `publishers: ${c.publishers.rtsp} RTSP, ${c.publishers.websocket} browser`,
  ].join(' · ');
}

/** The page's link to the server: what it says and whether what it shows is current. */
export type LinkState = 'connecting' | 'live' | 'unreachable';

/**
 * The line above the table. `lastOkAt`: when the server last answered (ms since 1970); `problem`: why the last attempt
 * failed.
 */
export function linkText(state: LinkState, nowMs: number, lastOkAt: number | undefined, problem?: string): string {
  if (state === 'connecting') return 'Asking the server…';
  if (state === 'live') return 'Live: refreshed every second.';
  const why = problem ? ` (${problem})` : '';
  if (lastOkAt === undefined) return `Cannot reach the server${why}. Trying again every second.`;
  return `Cannot reach the server${why}. What is shown is from ${formatDuration((nowMs - lastOkAt) / 1000)} ago, not current. Trying again every second.`;
}
