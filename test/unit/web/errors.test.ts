// web/errors.ts: every failure a broadcaster can meet is a sentence that ends with what to do next.
import { describe, expect, it } from 'vitest';
import { PageError, captureError, encoderError, screenCaptureError } from '../../../web/errors.ts';

describe('page error sentences', () => {
  it('gives the screen picker its own sentence: cancelled, or called without a click', () => {
    for (const name of ['NotAllowedError', 'InvalidStateError']) {
      const e = screenCaptureError(new DOMException('Permission denied', name));
      expect(e.message).toBe('Screen sharing was cancelled or needs a click: press Go live and pick a screen or window.');
    }
    // Other screen failures keep the general sentences.
    expect(screenCaptureError(new DOMException('Could not start video source', 'NotReadableError')).message).toMatch(/^The screen could not be started.*press Go live again/);
    // The camera keeps the permission sentence.
    expect(captureError(new DOMException('Permission denied', 'NotAllowedError'), 'camera').message).toMatch(/Allow it for this site/);
  });

  it('says what to try next when a source or an encoder fails for an unexpected reason', () => {
    expect(captureError(new Error('boom'), 'camera').message).toBe('Could not start the camera (boom). Press Go live to try again, or choose another source.');
    const v = encoderError('video', new DOMException('Encoding error.', 'EncodingError'));
    expect(v).toMatchObject({ code: 'encoder-failed' });
    expect(v.message).toBe('The video encoder stopped (Encoding error.). Press Go live to start again; if it happens again, pick a smaller preset, a lower frame rate or another H.264 profile.');
    expect(encoderError('audio', 'x').message).toMatch(/choose "No microphone" or another microphone\.$/);
    const already = new PageError('codec-unsupported', 'Pick another profile.');
    expect(encoderError('video', already)).toBe(already);
  });
});
