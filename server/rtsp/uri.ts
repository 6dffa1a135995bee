// Request-URI → stream name and track control (RFC 2326 §3.2). Pure.
import { isValidStreamName } from '../../shared/stream-name.ts';
import { ProtocolError, type Result } from './errors.ts';

export interface RtspTarget {
  /** First path segment: the stream NAME. */
  name: string;
  /** The rest of the path, e.g. "trackID=0" or "streamid=1"; empty for the stream itself. */
  control: string;
  /** scheme://host[:port] as the client wrote it, for Content-Base and RTP-Info URLs. */
  origin: string;
}

/** A "." or ".." path segment, also percent-encoded (RFC 3986 §3.3 / WHATWG URL "double-dot segment"). */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;

export function parseTarget(uri: string): Result<RtspTarget> {
  // new URL() resolves dot segments ("/x/../NAME" becomes "/NAME"), which would serve a stream under a name the
  // client never asked for; no RTSP client sends them, so they are refused before parsing.
  const rawPath = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*([^?#]*)/.exec(uri)?.[1] ?? '';
  if (rawPath.split('/').some((s) => DOT_SEGMENT.test(s))) {
    return { ok: false, error: new ProtocolError('bad-uri', `"${uri.slice(0, 100)}" has a "." or ".." path segment`, 400) };
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { ok: false, error: new ProtocolError('bad-uri', `"${uri.slice(0, 100)}" is not an absolute rtsp:// URL`, 400) };
  }
  if (url.protocol !== 'rtsp:' && url.protocol !== 'rtsps:') {
    return { ok: false, error: new ProtocolError('bad-uri', `unsupported scheme ${url.protocol}`, 400) };
  }
  const segments = url.pathname.split('/').filter((s) => s.length > 0);
  const name = segments[0] ?? '';
  if (!isValidStreamName(name)) {
    return { ok: false, error: new ProtocolError('bad-stream-name', `"${name.slice(0, 80)}" is not a valid stream name`, 400) };
  }
  return { ok: true, value: { name, control: segments.slice(1).join('/'), origin: `${url.protocol}//${url.host}` } };
}

/** The track a player's SETUP names: our DESCRIBE gives every track the control "trackID=N". */
export function playerTrack(control: string, trackCount: number): number | undefined {
  if (control === '') return trackCount === 1 ? 0 : undefined;
  const m = /^trackID=(\d{1,2})$/.exec(control);
  if (!m) return undefined;
  const n = Number(m[1]);
  return n < trackCount ? n : undefined;
}
