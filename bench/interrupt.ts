// Ctrl-C for a benchmark: the first SIGINT/SIGTERM makes the current wait throw, so the run's finally block stops
// every process it started; a second one exits at once (execa's cleanup still kills the children on exit).
//
// Listeners stay registered (process.on, not once): execa's signal-exit re-raises a signal, killing the process
// before any finally block runs, when it finds no listener but its own.
export class Interrupt {
  signal: NodeJS.Signals | undefined;
  private readonly wake = new Set<() => void>();

  constructor() {
    for (const s of ['SIGINT', 'SIGTERM'] as const) {
      process.on(s, () => {
        if (this.signal) process.exit(130);
        this.signal = s;
        process.stderr.write(`\n${s}: stopping what the benchmark started (again to exit at once)...\n`);
        for (const w of this.wake) w();
      });
    }
  }

  /** Throws once a signal has arrived. */
  check(): void {
    if (this.signal) throw new Error(`interrupted (${this.signal})`);
  }

  /** Waits `ms`, or less when a signal arrives, then throws if one did. */
  async sleep(ms: number): Promise<void> {
    this.check();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
    this.check();
  }
}
