import { describe, expect, it } from 'vitest';
import type { AccessUnit } from '../../../../server/stream/access-unit.ts';
import { PaceSchedule, UnitPacer, type PacerClock } from '../../../../server/servers/rtsp/udp-pacer.ts';

const PACE = { speed: 4, maxGapMs: 100, slackMs: 20 };

function unit(index: number, at: number, bytes = 1000): AccessUnit {
  return { track: 0, packets: [new Uint8Array(bytes)], bytes, keyframe: index === 0, timestamp: index * 3000, at, index, order: index + 1, lost: false };
}

/** A clock the test moves by hand; timers fire when it passes them. */
class FakeClock implements PacerClock {
  t = 1000;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  };
  clearTimeout = (id: unknown) => {
    this.timers = this.timers.filter((x) => x.id !== id);
  };
  pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }
}

describe('PaceSchedule', () => {
  it('spaces units by their arrival gaps divided by the speed, the first at once', () => {
    const s = new PaceSchedule(PACE);
    expect(s.dueOf(5000, 100)).toBe(100);
    s.sent(5000, 100, 100);
    expect(s.dueOf(5040, 100)).toBe(110); // 40 ms of arrival at 4× real time
    s.sent(5040, 110, 110);
    expect(s.dueOf(5040, 110)).toBe(110); // same arrival time: same moment
    expect(s.dueOf(5000, 110)).toBe(110); // out of order: never earlier than the last
  });

  it('counts a long gap (a stalled publisher) as maxGapMs', () => {
    const s = new PaceSchedule(PACE);
    s.sent(0, 0, 0);
    expect(s.dueOf(60_000, 0)).toBe(25);
  });

  it('restarts from now, less the slack, when sending fell behind: no catch-up burst after a stall', () => {
    const s = new PaceSchedule(PACE);
    s.sent(0, 0, 0);
    // Due at 10, sent at 500 (the event loop was busy): the next unit is due 10 ms after 480, not after 10.
    s.sent(40, 10, 500);
    expect(s.dueOf(80, 500)).toBe(490);
  });

  it('refuses a speed below real time', () => {
    expect(() => new PaceSchedule({ ...PACE, speed: 0.5 })).toThrow(RangeError);
  });
});

describe('UnitPacer', () => {
  it('sends a cached group at 4× real time, then live units the moment they arrive', () => {
    const clock = new FakeClock();
    const sent: Array<[number, number]> = [];
    const pacer = new UnitPacer((u) => sent.push([u.index, clock.now()]), { pace: PACE, clock });
    // The hub hands a joining player 2 s of group at once (units 33 ms apart at arrival): 61 units, 61,000 bytes.
    const start = clock.now();
    const arrivedAt = 10_000;
    for (let i = 0; i <= 60; i++) pacer.push(unit(i, arrivedAt + i * 33));
    expect(sent).toEqual([[0, start]]);
    expect(pacer.queuedBytes()).toBe(60_000);
    clock.advance(100);
    // 100 ms at 4×: 400 ms of the group, 12 units of 33 ms, plus the first.
    expect(sent.length).toBe(13);
    clock.advance(500);
    expect(sent.length).toBe(61);
    expect(pacer.queuedBytes()).toBe(0);
    // The last went out at ~2 s / 4 = 495 ms, evenly: never more than one unit per 33/4 ms step.
    expect(sent[60]![1] - start).toBeGreaterThanOrEqual(495);
    expect(sent[60]![1] - start).toBeLessThanOrEqual(500);
    // Caught up: a live unit (arrival 33 ms after the last) goes out as it arrives.
    clock.advance(1000);
    pacer.push(unit(61, arrivedAt + 61 * 33));
    expect(sent.length).toBe(62);
    expect(clock.pending()).toBe(0);
  });

  it('keeps live units behind the group while it is being paced, in order', () => {
    const clock = new FakeClock();
    const order: number[] = [];
    const pacer = new UnitPacer((u) => order.push(u.index), { pace: PACE, clock });
    for (let i = 0; i < 10; i++) pacer.push(unit(i, i * 33));
    clock.advance(20);
    pacer.push(unit(10, 330)); // arrives live while the group is still going out
    clock.advance(1000);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('close() drops the queue and leaves no timer; later units are ignored', () => {
    const clock = new FakeClock();
    const sent: number[] = [];
    const pacer = new UnitPacer((u) => sent.push(u.index), { pace: PACE, clock });
    for (let i = 0; i < 5; i++) pacer.push(unit(i, i * 100));
    expect(clock.pending()).toBe(1);
    pacer.close();
    pacer.close();
    expect(clock.pending()).toBe(0);
    expect(pacer.queuedBytes()).toBe(0);
    pacer.push(unit(9, 900));
    clock.advance(1000);
    expect(sent).toEqual([0]);
  });
});
