// Request URIs are taken as written: only the canonical /NAME, /NAME/ and /NAME/CONTROL paths name a stream
// (issue 12, item 3), and every URI the captured ffmpeg and GStreamer peers sent still does.
import { describe, expect, it } from 'vitest';
import { parseIncoming } from '../../../../server/protocols/rtsp/interleaved.ts';
import { parseRequestUri, parseTarget, playerTrack } from '../../../../server/protocols/rtsp/uri.ts';
import { fixture, fixtureNames } from '../../../fixtures/rtsp/load.ts';

/** Every request URI in a captured file (the stream-head captures hold several requests). */
function requestUris(name: string): string[] {
  const uris: string[] = [];
  let buf: Uint8Array = fixture(name);
  for (;;) {
    const r = parseIncoming(buf);
    if (r.kind !== 'ok') break;
    if (r.value.type === 'request') uris.push(r.value.request.uri);
    buf = buf.subarray(r.consumed);
  }
  return uris;
}

describe('parseTarget: what real peers send', () => {
  it('every request URI in the captures names its stream and track', () => {
    const seen = new Set<string>();
    for (const name of fixtureNames()) {
      for (const uri of requestUris(name)) {
        const t = parseTarget(uri);
        if (!t.ok) throw new Error(`${name}: ${uri}: ${t.error.message}`);
        expect(['test', 'auth']).toContain(t.value.name);
        expect(t.value.control).toMatch(/^(?:|streamid=[01]|stream=[01])$/);
        expect(t.value.origin).toMatch(/^rtsp:\/\/127\.0\.0\.1:\d+$/);
        seen.add(uri.replace(/:\d+\//, ':PORT/'));
      }
    }
    // Both aggregate forms (with and without the Content-Base trailing slash) and both publishers' track URLs occur.
    expect([...seen].sort()).toEqual(
      expect.arrayContaining([
        'rtsp://127.0.0.1:PORT/test',
        'rtsp://127.0.0.1:PORT/test/',
        'rtsp://127.0.0.1:PORT/test/streamid=0',
        'rtsp://127.0.0.1:PORT/test/stream=1',
      ]),
    );
  });

  const good: Array<[uri: string, name: string, control: string, origin: string]> = [
    ['rtsp://127.0.0.1:8554/cam', 'cam', '', 'rtsp://127.0.0.1:8554'],
    ['rtsp://127.0.0.1:8554/cam/', 'cam', '', 'rtsp://127.0.0.1:8554'],
    ['rtsp://127.0.0.1:8554/cam/trackID=1', 'cam', 'trackID=1', 'rtsp://127.0.0.1:8554'],
    ['rtsp://127.0.0.1:8554/cam/trackID=1/', 'cam', 'trackID=1', 'rtsp://127.0.0.1:8554'],
    ['rtsp://127.0.0.1:8554/cam/streamid=0', 'cam', 'streamid=0', 'rtsp://127.0.0.1:8554'],
    ['rtsp://host/a.b_c-d', 'a.b_c-d', '', 'rtsp://host'],
    ['RTSP://Host:554/cam', 'cam', '', 'rtsp://Host:554'],
    ['rtsps://host/cam', 'cam', '', 'rtsps://host'],
    ['rtsp://[::1]:8554/cam/', 'cam', '', 'rtsp://[::1]:8554'],
    ['rtsp://alice:s3cret@host:8554/cam', 'cam', '', 'rtsp://host:8554'],
    ['rtsp://host:8554/cam?token=abc', 'cam', '', 'rtsp://host:8554'],
  ];
  for (const [uri, name, control, origin] of good) {
    it(`${uri} → ${name} ${JSON.stringify(control)}`, () => {
      expect(parseTarget(uri)).toEqual({ ok: true, value: { name, control, origin } });
    });
  }
});

describe('parseTarget: no normalising, a 400 that says why', () => {
  const bad: Array<[what: string, uri: string, says: RegExp]> = [
    ['a double slash before the name (//x)', 'rtsp://127.0.0.1:8554//x', /empty path segment/],
    ['a double slash before the track', 'rtsp://127.0.0.1:8554/x//trackID=0', /empty path segment/],
    ['two trailing slashes', 'rtsp://127.0.0.1:8554/x//', /empty path segment/],
    ['a fragment (/x#y)', 'rtsp://127.0.0.1:8554/x#y', /fragment/],
    ['a TAB in the name (/a<TAB>b)', 'rtsp://127.0.0.1:8554/a\tb', /TAB at position 23/],
    ['a space', 'rtsp://127.0.0.1:8554/a b', /space/],
    ['a non-ASCII character', 'rtsp://127.0.0.1:8554/caf\u00e9', /U\+00E9/],
    ['a percent-encoded name (/%78)', 'rtsp://127.0.0.1:8554/%78', /not a valid stream name/],
    ['a dot segment', 'rtsp://127.0.0.1:8554/../x', /"\." or "\.\." path segment/],
    ['an encoded dot segment', 'rtsp://127.0.0.1:8554/y/%2E%2e/x', /"\." or "\.\." path segment/],
    ['no name (/)', 'rtsp://127.0.0.1:8554/', /names no stream/],
    ['no path', 'rtsp://127.0.0.1:8554', /names no stream/],
    ['a name that is an option', 'rtsp://127.0.0.1:8554/-f', /not a valid stream name/],
    ['a name too long', `rtsp://127.0.0.1:8554/${'a'.repeat(65)}`, /not a valid stream name/],
    ['no host', 'rtsp:///x', /no valid host/],
    ['a relative URI', '/x', /not an absolute rtsp:\/\/ URL/],
    ['another scheme', 'http://127.0.0.1:8554/x', /unsupported scheme http:/],
    ['a scheme without //', 'rtsp:x', /not an absolute rtsp:\/\/ URL/],
  ];
  for (const [what, uri, says] of bad) {
    it(`${what}: 400`, () => {
      const t = parseTarget(uri);
      expect(t.ok).toBe(false);
      if (t.ok) return;
      expect(t.error.status).toBe(400);
      expect(t.error.message).toMatch(says);
      expect(t.error.message).not.toMatch(/[\t\0]/);
    });
  }
});

describe('parseRequestUri: any method', () => {
  it('takes the server itself (OPTIONS rtsp://host:port) and refuses the same malformed paths', () => {
    expect(parseRequestUri('rtsp://127.0.0.1:8554')).toEqual({ ok: true, value: { origin: 'rtsp://127.0.0.1:8554', segments: [] } });
    expect(parseRequestUri('rtsp://127.0.0.1:8554/')).toEqual({ ok: true, value: { origin: 'rtsp://127.0.0.1:8554', segments: [] } });
    for (const uri of ['rtsp://127.0.0.1:8554//x', 'rtsp://127.0.0.1:8554/x#y', 'rtsp://127.0.0.1:8554/a\tb']) expect(parseRequestUri(uri).ok).toBe(false);
  });
});

describe('playerTrack', () => {
  it('trackID=N within the track count; the aggregate only for a single track', () => {
    expect(playerTrack('trackID=1', 2)).toBe(1);
    expect(playerTrack('trackID=2', 2)).toBeUndefined();
    expect(playerTrack('', 1)).toBe(0);
    expect(playerTrack('', 2)).toBeUndefined();
    expect(playerTrack('TRACKID=1', 2)).toBeUndefined();
  });
});
