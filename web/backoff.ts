// Reconnect delays: 0.5 s doubling to 8 s, each jittered to 75–125 % so a server restart is not met by every page
// at the same instant.
export const BACKOFF_MIN_MS = 500;
export const BACKOFF_MAX_MS = 8000;

/** Delay before reconnect attempt `attempt` (1-based). `random` returns [0, 1). */
export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + random() * 0.5));
}
