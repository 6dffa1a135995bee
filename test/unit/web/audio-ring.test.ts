// The viewer's audio worklet, its pure parts: the bounded jitter buffer (web/view/audio-ring.ts), the resampler for a
// stream whose rate is not the context's (web/view/resampler.ts), and the checks on what crosses the worklet's port
// (web/view/audio-worklet-messages.ts). The worklet itself (audio-worklet.ts) is played in test/e2e/viewer.test.ts.
import { describe, expect, it } from 'vitest';
import { AudioRing, type AudioRingOptions } from '../../../web/view/audio-ring.ts';
import { parseToWorklet, parseWorkletReport } from '../../../web/view/audio-worklet-messages.ts';
import { LinearResampler } from '../../../web/view/resampler.ts';

/** `n` frames counting up from `from` (so what comes out says where it came from), `channels` times; channel c + c·1000. */
function frames(from: number, n: number, channels = 1): Float32Array[] {
  return Array.from({ length: channels }, (_, c) => Float32Array.from({ length: n }, (_, i) => from + i + c * 1000));
}

/** One render quantum of `n` frames read from `ring` into `channels` outputs. */
function quantum(ring: AudioRing, n: number, channels = 1): number[][] {
  const out = Array.from({ length: channels }, () => new Float32Array(n).fill(-1));
  ring.read(out);
  return out.map((o) => [...o]);
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** A ring whose start level and trims do not adapt (no margin, a window longer than any test), unless asked. */
function fixedRing(channels: number, options: Partial<AudioRingOptions> & { capacity: number; startFrames: number }): AudioRing {
  return new AudioRing(channels, { marginFrames: 0, windowFrames: 1e9, ...options });
}

/**
 * Plays `quanta` render quanta of 8 frames from `ring`, writing first whatever `arrivals(t)` says arrives at output
 * frame t (chunk sizes); returns the queued level after each quantum.
 */
function run(ring: AudioRing, quanta: number, arrivals: (t: number) => number[], from = { t: 0, next: 0 }): number[] {
  const levels: number[] = [];
  for (let q = 0; q < quanta; q++) {
    for (const n of arrivals(from.t)) {
      ring.write(frames(from.next, n));
      from.next += n;
    }
    ring.read([new Float32Array(8)]);
    from.t += 8;
    levels.push(ring.buffered);
  }
  return levels;
}

describe('AudioRing', () => {
  it('plays nothing until the start level is queued, then plays in order across the wrap', () => {
    const ring = fixedRing(1, { capacity: 10, startFrames: 4 });
    ring.write(frames(0, 3));
    expect(quantum(ring, 2)).toEqual([[0, 0]]); // 3 < 4: still filling, silence, no underrun
    expect(ring.playing).toBe(false);
    ring.write(frames(3, 3));
    expect(quantum(ring, 4)).toEqual([range(0, 4)]);
    ring.write(frames(6, 6)); // 8 queued, written across the end of the 10-frame store
    expect(ring.buffered).toBe(8);
    expect(quantum(ring, 5)).toEqual([range(4, 5)]);
    expect(quantum(ring, 3)).toEqual([range(9, 3)]);
    expect(ring.counters).toEqual({ renderedFrames: 12, underruns: 0, overflows: 0, trims: 0, droppedFrames: 0 });
  });

  it('on an underrun plays what it has, then silence, counts it once, and waits for as much as the gap it saw', () => {
    const ring = fixedRing(1, { capacity: 32, startFrames: 4 });
    ring.write(frames(1, 6));
    expect(quantum(ring, 4)).toEqual([[1, 2, 3, 4]]);
    expect(quantum(ring, 4)).toEqual([[5, 6, 0, 0]]);
    expect(ring.counters.underruns).toBe(1);
    expect(quantum(ring, 4)).toEqual([[0, 0, 0, 0]]); // filling: not another underrun
    ring.write(frames(10, 3)); // 12 frames after the last write: it now waits for 12 queued
    expect(ring.startLevel).toBe(12);
    expect(quantum(ring, 4)).toEqual([[0, 0, 0, 0]]);
    ring.write(frames(13, 9));
    expect(quantum(ring, 2)).toEqual([[10, 11]]);
    expect(ring.counters).toMatchObject({ underruns: 1, renderedFrames: 8 });
  });

  it('never holds more than its capacity: an overflow drops the oldest down to the start level and counts it', () => {
    const ring = fixedRing(1, { capacity: 8, startFrames: 3 });
    ring.write(frames(0, 6));
    ring.write(frames(6, 4)); // 10 > 8: keep the newest 3
    expect(ring.buffered).toBe(3);
    expect(ring.counters).toMatchObject({ overflows: 1, droppedFrames: 7 });
    expect(quantum(ring, 3)).toEqual([[7, 8, 9]]);
    // One write bigger than the store keeps its own newest frames only.
    ring.write(frames(100, 20));
    expect(ring.buffered).toBe(3);
    expect(quantum(ring, 3)).toEqual([[117, 118, 119]]);
    expect(ring.counters).toMatchObject({ overflows: 2, droppedFrames: 24, underruns: 0 });
    // Many writes without a read (a context that stopped rendering) stay bounded.
    for (let i = 0; i < 100; i++) ring.write(frames(i * 5, 5));
    expect(ring.buffered).toBeLessThanOrEqual(8);
  });

  it('keeps channels apart, repeats a mono stream into both outputs, and plays the first channels into fewer', () => {
    const stereo = fixedRing(2, { capacity: 8, startFrames: 0 });
    stereo.write(frames(0, 2, 2));
    expect(quantum(stereo, 2, 2)).toEqual([[0, 1], [1000, 1001]]);
    stereo.write(frames(5, 2, 2));
    expect(quantum(stereo, 2, 1)).toEqual([[5, 6]]);
    const mono = fixedRing(1, { capacity: 8, startFrames: 0 });
    mono.write(frames(0, 2));
    expect(quantum(mono, 2, 2)).toEqual([[0, 1], [0, 1]]);
    // A mono frame into a stereo ring: both channels.
    stereo.write(frames(7, 2, 1));
    expect(quantum(stereo, 2, 2)).toEqual([[7, 8], [7, 8]]);
  });

  it('clear() forgets what is queued without calling it an underrun', () => {
    const ring = fixedRing(1, { capacity: 8, startFrames: 2 });
    ring.write(frames(0, 4));
    quantum(ring, 1);
    ring.clear();
    expect(ring.buffered).toBe(0);
    expect(quantum(ring, 2)).toEqual([[0, 0]]);
    expect(ring.counters.underruns).toBe(0);
    expect(ring.playing).toBe(false);
  });

  it('plays bursty arrivals (ffmpeg: ~150 ms of AAC per RTP packet) without gaps once it has seen a burst', () => {
    // Six 24-frame chunks at once, every 144 frames of output give or take 8 (bursts k at 144k + 8·(k mod 3)).
    const burstAt = new Set(Array.from({ length: 100 }, (_, k) => 144 * k + 8 * (k % 3)));
    const bursts = (t: number): number[] => (burstAt.has(t) ? [24, 24, 24, 24, 24, 24] : []);
    const ring = new AudioRing(1, { capacity: 1000, startFrames: 16, marginFrames: 8, windowFrames: 576 });
    const clock = { t: 0, next: 0 };
    run(ring, 18 * 8, bursts, clock); // to learn the gap
    const settled = { ...ring.counters };
    const levels = run(ring, 18 * 60, bursts, clock);
    expect(ring.counters.underruns).toBe(settled.underruns);
    expect(ring.counters.renderedFrames - settled.renderedFrames).toBe(18 * 60 * 8); // every frame of output is sound
    // …and no more queued than the bursts need: at its lowest about the margin, at most a burst and the jitter above.
    expect(Math.min(...levels)).toBeLessThanOrEqual(2 * 8);
    expect(Math.max(...levels)).toBeLessThanOrEqual(144 + 16 + 2 * 8);
    // It ran dry before the first late burst (started on 16 frames, as it knew no gap yet), and learnt from that.
    expect(settled.underruns).toBe(1);
  });

  it('trims back to the margin when more is queued than the arrivals need (a burst after a stall), once per window', () => {
    const ring = new AudioRing(1, { capacity: 1000, startFrames: 16, marginFrames: 8, windowFrames: 160 });
    const steady = (t: number): number[] => (t % 16 === 0 ? [16] : []);
    const clock = { t: 0, next: 0 };
    run(ring, 60, steady, clock);
    expect(ring.counters.underruns).toBe(0);
    const low = Math.min(...run(ring, 20, steady, clock));
    expect(low).toBeLessThanOrEqual(2 * 8);
    // 200 frames at once on top of the steady flow: heard 200 frames late until the next window ends.
    ring.write(frames(clock.next, 200));
    clock.next += 200;
    const after = run(ring, 40, steady, clock);
    expect(ring.counters.trims).toBeGreaterThanOrEqual(1);
    expect(Math.max(...after.slice(-20))).toBeLessThanOrEqual(8 + 16 + 8);
    expect(ring.counters.underruns).toBe(0);
    // What was dropped is the oldest: the sound continues from a later frame, in order.
    const out = new Float32Array(8);
    ring.read([out]);
    expect(out[1]! - out[0]!).toBe(1);
  });

  it('refuses a ring with no channels or a start level over half its capacity', () => {
    expect(() => new AudioRing(0, { capacity: 8, startFrames: 0, marginFrames: 0, windowFrames: 8 })).toThrow(/at least one channel/);
    expect(() => new AudioRing(1, { capacity: 8, startFrames: 5, marginFrames: 0, windowFrames: 8 })).toThrow(/half its capacity/);
  });
});

describe('LinearResampler', () => {
  it('passes a signal through unchanged at the same rate', () => {
    const r = new LinearResampler(48_000, 48_000, 1);
    expect([...r.process(frames(0, 5))[0]!]).toEqual(range(0, 5));
    expect([...r.process(frames(5, 5))[0]!]).toEqual(range(5, 5));
  });

  it('turns 44.1 kHz frames into 48 kHz ones with the right count over time, continuous across frame edges', () => {
    const r = new LinearResampler(44_100, 48_000, 2);
    const left: number[] = [];
    let channelsApart = 0;
    for (let i = 0; i < 100; i++) {
      const [l, r2] = r.process(frames(i * 1024, 1024, 2));
      left.push(...l!);
      l!.forEach((v, k) => (channelsApart = Math.max(channelsApart, Math.abs(r2![k]! - v - 1000))));
    }
    expect(Math.abs(left.length - (100 * 1024 * 48_000) / 44_100)).toBeLessThanOrEqual(1);
    expect(channelsApart).toBeLessThan(0.02); // float32 keeps ~0.01 at 100,000
    // A ramp stays a ramp: every step is 44.1/48 of an input sample (a sample repeated or skipped at a frame edge
    // would show here).
    let worstStep = 0;
    for (let i = 1; i < left.length; i++) worstStep = Math.max(worstStep, Math.abs(left[i]! - left[i - 1]! - 44_100 / 48_000));
    expect(worstStep).toBeLessThan(0.02);
  });

  it('turns 48 kHz into 16 kHz (every third sample of a ramp)', () => {
    const r = new LinearResampler(48_000, 16_000, 1);
    expect([...r.process(frames(0, 960))[0]!]).toEqual(range(0, 320).map((i) => i * 3));
    expect(r.process(frames(960, 960))[0]![0]).toBe(960);
  });
});

describe('audio worklet messages', () => {
  it('takes audio (planar float32, one length) and clear, and nothing else', () => {
    const planes = frames(0, 4, 2);
    expect(parseToWorklet({ type: 'audio', sampleRate: 48_000, planes })).toEqual({ type: 'audio', sampleRate: 48_000, planes });
    expect(parseToWorklet({ type: 'clear' })).toEqual({ type: 'clear' });
    for (const bad of [
      null,
      'audio',
      { type: 'audio', sampleRate: 0, planes },
      { type: 'audio', sampleRate: 48_000, planes: [] },
      { type: 'audio', sampleRate: 48_000, planes: [new Float32Array(4), new Float32Array(3)] },
      { type: 'audio', sampleRate: 48_000, planes: [[0, 1]] },
      { type: 'play' },
    ]) {
      expect(parseToWorklet(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('takes a report with every count, and none with a count missing or negative', () => {
    const report = { type: 'report', sampleRate: 48_000, bufferedFrames: 2880, renderedFrames: 96_000, underruns: 1, overflows: 0, trims: 0, droppedFrames: 0, peak: 0.125 };
    expect(parseWorkletReport(report)).toEqual(report);
    expect(parseWorkletReport({ ...report, underruns: -1 })).toBeUndefined();
    expect(parseWorkletReport({ ...report, renderedFrames: undefined })).toBeUndefined();
    expect(parseWorkletReport({ ...report, type: 'stats' })).toBeUndefined();
  });
});
