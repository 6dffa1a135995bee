// RTSP authentication (RFC 2326 §D.1 points to HTTP's): Basic (RFC 7617) and Digest with MD5
// (RFC 2617, RFC 7616). RTSP peers speak the RFC 2617 dialect: ffmpeg, GStreamer and live555
// answer a challenge without qop with response = MD5(HA1:nonce:HA2), and live555-based players
// break on a challenge that offers qop, so our challenge offers none. node:crypto is pure
// computation here; nonces and clocks belong to the caller (the server), passed in as values.

import { createHash } from 'node:crypto';
import { sameSecret } from '../../net.ts';
import { fail, ok, ProtocolError, type Result } from './errors.ts';

export type Credentials =
  | { scheme: 'Basic'; username: string; password: string }
  | {
      scheme: 'Digest';
      username: string;
      realm: string;
      nonce: string;
      uri: string;
      response: string;
      algorithm?: string;
      opaque?: string;
      qop?: string;
      nc?: string;
      cnonce?: string;
    };

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** RFC 7235 §2.1 auth-param list: name=token or name="quoted string", comma separated. */
function parseParams(text: string): Map<string, string> | undefined {
  const params = new Map<string, string>();
  let i = 0;
  const n = text.length;
  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === ',')) i++;
    if (i >= n) return params;
    const nameStart = i;
    while (i < n && TOKEN_CHAR.test(text[i]!)) i++;
    const name = text.slice(nameStart, i).toLowerCase();
    if (name === '') return undefined;
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (text[i] !== '=') return undefined;
    i++;
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    let value = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= n) return undefined; // unterminated quoted string
        const c = text[i]!;
        if (c === '"') break;
        if (c === '\\' && i + 1 < n) {
          value += text[i + 1];
          i += 2;
        } else {
          value += c;
          i++;
        }
      }
      i++; // closing quote
    } else {
      const start = i;
      while (i < n && text[i] !== ',' && text[i] !== ' ' && text[i] !== '\t') i++;
      value = text.slice(start, i);
    }
    if (!params.has(name)) params.set(name, value);
    while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i < n && text[i] !== ',') return undefined;
  }
}

export function parseAuthorization(value: string): Result<Credentials> {
  const m = /^[ \t]*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ \t]+(.*))?$/s.exec(value);
  if (!m) return fail('bad_authorization', 'Authorization header has no scheme');
  const scheme = m[1]!.toLowerCase();
  const rest = (m[2] ?? '').trim();
  if (scheme === 'basic') {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(rest) || rest === '') return fail('bad_authorization', 'Basic credentials are not base64');
    const decoded = Buffer.from(rest, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return fail('bad_authorization', 'Basic credentials have no ":"');
    return ok({ scheme: 'Basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) });
  }
  if (scheme === 'digest') {
    const params = parseParams(rest);
    if (!params) return fail('bad_authorization', 'Digest parameters are malformed');
    const username = params.get('username');
    const realm = params.get('realm');
    const nonce = params.get('nonce');
    const uri = params.get('uri');
    const response = params.get('response');
    if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return fail('bad_authorization', 'Digest credentials need username, realm, nonce, uri and response');
    }
    const c: Credentials = { scheme: 'Digest', username, realm, nonce, uri, response };
    for (const key of ['algorithm', 'opaque', 'qop', 'nc', 'cnonce'] as const) {
      const v = params.get(key);
      if (v !== undefined) c[key] = v;
    }
    return ok(c);
  }
  return fail('bad_authorization', `authorization scheme "${m[1]}" is not supported`);
}

/** Quotes a value for a quoted-string (RFC 7230 §3.2.6). */
function quote(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** WWW-Authenticate values for a 401: Digest first (clients pick the first scheme they know), then Basic if enabled. */
export function wwwAuthenticate(opts: { realm: string; nonce: string; basic: boolean }): string[] {
  const values = [`Digest realm=${quote(opts.realm)}, nonce=${quote(opts.nonce)}`];
  if (opts.basic) values.push(`Basic realm=${quote(opts.realm)}`);
  return values;
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** RFC 2617 §3.2.2.1 request-digest, algorithm MD5; with qop=auth when qop is given. */
export function digestResponse(opts: {
  username: string;
  password: string;
  realm: string;
  nonce: string;
  method: string;
  uri: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
}): string {
  const ha1 = md5(`${opts.username}:${opts.realm}:${opts.password}`);
  const ha2 = md5(`${opts.method}:${opts.uri}`);
  if (opts.qop !== undefined) return md5(`${ha1}:${opts.nonce}:${opts.nc ?? ''}:${opts.cnonce ?? ''}:${opts.qop}:${ha2}`);
  return md5(`${ha1}:${opts.nonce}:${ha2}`);
}

/**
 * Whether the credentials prove knowledge of the expected password. Digest is checked against the
 * uri the client signed (it is the request URI for ANNOUNCE, the track URL for SETUP in ffmpeg), which
 * must name the requested resource (RFC 2617 §3.2.2.5), and the method of the request carrying it; the
 * nonce must be one the server issued and still accepts.
 */
export function checkCredentials(
  c: Credentials,
  expected: {
    username: string;
    password: string;
    realm: string;
    method: string;
    /** The Request-URI of the request carrying the credentials. */
    requestUri: string;
    allowBasic: boolean;
    nonceValid: (nonce: string) => boolean;
  },
): boolean {
  if (c.scheme === 'Basic') {
    if (!expected.allowBasic) return false;
    const user = sameSecret(c.username, expected.username);
    const pass = sameSecret(c.password, expected.password);
    return user && pass;
  }
  if (c.algorithm !== undefined && c.algorithm.toUpperCase() !== 'MD5') return false;
  if (c.realm !== expected.realm) return false;
  if (!expected.nonceValid(c.nonce)) return false;
  if (!sameResource(c.uri, expected.requestUri)) return false;
  const qopOpts: { qop?: string; nc?: string; cnonce?: string } = {};
  if (c.qop !== undefined) {
    if (c.qop.toLowerCase() !== 'auth' || c.nc === undefined || c.cnonce === undefined) return false;
    qopOpts.qop = c.qop;
    qopOpts.nc = c.nc;
    qopOpts.cnonce = c.cnonce;
  }
  const want = digestResponse({
    username: expected.username,
    password: expected.password,
    realm: expected.realm,
    nonce: c.nonce,
    method: expected.method,
    uri: c.uri,
    ...qopOpts,
  });
  const user = sameSecret(c.username, expected.username);
  const response = sameSecret(c.response.toLowerCase(), want);
  return user && response;
}

/**
 * Whether a digest's uri names the requested resource: the same text (what ffmpeg and GStreamer sign), or the same
 * path and query, for a client that signs "/name" or spells the host another way.
 */
function sameResource(signed: string, requested: string): boolean {
  if (signed === requested) return true;
  const a = pathAndQuery(signed);
  return a !== undefined && a === pathAndQuery(requested);
}

function pathAndQuery(uri: string): string | undefined {
  if (uri.startsWith('/')) return uri;
  try {
    const u = new URL(uri);
    return u.pathname + u.search;
  } catch {
    return undefined;
  }
}

/** An Authorization value, for clients (our test client). Digest needs realm, nonce, method and uri. */
export function authorizationHeader(opts: {
  scheme: 'Basic' | 'Digest';
  username: string;
  password: string;
  realm?: string;
  nonce?: string;
  method?: string;
  uri?: string;
}): string {
  if (opts.scheme === 'Basic') {
    return `Basic ${Buffer.from(`${opts.username}:${opts.password}`, 'utf8').toString('base64')}`;
  }
  const { realm, nonce, method, uri } = opts;
  if (realm === undefined || nonce === undefined || method === undefined || uri === undefined) {
    throw new ProtocolError('bad_authorization', 'Digest authorization needs realm, nonce, method and uri', 500);
  }
  const response = digestResponse({ username: opts.username, password: opts.password, realm, nonce, method, uri });
  return `Digest username=${quote(opts.username)}, realm=${quote(realm)}, nonce=${quote(nonce)}, uri=${quote(uri)}, response=${quote(response)}`;
}
