// The pure parts of HTTP playback: which paths are /NAME.mp4, HTTP Basic parsing and checking, and the 415 sentence.
import { describe, expect, it } from 'vitest';
import { basicChallenge, basicMatches, parseBasic } from '../../../../server/servers/http/basic-auth.ts';
import { progressiveName, unsupportedReason } from '../../../../server/servers/http/progressive.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('progressiveName', () => {
  it('takes the NAME of /NAME.mp4 only (the name rule is checked after)', () => {
    expect(progressiveName('/cam1.mp4')).toBe('cam1');
    expect(progressiveName('/a.b-c_d.mp4')).toBe('a.b-c_d');
    expect(progressiveName('/x.mp4.mp4')).toBe('x.mp4');
    expect(progressiveName('/..mp4')).toBe('.');
    for (const p of ['/', '/cam1', '/cam1.mp4/', '/dir/cam1.mp4', '/.mp4', '/cam1.MP4', '/cam1.mp4x', '/api/streams']) expect(progressiveName(p), p).toBeUndefined();
  });
});

describe('HTTP Basic (RFC 7617)', () => {
  it('parses user:pass, splitting at the first colon (passwords may hold colons), any case of the scheme', () => {
    expect(parseBasic(`Basic ${b64('viewer:pa:ss')}`)).toEqual({ username: 'viewer', password: 'pa:ss' });
    expect(parseBasic(`basic   ${b64('u:')}`)).toEqual({ username: 'u', password: '' });
    expect(parseBasic(`Basic ${b64('wörd:pässword')}`)).toEqual({ username: 'wörd', password: 'pässword' });
  });

  it('refuses anything else', () => {
    for (const h of [undefined, '', 'Basic', `Bearer ${b64('u:p')}`, `Basic ${b64('nocolon')}`, 'Basic !!!', `Basic ${b64('u:p')} extra`, `Basic ${'A'.repeat(5000)}`]) {
      expect(parseBasic(h), String(h)).toBeUndefined();
    }
  });

  it('matches both fields exactly', () => {
    const want = { username: 'viewer', password: 'secret' };
    expect(basicMatches({ username: 'viewer', password: 'secret' }, want)).toBe(true);
    expect(basicMatches({ username: 'viewer', password: 'secret ' }, want)).toBe(false);
    expect(basicMatches({ username: 'Viewer', password: 'secret' }, want)).toBe(false);
    expect(basicMatches({ username: '', password: '' }, want)).toBe(false);
    expect(basicMatches(undefined, want)).toBe(false);
  });

  it('challenges with the realm and UTF-8 (§2.1), never echoing a quote', () => {
    expect(basicChallenge('relaycast')).toBe('Basic realm="relaycast", charset="UTF-8"');
    expect(basicChallenge('a"b\\c')).toBe('Basic realm="abc", charset="UTF-8"');
  });
});

describe('unsupportedReason', () => {
  it('refuses a stream with video MP4 cannot carry, even when its audio could go', () => {
    const r = unsupportedReason({ carried: [{ index: 1, role: 'audio' }], left: [{ index: 0, kind: 'video', codec: 'JPEG' }] }, 'cam', 'rtsp://h:8554/cam');
    expect(r).toBe('stream "cam" has JPEG video, which HTTP playback (MP4) cannot carry; play it over RTSP instead: rtsp://h:8554/cam');
  });

  it('refuses a stream with nothing MP4 carries, and names what it has', () => {
    expect(unsupportedReason({ carried: [], left: [{ index: 0, kind: 'audio', codec: 'MPA' }] }, 'x', undefined)).toBe('stream "x" has audio MPA, which HTTP playback (MP4) cannot carry');
    expect(unsupportedReason({ carried: [], left: [] }, 'x', undefined)).toContain('neither audio nor video');
  });

  it('accepts video alone, audio alone, and video with audio it leaves out', () => {
    expect(unsupportedReason({ carried: [{ index: 0, role: 'video' }], left: [] }, 'x', undefined)).toBeUndefined();
    expect(unsupportedReason({ carried: [{ index: 0, role: 'audio' }], left: [] }, 'x', undefined)).toBeUndefined();
    expect(unsupportedReason({ carried: [{ index: 0, role: 'video' }], left: [{ index: 1, kind: 'audio', codec: 'MPA' }] }, 'x', undefined)).toBeUndefined();
  });
});
