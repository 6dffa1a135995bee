// The viewer page's public state: exactly what `data-state` on the data-testid="viewer-status" element shows (tests
// outside the repo read it; see ARCHITECTURE.md). Transitions live here and nowhere else.
import { StateMachine } from '../state-machine.ts';

export const VIEWER_STATES = ['connecting', 'playing', 'waiting', 'ended', 'error'] as const;
export type ViewerState = (typeof VIEWER_STATES)[number];

const NEXT: Record<ViewerState, readonly ViewerState[]> = {
  connecting: ['playing', 'waiting', 'ended', 'error'],
  waiting: ['connecting', 'playing', 'ended', 'error'],
  playing: ['connecting', 'waiting', 'ended', 'error'],
  ended: ['connecting', 'playing', 'waiting', 'error'],
  // Only a new attempt (credentials given, Try again pressed) leaves an error.
  error: ['connecting'],
};

export class ViewerStateMachine extends StateMachine<ViewerState> {
  constructor(sentence: string, onChange: (state: ViewerState, sentence: string) => void) {
    super('viewer state', 'connecting', sentence, NEXT, onChange);
  }
}
