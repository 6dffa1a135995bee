// GET /metrics: Prometheus collectors over what the relay already keeps. Nothing here counts on the media path; each
// scrape reads the streams' snapshots (per-stream aggregates the hub keeps as readers come and go), the outputs'
// status and the RTSP server's session counts, so a scrape costs the same with one player or ten thousand.
// One Registry per relay, never prom-client's global one: tests run several relays in one process.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { OutputStatus } from '../../shared/protocol.ts';
import type { Logger } from '../log.ts';
import { READER_PROTOCOLS, type ReaderProtocol } from '../stream/reader.ts';
import type { StreamSnapshot } from '../stream/stream.ts';
import { EventCounters } from './events.ts';

/** What the collectors read; main.ts wires it to the registry, the outputs and the RTSP server. */
export interface MetricsSources {
  streams(): StreamSnapshot[];
  /** A stream's outputs, masked (egress/hub-outputs.ts statusOf). */
  outputs(name: string): OutputStatus[] | undefined;
  rtspSessions(): { tcp: number; udp: number };
}

export class RelayMetrics {
  readonly registry = new Registry();
  private readonly events: EventCounters;
  /** Taken once per scrape (text()), read by every per-stream collector of that scrape. */
  private snapshots: StreamSnapshot[] = [];

  constructor(private readonly sources: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.events = new EventCounters(this.registry);

    const streams = (): StreamSnapshot[] => this.snapshots;

    /**
     * One metric family whose samples are read at each scrape. A counter is set by reset + inc (prom-client counters
     * only go up): the relay's own counts are the truth, and a stream that ends takes its series with it.
     */
    const family = <L extends string>(type: 'counter' | 'gauge', name: string, help: string, labelNames: readonly L[], samples: () => Iterable<[Record<L, string>, number]>): void => {
      const collect = (m: { reset(): void }, put: (labels: Record<L, string>, v: number) => void) => {
        m.reset();
        for (const [labels, v] of samples()) put(labels, v);
      };
      if (type === 'counter') new Counter<L>({ name, help, labelNames, registers, collect() { collect(this, (l, v) => this.inc(l, v)); } });
      else new Gauge<L>({ name, help, labelNames, registers, collect() { collect(this, (l, v) => this.set(l, v)); } });
    };
    const perStream = (value: (s: StreamSnapshot) => number) => () => streams().map((s): [Record<'stream', string>, number] => [{ stream: s.name }, value(s)]);
    const perProtocol = (value: (s: StreamSnapshot) => Record<ReaderProtocol, number>) => () =>
      streams().flatMap((s) => READER_PROTOCOLS.map((protocol): [Record<'stream' | 'protocol', string>, number] => [{ stream: s.name, protocol }, value(s)[protocol]]));

    family('counter', 'relaycast_stream_bytes_in_total', 'Bytes received from the stream\'s publishers (RTP packets, headers included), since the stream began.', ['stream'], perStream((s) => s.bytesIn));
    family('counter', 'relaycast_stream_frames_in_total', 'Units received from the stream\'s publishers (a video frame; an audio frame, or the frames of one RTP packet for AAC), since the stream began.', ['stream'], perStream((s) => s.framesIn));
    family('counter', 'relaycast_reader_skips_total', 'Times a reader of the stream fell behind and was skipped to the next keyframe.', ['stream'], perStream((s) => s.readerSkips));
    family('counter', 'relaycast_reader_drops_total', 'Readers of the stream disconnected for staying behind (too slow).', ['stream'], perStream((s) => s.readersDropped));
    family('gauge', 'relaycast_stream_ingest_bits_per_second', 'The stream\'s ingest rate over the last few seconds, bit/s.', ['stream'], perStream((s) => s.ingestKbps * 1000));
    family('counter', 'relaycast_stream_bytes_out_total', 'Bytes of media handed to the stream\'s readers, by protocol (rtsp, http, viewer, output = ffmpeg destinations), since the stream began.', ['stream', 'protocol'], perProtocol((s) => s.bytesOut));
    family('gauge', 'relaycast_stream_readers', 'Readers of the stream now, by protocol (players, and output = the server\'s own ffmpeg destinations).', ['stream', 'protocol'], perProtocol((s) => s.readersByProtocol));
    family('gauge', 'relaycast_publishers', 'Streams with a publisher now, by protocol (rtsp, websocket = a browser page).', ['protocol'], () => {
      const n = { rtsp: 0, websocket: 0 };
      for (const s of streams()) if (s.publisher) n[s.publisher.protocol]++;
      return Object.entries(n).map(([protocol, v]): [Record<'protocol', string>, number] => [{ protocol }, v]);
    });
    family('gauge', 'relaycast_rtsp_sessions', 'RTSP sessions open now (players and publishers), by lower transport.', ['transport'], () => {
      const n = sources.rtspSessions();
      return [[{ transport: 'tcp' }, n.tcp], [{ transport: 'udp' }, n.udp]];
    });

    // Outputs: labelled by their index in the stream's destinations and their masked URL (stream keys never appear).
    const perOutput = (value: (o: OutputStatus) => number) => () =>
      streams().flatMap((s) => (sources.outputs(s.name) ?? []).map((o, i): [Record<'stream' | 'index' | 'url', string>, number] => [{ stream: s.name, index: String(i), url: o.url }, value(o)]));
    family('gauge', 'relaycast_output_up', 'Whether the output\'s ffmpeg is running and sending (1) or not (0: starting, backing off after a failure, failed).', ['stream', 'index', 'url'], perOutput((o) => (o.state === 'running' ? 1 : 0)));
    family('counter', 'relaycast_output_restarts_total', 'Times the output\'s ffmpeg was started again after it exited.', ['stream', 'index', 'url'], perOutput((o) => o.restarts));
  }

  /** The relay's logger, counting refusals and authentication failures as they are logged (see events.ts). */
  tap(logger: Logger): Logger {
    return this.events.tap(logger);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One scrape: the exposition text. */
  text(): Promise<string> {
    this.snapshots = this.sources.streams();
    return this.registry.metrics();
  }
}
