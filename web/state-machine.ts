// A page's public state: what `data-state` on its status element shows (tests outside the repo read it), with every
// transition in one table; a wrong one is a bug that names both states. The publisher page (session-state.ts) and
// the viewer page (view/viewer-state.ts) each give theirs.
export class StateMachine<S extends string> {
  private current: S;
  private text: string;

  constructor(
    /** Names the machine in the error a wrong transition throws. */
    private readonly label: string,
    initial: S,
    sentence: string,
    private readonly next: Readonly<Record<S, readonly S[]>>,
    private readonly onChange: (state: S, sentence: string) => void,
  ) {
    this.current = initial;
    this.text = sentence;
  }

  get state(): S {
    return this.current;
  }

  get sentence(): string {
    return this.text;
  }

  /** Move to `next` (or stay, with a new sentence). Throws on a transition the page must never make. */
  to(next: S, sentence: string): void {
    if (next !== this.current && !this.next[this.current].includes(next)) throw new Error(`${this.label}: ${this.current} → ${next} is not a valid transition`);
    if (next === this.current && sentence === this.text) return;
    this.current = next;
    this.text = sentence;
    this.onChange(next, sentence);
  }
}
