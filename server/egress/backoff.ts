// Restart delays for a supervised process: 1 s, 2 s, 4 s … up to a ceiling, back to the start once a
// run has stayed up long enough to count as healthy (so a flapping destination is not retried in a
// tight loop, and a destination that was fine for an hour restarts quickly after one blip).

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run at least this long resets the delay to initialMs. */
  resetAfterMs: number;
}

/**
 * 1 s, 2 s, 4 s, then every 8 s: a platform that comes back after an outage is fed again within 8 s (it was 30 s,
 * and a 20 s nginx outage took 11.7 s to recover from). A run that delivered frames for 5 s was a real recovery: the
 * next failure starts again at 1 s (three kill -9s 8 s apart took 1.3, 2.4 and 4.3 s to recover; now ~1 s each).
 */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 8_000, resetAfterMs: 5_000 };

export class Backoff {
  readonly #o: BackoffOptions;
  #nextMs: number;

  constructor(o: BackoffOptions = DEFAULT_BACKOFF) {
    if (!(o.initialMs > 0) || !(o.maxMs >= o.initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs (got ${o.initialMs}, ${o.maxMs})`);
    }
    this.#o = o;
    this.#nextMs = o.initialMs;
  }

  /** The delay before the next attempt, given how long the run that just ended was healthy. */
  next(healthyForMs: number): number {
    if (healthyForMs >= this.#o.resetAfterMs) this.#nextMs = this.#o.initialMs;
    const delay = this.#nextMs;
    this.#nextMs = Math.min(this.#nextMs * 2, this.#o.maxMs);
    return delay;
  }

  reset(): void {
    this.#nextMs = this.#o.initialMs;
  }
}
