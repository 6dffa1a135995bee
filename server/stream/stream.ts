// One live stream: the hub between its publisher and its readers (mediamtx's stream/ in spirit).
// It re-stamps packets so readers see one continuous RTP stream even across a publisher reconnect, groups packets
// into access units, keeps the group since the last keyframe for instant start, and fans units out with a bounded
// queue per reader. No sockets here: readers are ReaderSinks.
import type { Logger } from '../log.ts';
import { parseRtpHeader, parseRtpHeaderInto, setSequenceNumber, setSsrc, setTimestamp, type RtpHeader } from '../protocols/rtp/packet.ts';
import { rewriteSenderReport } from '../protocols/rtp/rtcp.ts';
import { codecOf, type CodecInfo, type MediaDescription, type SessionDescription } from '../protocols/rtsp/sdp.ts';
import { AccessUnitAssembler, keyframeRuleFor, LazyUnit, type AccessUnit, type KeyframeRule } from './access-unit.ts';
import { RateMeter } from './rate.ts';
import { sampleCodecOf, StreamTimeline, TrackSamples, type Sample, type SampleCodec, type SampleConfig } from './samples.ts';
import { DEFAULT_READER_POLICY, Reader, READER_PROTOCOLS, type ReaderPolicy, type ReaderProtocol, type ReaderSink } from './reader.ts';

export interface PublisherInfo {
  protocol: 'rtsp' | 'websocket';
  transport: 'tcp' | 'udp';
  remote: string;
  session: string;
  since: number;
}

export interface StreamTrack {
  index: number;
  media: MediaDescription;
  codec: CodecInfo;
  rule: KeyframeRule | 'none';
}

interface TrackClock {
  /** SSRC readers see, fixed for the life of the stream. */
  ssrc: number;
  /** Offsets from the current publisher's numbering to ours; computed on its first packet. */
  seqOffset: number;
  tsOffset: number;
  primed: boolean;
  lastSeq: number;
  lastTs: number;
  lastAt: number;
  lastSr?: Uint8Array;
}

export type StreamState = 'live' | 'waiting' | 'ended';

/** A whole access unit as a source that has it so gives it (Stream.onUnit). */
export interface SourceUnit {
  /** The publisher's RTP sequence number of its first packet, and its RTP time. */
  seq: number;
  timestamp: number;
  /** How many RTP packets it makes, and their bytes, headers included. */
  packetCount: number;
  bytes: number;
  keyframe: boolean;
  /** The sample in the hub's sample form, when the source has it so. */
  sample?: Uint8Array;
  /** Its RTP packets with the hub's numbers, each behind 4 bytes of header room, one after another in one buffer. */
  packetize(seq: number, timestamp: number, ssrc: number): Uint8Array[];
}

export interface StreamOptions {
  name: string;
  sdp: SessionDescription;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  policy?: ReaderPolicy;
  /** Bound of the keyframe-group cache; beyond it the cache is dropped until the next keyframe. */
  maxGopBytes?: number;
  /** Told when the cache overflowed (a keyframe interval longer than the bound): the publisher may be asked for one. */
  onGopOverflow?: (stream: Stream) => void;
}

export interface StreamSnapshot {
  name: string;
  state: StreamState;
  since: number;
  publisher: PublisherInfo | undefined;
  tracks: Array<{ kind: string; codec: string; clockRate: number; channels?: number }>;
  readers: number;
  ingestKbps: number;
  bytesIn: number;
  gopUnits: number;
  readerSkips: number;
  readersDropped: number;
  /** Access units (video frames, audio frames) from the publishers, since the stream began. */
  framesIn: number;
  /** Bytes of units handed to readers, by protocol, since the stream began. */
  bytesOut: Record<ReaderProtocol, number>;
  /** Readers now (players and outputs), by protocol. */
  readersByProtocol: Record<ReaderProtocol, number>;
}

function perProtocol(): Record<ReaderProtocol, number> {
  return Object.fromEntries(READER_PROTOCOLS.map((p) => [p, 0])) as Record<ReaderProtocol, number>;
}

const DEFAULT_MAX_GOP_BYTES = 16 * 1024 * 1024;

export class Stream {
  readonly name: string;
  /** The current publisher's description (a returning publisher with the same codecs may bring new parameter sets). */
  sdp: SessionDescription;
  /** How the current (or, in the grace period, the last) publisher reached us. */
  source: PublisherInfo['protocol'] | undefined;
  readonly tracks: StreamTrack[];
  readonly since: number;
  state: StreamState = 'waiting';
  publisher: PublisherInfo | undefined;

  private readonly clocks: TrackClock[];
  private readonly assemblers: AccessUnitAssembler[];
  /** The track whose keyframes start a group; undefined when no track has keyframe awareness. */
  private readonly keyTrack: number | undefined;
  private gop: AccessUnit[] = [];
  private gopBytes = 0;
  private readonly maxGopBytes: number;
  private readonly onGopOverflow: ((stream: Stream) => void) | undefined;
  private readonly readers = new Set<Reader>();
  private readonly meter: RateMeter;
  /** Per track: the bit rate GET /api/streams/NAME gives each stream as ffprobe's bit_rate. */
  private readonly trackMeters: RateMeter[];
  private readonly videoUnits: RateMeter;
  private readonly videoTrack: number | undefined;
  private readonly now: () => number;
  private readonly policy: ReaderPolicy;
  private readonly logger: Logger;
  private bytesIn = 0;
  private framesIn = 0;
  /** Units taken so far, every track: each unit's order (fragments' sequence numbers). */
  private unitOrder = 0;
  // Kept as readers come, go and are sent to, so /metrics reads them without walking the readers.
  private readonly bytesOut = perProtocol();
  private readonly readersByProtocol = perProtocol();
  private playerCount = 0;
  /** Reused for every packet: parsing allocates nothing on the ingest path. */
  private readonly header: RtpHeader = { marker: false, payloadType: 0, sequenceNumber: 0, timestamp: 0, ssrc: 0, payloadOffset: 0, payloadLength: 0 };
  private readerSkips = 0;
  private readersDropped = 0;
  /** Per track, made on the first frame reader's first use: depacketizing state (see samples.ts). */
  private samplers: Array<TrackSamples | undefined> | undefined;

  constructor(o: StreamOptions) {
    this.name = o.name;
    this.sdp = o.sdp;
    this.logger = o.logger;
    this.now = o.now ?? Date.now;
    this.policy = o.policy ?? DEFAULT_READER_POLICY;
    this.maxGopBytes = o.maxGopBytes ?? DEFAULT_MAX_GOP_BYTES;
    this.onGopOverflow = o.onGopOverflow;
    this.since = this.now();
    this.meter = new RateMeter(this.now);
    this.videoUnits = new RateMeter(this.now);
    const random = o.random ?? Math.random;
    this.tracks = o.sdp.media.map((media, index) => {
      const codec = codecOf(media);
      return { index, media, codec, rule: keyframeRuleFor(codec.codec, codec.kind) };
    });
    this.clocks = this.tracks.map(() => ({
      ssrc: Math.floor(random() * 0x100000000) >>> 0,
      seqOffset: 0,
      tsOffset: 0,
      primed: false,
      lastSeq: 0,
      lastTs: 0,
      lastAt: 0,
    }));
    this.trackMeters = this.tracks.map(() => new RateMeter(this.now));
    this.assemblers = this.tracks.map((t) => new AccessUnitAssembler(t.index, t.rule, (u) => this.dispatch(u)));
    this.keyTrack = this.tracks.find((t) => t.rule === 'h264' || t.rule === 'h265')?.index;
    this.videoTrack = this.tracks.find((t) => t.codec.kind === 'video')?.index;
  }

  /** A publisher (new, or returning within the grace period with the same codecs) takes the stream. */
  attachPublisher(p: PublisherInfo, sdp: SessionDescription = this.sdp): void {
    this.publisher = p;
    this.source = p.protocol;
    if (sdp !== this.sdp) {
      this.sdp = sdp;
      // Same codecs (the registry checked), maybe other parameter sets: frame readers get a new configuration.
      sdp.media.forEach((m, i) => this.samplers?.[i]?.updateMedia(m));
    }
    this.state = 'live';
    for (const c of this.clocks) c.primed = false;
    // Another encoder: its first frames may refer to pictures the last one made.
    for (const s of this.samplers ?? []) s?.discontinuity();
  }

  detachPublisher(): void {
    // A unit still being assembled never got its last packet: frame readers must not decode it.
    for (const a of this.assemblers) a.flush(true);
    this.publisher = undefined;
    if (this.state === 'live') this.state = 'waiting';
    // The cached group belongs to the old numbering; a returning publisher starts a new one at its first keyframe.
    this.gop = [];
    this.gopBytes = 0;
  }

  /**
   * An RTP packet from the publisher for a track. The buffer is ours: it is re-stamped in place. `headroom`: the 4 bytes
   * before the packet in its buffer are ours too, so a unit of packets laid out one after another can be framed for
   * RTSP interleaved delivery in place (see framedFor).
   */
  onRtp(track: number, packet: Uint8Array, headroom = false, sample?: Uint8Array): void {
    const clock = this.clocks[track];
    const assembler = this.assemblers[track];
    if (!clock || !assembler) return;
    const h = this.header;
    if (!parseRtpHeaderInto(packet, h)) return;
    const now = this.now();
    if (!clock.primed) this.prime(track, clock, h.sequenceNumber, h.timestamp, now);
    const seq = (h.sequenceNumber + clock.seqOffset) & 0xffff;
    const ts = (h.timestamp + clock.tsOffset) >>> 0;
    setSequenceNumber(packet, seq);
    setTimestamp(packet, ts);
    setSsrc(packet, clock.ssrc);
    clock.lastSeq = seq;
    clock.lastTs = ts;
    clock.lastAt = now;
    this.countIn(track, packet.length);
    h.sequenceNumber = seq;
    h.timestamp = ts;
    h.ssrc = clock.ssrc;
    assembler.push(packet, h, headroom, now, sample);
  }

  /**
   * A whole access unit from a source that has it so (the relay feed), with its RTP numbering in the publisher's
   * terms, as onRtp would get its packets; the packets are made only if a reader asks (see LazyUnit).
   */
  onUnit(track: number, u: SourceUnit): void {
    const clock = this.clocks[track];
    const assembler = this.assemblers[track];
    if (!clock || !assembler || u.packetCount === 0) return;
    const now = this.now();
    if (!clock.primed) this.prime(track, clock, u.seq, u.timestamp, now);
    const seq = (u.seq + clock.seqOffset) & 0xffff;
    const ts = (u.timestamp + clock.tsOffset) >>> 0;
    const ssrc = clock.ssrc;
    clock.lastSeq = (seq + u.packetCount - 1) & 0xffff;
    clock.lastTs = ts;
    clock.lastAt = now;
    this.countIn(track, u.bytes);
    const index = assembler.takeWhole(clock.lastSeq + 1);
    this.dispatch(new LazyUnit(track, index, ts, now, u.keyframe, u.bytes, u.sample, () => u.packetize(seq, ts, ssrc)));
  }

  /** What the publisher sent: the stream's and the track's ingest figures. */
  private countIn(track: number, bytes: number): void {
    this.bytesIn += bytes;
    this.meter.add(bytes);
    this.trackMeters[track]?.add(bytes);
  }

  /**
   * Runs `feed`, which hands this stream packets (onRtp/onRtcp), with every reader's sink held: what it sends one reader
   * leaves in one write. A publisher that has a batch at once (the relay feed, with a fragment's samples) uses it.
   */
  together(feed: () => void): void {
    const held = [...this.readers];
    for (const r of held) r.sink.hold?.();
    try {
      feed();
    } finally {
      for (const r of held) r.sink.release?.();
    }
  }

  /** An RTCP packet from the publisher: sender reports are re-stamped and forwarded for audio/video sync. */
  onRtcp(track: number, packet: Uint8Array): void {
    const clock = this.clocks[track];
    // A returning publisher's offsets are known only from its first RTP packet, so its SR waits for it. A first
    // publisher's offsets are 0 from the start: take its SR at once, as ffmpeg sends its first one just before its
    // first RTP packet and the next only 5 s later (libavformat/rtpenc.c).
    if (!clock || (!clock.primed && clock.lastAt !== 0)) return;
    const sr = rewriteSenderReport(packet, clock.ssrc, (ts) => (ts + clock.tsOffset) >>> 0);
    if (!sr) return;
    clock.lastSr = sr;
    for (const r of this.readers) if (r.tracks.has(track) && !r.paused) r.sink.sendRtcp(track, sr);
  }

  private prime(track: number, clock: TrackClock, seq: number, ts: number, now: number): void {
    if (clock.lastAt !== 0) {
      // A returning publisher: continue our numbering where the last one stopped, advancing the clock by the gap,
      // so readers see a pause, not a jump back in time (RFC 3550 §5.1: timestamps are monotonic per SSRC).
      const rate = this.tracks[track]?.codec.clockRate ?? 90000;
      const gap = Math.max(1, Math.round(((now - clock.lastAt) * rate) / 1000));
      clock.seqOffset = (clock.lastSeq + 1 - seq) & 0xffff;
      clock.tsOffset = (clock.lastTs + gap - ts) >>> 0;
      // Its own clock may have started again at 0 (a reloaded page): what readers and outputs see follows on.
      this.logger.info('timeline-rebased', { track, awayMs: now - clock.lastAt });
    }
    clock.primed = true;
  }

  private dispatch(unit: AccessUnit): void {
    unit.order = ++this.unitOrder;
    this.cache(unit);
    this.framesIn++;
    if (unit.track === this.videoTrack) this.videoUnits.add(1);
    const now = this.now();
    for (const r of this.readers) {
      if (!r.tracks.has(unit.track) || r.paused) continue;
      const sink = r.sink;
      if (r.skipping) {
        if (sink.backlog() > 0 || !this.resumesAt(r, unit)) {
          r.stats.droppedUnits++;
          // Only a reader that fell behind is dropped; one waiting for a keyframe waits for the publisher.
          if (r.behindSince !== undefined && now - r.behindSince > this.policy.maxBehindMs) this.drop(r);
          continue;
        }
        r.skipping = false;
        r.behindSince = undefined;
      }
      // The bound grows with the cached group so the burst a new reader starts with does not count as lagging.
      if (sink.backlog() > Math.max(this.policy.skipBacklogBytes, 2 * this.gopBytes)) {
        r.skipping = true;
        r.behindSince = now;
        r.stats.skips++;
        r.stats.droppedUnits++;
        this.readerSkips++;
        this.logger.info('reader-behind', { reader: r.id, backlog: sink.backlog() });
        continue;
      }
      this.send(r, unit);
    }
  }

  private send(r: Reader, unit: AccessUnit): void {
    r.sink.sendUnit(unit);
    r.stats.units++;
    r.stats.bytes += unit.bytes;
    this.bytesOut[r.protocol] += unit.bytes;
  }

  /** Whether a reader may start on this unit: a keyframe of the keyframe-aware track, or any unit for a reader without one. */
  private resumesAt(r: Reader, unit: AccessUnit): boolean {
    return !this.waitsForKeyframes(r) || (unit.track === this.keyTrack && unit.keyframe);
  }

  /**
   * A reader of the keyframe-aware track starts and resumes on its keyframes. Without one (audio only, video we cannot
   * parse, or a player that set up only the audio of an A/V stream) any unit will do.
   */
  private waitsForKeyframes(r: Reader): boolean {
    return this.keyTrack !== undefined && r.tracks.has(this.keyTrack);
  }

  private cache(unit: AccessUnit): void {
    if (this.keyTrack === undefined) return;
    if (unit.track === this.keyTrack && unit.keyframe) {
      this.gop = [unit];
      this.gopBytes = unit.bytes;
      return;
    }
    if (this.gop.length === 0) return;
    if (this.gopBytes + unit.bytes > this.maxGopBytes) {
      this.logger.warn('gop-cache-overflow', { bytes: this.gopBytes, limit: this.maxGopBytes });
      this.gop = [];
      this.gopBytes = 0;
      this.onGopOverflow?.(this);
      return;
    }
    this.gop.push(unit);
    this.gopBytes += unit.bytes;
  }

  private drop(r: Reader): void {
    this.forget(r);
    this.readersDropped++;
    this.logger.warn('reader-dropped', { reader: r.id, reason: 'too-slow', behindMs: this.now() - (r.behindSince ?? this.now()) });
    r.sink.end('too-slow');
  }

  /**
   * Sequence number and RTP time of the first packet a reader starting now receives on a track (RTSP RTP-Info,
   * RFC 2326 §12.33): the start of the cached group, or the next live packet.
   */
  rtpInfo(track: number): { seq: number; rtptime: number } | undefined {
    for (const u of this.gop) {
      const first = u.track === track ? u.packets[0] : undefined;
      const h = first && parseRtpHeader(first);
      if (h) return { seq: h.sequenceNumber, rtptime: h.timestamp };
    }
    const c = this.clocks[track];
    if (!c || c.lastAt === 0) return undefined;
    const rate = this.tracks[track]?.codec.clockRate ?? 90000;
    return { seq: (c.lastSeq + 1) & 0xffff, rtptime: (c.lastTs + Math.round(((this.now() - c.lastAt) * rate) / 1000)) >>> 0 };
  }

  /** The samples of a unit of this stream (made once; see samples.ts), or null when it has none to give. */
  samplesOf(unit: AccessUnit): readonly Sample[] | null {
    return this.sampler(unit.track)?.samplesOf(unit) ?? null;
  }

  /** A track's codec when frame readers can carry it (see samples.ts). */
  sampleCodec(track: number): SampleCodec | undefined {
    return this.sampler(track)?.codec;
  }

  /** A track's sample configuration, once known; undefined for a codec frame readers cannot carry. */
  sampleConfig(track: number): SampleConfig | undefined {
    return this.sampler(track)?.sampleConfig();
  }

  /** Why the track's last unit gave no samples (for logs and the API). */
  sampleProblem(track: number): string | undefined {
    return this.sampler(track)?.lastProblem;
  }

  /** The cached keyframe group: what a frame reader that (re)starts now begins with. */
  cachedGroup(): readonly AccessUnit[] {
    return this.gop;
  }

  private sampler(track: number): TrackSamples | undefined {
    if (!this.samplers) {
      const timeline = new StreamTimeline({ since: this.since, senderReport: (t) => this.clocks[t]?.lastSr }, this.tracks.length);
      this.samplers = this.tracks.map((t) => {
        const codec = sampleCodecOf(t.codec);
        return codec ? new TrackSamples(t.index, codec, t.media, t.codec, timeline) : undefined;
      });
    }
    return this.samplers[track];
  }

  ssrcOf(track: number): number | undefined {
    return this.clocks[track]?.ssrc;
  }

  /** Start a reader: it gets the last sender reports and the cached keyframe group at once, then live units. */
  addReader(id: string, sink: ReaderSink, tracks: ReadonlySet<number>, kind: 'player' | 'output' = 'player'): Reader {
    const r = new Reader(id, sink, tracks, kind, this.now());
    this.readers.add(r);
    this.readersByProtocol[r.protocol]++;
    if (r.kind === 'player') this.playerCount++;
    this.startReader(r);
    return r;
  }

  private startReader(r: Reader): void {
    r.paused = false;
    r.skipping = false;
    r.behindSince = undefined;
    this.clocks.forEach((c, track) => {
      if (c.lastSr && r.tracks.has(track)) r.sink.sendRtcp(track, c.lastSr);
    });
    if (this.gop.length > 0) {
      for (const u of this.gop) if (r.tracks.has(u.track)) this.send(r, u);
    } else if (this.waitsForKeyframes(r)) {
      // Nothing cached yet (publisher just started): wait for the first keyframe rather than send undecodable frames.
      r.skipping = true;
    }
  }

  /** PAUSE stops delivery; PLAY again resumes at the next keyframe (RFC 2326 §10.6). */
  pauseReader(r: Reader): void {
    r.paused = true;
  }

  resumeReader(r: Reader): void {
    r.paused = false;
    r.skipping = this.waitsForKeyframes(r);
    r.behindSince = undefined;
  }

  removeReader(r: Reader): void {
    this.forget(r);
  }

  private forget(r: Reader): void {
    if (!this.readers.delete(r)) return;
    this.readersByProtocol[r.protocol]--;
    if (r.kind === 'player') this.playerCount--;
  }

  /** The players reading now (for GET /api/streams/NAME; outputs are listed as outputs). */
  players(): Reader[] {
    return [...this.readers].filter((r) => r.kind === 'player');
  }

  /** End one player (DELETE /api/readers/ID): its sink closes as when the stream ends. False when it is not here. */
  endPlayer(id: string): boolean {
    for (const r of this.readers) {
      if (r.id !== id || r.kind !== 'player') continue;
      this.forget(r);
      this.logger.info('reader-removed', { reader: id });
      r.sink.end('removed');
      return true;
    }
    return false;
  }

  /** Players (of every protocol; kept as they come and go): what --max-clients and --max-bandwidth count. */
  readerCount(): number {
    return this.playerCount;
  }

  /** Whether anything reads the stream (players or outputs): then a publisher that leaves gets its grace period. */
  hasReaders(): boolean {
    return this.readers.size > 0;
  }

  /** The stream is over: every reader is ended (the RTSP layer sends RTCP BYE and closes). */
  end(reason: 'stream-ended' | 'codecs-changed' = 'stream-ended'): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    this.publisher = undefined;
    const readers = [...this.readers];
    this.readers.clear();
    for (const p of READER_PROTOCOLS) this.readersByProtocol[p] = 0;
    this.playerCount = 0;
    this.gop = [];
    this.gopBytes = 0;
    for (const r of readers) r.sink.end(reason);
  }

  /** Video frames per second arriving from the publisher, over the last few seconds. */
  videoFps(): number {
    return Math.round(this.videoUnits.perSecond());
  }

  ingestKbps(): number {
    return this.meter.kbps();
  }

  /** One track's share of the ingest, kbit/s (RTP packets, headers included). */
  trackKbps(track: number): number {
    return this.trackMeters[track]?.kbps() ?? 0;
  }

  snapshot(): StreamSnapshot {
    return {
      name: this.name,
      state: this.state,
      since: this.since,
      publisher: this.publisher,
      tracks: this.tracks.map((t) => ({
        kind: t.codec.kind,
        codec: t.codec.codec,
        clockRate: t.codec.clockRate,
        ...(t.codec.channels !== undefined ? { channels: t.codec.channels } : {}),
      })),
      readers: this.readerCount(),
      ingestKbps: Math.round(this.meter.kbps()),
      bytesIn: this.bytesIn,
      gopUnits: this.gop.length,
      readerSkips: this.readerSkips,
      readersDropped: this.readersDropped,
      framesIn: this.framesIn,
      bytesOut: { ...this.bytesOut },
      readersByProtocol: { ...this.readersByProtocol },
    };
  }
}
