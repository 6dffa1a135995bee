// The configured destinations of every stream the hub carries, whatever its source (a browser page, an IP camera
// relayed by ffmpeg, GStreamer): each path gets them as a part of it (stream/path.ts), fed from the hub's units, from
// its first publish until it ends, through its grace periods.
import type { OutputStatus } from '../../shared/protocol.ts';
import type { Logger } from '../log.ts';
import { PathParts } from '../stream/path.ts';
import type { StreamRegistry } from '../stream/registry.ts';
import type { Stream } from '../stream/stream.ts';
import { maskUrl } from './output-url.ts';
import { StreamOutputs, type Destination, type StreamOutputsOptions } from './stream-outputs.ts';

export interface HubOutputsOptions extends Pick<StreamOutputsOptions, 'ffmpegPath' | 'spawn' | 'backoff' | 'closeGraceMs'> {
  registry: StreamRegistry;
  destinations: (name: string) => Destination[];
  logger: Logger;
  /** An output of stream NAME is (re)starting its ffmpeg. */
  onOutputStart?: (name: string) => void;
}

export class HubOutputs {
  /** Each path's destinations are a part of it: made when it first goes live, closed when it ends. */
  private readonly parts: PathParts<StreamOutputs>;

  constructor(private readonly o: HubOutputsOptions) {
    this.parts = new PathParts(o.registry, 'outputs', {
      // A publisher returning within the grace period continues into the outputs it had (the path keeps them).
      make: (path) => this.outputsFor(path.stream),
    });
  }

  /** The outputs of stream NAME, masked, or undefined when the hub carries none for it. */
  statusOf(name: string): OutputStatus[] | undefined {
    return this.parts.of(name)?.status((url) => maskUrl(url, name));
  }

  /** No new outputs; every output is ended and its ffmpeg waited for. */
  close(): Promise<void> {
    return this.parts.close();
  }

  private outputsFor(stream: Stream): StreamOutputs | undefined {
    const destinations = this.o.destinations(stream.name);
    if (destinations.length === 0) return undefined;
    return new StreamOutputs({
      stream,
      destinations,
      logger: this.o.logger.child({ stream: stream.name }),
      ...(this.o.onOutputStart ? { onOutputStart: () => this.o.onOutputStart?.(stream.name) } : {}),
      ...(this.o.ffmpegPath ? { ffmpegPath: this.o.ffmpegPath } : {}),
      ...(this.o.spawn ? { spawn: this.o.spawn } : {}),
      ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
      ...(this.o.closeGraceMs !== undefined ? { closeGraceMs: this.o.closeGraceMs } : {}),
    });
  }
}
