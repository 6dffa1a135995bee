import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  expandOutputUrl,
  maskUrl,
  OutputUrlError,
  parseOutputUrl,
  redactUrl,
  urlSecrets,
  type OutputUrlErrorCode,
} from '../../../server/egress/output-url.ts';

// One table drives the accept/reject tests (gortsplib style): [url, expected kind or error code].
const ACCEPTED: [string, 'rtsp' | 'rtmp'][] = [
  ['rtsp://127.0.0.1:8554/{stream}', 'rtsp'],
  ['rtsp://127.0.0.1:8554/cam1', 'rtsp'],
  ['rtsps://relay.example.com/live/{stream}', 'rtsp'],
  ['rtsp://user:p%40ss@cam.local:554/Streaming/Channels/101', 'rtsp'],
  ['rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop-qrst', 'rtmp'],
  ['rtmp://b.rtmp.youtube.com/live2?backup=1/abcd-efgh-ijkl', 'rtmp'],
  ['rtmps://a.rtmps.youtube.com:443/live2/abcd-efgh-ijkl-mnop', 'rtmp'],
  ['rtmp://live.twitch.tv/app/live_123456789_AbCdEfGhIjKlMnOpQrStUvWx', 'rtmp'],
  ['rtmp://127.0.0.1:1935/live/{stream}', 'rtmp'],
  ['rtmp://[::1]:1935/live/{stream}?key={stream}', 'rtmp'],
  ['rtmp://host/app', 'rtmp'],
];

const REJECTED: [string, OutputUrlErrorCode][] = [
  ['', 'empty'],
  ['-f', 'leading_dash'],
  ['-y', 'leading_dash'],
  ['-rtmp://host/app/key', 'leading_dash'],
  ['file:///etc/passwd', 'unsupported_scheme'],
  ['/etc/passwd', 'malformed'],
  ['http://x/app/key', 'unsupported_scheme'],
  ['https://x/app/key', 'unsupported_scheme'],
  ['concat:/etc/passwd|/etc/shadow', 'forbidden_character'],
  ['concat:/etc/passwd', 'unsupported_scheme'],
  ['pipe:1', 'unsupported_scheme'],
  ['tee:rtmp://a/b/c', 'unsupported_scheme'],
  ['subfile:rtmp://a/b/c', 'unsupported_scheme'],
  ['rtmpt://host/app/key', 'unsupported_scheme'],
  ['RTMP://host/app/key', 'unsupported_scheme'],
  ['rtmp://host/app/key -y', 'forbidden_character'],
  ['rtmp://host/app/key live=1', 'forbidden_character'],
  ['rtmp://host/app/key\n-f', 'forbidden_character'],
  ['rtmp://host/app/key\t', 'forbidden_character'],
  ['rtmp://host/app/k\u0000ey', 'forbidden_character'],
  ['rtmp://host/app/ké', 'forbidden_character'],
  ['rtmp://host/app/key#frag', 'forbidden_character'],
  ['rtmp://host/app/"key"', 'forbidden_character'],
  ['rtmp://host/app/%0a-f', 'forbidden_character'],
  ['rtmp://host/app/%zz', 'malformed'],
  ['rtsp://h/../x', 'dot_segment'],
  ['rtsp://h/a/./x', 'dot_segment'],
  ['rtsp://h/%2e%2E/x', 'dot_segment'],
  ['rtsp://h//x', 'malformed'],
  ['rtsp://h/x/', 'malformed'],
  ['rtmp:/host/app/key', 'malformed'],
  ['rtmp:host/app/key', 'malformed'],
  ['rtmp://', 'malformed'],
  ['rtmp://host', 'malformed'],
  ['rtmp://host/', 'malformed'],
  ['rtmp://host:0/app/key', 'malformed'],
  ['rtmp://host:65536/app/key', 'malformed'],
  ['rtmp://host:12ab/app/key', 'malformed'],
  ['rtmp://-host/app/key', 'malformed'],
  ['rtmp://a@b@host/app/key', 'malformed'],
  ['rtmp://{stream}/app/key', 'bad_placeholder'],
  ['rtmp://{stream}@host/app/key', 'bad_placeholder'],
  ['rtmp://host/app/{name}', 'bad_placeholder'],
  ['rtmp://host/app/{stream', 'bad_placeholder'],
  ['rtmp://host/app/' + 'k'.repeat(2048), 'too_long'],
];

describe('parseOutputUrl', () => {
  it.each(ACCEPTED)('accepts %s', (url, kind) => {
    const r = parseOutputUrl(url);
    expect(r).toEqual({ ok: true, value: { kind, template: url } });
  });

  it.each(REJECTED)('rejects %j', (url, code) => {
    const r = parseOutputUrl(url);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toBeInstanceOf(OutputUrlError);
    expect(r.error.code).toBe(code);
    // The sentence a user sees never repeats the URL (it may carry a stream key).
    if (url.length > 8) expect(r.error.message).not.toContain(url);
    expect(r.error.message).not.toContain('key');
  });

  it('never accepts anything ffmpeg could read as an option, a local file or a second word', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 40 }), (a, b) => {
        for (const candidate of [a, `rtmp://host/app/${b}`, `rtsp://h:1/${b}`, `${b}rtmp://h/a/b`]) {
          const r = parseOutputUrl(candidate);
          if (!r.ok) continue;
          expect(candidate.startsWith('-')).toBe(false);
          expect(/[\s\x00-\x1f\x7f"'`<>\\^|#]|[^\x00-\x7f]/.test(candidate.replace(/'/g, ''))).toBe(false);
          expect(/^(rtsps?|rtmps?):\/\//.test(candidate)).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('expandOutputUrl', () => {
  it('replaces every {stream}', () => {
    expect(expandOutputUrl('rtmp://h/live/{stream}?k={stream}', 'cam_1.a-b')).toBe('rtmp://h/live/cam_1.a-b?k=cam_1.a-b');
    expect(expandOutputUrl('rtmp://a.rtmp.youtube.com/live2/fixed-key', 'cam1')).toBe('rtmp://a.rtmp.youtube.com/live2/fixed-key');
  });

  it.each(['', '-f', '../x', 'a b', 'a/b', '.hidden', 'x'.repeat(65), 'a?b', 'é'])('refuses the stream name %j', (name) => {
    let caught: unknown;
    try {
      expandOutputUrl('rtsp://127.0.0.1:8554/{stream}', name);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(OutputUrlError);
    expect((caught as OutputUrlError).code).toBe('invalid_stream_name');
  });
});

describe('maskUrl', () => {
  const cases: [string, string][] = [
    ['rtmp://a.rtmp.youtube.com/live2/abcd-efgh-1234', 'rtmp://a.rtmp.youtube.com/live2/ab…34'],
    ['rtmp://live.twitch.tv/app/live_123456789_AbCdEfGhIj', 'rtmp://live.twitch.tv/app/li…Ij'],
    ['rtmp://127.0.0.1:1935/live/cam1', 'rtmp://127.0.0.1:1935/live/****'],
    ['rtmp://127.0.0.1:1935/live/{stream}', 'rtmp://127.0.0.1:1935/live/{stream}'],
    ['rtmp://b.rtmp.youtube.com/live2?backup=1/abcd-efgh-1234', 'rtmp://b.rtmp.youtube.com/live2?****'],
    ['rtmp://host/app', 'rtmp://host/app'],
    ['rtmps://user:secretpw@host:443/app/key123', 'rtmps://user:****@host:443/app/****'],
    ['rtsp://127.0.0.1:8554/cam1', 'rtsp://127.0.0.1:8554/cam1'],
    ['rtsp://admin:hunter22@cam.local:554/Streaming/Channels/101?token=abc', 'rtsp://admin:****@cam.local:554/Streaming/Channels/101?****'],
    ['rtsp://admin@cam.local/x', 'rtsp://admin@cam.local/x'],
    ['rtmp://host/app/key#frag', 'rtmp://host/app/****#****'],
    ['not a url at all', '****'],
    ['-f', '****'],
    ['', '****'],
  ];
  it.each(cases)('%s → %s', (url, masked) => {
    expect(maskUrl(url)).toBe(masked);
  });

  it('shows a last segment that is the stream\'s own name ({stream} expanded), and masks every other key', () => {
    expect(maskUrl('rtmp://127.0.0.1:1935/live/cam1', 'cam1')).toBe('rtmp://127.0.0.1:1935/live/cam1');
    expect(maskUrl('rtmp://a.rtmp.youtube.com/live2/abcd-efgh-1234', 'cam1')).toBe('rtmp://a.rtmp.youtube.com/live2/ab…34');
    expect(maskUrl('rtmp://host/live/cam1-backup', 'cam1')).toBe('rtmp://host/live/****');
    expect(maskUrl('rtmp://user:pw@host/cam1/cam1?k=v', 'cam1')).toBe('rtmp://user:****@host/cam1/cam1?****');
  });

  it('never shows more than 4 characters of a stream key', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{4,48}$/), (key) => {
        const masked = maskUrl(`rtmp://a.rtmp.youtube.com/live2/${key}`);
        expect(masked).not.toContain(key);
        expect(masked.replace('rtmp://a.rtmp.youtube.com/live2/', '').replace(/[…*]/g, '').length).toBeLessThanOrEqual(4);
      }),
    );
  });
});

describe('redactUrl', () => {
  const url = 'rtmp://user:pa55word@a.rtmp.youtube.com/live2/abcd-efgh-1234?x=secretq';
  it('masks the whole URL and each secret wherever ffmpeg quotes them', () => {
    const lines = [
      `[error] ${url}: Connection refused`,
      '[rtmp @ 0x1] Server error: Invalid stream key abcd-efgh-1234',
      'Error writing trailer of rtmp://a.rtmp.youtube.com/live2/abcd-efgh-1234: Broken pipe',
      'auth with user pa55word failed',
      'query x=secretq',
    ];
    for (const line of lines) {
      const out = redactUrl(line, url);
      for (const secret of ['pa55word', 'abcd-efgh-1234', 'x=secretq']) expect(out).not.toContain(secret);
    }
    expect(redactUrl(`[error] ${url}: Connection refused`, url)).toBe(`[error] ${maskUrl(url)}: Connection refused`);
  });

  it('also masks decoded forms', () => {
    const u = 'rtmp://h/app/key%2Fwith%2Fslash';
    expect(urlSecrets(u)).toContain('key/with/slash');
    expect(redactUrl('playpath key/with/slash', u)).toBe('playpath ****');
  });

  it('leaves text alone when the URL has no secrets and is not quoted', () => {
    expect(redactUrl('Connection refused', 'rtsp://127.0.0.1:8554/cam1')).toBe('Connection refused');
  });
});
