// Media timing on the page: capture clocks to broadcast time, and the per-track guard in front of the fMP4 writer.
import { describe, expect, it } from 'vitest';
import { MediaClock, toTicks } from '../../../web/media-clock.ts';
import { TrackTimeline } from '../../../web/timeline.ts';

describe('MediaClock', () => {
  it('starts at 0 with the first sample and keeps tracks that share a clock exactly in step', () => {
    let now = 5_000_000;
    const clock = new MediaClock(() => now);
    expect(clock.observe('audio', 4_990_000)).toBe(0);
    now = 5_030_000; // the first video frame arrives 30 ms later, captured 20 ms before the audio
    expect(clock.observe('video', 4_970_000)).toBeUndefined(); // before the origin: dropped
    expect(clock.toMedia('video', 5_010_000)).toBe(20_000);
    expect(clock.toMedia('audio', 5_010_000)).toBe(20_000);
  });

  it('ties different capture clocks (camera since boot, canvas from 0) to the page clock separately', () => {
    let now = 800_000; // a young page: the canvas clock (from 0) must not pass for the microphone's
    const clock = new MediaClock(() => now);
    expect(clock.observe('audio', 799_500)).toBe(0);
    now = 810_000;
    expect(clock.observe('video', 0)).toBe(10_000);
    expect(clock.toMedia('video', 33_333)).toBe(43_333);
    const cam = new MediaClock(() => now);
    expect(cam.observe('video', 4_981_597_900)).toBe(0);
    expect(cam.toMedia('video', 4_981_631_233)).toBe(33_333);
    expect(cam.toMedia('audio', 1)).toBeUndefined(); // not observed yet
  });

  it('converts to track ticks', () => {
    expect(toTicks(33_333, 90_000)).toBe(3000);
    expect(toTicks(20_000, 48_000)).toBe(960);
  });
});

describe('TrackTimeline', () => {
  it('keeps decode times increasing and never overlapping the previous sample', () => {
    const t = new TrackTimeline({ jumpTicks: 90_000 });
    expect(t.place(0, 2250)).toEqual({ timestamp: 0, duration: 2250, nudged: false });
    expect(t.place(3000, 2250).timestamp).toBe(3000);
    expect(t.place(4000, 2250)).toEqual({ timestamp: 5250, duration: 2250, nudged: true }); // too soon: moved to the end
    expect(t.place(5250, 2250).timestamp).toBe(7500); // same time again
    expect(t.place(20_000, 2250).timestamp).toBe(20_000);
  });

  it('lays jittery audio packets end to end', () => {
    const t = new TrackTimeline({ jumpTicks: 48_000, snapTicks: 1440 });
    expect(t.place(1000, 960).timestamp).toBe(1000);
    expect(t.place(1950, 960).timestamp).toBe(1960);
    expect(t.place(2930, 960).timestamp).toBe(2920);
    expect(t.place(10_000, 960).timestamp).toBe(10_000); // a real gap stays a gap
  });

  it('rebases after the capture clock jumps back', () => {
    const t = new TrackTimeline({ jumpTicks: 90_000 });
    t.place(1_000_000, 3000);
    expect(t.place(0, 3000).timestamp).toBe(1_003_000);
    expect(t.place(3000, 3000).timestamp).toBe(1_006_000); // continues at the capture rate
  });
});
