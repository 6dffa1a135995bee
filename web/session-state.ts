// The page's public state: exactly what `data-state` on the status element shows (tests outside the repo read it).
// Transitions live here and nowhere else; a wrong one is a bug that names both states.
import { StateMachine } from './state-machine.ts';

export const PUBLISH_STATES = ['idle', 'connecting', 'live', 'reconnecting', 'error'] as const;
export type PublishState = (typeof PUBLISH_STATES)[number];

const NEXT: Record<PublishState, readonly PublishState[]> = {
  idle: ['connecting', 'error'],
  connecting: ['live', 'reconnecting', 'error', 'idle'],
  live: ['reconnecting', 'error', 'idle'],
  reconnecting: ['live', 'reconnecting', 'error', 'idle'],
  error: ['connecting', 'idle', 'error'],
};

export class SessionState extends StateMachine<PublishState> {
  constructor(sentence: string, onChange: (state: PublishState, sentence: string) => void) {
    super('publish state', 'idle', sentence, NEXT, onChange);
  }
}
