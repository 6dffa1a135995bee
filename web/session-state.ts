// The page's public state: exactly what `data-state` on the status element shows (tests outside the repo read it).
// Transitions live here and nowhere else; a wrong one is a bug that names both states.
export const PUBLISH_STATES = ['idle', 'connecting', 'live', 'reconnecting', 'error'] as const;
export type PublishState = (typeof PUBLISH_STATES)[number];

const NEXT: Record<PublishState, readonly PublishState[]> = {
  idle: ['connecting', 'error'],
  connecting: ['live', 'reconnecting', 'error', 'idle'],
  live: ['reconnecting', 'error', 'idle'],
  reconnecting: ['live', 'reconnecting', 'error', 'idle'],
  error: ['connecting', 'idle', 'error'],
};

export class SessionState {
  private current: PublishState = 'idle';
  private text: string;

  constructor(
    sentence: string,
    private readonly onChange: (state: PublishState, sentence: string) => void,
  ) {
    this.text = sentence;
  }

  get state(): PublishState {
    return this.current;
  }

  get sentence(): string {
    return this.text;
  }

  /** Move to `next` (or stay, with a new sentence). Throws on a transition the page must never make. */
  to(next: PublishState, sentence: string): void {
    if (next !== this.current && !NEXT[this.current].includes(next)) throw new Error(`publish state: ${this.current} → ${next} is not a valid transition`);
    if (next === this.current && sentence === this.text) return;
    this.current = next;
    this.text = sentence;
    this.onChange(next, sentence);
  }
}
