// The server's recording of this stream (--record) in one line for the publisher page, with the server's own sentence
// when it stopped. Nothing is shown when the server does not record this stream.
import type { RecordingStatus } from '../shared/protocol.ts';

/** The line to show, or undefined for none. */
export function serverRecordingText(r: RecordingStatus | undefined): string | undefined {
  if (!r || r.state === 'closed') return undefined;
  if (r.state === 'recording') return 'Recording on the server';
  if (r.state === 'waiting') return 'Recording on the server: starting at the next keyframe';
  // The server's sentence already says "recording of stream … stopped: why; retrying in …".
  return `Not recording on the server: ${r.error ?? 'it stopped'}`;
}
