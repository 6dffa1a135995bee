import { describe, expect, it } from 'vitest';
import { serverRecordingText } from '../../../web/server-recording-text.ts';

describe('the publisher page\'s line about the server recording', () => {
  it('says "Recording on the server" while it is, nothing when the server does not record', () => {
    expect(serverRecordingText({ state: 'recording', file: '2026-12-04T18-00-00.000Z.mp4' })).toBe('Recording on the server');
    expect(serverRecordingText({ state: 'waiting' })).toBe('Recording on the server: starting at the next keyframe');
    expect(serverRecordingText(undefined)).toBeUndefined();
    expect(serverRecordingText({ state: 'closed' })).toBeUndefined();
  });

  it('gives the server\'s sentence when it stopped', () => {
    const error = 'recording of stream "cam" stopped: the disk is full: free space or lower --record-max-size (ENOSPC) at /rec/cam/x.mp4; retrying in 4 s';
    expect(serverRecordingText({ state: 'error', error })).toBe(`Not recording on the server: ${error}`);
  });
});
