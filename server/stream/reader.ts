// A player as the fan-out hub sees it: something that takes access units and can tell how far behind it is.
// The RTSP server implements it for TCP-interleaved and UDP players; an HTTP viewer could implement it later.
import type { AccessUnit } from './access-unit.ts';

export interface ReaderSink {
  /** Send one access unit (only units of tracks this reader set up are passed). One write per unit. */
  sendUnit(unit: AccessUnit): void;
  /** Send an RTCP packet (sender report) for a track. */
  sendRtcp(track: number, packet: Uint8Array): void;
  /** Bytes accepted but not yet handed to the kernel: the reader's queue. */
  backlog(): number;
  /** The hub gave up on this reader (too slow, or the stream ended); the sink closes its session. */
  end(reason: ReaderEndReason): void;
  /** What the API and /metrics say of this reader; a sink without it counts as 'output' (kind output) or 'other'. */
  readonly describe?: () => ReaderDescription;
  /** Hold what is sent until release(), to send it in one write (a TCP socket's cork). Optional; always paired. */
  hold?(): void;
  release?(): void;
}

/** 'removed': an operator ended this one reader (DELETE /api/readers/ID). */
export type ReaderEndReason = 'too-slow' | 'stream-ended' | 'codecs-changed' | 'removed';

/** How a reader reads: the protocol label of /metrics, and what GET /api/streams/NAME lists. */
export const READER_PROTOCOLS = ['rtsp', 'http', 'viewer', 'output', 'other'] as const;
export type ReaderProtocol = (typeof READER_PROTOCOLS)[number];

export interface ReaderDescription {
  protocol: ReaderProtocol;
  transport?: 'tcp' | 'udp';
  /** ADDRESS:PORT of the player. */
  remote?: string;
}

export interface ReaderPolicy {
  /** Above this backlog the reader skips to the next keyframe. */
  skipBacklogBytes: number;
  /** A reader still behind after this long is disconnected. */
  maxBehindMs: number;
}

export const DEFAULT_READER_POLICY: ReaderPolicy = { skipBacklogBytes: 1024 * 1024, maxBehindMs: 5000 };

export interface ReaderStats {
  units: number;
  bytes: number;
  /** Times the reader fell behind and was skipped to the next keyframe. */
  skips: number;
  /** Units not sent because the reader was behind. */
  droppedUnits: number;
}

export class Reader {
  readonly stats: ReaderStats = { units: 0, bytes: 0, skips: 0, droppedUnits: 0 };
  /** Not sending until the next resume point (after falling behind, before the first keyframe, or after PAUSE/PLAY). */
  skipping = false;
  /** When the reader fell behind (its queue over the bound); undefined while it only waits for a keyframe. */
  behindSince: number | undefined;
  paused = false;

  /** Fixed when the reader joins, from its sink: the label its bytes and its count go under. */
  readonly protocol: ReaderProtocol;

  constructor(
    readonly id: string,
    readonly sink: ReaderSink,
    readonly tracks: ReadonlySet<number>,
    /** A player (counted against --max-clients) or one of the server's own outputs (an ffmpeg destination). */
    readonly kind: 'player' | 'output' = 'player',
    /** When it joined (ms since the epoch). */
    readonly since: number = Date.now(),
  ) {
    this.protocol = sink.describe?.().protocol ?? (kind === 'output' ? 'output' : 'other');
  }
}
