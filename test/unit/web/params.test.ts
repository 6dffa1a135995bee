import { describe, expect, it } from 'vitest';
import { parseParams, searchWithoutToken } from '../../../web/params.ts';

describe('page query parameters', () => {
  it('defaults the stream name to "live" and asks for nothing else', () => {
    expect(parseParams('')).toEqual({ stream: 'live', ignored: [] });
  });

  it('reads every documented parameter', () => {
    const p = parseParams('?stream=cam-1&source=clock&audio=none&preset=1080p&fps=60&profile=high&bitrate=4000&keyframe=1.5&token=s3cret&record=1&autostart=true');
    expect(p).toEqual({
      stream: 'cam-1',
      source: 'clock',
      audio: 'none',
      preset: '1080p',
      fps: 60,
      profile: 'high',
      bitrate: 4_000_000,
      keyframeMs: 1500,
      token: 's3cret',
      record: true,
      autostart: true,
      ignored: [],
    });
  });

  it('reports bad names and values instead of guessing', () => {
    const p = parseParams('?stream=../etc&source=webcam&fps=25&bitrate=abc&keyframe=99');
    expect(p.streamProblem).toMatch(/not a valid stream name/);
    expect(p.source).toBeUndefined();
    expect(p.fps).toBeUndefined();
    expect(p.ignored).toHaveLength(4);
    expect(p.ignored.join(' ')).toContain('source=webcam');
  });

  it('removes the token from the query string, keeping the rest', () => {
    expect(searchWithoutToken('?stream=cam&token=s3cret&record=1')).toBe('?stream=cam&record=1');
    expect(searchWithoutToken('?token=a%20b')).toBe('');
    expect(searchWithoutToken('?stream=cam')).toBeUndefined();
    expect(searchWithoutToken('')).toBeUndefined();
  });
});
