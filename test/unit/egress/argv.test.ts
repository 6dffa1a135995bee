import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildFfmpegArgs, GLOBAL_ARGS, INPUT_ARGS } from '../../../server/egress/argv.ts';
import type { OutputUrlErrorCode } from '../../../server/egress/output-url.ts';

const HEAD = [
  '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'repeat+level+warning', '-progress', 'pipe:2', '-stats_period', '1',
  '-f', 'mp4', '-protocol_whitelist', 'pipe', '-nofind_stream_info', '-i', 'pipe:0',
];

function args(o: Parameters<typeof buildFfmpegArgs>[0]): string[] {
  const r = buildFfmpegArgs(o);
  if (!r.ok) throw r.error;
  return r.value;
}

describe('buildFfmpegArgs', () => {
  it('the head is fixed: logging, progress, and a forced fMP4 input from stdin that may open only pipe:', () => {
    expect([...GLOBAL_ARGS, ...INPUT_ARGS]).toEqual(HEAD);
  });

  it('RTSP relay with audio: copy everything over interleaved TCP', () => {
    expect(args({ kind: 'rtsp', url: 'rtsp://127.0.0.1:8554/cam1', hasAudio: true })).toEqual([
      ...HEAD,
      '-map', '0:v:0', '-map', '0:a:0',
      '-c', 'copy',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'rtsp', '-rtsp_transport', 'tcp', '-timeout', '10000000',
      'rtsp://127.0.0.1:8554/cam1',
    ]);
  });

  it('RTSP relay without audio maps video only', () => {
    expect(args({ kind: 'rtsp', url: 'rtsp://127.0.0.1:8554/cam1', hasAudio: false })).toEqual([
      ...HEAD,
      '-map', '0:v:0',
      '-c', 'copy',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'rtsp', '-rtsp_transport', 'tcp', '-timeout', '10000000',
      'rtsp://127.0.0.1:8554/cam1',
    ]);
  });

  it('RTMP with audio: copy video, Opus → AAC 128k 48 kHz, FLV', () => {
    const url = 'rtmp://a.rtmp.youtube.com/live2/abcd-efgh-ijkl-mnop';
    expect(args({ kind: 'rtmp', url, hasAudio: true })).toEqual([
      ...HEAD,
      '-map', '0:v:0', '-map', '0:a:0',
      '-c:v', 'copy', '-c:a', 'aac', '-aac_coder', 'fast', '-b:a', '128k', '-ar', '48000',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'flv', '-flvflags', 'no_duration_filesize', '-rw_timeout', '10000000', '-tcp_nodelay', '1',
      url,
    ]);
  });

  it('audio only (a microphone-only page): maps and encodes audio, no video map', () => {
    const url = 'rtmp://127.0.0.1/live/mic';
    expect(args({ kind: 'rtmp', url, hasAudio: true, hasVideo: false })).toEqual([
      ...HEAD,
      '-map', '0:a:0',
      '-c:a', 'aac', '-aac_coder', 'fast', '-b:a', '128k', '-ar', '48000',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'flv', '-flvflags', 'no_duration_filesize', '-rw_timeout', '10000000', '-tcp_nodelay', '1',
      url,
    ]);
    expect(buildFfmpegArgs({ kind: 'rtsp', url: 'rtsp://127.0.0.1/x', hasAudio: false, hasVideo: false }).ok).toBe(false);
  });

  it('RTMP with AAC input (a browser that encodes AAC): both tracks copied, nothing encoded', () => {
    const url = 'rtmp://127.0.0.1/live/safari';
    expect(args({ kind: 'rtmp', url, hasAudio: true, audioIsAac: true, aacBitrate: '160k' })).toEqual([
      ...HEAD,
      '-map', '0:v:0', '-map', '0:a:0',
      '-c:v', 'copy', '-c:a', 'copy',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'flv', '-flvflags', 'no_duration_filesize', '-rw_timeout', '10000000', '-tcp_nodelay', '1',
      url,
    ]);
  });

  it('RTMP at 44.1 kHz and another bit rate', () => {
    const url = 'rtmps://live-api-s.facebook.com:443/rtmp/FB-123-0-Abc';
    expect(args({ kind: 'rtmp', url, hasAudio: true, aacSampleRate: 44100, aacBitrate: '160k' })).toEqual([
      ...HEAD,
      '-map', '0:v:0', '-map', '0:a:0',
      '-c:v', 'copy', '-c:a', 'aac', '-aac_coder', 'fast', '-b:a', '160k', '-ar', '44100',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'flv', '-flvflags', 'no_duration_filesize', '-rw_timeout', '10000000', '-tcp_nodelay', '1',
      url,
    ]);
  });

  it('RTMP without audio: no audio options at all', () => {
    const url = 'rtmp://127.0.0.1:1935/live/cam1';
    const a = args({ kind: 'rtmp', url, hasAudio: false });
    expect(a).toEqual([
      ...HEAD,
      '-map', '0:v:0',
      '-c:v', 'copy',
      '-avoid_negative_ts', 'make_zero',
      '-f', 'flv', '-flvflags', 'no_duration_filesize', '-rw_timeout', '10000000', '-tcp_nodelay', '1',
      url,
    ]);
    expect(a.some((x) => x.startsWith('-c:a') || x === '-ar' || x === '-b:a' || x === '0:a:0')).toBe(false);
  });

  const forbidden: [string, 'rtsp' | 'rtmp', OutputUrlErrorCode][] = [
    ['-f', 'rtmp', 'leading_dash'],
    ['-y', 'rtsp', 'leading_dash'],
    ['file:///etc/passwd', 'rtmp', 'unsupported_scheme'],
    ['http://x', 'rtmp', 'unsupported_scheme'],
    ['rtmp://host/app/key -y', 'rtmp', 'forbidden_character'],
    ['rtsp://h/../x', 'rtsp', 'dot_segment'],
    ['concat:rtmp://a/b/c|file:///etc/passwd', 'rtmp', 'forbidden_character'],
    ['concat:/etc/passwd', 'rtmp', 'unsupported_scheme'],
    ['rtmp://host/live/{stream}', 'rtmp', 'bad_placeholder'],
    ['rtsp://127.0.0.1:8554/cam1', 'rtmp', 'kind_mismatch'],
    ['rtmp://127.0.0.1/live/cam1', 'rtsp', 'kind_mismatch'],
  ];
  it.each(forbidden)('refuses %j as a %s output', (url, kind, code) => {
    const r = buildFfmpegArgs({ kind, url, hasAudio: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe(code);
  });

  it('for any accepted URL: the input is forced fMP4 from pipe: only, and the URL is the last argument and appears once', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@-]{1,12}$/).filter((s) => s !== '.' && s !== '..');
    fc.assert(
      fc.property(
        fc.constantFrom('rtsp', 'rtsps', 'rtmp', 'rtmps'),
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (scheme, segments, hasAudio) => {
          const url = `${scheme}://host.example:1935/${segments.join('/')}`;
          const kind = scheme.startsWith('rtsp') ? 'rtsp' : 'rtmp';
          const r = buildFfmpegArgs({ kind, url, hasAudio });
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          const a = r.value;
          const i = a.indexOf('-i');
          expect(a.slice(0, i + 2)).toEqual(HEAD);
          expect(a.at(-1)).toBe(url);
          expect(a.filter((x) => x.includes(url)).length).toBe(1);
          // Every option name is ours (a fixed vocabulary), never derived from the URL.
          for (const x of a.slice(0, -1)) expect(x.includes('host.example')).toBe(false);
        },
      ),
      { numRuns: 500 },
    );
  });
});
