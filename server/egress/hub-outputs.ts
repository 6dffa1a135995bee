// The configured destinations of every stream the hub carries, whatever its source (a browser page, an IP camera
// relayed by ffmpeg, GStreamer): each stream gets them, fed from the hub's units, from its first publish until it
// ends, through its grace periods.
import type { OutputStatus } from '../../shared/protocol.ts';
import type { Logger } from '../log.ts';
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
  private readonly byStream = new Map<Stream, StreamOutputs>();
  /** Outputs of ended streams, until their ffmpegs have exited. */
  private readonly retiring = new Set<Promise<void>>();
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(private readonly o: HubOutputsOptions) {
    this.unsubscribe = o.registry.on((e) => {
      if (e.type === 'stream-live') this.live(e.stream);
      else if (e.type === 'stream-ended') this.retire(e.stream);
    });
  }

  /** The outputs of stream NAME, masked, or undefined when the hub carries none for it. */
  statusOf(name: string): OutputStatus[] | undefined {
    for (const [stream, outputs] of this.byStream) if (stream.name === name) return outputs.status((url) => maskUrl(url, name));
    return undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    for (const stream of [...this.byStream.keys()]) this.retire(stream);
    await Promise.all(this.retiring);
  }

  private live(stream: Stream): void {
    // A publisher returning within the grace period continues into the outputs it had.
    if (this.closed || this.byStream.has(stream)) return;
    const destinations = this.o.destinations(stream.name);
    if (destinations.length === 0) return;
    this.byStream.set(stream, new StreamOutputs({
      stream,
      destinations,
      logger: this.o.logger.child({ stream: stream.name }),
      ...(this.o.onOutputStart ? { onOutputStart: () => this.o.onOutputStart?.(stream.name) } : {}),
      ...(this.o.ffmpegPath ? { ffmpegPath: this.o.ffmpegPath } : {}),
      ...(this.o.spawn ? { spawn: this.o.spawn } : {}),
      ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
      ...(this.o.closeGraceMs !== undefined ? { closeGraceMs: this.o.closeGraceMs } : {}),
    }));
  }

  private retire(stream: Stream): void {
    const outputs = this.byStream.get(stream);
    if (!outputs) return;
    this.byStream.delete(stream);
    const done = outputs.close().finally(() => this.retiring.delete(done));
    this.retiring.add(done);
  }
}
