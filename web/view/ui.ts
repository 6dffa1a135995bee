// The viewer page's DOM: the status line (data-testid="viewer-status"), the buttons, the credentials form and the
// stats overlay. No media here (player.ts).
import { formatBitrate } from '../ui.ts';
import type { Credentials } from './connection.ts';
import type { PlayerStats } from './player.ts';
import type { ViewerState } from './viewer-state.ts';

export interface UiActions {
  togglePause(): void;
  toggleMute(): Promise<void>;
  login(c: Credentials): void;
  retry(): void;
}

function byId<T extends HTMLElement>(doc: Document, id: string): T {
  const e = doc.getElementById(id);
  if (!e) throw new Error(`the viewer page has no #${id}`);
  return e as T;
}

export class ViewerUi {
  readonly canvas: HTMLCanvasElement;
  private readonly status: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly empty: HTMLElement;
  private readonly overlay: HTMLElement;
  private readonly playPause: HTMLButtonElement;
  private readonly mute: HTMLButtonElement;
  private readonly unmute: HTMLButtonElement;
  private readonly retry: HTMLButtonElement;
  private readonly login: HTMLFormElement;

  constructor(private readonly doc: Document) {
    this.canvas = byId(doc, 'picture');
    this.status = byId(doc, 'viewer-status');
    this.notice = byId(doc, 'notice');
    this.empty = byId(doc, 'picture-empty');
    this.overlay = byId(doc, 'overlay');
    this.playPause = byId(doc, 'play-pause');
    this.mute = byId(doc, 'mute');
    this.unmute = byId(doc, 'unmute');
    this.retry = byId(doc, 'retry');
    this.login = byId(doc, 'login');
  }

  bind(stream: string, actions: UiActions): void {
    byId(this.doc, 'title').textContent = `Watching "${stream}" live.`;
    this.doc.title = `${stream} · relaycast`;
    this.playPause.addEventListener('click', () => actions.togglePause());
    const mute = (): void => void actions.toggleMute();
    this.mute.addEventListener('click', mute);
    this.unmute.addEventListener('click', mute);
    this.retry.addEventListener('click', () => actions.retry());
    const screen = byId(this.doc, 'screen');
    byId(this.doc, 'fullscreen').addEventListener('click', () => {
      if (this.doc.fullscreenElement) void this.doc.exitFullscreen();
      else void screen.requestFullscreen().catch(() => this.setNotice('This browser did not allow full screen here.'));
    });
    const statsToggle = byId(this.doc, 'stats-toggle');
    statsToggle.addEventListener('click', () => {
      const show = this.overlay.hidden;
      this.overlay.hidden = !show;
      statsToggle.setAttribute('aria-pressed', String(show));
    });
    this.login.addEventListener('submit', (e) => {
      e.preventDefault();
      const username = byId<HTMLInputElement>(this.doc, 'user').value;
      const password = byId<HTMLInputElement>(this.doc, 'pass').value;
      this.login.hidden = true;
      actions.login({ username, password });
    });
  }

  /** The MSE fallback plays in the <video>, which then is the picture (the canvas goes). */
  useVideo(): HTMLVideoElement {
    const video = byId<HTMLVideoElement>(this.doc, 'fallback');
    this.canvas.remove();
    video.hidden = false;
    return video;
  }

  setState(state: ViewerState, sentence: string): void {
    this.status.dataset['state'] = state;
    this.status.textContent = sentence;
    this.retry.hidden = state !== 'error' || !this.login.hidden;
    if (state !== 'playing') this.empty.textContent = sentence;
    this.empty.hidden = state === 'playing';
  }

  setNotice(message: string): void {
    this.notice.textContent = message;
    this.notice.hidden = message === '';
  }

  askCredentials(wrong: boolean): void {
    this.login.hidden = false;
    this.retry.hidden = true;
    this.setNotice(wrong ? 'That user name or password was not accepted.' : '');
    byId<HTMLInputElement>(this.doc, 'user').focus();
  }

  /** The buttons' labels, at once after a press (and with every show()). */
  showControls(s: Pick<PlayerStats, 'muted' | 'paused'>): void {
    this.playPause.textContent = s.paused ? 'Play' : 'Pause';
    this.playPause.setAttribute('aria-pressed', String(s.paused));
    this.mute.textContent = s.muted ? 'Unmute' : 'Mute';
    this.unmute.hidden = !s.muted;
  }

  /** The buttons and the overlay, from the player's counters; `fps`/`kbps` over the last second. */
  show(s: PlayerStats, fps: number, kbps: number): void {
    this.showControls(s);
    const set = (id: string, text: string): void => {
      byId(this.doc, id).textContent = text;
    };
    set('stat-size', s.width ? `${s.width}×${s.height}` : '–');
    set('stat-fps', `${fps.toFixed(0)} fps`);
    set('stat-kbps', formatBitrate(kbps * 1000));
    set('stat-latency', s.latencyMs === undefined ? '–' : `~${Math.round(s.latencyMs)} ms`);
    set('stat-dropped', `${s.videoDropped} frames`);
    set('stat-audio', s.muted || s.audioBufferedMs === undefined ? '–' : `${Math.round(s.audioBufferedMs)} ms queued, ${s.audioUnderruns ?? 0} gaps`);
  }
}
