// The viewer page at /watch/NAME: wiring only. The public interface (the one data-testid="viewer-status" element and
// its data-state; the picture is the page's largest canvas) is described in ARCHITECTURE.md. For tests and the
// benchmark, window.__viewerStats reads the player's counters (PlayerStats).
import { isValidStreamName, streamNameProblem } from '../../shared/stream-name.ts';
import { watchedStream } from '../../shared/view-protocol.ts';
import type { Credentials } from './connection.ts';
import { MseOutput, mediaSourceClass } from './mse-output.ts';
import { Player } from './player.ts';
import { ViewerUi } from './ui.ts';
import { WebCodecsOutput } from './webcodecs-output.ts';

/** Where the read credentials are kept for the tab's session (asked once, as the issue says; never in the URL). */
const CREDENTIALS_KEY = 'relaycast.viewer.credentials';

function storedCredentials(): Credentials | undefined {
  try {
    const v = JSON.parse(sessionStorage.getItem(CREDENTIALS_KEY) ?? 'null') as unknown;
    if (typeof v === 'object' && v !== null && typeof (v as Credentials).username === 'string' && typeof (v as Credentials).password === 'string') return v as Credentials;
  } catch {
    // unreadable: ask again
  }
  return undefined;
}

function boot(): void {
  const ui = new ViewerUi(document);
  const name = watchedStream(location.pathname) ?? new URLSearchParams(location.search).get('stream') ?? '';
  if (!isValidStreamName(name)) {
    ui.setState('error', streamNameProblem(name) ?? 'This address names no stream: open /watch/NAME.');
    return;
  }
  // WebCodecs where the browser has it (only in secure contexts: https, localhost); else MSE fed the same fragments.
  const webCodecs = typeof VideoDecoder !== 'undefined' && typeof AudioDecoder !== 'undefined';
  if (!webCodecs && !mediaSourceClass()) {
    const why = window.isSecureContext ? 'this browser has neither WebCodecs nor Media Source Extensions' : 'browsers offer WebCodecs only to https:// pages and localhost';
    ui.setState('error', `This page cannot decode video here: ${why}. Open it over https, or play http://${location.host}/${name}.mp4 in a player.`);
    return;
  }
  const player = new Player(
    name,
    webCodecs ? 'webcodecs' : 'mse',
    (events) => (webCodecs ? new WebCodecsOutput(ui.canvas, events) : new MseOutput(ui.useVideo(), events)),
    {
      state: (s, sentence) => ui.setState(s, sentence),
      credentials: (wrong) => ui.askCredentials(wrong),
      notice: (message) => ui.setNotice(message),
    },
    storedCredentials(),
  );
  ui.bind(name, {
    togglePause: () => {
      player.setPaused(!player.stats().paused);
      ui.showControls(player.stats());
    },
    toggleMute: async () => {
      await player.setMuted(!player.stats().muted);
      ui.showControls(player.stats());
    },
    login: (c) => {
      sessionStorage.setItem(CREDENTIALS_KEY, JSON.stringify(c));
      player.start(c);
    },
    retry: () => player.start(),
  });
  Object.defineProperty(window, '__viewerStats', { get: () => player.stats(), configurable: true });
  let last = { at: performance.now(), drawn: 0, bytes: 0 };
  setInterval(() => {
    const s = player.stats();
    const now = performance.now();
    const seconds = Math.max(0.001, (now - last.at) / 1000);
    ui.show(s, (s.videoDrawn - last.drawn) / seconds, ((s.bytes - last.bytes) * 8) / 1000 / seconds);
    last = { at: now, drawn: s.videoDrawn, bytes: s.bytes };
  }, 1000);
  player.start();
}

boot();
