// Egress destination URLs: the one gate between operator configuration and ffmpeg's command line.
//
// A destination URL becomes the last argument of an ffmpeg command, so it must never be readable as an
// option ("-f"), as a local file or pseudo-protocol ("file:", "concat:", "pipe:", "tee:"), or smuggle
// extra words (ffmpeg's librtmp-style "rtmp://h/app/key live=1"). We accept only a strict subset of
// RFC 3986 with the schemes ffmpeg can publish to, and reject everything else with a typed error.
//
// Stream keys are secrets (they are the whole credential for YouTube/Twitch ingest), so maskUrl() is
// the only form of a URL that may reach logs, errors or the API; redactUrl() applies the same rule to
// arbitrary text such as ffmpeg's stderr, which quotes the output URL in its error messages.
import { isValidStreamName } from '../../shared/stream-name.ts';

export type OutputKind = 'rtsp' | 'rtmp';

export type OutputUrlErrorCode =
  | 'empty'
  | 'too_long'
  | 'leading_dash'
  | 'forbidden_character'
  | 'unsupported_scheme'
  | 'malformed'
  | 'dot_segment'
  | 'bad_placeholder'
  | 'invalid_stream_name'
  | 'kind_mismatch';

/** A rejected URL. The message never contains the URL itself: it may hold a stream key. */
export class OutputUrlError extends Error {
  override readonly name = 'OutputUrlError';
  readonly code: OutputUrlErrorCode;
  constructor(code: OutputUrlErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

export type Result<T, E = OutputUrlError> = { ok: true; value: T } | { ok: false; error: E };

export interface ParsedOutputUrl {
  kind: OutputKind;
  /** The template exactly as given (never normalized: ffmpeg and the server must see the same bytes). */
  template: string;
}

export const STREAM_PLACEHOLDER = '{stream}';
export const MAX_OUTPUT_URL_LENGTH = 2048;

const SCHEME_KIND: Readonly<Record<string, OutputKind>> = {
  rtsp: 'rtsp',
  rtsps: 'rtsp',
  rtmp: 'rtmp',
  rtmps: 'rtmp',
};

// RFC 3986 §2: unreserved + reserved + "%", minus "#" (a fragment has no meaning for RTSP/RTMP and
// ffmpeg would send it to the server as part of the path). Everything else (space, controls,
// non-ASCII, quotes, "<>\^`{|}") is refused. "{" and "}" are allowed only as the {stream} placeholder.
const ALLOWED_CHAR = /[A-Za-z0-9\-._~:/?[\]@!$&'()*+,;=%]/;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
const HOST_IPV6 = /^\[[0-9A-Fa-f:.]+\]$/;
// RFC 3986 §3.2.1 userinfo: unreserved / pct-encoded / sub-delims / ":".
const USERINFO = /^[A-Za-z0-9\-._~!$&'()*+,;=:%]*$/;

function fail(code: OutputUrlErrorCode, message: string): { ok: false; error: OutputUrlError } {
  return { ok: false, error: new OutputUrlError(code, message) };
}

function describeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  const hex = 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
  if (cp === 0x20) return `a space (${hex})`;
  if (cp < 0x20 || cp === 0x7f) return `a control character (${hex})`;
  if (cp > 0x7e) return `a non-ASCII character (${hex})`;
  return `"${ch}" (${hex})`;
}

/**
 * Check a destination URL or template ("rtmp://a.rtmp.youtube.com/live2/KEY",
 * "rtsp://127.0.0.1:8554/{stream}"). `{stream}` may appear in the path or query only.
 */
export function parseOutputUrl(template: string): Result<ParsedOutputUrl> {
  if (typeof template !== 'string' || template.length === 0) {
    return fail('empty', 'The output URL is empty; give an rtmp://, rtmps://, rtsp:// or rtsps:// URL.');
  }
  if (template.length > MAX_OUTPUT_URL_LENGTH) {
    return fail('too_long', `The output URL is ${template.length} characters long; the limit is ${MAX_OUTPUT_URL_LENGTH}.`);
  }
  if (template.startsWith('-')) {
    return fail('leading_dash', 'The output URL starts with "-", which ffmpeg would read as an option; give an rtmp:// or rtsp:// URL.');
  }
  // Character check with the placeholder blanked out, so "{" and "}" are accepted only there.
  const plain = template.replaceAll(STREAM_PLACEHOLDER, 'x'.repeat(STREAM_PLACEHOLDER.length));
  for (let i = 0; i < plain.length; i++) {
    const ch = plain[i]!;
    if (!ALLOWED_CHAR.test(ch)) {
      const hint = ch === '{' || ch === '}' ? ' The only placeholder is {stream}.' : '';
      return fail(
        ch === '{' || ch === '}' ? 'bad_placeholder' : 'forbidden_character',
        `The output URL contains ${describeChar(ch)} at position ${i}; URLs must be plain ASCII without spaces (percent-encode if needed).${hint}`,
      );
    }
  }
  const schemeMatch = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(template);
  if (!schemeMatch) {
    return fail('malformed', 'The output URL has no scheme; it must start with rtmp://, rtmps://, rtsp:// or rtsps://.');
  }
  const scheme = schemeMatch[1]!;
  const kind = SCHEME_KIND[scheme];
  if (kind === undefined) {
    const lower = SCHEME_KIND[scheme.toLowerCase()] !== undefined;
    return fail(
      'unsupported_scheme',
      lower
        ? `The output URL scheme "${scheme}" must be written in lower case (${scheme.toLowerCase()}://).`
        : `The output URL scheme "${scheme.slice(0, 16)}" is not supported; use rtmp://, rtmps://, rtsp:// or rtsps://.`,
    );
  }
  const rest = template.slice(scheme.length + 1);
  if (!rest.startsWith('//')) {
    return fail('malformed', `The output URL must be ${scheme}://HOST[:PORT]/PATH.`);
  }
  const afterSlashes = rest.slice(2);
  const authorityEnd = afterSlashes.search(/[/?]/);
  const authority = authorityEnd < 0 ? afterSlashes : afterSlashes.slice(0, authorityEnd);
  const pathAndQuery = authorityEnd < 0 ? '' : afterSlashes.slice(authorityEnd);

  if (authority.includes(STREAM_PLACEHOLDER)) {
    return fail('bad_placeholder', '{stream} may appear only in the path or query of the output URL, not in the host or credentials.');
  }
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const hostPort = at < 0 ? authority : authority.slice(at + 1);
  if (userinfo !== undefined && (!USERINFO.test(userinfo) || userinfo.length === 0)) {
    return fail('malformed', 'The credentials in the output URL are malformed; percent-encode "@", "/" and "?" in them.');
  }
  const hp = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(hostPort);
  const host = hp?.[1] ?? '';
  if (!hp || !(HOST_NAME.test(host) || HOST_IPV6.test(host))) {
    return fail('malformed', 'The output URL has no valid host; write it as ' + scheme + '://HOST[:PORT]/PATH.');
  }
  const port = hp[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return fail('malformed', `The output URL port ${port} is out of range (1-65535).`);
  }

  const queryAt = pathAndQuery.indexOf('?');
  const path = queryAt < 0 ? pathAndQuery : pathAndQuery.slice(0, queryAt);
  if (path.length <= 1) {
    return fail(
      'malformed',
      kind === 'rtmp'
        ? 'The RTMP output URL has no path; write it as rtmp://HOST/APP/STREAM-KEY.'
        : 'The RTSP output URL has no path; write it as rtsp://HOST:PORT/NAME.',
    );
  }
  // Percent escapes must be well formed and must not decode to control characters.
  for (const m of template.matchAll(/%(.{0,2})/g)) {
    const hex = m[1] ?? '';
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
      return fail('malformed', `The output URL has a malformed percent escape at position ${m.index}.`);
    }
    const byte = parseInt(hex, 16);
    if (byte < 0x20 || byte === 0x7f) {
      return fail('forbidden_character', `The output URL encodes a control character (%${hex}) at position ${m.index}.`);
    }
  }
  const segments = path.slice(1).split('/');
  for (const segment of segments) {
    if (segment.length === 0) {
      return fail('malformed', 'The output URL path has an empty segment ("//" or a trailing "/").');
    }
    // RFC 3986 §5.2.4: "." and ".." are dot-segments; servers disagree on resolving them (ffmpeg
    // sends them as is), so a destination path must not contain any, encoded or not.
    const decoded = segment.replace(/%2e/gi, '.');
    if (decoded === '.' || decoded === '..') {
      return fail('dot_segment', 'The output URL path contains a "." or ".." segment.');
    }
  }
  return { ok: true, value: { kind, template } };
}

/**
 * Replace every {stream} in a checked template with a stream name. Throws OutputUrlError
 * (code 'invalid_stream_name') for a name that fails shared/stream-name.ts, and re-checks the result.
 */
export function expandOutputUrl(template: string, streamName: string): string {
  if (!isValidStreamName(streamName)) {
    throw new OutputUrlError(
      'invalid_stream_name',
      'The stream name is not valid: start with a letter or digit, then use only letters, digits, ".", "_" or "-" (64 at most).',
    );
  }
  const url = template.replaceAll(STREAM_PLACEHOLDER, streamName);
  const checked = parseOutputUrl(url);
  if (!checked.ok) throw checked.error;
  return url;
}

const MASK = '****';

function maskSegment(segment: string, streamName: string | undefined): string {
  // The stream's own name (what {stream} became) is no secret: it is in every player's URL.
  if (segment === STREAM_PLACEHOLDER || (streamName !== undefined && segment === streamName)) return segment;
  // Long keys keep two characters at each end so an operator can tell two keys apart.
  return segment.length >= 12 ? `${segment.slice(0, 2)}…${segment.slice(-2)}` : MASK;
}

interface UrlParts {
  scheme: string;
  user: string | undefined;
  password: string | undefined;
  hostPort: string;
  path: string;
  query: string | undefined;
  fragment: string | undefined;
}

function splitUrl(url: string): UrlParts | undefined {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$/s.exec(url);
  if (!m) return undefined;
  const authority = m[2]!;
  const at = authority.lastIndexOf('@');
  const userinfo = at < 0 ? undefined : authority.slice(0, at);
  const colon = userinfo?.indexOf(':') ?? -1;
  return {
    scheme: m[1]!,
    user: userinfo === undefined ? undefined : colon < 0 ? userinfo : userinfo.slice(0, colon),
    password: userinfo === undefined || colon < 0 ? undefined : userinfo.slice(colon + 1),
    hostPort: at < 0 ? authority : authority.slice(at + 1),
    path: m[3]!,
    query: m[4],
    fragment: m[5],
  };
}

function isRtsp(scheme: string): boolean {
  const s = scheme.toLowerCase();
  return s === 'rtsp' || s === 'rtsps';
}

/**
 * The printable form of a URL: passwords, query strings and fragments become "****"; for every
 * scheme but RTSP the last path segment (the RTMP stream key) is masked too when the path has at least
 * two segments (the first is the RTMP application name). Anything that does not look like a URL is
 * masked whole.
 *
 *   rtmp://a.rtmp.youtube.com/live2/abcd-efgh-1234  →  rtmp://a.rtmp.youtube.com/live2/ab…34
 *   rtsp://user:pw@cam.local:554/stream1?token=x     →  rtsp://user:****@cam.local:554/stream1?****
 *
 * `streamName`: a last segment that is exactly the stream's name (a `{stream}` template, expanded) stays readable.
 */
export function maskUrl(url: string, streamName?: string): string {
  const p = splitUrl(url);
  if (!p) return MASK;
  let out = `${p.scheme}://`;
  if (p.user !== undefined) out += p.password === undefined ? `${p.user}@` : `${p.user}:${MASK}@`;
  out += p.hostPort;
  const segments = p.path.split('/');
  const last = segments.length - 1;
  // segments[0] is "" (the path starts with "/"); mask only when there is an app AND a key.
  if (!isRtsp(p.scheme) && segments.filter((s) => s.length > 0).length >= 2) {
    const i = segments[last] === '' ? last - 1 : last;
    segments[i] = maskSegment(segments[i]!, streamName);
  }
  out += segments.join('/');
  if (p.query !== undefined) out += p.query.length > 0 ? `?${MASK}` : '?';
  if (p.fragment !== undefined) out += `#${MASK}`;
  return out;
}

/** The secret substrings of a URL: what maskUrl hides. */
export function urlSecrets(url: string): string[] {
  const p = splitUrl(url);
  if (!p) return url.length > 0 ? [url] : [];
  const secrets: string[] = [];
  if (p.password !== undefined) secrets.push(p.password);
  if (p.query) secrets.push(p.query);
  if (p.fragment) secrets.push(p.fragment);
  const segments = p.path.split('/').filter((s) => s.length > 0);
  if (!isRtsp(p.scheme) && segments.length >= 2) {
    const key = segments[segments.length - 1]!;
    if (key !== STREAM_PLACEHOLDER) secrets.push(key);
  }
  // ffmpeg may print decoded forms (RTMP playpath, credentials it unescapes).
  for (const s of [...secrets]) {
    try {
      const decoded = decodeURIComponent(s);
      if (decoded !== s) secrets.push(decoded);
    } catch {
      // malformed escape: the raw form is already listed
    }
  }
  return secrets;
}

/**
 * Hide a URL and its secrets inside arbitrary text (ffmpeg stderr: "rtmp://h/app/KEY: Connection
 * refused", "Error writing trailer of ..."). Secrets shorter than 4 characters are only replaced as
 * part of the whole URL: replacing every "ab" in a log line would garble it without hiding anything
 * a 2-character key could protect.
 */
export function redactUrl(text: string, url: string): string {
  if (url.length === 0) return text;
  let out = text.split(url).join(maskUrl(url));
  for (const secret of urlSecrets(url).sort((a, b) => b.length - a.length)) {
    if (secret.length >= 4) out = out.split(secret).join(MASK);
  }
  return out;
}
