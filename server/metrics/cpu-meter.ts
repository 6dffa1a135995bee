// The process's CPU use in percent of one core, for the status page: CPU time (user + system) over wall time since
// the previous reading. Readings closer together than `minWindowMs` return the last figure, so two status pages
// polling at once do not measure over a few milliseconds each.
export interface CpuMeterOptions {
  /** process.cpuUsage(): microseconds of user and system CPU time since the process began. */
  cpuUsage?: () => { user: number; system: number };
  /** Milliseconds, monotonic. */
  now?: () => number;
  minWindowMs?: number;
}

export class CpuMeter {
  private readonly cpuUsage: () => { user: number; system: number };
  private readonly now: () => number;
  private readonly minWindowMs: number;
  private last: { at: number; cpuUs: number };
  private percent = 0;

  constructor(o: CpuMeterOptions = {}) {
    this.cpuUsage = o.cpuUsage ?? (() => process.cpuUsage());
    this.now = o.now ?? (() => performance.now());
    this.minWindowMs = o.minWindowMs ?? 500;
    this.last = { at: this.now(), cpuUs: this.cpuTime() };
  }

  /** Percent of one core since the previous reading (the first reading: since the meter was made). */
  read(): number {
    const at = this.now();
    if (at - this.last.at < this.minWindowMs) return this.percent;
    const cpuUs = this.cpuTime();
    this.percent = Math.round(((cpuUs - this.last.cpuUs) / 1000 / (at - this.last.at)) * 1000) / 10;
    this.last = { at, cpuUs };
    return this.percent;
  }

  private cpuTime(): number {
    const u = this.cpuUsage();
    return u.user + u.system;
  }
}
