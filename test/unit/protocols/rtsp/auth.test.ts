import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  authorizationHeader,
  checkCredentials,
  digestResponse,
  parseAuthorization,
  wwwAuthenticate,
  type Credentials,
} from '../../../../server/protocols/rtsp/auth.ts';
import type { Result } from '../../../../server/protocols/rtsp/errors.ts';
import { getHeader, parseRequest, type RtspRequest } from '../../../../server/protocols/rtsp/message.ts';
import { FIXTURE_AUTH, fixture, fixtureNames } from '../../../fixtures/rtsp/load.ts';

function value<T>(r: Result<T>): T {
  if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message}`);
  return r.value;
}

function request(name: string): RtspRequest {
  const r = parseRequest(fixture(name));
  if (r.kind !== 'ok') throw new Error(name);
  return r.value;
}

const expected = (method: string, over: Partial<Parameters<typeof checkCredentials>[1]> = {}): Parameters<typeof checkCredentials>[1] => ({
  username: FIXTURE_AUTH.username,
  password: FIXTURE_AUTH.password,
  realm: FIXTURE_AUTH.realm,
  method,
  requestUri: 'rtsp://h/s',
  allowBasic: false,
  nonceValid: (n) => n === FIXTURE_AUTH.nonce,
  ...over,
});

describe('parseAuthorization case table', () => {
  const cases: Array<{ name: string; header: string; credentials: Credentials }> = [
    {
      name: 'Basic',
      header: 'Basic YWxpY2U6czNjcmV0',
      credentials: { scheme: 'Basic', username: 'alice', password: 's3cret' },
    },
    {
      name: 'Basic, password with colons, scheme lower case',
      header: `basic ${Buffer.from('bob:a:b:c').toString('base64')}`,
      credentials: { scheme: 'Basic', username: 'bob', password: 'a:b:c' },
    },
    {
      name: 'Digest as ffmpeg sends it (RFC 2069 style)',
      header: 'Digest username="alice", realm="relaycast", nonce="abc", uri="rtsp://h/s", response="0b64e1d76a5ea15a00674fc99ec8f716"',
      credentials: { scheme: 'Digest', username: 'alice', realm: 'relaycast', nonce: 'abc', uri: 'rtsp://h/s', response: '0b64e1d76a5ea15a00674fc99ec8f716' },
    },
    {
      name: 'Digest with qop, unquoted nc, algorithm and opaque',
      header: 'Digest username="a", realm="r", nonce="n", uri="rtsp://h/s", response="x", algorithm=MD5, opaque="o", qop=auth, nc=00000001, cnonce="c"',
      credentials: {
        scheme: 'Digest',
        username: 'a',
        realm: 'r',
        nonce: 'n',
        uri: 'rtsp://h/s',
        response: 'x',
        algorithm: 'MD5',
        opaque: 'o',
        qop: 'auth',
        nc: '00000001',
        cnonce: 'c',
      },
    },
    {
      name: 'commas and escaped quotes inside quoted strings; odd spacing',
      header: 'DIGEST  realm = "a, \\"b\\"",username="u,1" ,nonce="n",uri="rtsp://h/s?x=1,2",response="r"',
      credentials: { scheme: 'Digest', username: 'u,1', realm: 'a, "b"', nonce: 'n', uri: 'rtsp://h/s?x=1,2', response: 'r' },
    },
  ];
  for (const c of cases) {
    it(c.name, () => expect(value(parseAuthorization(c.header))).toEqual(c.credentials));
  }

  const bad = [
    '',
    'Basic',
    'Basic !!!',
    `Basic ${Buffer.from('no-colon').toString('base64')}`,
    'Bearer abc',
    'Digest',
    'Digest username="a", realm="r", nonce="n", uri="u"', // no response
    'Digest username="a, realm="r"', // unterminated quote
    'Digest username="a" realm="r"', // missing comma
    'Digest =x',
  ];
  for (const header of bad) {
    it(`rejects ${JSON.stringify(header)}`, () => {
      const r = parseAuthorization(header);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('bad_authorization');
    });
  }
});

describe('digest computation', () => {
  it('RFC 2617 §3.5 example', () => {
    expect(
      digestResponse({
        username: 'Mufasa',
        password: 'Circle Of Life',
        realm: 'testrealm@host.com',
        nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
        method: 'GET',
        uri: '/dir/index.html',
        qop: 'auth',
        nc: '00000001',
        cnonce: '0a4f113b',
      }),
    ).toBe('6629fae49393a05397450978507c4ef1');
  });

  it('wwwAuthenticate: Digest first, Basic only when enabled, values quoted', () => {
    expect(wwwAuthenticate({ realm: 'relaycast', nonce: 'n1', basic: true })).toEqual(['Digest realm="relaycast", nonce="n1"', 'Basic realm="relaycast"']);
    expect(wwwAuthenticate({ realm: 'a"b', nonce: 'n1', basic: false })).toEqual(['Digest realm="a\\"b", nonce="n1"']);
  });

  it('authorizationHeader → parseAuthorization → checkCredentials', () => {
    const digest = authorizationHeader({ scheme: 'Digest', username: 'alice', password: 's3cret', realm: 'relaycast', nonce: FIXTURE_AUTH.nonce, method: 'DESCRIBE', uri: 'rtsp://h/s' });
    const c = value(parseAuthorization(digest));
    expect(checkCredentials(c, expected('DESCRIBE'))).toBe(true);
    expect(checkCredentials(c, expected('SETUP'))).toBe(false); // the method is signed
    // The uri is signed, and must name what is requested: the same resource however the client spells it…
    expect(checkCredentials(c, expected('DESCRIBE', { requestUri: 'rtsp://h:8554/s' }))).toBe(true);
    const pathOnly = value(parseAuthorization(authorizationHeader({ scheme: 'Digest', username: 'alice', password: 's3cret', realm: 'relaycast', nonce: FIXTURE_AUTH.nonce, method: 'DESCRIBE', uri: '/s' })));
    expect(checkCredentials(pathOnly, expected('DESCRIBE'))).toBe(true);
    // …but a digest a client made for another stream does not open this one.
    expect(checkCredentials(c, expected('DESCRIBE', { requestUri: 'rtsp://h/other' }))).toBe(false);
    expect(checkCredentials(c, expected('DESCRIBE', { requestUri: 'rtsp://h/s/streamid=0' }))).toBe(false);

    const basic = value(parseAuthorization(authorizationHeader({ scheme: 'Basic', username: 'alice', password: 's3cret' })));
    if (basic.scheme !== 'Basic') throw new Error('expected Basic');
    expect(checkCredentials(basic, expected('DESCRIBE', { allowBasic: true }))).toBe(true);
    expect(checkCredentials(basic, expected('DESCRIBE', { allowBasic: false }))).toBe(false);
    expect(checkCredentials({ ...basic, password: 'wrong' }, expected('DESCRIBE', { allowBasic: true }))).toBe(false);
    expect(checkCredentials({ ...basic, username: 'mallory' }, expected('DESCRIBE', { allowBasic: true }))).toBe(false);
  });

  it('authorizationHeader refuses Digest without its challenge', () => {
    expect(() => authorizationHeader({ scheme: 'Digest', username: 'a', password: 'b' })).toThrow();
  });
});

describe('real peers (fixtures)', () => {
  // The capture server challenged with FIXTURE_AUTH's realm and nonce; the peers used alice / s3cret.
  const withAuth = fixtureNames(/-(publish-auth|play-auth)/).filter((n) => getHeader(request(n).headers, 'Authorization') !== undefined);

  it('ffmpeg and GStreamer retried with Digest (not the Basic also offered)', () => {
    expect(withAuth.filter((n) => n.startsWith('ffmpeg')).length).toBeGreaterThanOrEqual(10);
    expect(withAuth.filter((n) => n.startsWith('gstreamer')).length).toBeGreaterThanOrEqual(5);
    for (const n of withAuth) expect(getHeader(request(n).headers, 'Authorization')).toMatch(/^Digest /);
  });

  for (const name of fixtureNames(/-(publish-auth|play-auth)/)) {
    const req = request(name);
    const header = getHeader(req.headers, 'Authorization');
    if (header === undefined) {
      it(`${name}: first attempt carries no credentials`, () => expect(name).toMatch(/-0[12]-(options|announce|describe)\.bin$/));
      continue;
    }
    it(`${name}: the right password passes, a wrong one fails`, () => {
      const c = value(parseAuthorization(header));
      if (c.scheme !== 'Digest') throw new Error('expected Digest');
      expect(c.username).toBe('alice');
      expect(c.realm).toBe(FIXTURE_AUTH.realm);
      expect(c.nonce).toBe(FIXTURE_AUTH.nonce);
      expect(c.uri).toBe(req.uri); // both peers sign the request URI: the track URL for SETUP
      const at = { requestUri: req.uri };
      expect(checkCredentials(c, expected(req.method, at))).toBe(true);
      expect(checkCredentials(c, expected(req.method, { ...at, password: 's3cret!' }))).toBe(false);
      expect(checkCredentials(c, expected(req.method, { ...at, username: 'bob' }))).toBe(false);
      expect(checkCredentials(c, expected(req.method, { ...at, realm: 'other' }))).toBe(false);
      expect(checkCredentials(c, expected(req.method, { ...at, nonceValid: () => false }))).toBe(false);
      expect(checkCredentials(c, expected(req.method === 'SETUP' ? 'PLAY' : 'SETUP', at))).toBe(false);
      // A uri changed after signing fails the digest; one that names another resource fails before it.
      expect(checkCredentials({ ...c, uri: `${c.uri}x` }, expected(req.method, { requestUri: `${req.uri}x` }))).toBe(false);
      expect(checkCredentials(c, expected(req.method, { requestUri: `${req.uri}x` }))).toBe(false);
    });
  }

  it('ffmpeg answers a challenge without qop in the RFC 2069 way', () => {
    const c = value(parseAuthorization(getHeader(request('ffmpeg-5.1-publish-auth-03-announce.bin').headers, 'Authorization')!));
    expect(c).toMatchObject({ scheme: 'Digest', uri: expect.stringMatching(/\/auth$/) as unknown });
    if (c.scheme !== 'Digest') return;
    expect(c.qop).toBeUndefined();
    expect(c.nc).toBeUndefined();
    expect(c.algorithm).toBeUndefined();
  });

  it('ffmpeg answers qop="auth" with a quoted qop, a fresh cnonce and a counting nc', () => {
    const names = fixtureNames(/ffmpeg-5\.1-publish-auth-qop-/).filter((n) => getHeader(request(n).headers, 'Authorization') !== undefined);
    const creds = names.map((n) => value(parseAuthorization(getHeader(request(n).headers, 'Authorization')!)));
    expect(getHeader(request(names[0]!).headers, 'Authorization')).toContain('qop="auth"');
    const ncs = creds.map((c) => (c.scheme === 'Digest' ? c.nc : undefined));
    expect(ncs).toEqual(['00000001', '00000002', '00000003', '00000004', '00000005']);
    const cnonces = new Set(creds.map((c) => (c.scheme === 'Digest' ? c.cnonce : undefined)));
    expect(cnonces.size).toBe(creds.length);
  });

  it("ffmpeg's and GStreamer's digests for their SETUPs are the ones our digestResponse computes from the password", () => {
    for (const file of ['ffmpeg-5.1-publish-auth-04-setup.bin', 'gstreamer-1.22-play-auth-04-setup.bin']) {
      const c = value(parseAuthorization(getHeader(request(file).headers, 'Authorization')!));
      if (c.scheme !== 'Digest') throw new Error(`${file}: expected Digest`);
      // The peers were given alice / s3cret (test/fixtures/rtsp/README.md).
      const expected = digestResponse({ username: 'alice', password: 's3cret', realm: c.realm, nonce: c.nonce, method: 'SETUP', uri: c.uri, ...(c.qop ? { qop: c.qop, nc: c.nc ?? '', cnonce: c.cnonce ?? '' } : {}) });
      expect(c.response, file).toBe(expected);
    }
  });
});

describe('properties', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 20 });
  it('Digest round trip through the client header for any credentials', () => {
    fc.assert(
      fc.property(text, text, text, fc.stringMatching(/^[A-Za-z0-9+/=]{1,24}$/), fc.stringMatching(/^[A-Z_]{3,13}$/), fc.stringMatching(/^rtsp:\/\/[!-~]{1,30}$/), (username, password, realm, nonce, method, uri) => {
        const header = authorizationHeader({ scheme: 'Digest', username, password, realm, nonce, method, uri });
        const c = value(parseAuthorization(header));
        expect(c).toMatchObject({ scheme: 'Digest', username, realm, nonce, uri });
        expect(checkCredentials(c, { username, password, realm, method, requestUri: uri, allowBasic: false, nonceValid: (n) => n === nonce })).toBe(true);
        expect(checkCredentials(c, { username, password: `${password}x`, realm, method, requestUri: uri, allowBasic: false, nonceValid: () => true })).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('Basic round trip for any credentials without ":" in the username', () => {
    fc.assert(
      fc.property(text.filter((u) => !u.includes(':')), text, (username, password) => {
        const c = value(parseAuthorization(authorizationHeader({ scheme: 'Basic', username, password })));
        expect(c).toEqual({ scheme: 'Basic', username, password });
      }),
    );
  });

  it('any string: a result, never a throw', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ maxLength: 100 }).map((s) => `Digest ${s}`)), (header) => {
        const r = parseAuthorization(header);
        expect(typeof r.ok).toBe('boolean');
        if (r.ok) checkCredentials(r.value, expected('OPTIONS', { allowBasic: true }));
      }),
      { numRuns: 2000 },
    );
  });
});
