// Pacing for UDP players. A player that joins gets the cached keyframe group at once (stream.ts startReader): over TCP
// flow control spreads it, but over UDP a 2 s group of a 6 Mbit/s stream (~1 MB, ~800 datagrams) lands in a few
// milliseconds, more than a player's receive buffer holds while it is still starting its decoder. ffmpeg 5.1 (one
// thread demuxes and decodes; UDP_RX_BUF_SIZE 384 KiB) logged "RTP: missed 300 packets" and decoded damaged frames on
// every such join. So what a UDP player is sent goes out no faster than `speed` × the rate it arrived at the hub: units
// keep their arrival spacing (AccessUnit.at), divided by `speed`. Once the player has caught up with live, units go out
// the moment they arrive, as before.
//
// PaceSchedule is the arithmetic (no timers, tested with numbers); UnitPacer adds the queue and the one timer.
import type { AccessUnit } from '../../stream/access-unit.ts';

export interface PaceOptions {
  /** Times real time a backlog is sent at: 4 sends a 2 s group in 0.5 s and catches up with live in ~0.7 s. */
  speed: number;
  /**
   * A gap between two units longer than this (a publisher that stalled, or came back within its grace period) counts
   * as this long: the past pause need not be replayed.
   */
  maxGapMs: number;
  /**
   * How far behind schedule sending may fall before the schedule restarts from now (a busy event loop, a timer that
   * fired late): it then carries on paced instead of sending everything that fell due at once.
   */
  slackMs: number;
}

export const DEFAULT_PACE: PaceOptions = { speed: 4, maxGapMs: 100, slackMs: 20 };

/** When each unit may leave: the arrival spacing of units, divided by `speed`, from the first one sent. */
export class PaceSchedule {
  private last: { at: number; due: number } | undefined;

  constructor(private readonly o: PaceOptions = DEFAULT_PACE) {
    if (!(o.speed >= 1)) throw new RangeError(`pace speed must be ≥ 1, not ${o.speed}`);
  }

  /** The time (on the `now` clock) a unit that reached the hub at `at` may be sent. */
  dueOf(at: number, now: number): number {
    if (!this.last) return now;
    const gap = Math.min(Math.max(at - this.last.at, 0), this.o.maxGapMs);
    return this.last.due + gap / this.o.speed;
  }

  /** The unit that reached the hub at `at`, due at `due`, was sent at `now` (≥ due). */
  sent(at: number, due: number, now: number): void {
    this.last = { at, due: Math.max(due, now - this.o.slackMs) };
  }
}

export interface PacerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const NODE_CLOCK: PacerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * A UDP player's queue: units are sent when PaceSchedule says, in order. Bounded by its reader: the hub stops sending to
 * a sink whose backlog() (which counts this queue) is over its bound and skips it to the next keyframe (stream.ts).
 */
export class UnitPacer {
  private readonly queue: AccessUnit[] = [];
  private head = 0;
  private bytes = 0;
  private timer: unknown;
  private closed = false;
  private readonly schedule: PaceSchedule;
  private readonly clock: PacerClock;

  constructor(
    private readonly send: (unit: AccessUnit) => void,
    o: { pace?: PaceOptions; clock?: PacerClock } = {},
  ) {
    this.schedule = new PaceSchedule(o.pace ?? DEFAULT_PACE);
    this.clock = o.clock ?? NODE_CLOCK;
  }

  push(unit: AccessUnit): void {
    if (this.closed) return;
    this.queue.push(unit);
    this.bytes += unit.bytes;
    if (this.timer === undefined) this.pump();
  }

  /** Bytes waiting to be sent. */
  queuedBytes(): number {
    return this.bytes;
  }

  /** Drop what is queued and stop; idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
    this.head = 0;
    this.bytes = 0;
  }

  private pump(): void {
    this.timer = undefined;
    while (!this.closed && this.head < this.queue.length) {
      const unit = this.queue[this.head]!;
      const now = this.clock.now();
      const due = this.schedule.dueOf(unit.at, now);
      if (due > now) {
        // Timers fire in whole milliseconds: wait at least one.
        this.timer = this.clock.setTimeout(() => this.pump(), Math.max(1, Math.ceil(due - now)));
        return;
      }
      this.head++;
      this.bytes -= unit.bytes;
      if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
        // A queue that never quite drains must not keep every unit it has sent.
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      this.schedule.sent(unit.at, due, now);
      this.send(unit);
    }
    // Drained: forget the sent units (kept until now so that a pump sending many shifts nothing).
    this.queue.length = 0;
    this.head = 0;
  }
}
