// The viewer WebSocket protocol, version 1 (the page at /watch/NAME ⇄ /ws/view?stream=NAME).
//
//   page → server:  the upgrade names the stream in the query and offers VIEW_SUBPROTOCOL (the version) and, when the
//                   server has read credentials (--read-user/--read-pass), authSubprotocol(user, pass): a page cannot
//                   set an Authorization header on a WebSocket, and a subprotocol stays out of URLs and logs.
//                   Then text: pause | play.
//   server → page:  text: hello, then any of waiting | live | sync | ended, and error (then close);
//                   binary: fragmented MP4 as HTTP playback (/NAME.mp4) sends it. After each `live` that says
//                   `init: true`, the first binary message is an init segment (ftyp+moov); every other binary message
//                   is one moof+mdat of one access unit (audio in its own small fragments). A stream whose codec
//                   configuration changes gets a new `live` + init segment on the same socket.
//
// The socket outlives publishers: a viewer that arrives before the stream waits for it (waiting), sees it go away and
// come back within the server's grace period (waiting, then live), and after the end (ended) it stays to play the
// next publisher of the same name. Every message is checked field by field where it arrives.
import { CLOSE, type Parse } from './protocol.ts';

export const VIEW_PROTOCOL_VERSION = 1;

/** WebSocket path on the HTTP server; the stream is `?stream=NAME`. */
export const VIEW_PATH = '/ws/view';

/** The subprotocol that names this version; the server picks it, never the credentials. */
export const VIEW_SUBPROTOCOL = 'relaycast.view.v1';

/** Prefix of the subprotocol that carries the read credentials: base64url (no padding) of UTF-8 "user:pass". */
export const VIEW_AUTH_PREFIX = 'relaycast.auth.';

/** Close codes: the publisher socket's (RFC 6455 §7.4.1), and 1013 "try again later" (IANA registry). */
export const VIEW_CLOSE = { ...CLOSE, tryAgainLater: 1013 } as const;

export const VIEW_ERROR_CODES = ['bad-request', 'unauthorized', 'unsupported', 'limit', 'removed', 'server-closing'] as const;
export type ViewErrorCode = (typeof VIEW_ERROR_CODES)[number];

export const VIEW_TRACK_KINDS = ['video', 'audio'] as const;

export interface ViewTrack {
  kind: (typeof VIEW_TRACK_KINDS)[number];
  /** The codec as the SDP names it: H264, OPUS, MPEG4-GENERIC … */
  codec: string;
}

export type ViewServerMessage =
  | { type: 'hello'; version: number; stream: string; serverTime: number }
  /** No publisher now: not started yet, or gone within the grace period. */
  | { type: 'waiting'; message: string }
  /** The publisher is live; `init`: an init segment is the next binary message. `leftOut`: tracks not carried. */
  | { type: 'live'; message: string; init: boolean; tracks: ViewTrack[]; leftOut: ViewTrack[] }
  /**
   * Where the media timeline meets the server's clock: the unit at `time` (seconds, the fragments' decode time)
   * reached the server at `at` (ms since 1970, server clock); `now` is the server clock as this was sent.
   */
  | { type: 'sync'; time: number; at: number; now: number }
  /** The publisher left for good. */
  | { type: 'ended'; message: string }
  | { type: 'error'; code: ViewErrorCode; message: string };

export type ViewClientMessage = { type: 'pause' } | { type: 'play' };

export const MAX_VIEW_MESSAGE_CHARS = 4096;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown, max = 1024): v is string => typeof v === 'string' && v.length <= max;

function parseObject(text: string): Parse<Record<string, unknown>> {
  if (text.length > MAX_VIEW_MESSAGE_CHARS) return { ok: false, error: `message longer than ${MAX_VIEW_MESSAGE_CHARS} characters` };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: 'message is not JSON' };
  }
  if (!isObject(v) || typeof v['type'] !== 'string') return { ok: false, error: 'message has no "type"' };
  return { ok: true, value: v };
}

function tracks(v: unknown): ViewTrack[] | undefined {
  if (!Array.isArray(v) || v.length > 16) return undefined;
  const out: ViewTrack[] = [];
  for (const t of v) {
    if (!isObject(t) || !VIEW_TRACK_KINDS.includes(t['kind'] as ViewTrack['kind']) || !isStr(t['codec'], 64)) return undefined;
    out.push({ kind: t['kind'] as ViewTrack['kind'], codec: t['codec'] });
  }
  return out;
}

/** Page side: check what the server sent. Never throws. */
export function parseViewServerMessage(text: string): Parse<ViewServerMessage> {
  const j = parseObject(text);
  if (!j.ok) return j;
  const m = j.value;
  const bad = (what: string): Parse<ViewServerMessage> => ({ ok: false, error: `"${String(m['type'])}" message: ${what}` });
  switch (m['type']) {
    case 'hello':
      if (!isNum(m['version']) || !isStr(m['stream'], 64) || !isNum(m['serverTime'])) return bad('needs version, stream and serverTime');
      return { ok: true, value: { type: 'hello', version: m['version'], stream: m['stream'], serverTime: m['serverTime'] } };
    case 'waiting':
    case 'ended':
      if (!isStr(m['message'])) return bad('needs a message');
      return { ok: true, value: { type: m['type'], message: m['message'] } };
    case 'live': {
      const carried = tracks(m['tracks']);
      const left = tracks(m['leftOut']);
      if (!isStr(m['message']) || typeof m['init'] !== 'boolean' || !carried || !left) return bad('needs message, init, tracks and leftOut');
      return { ok: true, value: { type: 'live', message: m['message'], init: m['init'], tracks: carried, leftOut: left } };
    }
    case 'sync':
      if (!isNum(m['time']) || !isNum(m['at']) || !isNum(m['now'])) return bad('needs time, at and now');
      return { ok: true, value: { type: 'sync', time: m['time'], at: m['at'], now: m['now'] } };
    case 'error':
      if (!VIEW_ERROR_CODES.includes(m['code'] as ViewErrorCode) || !isStr(m['message'])) return bad('needs a known code and a message');
      return { ok: true, value: { type: 'error', code: m['code'] as ViewErrorCode, message: m['message'] } };
    default:
      return { ok: false, error: `unknown message type "${String(m['type']).slice(0, 32)}"` };
  }
}

/** Server side: check what a page sent. Never throws. */
export function parseViewClientMessage(text: string): Parse<ViewClientMessage> {
  const j = parseObject(text);
  if (!j.ok) return j;
  const type = j.value['type'];
  if (type === 'pause' || type === 'play') return { ok: true, value: { type } };
  return { ok: false, error: `unknown message type "${String(type).slice(0, 32)}"` };
}

/** The subprotocol that carries read credentials (RFC 6455 §4.1: a subprotocol is an RFC 7230 token; base64url is). */
export function authSubprotocol(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return VIEW_AUTH_PREFIX + btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The credentials of an authSubprotocol() value, or undefined for anything else. */
export function parseAuthSubprotocol(protocol: string): { username: string; password: string } | undefined {
  if (!protocol.startsWith(VIEW_AUTH_PREFIX) || protocol.length > 1024) return undefined;
  const b64 = protocol.slice(VIEW_AUTH_PREFIX.length);
  if (!/^[A-Za-z0-9_-]*$/.test(b64)) return undefined;
  let binary: string;
  try {
    binary = atob(b64.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64.length % 4)) % 4));
  } catch {
    return undefined;
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(':');
  // As in HTTP Basic (RFC 7617 §2): the user-id has no colon; the password may.
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The stream a viewer page at `pathname` (/watch/NAME) shows, percent-decoded; undefined for any other path. */
export function watchedStream(pathname: string): string | undefined {
  const m = /^\/watch\/([^/]+)$/.exec(pathname);
  if (!m) return undefined;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return undefined;
  }
}
