// Request-URI → stream name and track control (RFC 2326 §3.2). Pure.
//
// A request URI is taken as written, never normalised: the only paths accepted are the canonical ones,
//   rtsp://HOST[:PORT]/NAME            what a user gives a player or publisher
//   rtsp://HOST[:PORT]/NAME/           the Content-Base of our DESCRIBE: ffmpeg and GStreamer send PLAY, PAUSE,
//                                      GET_PARAMETER and TEARDOWN there (test/fixtures/rtsp/README.md)
//   rtsp://HOST[:PORT]/NAME/CONTROL    a track: "trackID=N" from our DESCRIBE, or the a=control a publisher announced
//                                      (ffmpeg "streamid=N", GStreamer "stream=N"), with or without a trailing "/"
// with NAME a valid stream name (shared/stream-name.ts), an optional ?query (ignored) and no #fragment. Anything else
// is 400 Bad Request, not 404 Not Found: such a URI is malformed by our rules (a name is a syntax rule, like a path
// segment), and a lenient reading would publish or play under a name the client never wrote ("//x", "/x#y" and
// "/a<TAB>b" were once read as "x", "x" and "ab"). 404 stays for a well-formed NAME or track that does not exist.
import { isValidStreamName } from '../../../shared/stream-name.ts';
import { fail, type Result } from './errors.ts';

export interface RequestUri {
  /** scheme://host[:port] as the client wrote it (scheme lower-cased, no user info), for Content-Base and RTP-Info. */
  origin: string;
  /** The path split at "/", without the leading "/" and one trailing "/"; [] for "rtsp://host" and "rtsp://host/". */
  segments: string[];
}

export interface RtspTarget {
  /** First path segment: the stream NAME. */
  name: string;
  /** The rest of the path, e.g. "trackID=0" or "streamid=1"; empty for the stream itself. */
  control: string;
  /** scheme://host[:port] as the client wrote it, for Content-Base and RTP-Info URLs. */
  origin: string;
}

// RFC 3986 §2: the characters a URI may hold (unreserved, reserved and the "%" of percent-encoding). White space,
// control characters and non-ASCII are not among them; the URL parser would silently drop a TAB.
const URI_CHAR = /[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]/;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
// RFC 3986 §3.2: authority = [ userinfo "@" ] host [ ":" port ]; host an IP literal in brackets or a reg-name/IPv4.
const HOST_PORT = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]*)?$/;
/** A "." or ".." path segment, also percent-encoded (RFC 3986 §3.3 / WHATWG URL "double-dot segment"). */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

function shown(uri: string): string {
  return JSON.stringify(uri.slice(0, 100));
}

/**
 * The parts of an absolute rtsp:// or rtsps:// request URI, checked but not normalised: no character outside
 * RFC 3986's set, no fragment (RFC 2326 §3.2's rtsp_URL has none), a host, and no empty, "." or ".." path segment.
 * `*` (OPTIONS *) is not a URI and is the caller's to handle.
 */
export function parseRequestUri(uri: string): Result<RequestUri> {
  for (let i = 0; i < uri.length; i++) {
    const ch = uri[i]!;
    if (!URI_CHAR.test(ch)) {
      const code = uri.codePointAt(i)!;
      const what = code === 0x09 ? 'a TAB' : code === 0x20 ? 'a space' : `the character U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
      return fail('bad-uri', `the request URI has ${what} at position ${i}; percent-encode it or use rtsp://HOST:PORT/NAME`);
    }
  }
  const scheme = SCHEME.exec(uri)?.[1]?.toLowerCase();
  if (scheme === undefined || !uri.startsWith('//', scheme.length + 1)) {
    return fail('bad-uri', `${shown(uri)} is not an absolute rtsp:// URL`);
  }
  if (scheme !== 'rtsp' && scheme !== 'rtsps') return fail('bad-uri', `unsupported scheme ${scheme}:; use rtsp://HOST:PORT/NAME`);
  if (uri.includes('#')) return fail('bad-uri', `${shown(uri)} has a fragment ("#…"); a request URI names a stream without one`);
  const rest = uri.slice(scheme.length + 3);
  const authorityEnd = rest.search(/[/?]/);
  const authority = authorityEnd < 0 ? rest : rest.slice(0, authorityEnd);
  const afterAuthority = authorityEnd < 0 ? '' : rest.slice(authorityEnd);
  const query = afterAuthority.indexOf('?');
  const path = query < 0 ? afterAuthority : afterAuthority.slice(0, query);
  // User info is legal and ignored here (credentials travel in Authorization); it never goes into Content-Base.
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (!HOST_PORT.test(hostPort)) return fail('bad-uri', `${shown(uri)} has no valid host`);

  const segments = path === '' ? [] : path.slice(1).split('/');
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop(); // one trailing "/" (Content-Base)
  if (segments.some((s) => s === '')) {
    return fail('bad-uri', `${shown(uri)} has an empty path segment ("//"); use rtsp://HOST:PORT/NAME`);
  }
  // new URL() would resolve dot segments ("/x/../NAME" becomes "/NAME") and serve a stream under a name the client
  // never asked for; no RTSP client sends them.
  if (segments.some((s) => DOT_SEGMENT.test(s))) return fail('bad-uri', `${shown(uri)} has a "." or ".." path segment`);
  return { ok: true, value: { origin: `${scheme}://${hostPort}`, segments } };
}

/** A request URI that names a stream: its path is exactly "/NAME", "/NAME/" or "/NAME/CONTROL" (see the top). */
export function parseTarget(uri: string): Result<RtspTarget> {
  const parsed = parseRequestUri(uri);
  if (!parsed.ok) return parsed;
  const { origin, segments } = parsed.value;
  const name = segments[0] ?? '';
  if (name === '') return fail('bad-stream-name', `${shown(uri)} names no stream; use rtsp://HOST:PORT/NAME`);
  if (!isValidStreamName(name)) {
    return fail('bad-stream-name', `"${name.slice(0, 80)}" is not a valid stream name: start with a letter or digit, then use only letters, digits, ".", "_" or "-" (at most 64)`);
  }
  return { ok: true, value: { name, control: segments.slice(1).join('/'), origin } };
}

/** The track a player's SETUP names: our DESCRIBE gives every track the control "trackID=N". */
export function playerTrack(control: string, trackCount: number): number | undefined {
  if (control === '') return trackCount === 1 ? 0 : undefined;
  const m = /^trackID=(\d{1,2})$/.exec(control);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < trackCount ? n : undefined;
}
