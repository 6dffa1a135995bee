import { describe, expect, it } from 'vitest';
import type { OutputStatus } from '../../../shared/protocol.ts';
import { destinationName, outputProblems, outputStateWords, problemInWords } from '../../../web/outputs-text.ts';

const out = (o: Partial<OutputStatus>): OutputStatus => ({ url: 'rtmp://a.rtmp.youtube.com/live2/ab…34', kind: 'rtmp', state: 'running', restarts: 0, ...o });

describe('destinations in words', () => {
  it('names the platforms people stream to, and any other by its host', () => {
    expect(destinationName('rtmp://a.rtmp.youtube.com/live2/ab…34')).toBe('YouTube');
    expect(destinationName('rtmp://live.twitch.tv/app/li…Ij')).toBe('Twitch');
    expect(destinationName('rtmps://live-api-s.facebook.com:443/rtmp/****')).toBe('Facebook');
    expect(destinationName('rtmp://user:****@127.0.0.1:1935/live/cam')).toBe('127.0.0.1');
  });

  it('says what an ffmpeg error means', () => {
    expect(problemInWords('rtmp://a.rtmp.youtube.com/live2/ab…34: Connection refused')).toBe('cannot connect');
    expect(problemInWords('[tcp] Connection to tcp://x:1935 failed: Connection timed out')).toBe('cannot connect');
    expect(problemInWords('rtmp: Server error: stream key **** is not valid')).toBe('refused the stream (check the stream key)');
    expect(problemInWords('av_interleaved_write_frame(): Broken pipe')).toBe('the connection dropped');
    expect(problemInWords(undefined)).toBe('stopped');
  });

  it('never shows "backoff": a retrying destination says why and when', () => {
    const o = out({ state: 'backoff', lastError: 'Connection refused', retryInMs: 7200 });
    expect(outputStateWords(o)).toBe('cannot connect, retrying in 8 s');
    expect(outputStateWords(o)).not.toContain('backoff');
    expect(outputProblems([out({}), o])).toBe('YouTube: cannot connect, retrying in 8 s');
    expect(outputProblems([out({}), out({ url: 'rtmp://live.twitch.tv/app/x', state: 'failed', lastError: 'H.265 cannot go to RTMP' })])).toBe('Twitch: H.265 cannot go to RTMP');
    expect(outputProblems([out({})])).toBeUndefined();
  });
});
