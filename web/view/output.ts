// Where the player's media goes: WebCodecs (webcodecs-output.ts, the low-latency path) or, where a browser has no
// WebCodecs (a page over plain http from another host, older Safari), Media Source Extensions fed the same fMP4
// (mse-output.ts). The player decides nothing about decoding; an output decides nothing about the socket.
import type { MediaChunk, TrackConfig } from './demux.ts';

export interface OutputCounters {
  videoDecoded: number;
  videoDrawn: number;
  /** Frames not shown: not decoded (behind, waiting for a keyframe) or decoded and replaced before a draw. */
  videoDropped: number;
  audioDecoded: number;
  audioPlayed: number;
  audioDropped: number;
  /** The WebCodecs output's audio worklet, as it last reported (audio-out.ts AudioLevels); MSE has none. */
  audioBufferedMs?: number;
  audioRenderedMs?: number;
  audioUnderruns?: number;
  audioSkippedMs?: number;
  audioPeak?: number;
  width: number;
  height: number;
}

export interface OutputEvents {
  /** A frame reached the screen: its decode time (s), for the latency estimate and the `playing` state. */
  drawn(decodeTime: number): void;
  /** A problem that does not stop playback. */
  notice(message: string): void;
}

export interface Output {
  /** A new init segment (`bytes`) and what it configures. */
  init(tracks: readonly TrackConfig[], bytes: Uint8Array): void;
  /** One media segment (`bytes`) and its chunks; `behind(c)`: chunk c arrived behind the live edge. */
  media(bytes: Uint8Array, chunks: readonly MediaChunk[], behind: (c: MediaChunk) => boolean): void;
  /** In a click handler when unmuting (browsers start sound only from a gesture). */
  setMuted(muted: boolean): Promise<void>;
  readonly muted: boolean;
  /** Paused or resumed: either way what plays next starts on a keyframe (the server resumes at one). */
  setPaused(paused: boolean): void;
  counters(): OutputCounters;
  close(): void;
}
