// HTTP Basic authentication (RFC 7617) for the read credentials (--read-user/--read-pass) on HTTP playback. Basic,
// not Digest: every player that opens an http:// URL sends it (ffmpeg, mpv, VLC, GStreamer souphttpsrc, OpenCV via
// ffmpeg, browsers), and over HTTPS (--tls-cert) it is as safe as anything else on the connection.
import { sameSecret } from '../../net.ts';

export interface Credentials {
  username: string;
  password: string;
}

/** The WWW-Authenticate challenge of a 401 (RFC 7617 §2, with §2.1's charset). */
export function basicChallenge(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, '')}", charset="UTF-8"`;
}

/** The credentials of an `Authorization: Basic …` header, or undefined for anything else (absent, other scheme, garbage). */
export function parseBasic(header: string | undefined): Credentials | undefined {
  if (header === undefined || header.length > 4096) return undefined;
  const m = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // RFC 7617 §2: user-id may not contain a colon; the password may.
  if (colon < 0) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Whether `given` matches `expected`, in constant time; both fields are always compared. */
export function basicMatches(given: Credentials | undefined, expected: Credentials): boolean {
  if (!given) return false;
  const user = sameSecret(given.username, expected.username);
  const pass = sameSecret(given.password, expected.password);
  return user && pass;
}

export interface CredentialCheck {
  /** A random delay before saying no to wrong credentials (default 200–600 ms), as RTSP does. */
  failureDelayMs?: readonly [number, number] | undefined;
  random?: (() => number) | undefined;
  /** Whether the client presented something (an unreadable header counts); default: `given` is defined. */
  presented?: boolean;
}

/**
 * Whether `given` matches `expected`. Wrong credentials (presented, not matching) are answered after a short random
 * delay, which makes guessing slow and timing useless; none at all is answered at once (the player asks, then retries).
 */
export async function checkCredentials(given: Credentials | undefined, expected: Credentials, o: CredentialCheck = {}): Promise<boolean> {
  if (basicMatches(given, expected)) return true;
  if (o.presented ?? given !== undefined) {
    const [min, max] = o.failureDelayMs ?? [200, 600];
    await new Promise((r) => setTimeout(r, min + (o.random ?? Math.random)() * (max - min)));
  }
  return false;
}
