// What can go wrong for a broadcaster, as values with a stable code and a sentence that says what to do.
export type PageErrorCode =
  | 'insecure-context'
  | 'no-webcodecs'
  | 'no-track-processor'
  | 'permission-denied'
  | 'no-device'
  | 'device-busy'
  | 'capture-failed'
  | 'codec-unsupported'
  | 'encoder-failed'
  | 'bad-name'
  | 'refused'
  | 'server-error'
  | 'connection-lost';

export class PageError extends Error {
  readonly code: PageErrorCode;
  constructor(code: PageErrorCode, message: string) {
    super(message);
    this.name = 'PageError';
    this.code = code;
  }
}

/** `local`: this page's address on the server's own machine (http://localhost:PORT/ with the same query). */
export function insecureContextError(origin: string, local = 'http://localhost:8090/'): PageError {
  return new PageError(
    'insecure-context',
    `This page was opened from ${origin}, which is not a secure context, so the browser hides the camera, microphone and video encoder. ` +
      `Open it as ${local} on the machine running the server, or serve it over https: start the server with --tls-cert and --tls-key.`,
  );
}

/** getUserMedia / getDisplayMedia rejections (W3C Media Capture §9.2, Screen Capture §5.1) as sentences. */
export function captureError(err: unknown, what: string): PageError {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  const detail = err instanceof Error && err.message ? ` (${err.message})` : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new PageError('permission-denied', `The browser was not allowed to use the ${what}. Allow it for this site (the icon in the address bar), then press Go live again.`);
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new PageError('no-device', `No ${what} was found${detail}. Plug one in, or choose another source (Screen, Canvas test pattern or Clock).`);
    case 'NotReadableError':
    case 'AbortError':
      return new PageError('device-busy', `The ${what} could not be started; another application may be using it${detail}. Close it and press Go live again.`);
    default:
      return new PageError('capture-failed', `Could not start the ${what}${detail || ` (${String(err)})`}. Press Go live to try again, or choose another source.`);
  }
}

/**
 * getDisplayMedia rejections. NotAllowedError here is mostly the user closing the picker, or a call without a click
 * (autostart): getDisplayMedia needs transient user activation. That is not a site permission to go and change.
 */
export function screenCaptureError(err: unknown): PageError {
  const name = err instanceof DOMException || err instanceof Error ? err.name : '';
  if (name === 'NotAllowedError' || name === 'InvalidStateError' || name === 'InvalidAccessError') {
    return new PageError('permission-denied', 'Screen sharing was cancelled or needs a click: press Go live and pick a screen or window.');
  }
  return captureError(err, 'screen');
}

/** An encoder that stopped or refused a frame, with what to try next. `what`: "video" or "audio". */
export function encoderError(what: 'video' | 'audio', err: unknown): PageError {
  if (err instanceof PageError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const next = what === 'video' ? 'pick a smaller preset, a lower frame rate or another H.264 profile' : 'choose "No microphone" or another microphone';
  return new PageError('encoder-failed', `The ${what} encoder stopped (${detail}). Press Go live to start again; if it happens again, ${next}.`);
}

export function asPageError(err: unknown, fallback: PageErrorCode = 'encoder-failed'): PageError {
  if (err instanceof PageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new PageError(fallback, message);
}
