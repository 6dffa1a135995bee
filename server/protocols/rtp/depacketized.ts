// What every depacketizer returns (RTP payloads → the codec's sample form). Pure and never throwing, like
// rtsp/interleaved.ts: a malformed, truncated or incomplete input is a value the hub acts on (drop the unit, wait for
// the next keyframe), never an exception and never a corrupt unit.

export type DepacketizeErrorCode =
  /** A packet ends inside a header or a NAL unit / AU it announces. */
  | 'truncated'
  /** A fragmented NAL unit / AU is missing its start, middle or end (a packet was lost or reordered). */
  | 'fragment-lost'
  /** A payload structure this relay does not take (STAP-B, MTAP, PACI, interleaved AAC…): named in the message. */
  | 'unsupported'
  /** A reassembled unit over the bound: a sender that never ends a fragment cannot make us hold it forever. */
  | 'too-large'
  /** Anything else that breaks the payload format (forbidden bit, reserved type, zero-length NAL unit…). */
  | 'malformed';

export interface DepacketizeError {
  code: DepacketizeErrorCode;
  message: string;
}

export type Depacketized<T> = { ok: true; value: T } | { ok: false; error: DepacketizeError };

export function depacketizeError(code: DepacketizeErrorCode, message: string): { ok: false; error: DepacketizeError } {
  return { ok: false, error: { code, message } };
}

/** Bound of one reassembled access unit (a 4K intra frame at a very high bitrate stays well below it). */
export const MAX_UNIT_BYTES = 8 * 1024 * 1024;
