// The audio worklet's jitter buffer: one bounded ring of float32 samples per channel, written as decoded frames arrive
// and read one render quantum at a time. Pure (no Web Audio here; time is the count of frames read), so Node tests it;
// audio-worklet.ts drives it.
//
// Sound arrives in bursts: ffmpeg's RTP packetizer puts about 150 ms of AAC in one packet, a browser publisher sends
// 20 ms Opus frames with network jitter, and Chromium renders several quanta per device callback. The ring keeps just
// enough queued to ride over the gaps, and no more, since what is queued is heard that much later:
//
// - Start level: it starts (and starts again after an underrun) once the largest gap between writes seen lately, plus
//   a margin, is queued (at least `startFrames`): then the next write lands before the queue runs dry.
// - Underrun: a read with too little queued plays what there is, then silence (counted), and it fills again.
// - Trim (the live edge): over each window, the lowest the queue got is what was never needed; when that passes twice
//   the margin, the oldest sound is dropped down to the margin (counted). This undoes a burst after a stall and a
//   publisher clock that runs fast, in one jump per window rather than a tiny one per write.
// - Overflow: a write past `capacity` (the memory bound) drops the oldest down to the start level (counted).

export interface AudioRingCounters {
  /** Sample frames copied to the output (heard, unless muted downstream). */
  renderedFrames: number;
  /** Reads that ran out of samples while playing. */
  underruns: number;
  /** Writes that passed the capacity. */
  overflows: number;
  /** Windows whose lowest level was more than needed: the excess dropped. */
  trims: number;
  /** Sample frames dropped by overflows and trims. */
  droppedFrames: number;
}

export interface AudioRingOptions {
  /** The most sample frames queued per channel. */
  capacity: number;
  /** The least queued before playing starts; at most half the capacity. */
  startFrames: number;
  /** What the queue is kept at, at its lowest: room for jitter the gaps do not show. */
  marginFrames: number;
  /** How many frames of output the lowest level and the largest gap are measured over. */
  windowFrames: number;
}

export class AudioRing {
  readonly counters: AudioRingCounters = { renderedFrames: 0, underruns: 0, overflows: 0, trims: 0, droppedFrames: 0 };
  private readonly planes: Float32Array[];
  private readonly capacity: number;
  private readonly startFrames: number;
  private readonly margin: number;
  private readonly window: number;
  private readIndex = 0;
  private queued = 0;
  private state: 'filling' | 'playing' = 'filling';
  /** Frames read in this window. */
  private clock = 0;
  /** The lowest level after a read while playing, this window (0 after an underrun). */
  private lowest = Infinity;
  /** The largest gap between writes (frames read in between), this window and the one before. */
  private gapNow = 0;
  private gapBefore = 0;
  /** Frames read since the last write; undefined before the first write (or after clear()): no gap to measure. */
  private sinceWrite: number | undefined;

  constructor(
    readonly channels: number,
    options: AudioRingOptions,
  ) {
    if (!Number.isInteger(channels) || channels < 1) throw new RangeError(`an audio ring needs at least one channel, not ${channels}`);
    this.capacity = Math.floor(options.capacity);
    this.startFrames = Math.floor(options.startFrames);
    this.margin = Math.max(0, Math.floor(options.marginFrames));
    this.window = Math.max(1, Math.floor(options.windowFrames));
    if (!(this.capacity >= 2 && this.startFrames >= 0 && this.startFrames <= this.capacity / 2)) {
      throw new RangeError(`an audio ring's start level (${options.startFrames}) must be at most half its capacity (${options.capacity})`);
    }
    this.planes = Array.from({ length: channels }, () => new Float32Array(this.capacity));
  }

  /** Sample frames queued per channel. */
  get buffered(): number {
    return this.queued;
  }

  get playing(): boolean {
    return this.state === 'playing';
  }

  /** What must be queued before playing starts: the largest recent gap and the margin, within [startFrames, capacity/2]. */
  get startLevel(): number {
    return Math.min(Math.max(this.startFrames, Math.max(this.gapNow, this.gapBefore) + this.margin), Math.floor(this.capacity / 2));
  }

  /**
   * Queues one frame's samples, one array per channel, all of one length. A missing channel repeats the last one
   * given (mono into a stereo ring); extra channels are ignored.
   */
  write(input: readonly Float32Array[]): void {
    const last = input[input.length - 1];
    if (!last) return;
    if (this.sinceWrite !== undefined) this.gapNow = Math.max(this.gapNow, this.sinceWrite);
    this.sinceWrite = 0;
    const n = last.length;
    let skip = 0; // of the input's leading frames
    if (this.queued + n > this.capacity) {
      const drop = this.queued + n - this.startLevel; // > 0: startLevel ≤ capacity/2 < queued + n
      skip = drop - this.dropOldest(drop);
      this.counters.overflows++;
      this.counters.droppedFrames += drop;
    }
    const writeIndex = (this.readIndex + this.queued) % this.capacity;
    const count = n - skip;
    const first = Math.min(count, this.capacity - writeIndex);
    for (let c = 0; c < this.channels; c++) {
      const src = input[Math.min(c, input.length - 1)] ?? last;
      const plane = this.planes[c]!;
      plane.set(src.subarray(skip, skip + first), writeIndex);
      if (first < count) plane.set(src.subarray(skip + first, skip + count), 0);
    }
    this.queued += count;
  }

  /**
   * Fills every output array (one per output channel, all of one length) with what plays next, silence where there is
   * nothing to play. An output channel beyond the ring's repeats its last channel.
   */
  read(output: readonly Float32Array[]): void {
    const first = output[0];
    if (!first) return;
    const n = first.length;
    if (this.sinceWrite !== undefined) this.sinceWrite += n;
    if (this.state === 'filling' && this.queued > 0 && this.queued >= this.startLevel) this.state = 'playing';
    const count = this.state === 'playing' ? Math.min(n, this.queued) : 0;
    const head = Math.min(count, this.capacity - this.readIndex);
    for (let o = 0; o < output.length; o++) {
      const out = output[o]!;
      const plane = this.planes[Math.min(o, this.channels - 1)]!;
      out.set(plane.subarray(this.readIndex, this.readIndex + head), 0);
      if (head < count) out.set(plane.subarray(0, count - head), head);
      out.fill(0, count);
    }
    this.readIndex = (this.readIndex + count) % this.capacity;
    this.queued -= count;
    this.counters.renderedFrames += count;
    if (this.state === 'playing') {
      if (count < n) {
        this.counters.underruns++;
        this.state = 'filling';
        this.lowest = 0;
      } else {
        this.lowest = Math.min(this.lowest, this.queued);
      }
    }
    this.clock += n;
    if (this.clock >= this.window) this.endWindow();
  }

  /** Forgets what is queued (muted, paused) and fills again before playing; not an underrun. */
  clear(): void {
    this.readIndex = 0;
    this.queued = 0;
    this.state = 'filling';
    this.sinceWrite = undefined;
    this.lowest = Infinity;
  }

  private endWindow(): void {
    if (this.state === 'playing' && this.lowest !== Infinity && this.lowest > 2 * this.margin) {
      this.counters.droppedFrames += this.dropOldest(this.lowest - this.margin);
      this.counters.trims++;
    }
    this.clock = 0;
    this.lowest = Infinity;
    this.gapBefore = this.gapNow;
    this.gapNow = 0;
  }

  /** Drops up to `frames` of the oldest queued; returns how many. */
  private dropOldest(frames: number): number {
    const d = Math.min(frames, this.queued);
    this.readIndex = (this.readIndex + d) % this.capacity;
    this.queued -= d;
    return d;
  }
}
