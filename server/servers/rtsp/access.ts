// Who may publish and who may play (RFC 2326 §16.5, RFC 7616 Digest, RFC 7617 Basic): the checks, the challenge, the
// stateless nonces, and the slow "no". Credentials are checked once per connection and role, then remembered on it.
import crypto from 'node:crypto';
import { sameSecret } from '../../net.ts';
import { checkCredentials, parseAuthorization, wwwAuthenticate } from '../../protocols/rtsp/auth.ts';
import { getHeader, reasonPhrase, type Header, type RtspRequest } from '../../protocols/rtsp/message.ts';
import type { Handled, RtspConnection } from './connection.ts';

export interface Credential {
  username: string;
  password: string;
}

export interface RtspAuthOptions {
  /** Required of publishers that are not on loopback (and of loopback ones too when trustLoopback is false). */
  publish?: Credential;
  /** When set, required of every player. */
  read?: Credential;
  /** Also accept Basic (sends the password in clear text; only sensible over a trusted network). */
  allowBasic: boolean;
  /** Loopback may publish without credentials (the server's own ffmpeg egress does). */
  trustLoopback: boolean;
  realm: string;
}

const NONCE_LIFETIME_MS = 5 * 60_000;

export class RtspAccess {
  private readonly nonceSecret = crypto.randomBytes(32);

  constructor(
    private readonly auth: RtspAuthOptions,
    private readonly now: () => number,
    private readonly random: () => number,
    /** Delay before answering a wrong password, [min, max] ms, to slow down guessing. */
    private readonly failureDelayMs: [number, number] = [200, 600],
  ) {}

  /** undefined = allowed; otherwise the 401/403 to answer. */
  async authorize(conn: RtspConnection, req: RtspRequest, role: 'publish' | 'read'): Promise<Handled | undefined> {
    if (conn.authorized.has(role)) return undefined;
    const a = this.auth;
    const expected = role === 'publish' ? a.publish : a.read;
    // Same-machine publishers (loopback, or this host's own address when --host names one) need no credentials.
    if (role === 'publish' && a.trustLoopback && (conn.isLoopback() || conn.isSameHost())) return undefined;
    if (!expected) {
      if (role === 'read') return undefined;
      conn.logger.warn('publish-refused', { reason: 'no-credentials-configured' });
      return answer(403, [], 'publishing from another host needs credentials: start the server with --publish-user and --publish-pass\n');
    }
    const challenge = wwwAuthenticate({ realm: a.realm, nonce: this.nonce(conn), basic: a.allowBasic }).map((v): Header => ['WWW-Authenticate', v]);
    const value = getHeader(req.headers, 'Authorization');
    if (value === undefined) return answer(401, challenge);
    const creds = parseAuthorization(value);
    const ok =
      creds.ok &&
      checkCredentials(creds.value, {
        username: expected.username,
        password: expected.password,
        realm: a.realm,
        method: req.method,
        requestUri: req.uri,
        allowBasic: a.allowBasic,
        nonceValid: (n) => this.nonceValid(n, conn),
      });
    if (ok) {
      conn.authorized.add(role);
      return undefined;
    }
    // A short random delay before saying no makes guessing slow and timing useless.
    const [min, max] = this.failureDelayMs;
    await new Promise((r) => setTimeout(r, min + this.random() * (max - min)));
    conn.logger.warn('auth-failed', { role, user: creds.ok ? creds.value.username.slice(0, 64) : undefined });
    return answer(401, challenge);
  }

  /**
   * Stateless nonce: issue time + HMAC over it and the client's address (RFC 7616 §3.3 leaves the format to us), so
   * nothing grows per client and a sniffed Authorization header is useless from another host or after 5 minutes.
   */
  private nonce(conn: RtspConnection): string {
    const t = this.now().toString(16);
    return t + this.nonceMac(t, conn);
  }

  private nonceValid(nonce: string, conn: RtspConnection): boolean {
    const t = nonce.slice(0, -24);
    const issued = parseInt(t, 16);
    return sameSecret(nonce.slice(-24), this.nonceMac(t, conn)) && Number.isFinite(issued) && this.now() - issued < NONCE_LIFETIME_MS;
  }

  private nonceMac(t: string, conn: RtspConnection): string {
    return crypto.createHmac('sha256', this.nonceSecret).update(`${t}|${conn.remoteAddress}`).digest('hex').slice(0, 24);
  }
}

function answer(status: number, headers: Header[], body?: string): Handled {
  const bytes = body === undefined ? new Uint8Array(0) : Buffer.from(body);
  return { response: { status, reason: reasonPhrase(status), headers: body === undefined ? headers : [...headers, ['Content-Type', 'text/plain']], body: bytes } };
}
