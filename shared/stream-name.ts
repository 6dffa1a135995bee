// Stream names appear in URLs (rtsp://HOST:8554/NAME, /?stream=NAME), in ffmpeg output URLs and in logs.
// One rule everywhere, so a name can never become an option ("-f"), a path ("../x") or a header injection.
export const STREAM_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isValidStreamName(name: string): boolean {
  return STREAM_NAME_PATTERN.test(name);
}

/** A sentence for a user who typed a bad name. */
export function streamNameProblem(name: string): string | undefined {
  if (isValidStreamName(name)) return undefined;
  if (name.length === 0) return 'The stream name is empty; use letters, digits, ".", "_" or "-".';
  if (name.length > 64) return `The stream name is ${name.length} characters long; the limit is 64.`;
  return `"${name}" is not a valid stream name: start with a letter or digit, then use only letters, digits, ".", "_" or "-".`;
}
