// The publisher WebSocket protocol, version 1. Text frames carry JSON control messages (a discriminated union on
// `type`, checked at runtime on arrival); binary frames carry fMP4: the first is the init segment (ftyp+moov), each
// later one is one media segment (moof+mdat) holding one encoded video frame or a few audio frames.
//
//   page → server:  hello  (then binary: init, fragment, fragment, ...)  [stats]
//   server → page:  accepted | refused;  stats (about once a second);  keyframe-request;  error (then close)
//
// Closing: the page closes with 1000 only for Stop, which ends the stream and every output at once. Any other close
// (or a dropped connection) keeps the outputs running for the server's --publisher-grace, so a page that reconnects
// with hello.resume = true and the same init segment continues without players noticing. A resume hello from the same
// host also takes over a socket the server still believes is alive.
//
// hello.audio.sampleRate is the rate the decoder outputs (48000 for Opus); the init segment carries the input rate.
export const PROTOCOL_VERSION = 1;

/** WebSocket path on the HTTP server. */
export const PUBLISH_PATH = '/ws/publish';

/** Close codes (RFC 6455 §7.4.1) the server uses, with a reason sentence. */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  unsupportedData: 1003,
  policy: 1008,
  tooBig: 1009,
  serverError: 1011,
} as const;

export const REFUSAL_CODES = ['bad-version', 'bad-name', 'bad-token', 'in-use', 'limit', 'bad-codec', 'bad-message'] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

export const OUTPUT_STATES = ['idle', 'starting', 'running', 'backoff', 'stopped', 'failed'] as const;
export type OutputStateName = (typeof OUTPUT_STATES)[number];

export interface VideoDescription {
  /** WebCodecs codec string, e.g. "avc1.42e01f". */
  codec: string;
  width: number;
  height: number;
  framerate: number;
  bitrate: number;
}

export interface AudioDescription {
  codec: 'opus' | string;
  sampleRate: number;
  channels: number;
}

export type ClientMessage =
  | { type: 'hello'; version: number; stream: string; token?: string; video?: VideoDescription; audio?: AudioDescription; resume?: boolean }
  | { type: 'stats'; sentKbps: number; fps: number; encodeMs: number; droppedFrames: number; bufferedBytes: number };

export interface OutputStatus {
  /** Masked: stream keys never leave the server in clear. */
  url: string;
  kind: 'rtsp' | 'rtmp';
  state: OutputStateName;
  restarts: number;
  lastError?: string;
  /** In backoff: milliseconds until ffmpeg is started again (as the server counted when it sent this). */
  retryInMs?: number;
}

/** States of a stream's recording on the server (--record): see server/record/recorder.ts. */
export const RECORDING_STATES = ['waiting', 'recording', 'error', 'closed'] as const;

/** A stream's recording on the server, as GET /api/streams and the publisher page show it. */
export interface RecordingStatus {
  state: (typeof RECORDING_STATES)[number];
  /** The segment being written (a file name). */
  file?: string;
  /** Why recording stopped, while it is stopped: a sentence. */
  error?: string;
}

export type ServerMessage =
  | { type: 'accepted'; version: number; stream: string; rtspPath: string; rtspPort: number; outputs: OutputStatus[] }
  | { type: 'refused'; code: RefusalCode; message: string }
  | { type: 'stats'; ingestKbps: number; fragments: number; rtspPlayers: number; outputs: OutputStatus[]; recording?: RecordingStatus }
  | { type: 'keyframe-request'; reason: string }
  | { type: 'error'; code: string; message: string };

/** What the page asks before it offers choices: GET /api/config. */
export interface PageConfig {
  version: number;
  rtspPort: number;
  /** Whether this client must send a publish token (it is not on loopback and the server has one set). */
  tokenRequired: boolean;
  keyframeIntervalMs: number;
  /** Codec families every configured destination can carry (FLV in ffmpeg 5.1: H.264 only). */
  videoCodecs: Array<'avc1'>;
  audioCodecs: Array<'opus'>;
  outputs: Array<{ url: string; kind: 'rtsp' | 'rtmp' }>;
}

export type Parse<T> = { ok: true; value: T } | { ok: false; error: string };

const MAX_MESSAGE_CHARS = 4096;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isNum = (v: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const isStr = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length <= max;

function video(v: unknown): VideoDescription | undefined {
  if (!isObject(v)) return undefined;
  const { codec, width, height, framerate, bitrate } = v;
  if (!isStr(codec, 64) || !isNum(width, 1, 8192) || !isNum(height, 1, 8192) || !isNum(framerate, 1, 240) || !isNum(bitrate, 1, 100_000_000)) return undefined;
  return { codec, width, height, framerate, bitrate };
}

function audio(v: unknown): AudioDescription | undefined {
  if (!isObject(v)) return undefined;
  const { codec, sampleRate, channels } = v;
  if (!isStr(codec, 64) || !isNum(sampleRate, 8000, 192000) || !isNum(channels, 1, 8)) return undefined;
  return { codec, sampleRate, channels };
}

function parseJson(text: string): Parse<Record<string, unknown>> {
  if (text.length > MAX_MESSAGE_CHARS) return { ok: false, error: `control message longer than ${MAX_MESSAGE_CHARS} characters` };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: 'control message is not JSON' };
  }
  if (!isObject(v) || typeof v.type !== 'string') return { ok: false, error: 'control message has no "type"' };
  return { ok: true, value: v };
}

/** Server side: check what a browser sent. Never throws. */
export function parseClientMessage(text: string): Parse<ClientMessage> {
  const j = parseJson(text);
  if (!j.ok) return j;
  const m = j.value;
  switch (m.type) {
    case 'hello': {
      if (!isNum(m.version, 0, 1000)) return { ok: false, error: 'hello needs a numeric "version"' };
      if (!isStr(m.stream, 256)) return { ok: false, error: 'hello needs a "stream" name' };
      if (m.token !== undefined && !isStr(m.token, 1024)) return { ok: false, error: '"token" must be a string' };
      const v = m.video === undefined ? undefined : video(m.video);
      const a = m.audio === undefined ? undefined : audio(m.audio);
      if (m.video !== undefined && !v) return { ok: false, error: '"video" is malformed' };
      if (m.audio !== undefined && !a) return { ok: false, error: '"audio" is malformed' };
      if (!v && !a) return { ok: false, error: 'hello must describe video, audio or both' };
      return {
        ok: true,
        value: {
          type: 'hello',
          version: m.version,
          stream: m.stream,
          ...(m.token !== undefined ? { token: m.token as string } : {}),
          ...(v ? { video: v } : {}),
          ...(a ? { audio: a } : {}),
          ...(m.resume === true ? { resume: true } : {}),
        },
      };
    }
    case 'stats': {
      const { sentKbps, fps, encodeMs, droppedFrames, bufferedBytes } = m;
      if (!isNum(sentKbps) || !isNum(fps) || !isNum(encodeMs) || !isNum(droppedFrames) || !isNum(bufferedBytes)) return { ok: false, error: 'stats fields must be non-negative numbers' };
      return { ok: true, value: { type: 'stats', sentKbps, fps, encodeMs, droppedFrames, bufferedBytes } };
    }
    default:
      return { ok: false, error: `unknown control message type "${String(m.type).slice(0, 32)}"` };
  }
}

/** Page side: check what the server sent. Never throws. */
export function parseServerMessage(text: string): Parse<ServerMessage> {
  const j = parseJson(text);
  if (!j.ok) return j;
  const m = j.value;
  switch (m.type) {
    case 'accepted':
    case 'stats':
    case 'keyframe-request':
    case 'error':
    case 'refused':
      // The server is trusted to send well-formed messages; the page still checks the fields it reads.
      return { ok: true, value: m as unknown as ServerMessage };
    default:
      return { ok: false, error: `unknown server message type "${String(m.type).slice(0, 32)}"` };
  }
}
