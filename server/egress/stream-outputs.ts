// The configured destinations of one hub stream: one Fmp4Feed (and so one ffmpeg) each, reading the hub as outputs.
// They stay attached through the stream's grace period, so a publisher that comes back continues into the same ffmpegs,
// and end with the stream.
import type { OutputStatus } from '../../shared/protocol.ts';
import type { Logger } from '../log.ts';
import type { Stream } from '../stream/stream.ts';
import { Fmp4Feed, type Fmp4FeedOptions } from './fmp4-feed.ts';
import type { OutputKind } from './output-url.ts';

export interface Destination {
  /** Expanded URL: a secret, only ever logged masked (FfmpegOutput masks it). */
  url: string;
  kind: OutputKind;
}

/**
 * RTMP destinations get their samples in batches of this many milliseconds, each one moof+mdat. A platform adds seconds
 * of latency of its own, so a quarter of a second more is invisible there, and it cuts ffmpeg's wake-ups and moofs from
 * ~80 a second to 4. Measured with bench:ingest (20 × 720p30 + Opus), per RTMP ffmpeg: 2.27 % of a core unbatched,
 * 1.38 % at 100 ms merged, about 0.2 % less again at 250 ms (500 ms gained nothing more). An rtsp:// destination,
 * where latency is the point, gets every unit at once.
 */
export const RTMP_COALESCE_MS = 250;

export interface StreamOutputsOptions extends Pick<Fmp4FeedOptions, 'ffmpegPath' | 'spawn' | 'backoff' | 'closeGraceMs'> {
  stream: Stream;
  destinations: readonly Destination[];
  logger: Logger;
  onOutputStart?: () => void;
}

export class StreamOutputs {
  private readonly feeds: Array<{ feed: Fmp4Feed; destination: Destination }> = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly o: StreamOutputsOptions) {
    o.destinations.forEach((d, i) => {
      const feed = new Fmp4Feed({
        name: o.stream.name,
        url: d.url,
        kind: d.kind,
        source: o.stream,
        logger: o.logger.child({ component: 'egress', output: d.kind }),
        coalesceMs: d.kind === 'rtmp' ? RTMP_COALESCE_MS : 0,
        ...(o.ffmpegPath ? { ffmpegPath: o.ffmpegPath } : {}),
        ...(o.spawn ? { spawn: o.spawn } : {}),
        ...(o.backoff ? { backoff: o.backoff } : {}),
        ...(o.closeGraceMs !== undefined ? { closeGraceMs: o.closeGraceMs } : {}),
        ...(o.onOutputStart ? { onOutputStart: o.onOutputStart } : {}),
      });
      if (!feed.carriesAnything()) {
        o.logger.warn('egress.nothing_to_carry', { output: d.kind, message: 'no track of this stream has a codec an MP4 output can carry (H.264, AAC, Opus, G.711)' });
        return;
      }
      this.feeds.push({ feed, destination: d });
      o.stream.addReader(`output-${i + 1}`, feed, feed.trackSet(), 'output');
    });
  }

  status(maskedUrl: (url: string) => string): OutputStatus[] {
    return this.feeds.map(({ feed, destination }) => {
      const s = feed.snapshot();
      if (feed.problem !== undefined) return { url: maskedUrl(destination.url), kind: destination.kind, state: 'failed' as const, restarts: 0, lastError: feed.problem };
      if (!s) return { url: maskedUrl(destination.url), kind: destination.kind, state: 'idle' as const, restarts: 0 };
      return {
        url: s.url,
        kind: s.kind,
        state: s.state,
        restarts: s.restarts,
        ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
        ...(s.retryInMs !== undefined ? { retryInMs: s.retryInMs } : {}),
      };
    });
  }

  close(): Promise<void> {
    this.closing ??= Promise.all(this.feeds.map(({ feed }) => feed.close())).then(() => undefined);
    return this.closing;
  }
}
