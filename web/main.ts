// The publisher page: wiring only. Reads the query string and GET /api/config, asks the browser what it can encode,
// fills the pickers, and starts/stops one Broadcast at a time. The public interface (Go live, Stop, the one
// data-testid="status" element and its data-state) is described in ARCHITECTURE.md.
import { PUBLISH_PATH, type PageConfig } from '../shared/protocol.ts';
import { rtspUrl, Broadcast } from './broadcast.ts';
import { probeCapabilities } from './capabilities.ts';
import { listDevices } from './capture.ts';
import { insecureContextError } from './errors.ts';
import { parseParams, searchWithoutToken } from './params.ts';
import { streamNameProblem } from '../shared/stream-name.ts';
import { SessionState } from './session-state.ts';
import { PageUi } from './ui.ts';

const FALLBACK_CONFIG: PageConfig = {
  version: 1,
  rtspPort: 8554,
  tokenRequired: false,
  keyframeIntervalMs: 2000,
  videoCodecs: ['avc1'],
  audioCodecs: ['opus'],
  outputs: [],
};

async function loadConfig(): Promise<{ config: PageConfig; note?: string }> {
  try {
    const res = await fetch('/api/config', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const c = (await res.json()) as Partial<PageConfig>;
    return { config: { ...FALLBACK_CONFIG, ...c } };
  } catch (err) {
    return { config: FALLBACK_CONFIG, note: `Could not read /api/config (${err instanceof Error ? err.message : String(err)}); using defaults.` };
  }
}

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${PUBLISH_PATH}`;
}

async function boot(): Promise<void> {
  const ui = new PageUi(document);
  // A broadcast ends by Stop, by a fatal error or by its source ending; each time the form unlocks once it is torn down.
  let onEnded = (): void => {};
  const state = new SessionState('Loading…', (s, sentence) => {
    ui.setState(s, sentence);
    // Only a live connection's word about the server is current: anything else shows "–", never the last value.
    if (s !== 'live') ui.clearServer();
    if (s === 'idle' || s === 'error') onEnded();
  });
  const params = parseParams(location.search);
  // The token stays in memory (and in the token field), not in the address bar.
  const search = searchWithoutToken(location.search);
  if (search !== undefined) history.replaceState(history.state, '', `${location.pathname}${search}${location.hash}`);
  if (!window.isSecureContext) {
    // The same page on the server's own machine, query and all (the stream name, the source...).
    const local = `http://localhost${location.port ? `:${location.port}` : ''}${location.pathname}${search ?? location.search}`;
    const reason = insecureContextError(location.origin, local).message;
    ui.showUnusable(params.stream, reason);
    state.to('error', reason);
    document.body.dataset['ready'] = 'true';
    return;
  }
  const [{ config, note }, devices] = await Promise.all([loadConfig(), listDevices()]);
  const caps = await probeCapabilities(config);
  ui.init(params, config, caps, devices);
  let rtspPort = config.rtspPort;
  const showWatch = (name: string, port = rtspPort, path = `/${name}`): void => ui.showWatch(streamNameProblem(name) === undefined ? rtspUrl(port, path) : undefined);
  showWatch(params.stream);
  const ready = 'Ready: pick a source and press Go live.';
  ui.onNameChange = (name) => {
    showWatch(name);
    // While nothing runs, the status line says why Go live is disabled.
    if (state.state === 'idle') state.to('idle', ui.invalidNameReason() ?? ready);
  };
  if (note) ui.showNotice(note);

  if (caps.video.size === 0) {
    ui.block();
    state.to('error', caps.notes.join(' ') || 'This browser cannot encode H.264 video.');
    document.body.dataset['ready'] = 'true';
    return;
  }
  state.to('idle', ui.invalidNameReason() ?? ready);
  ui.setBusy(false);

  let current: Broadcast | undefined;
  const goLive = async (): Promise<void> => {
    if (current) return;
    const c = ui.read();
    if (!c) return;
    ui.setBusy(true);
    ui.showNotice('');
    ui.showStats(undefined);
    ui.showServer(undefined, undefined, []);
    showWatch(c.stream);
    const b = new Broadcast(
      { ...c, label: c.stream },
      {
        config,
        wsUrl: wsUrl(),
        // While reconnecting: the page reconnects as soon as the server answers again.
        probe: () => fetch('/api/config', { cache: 'no-store' }).then((r) => r.ok, () => false),
        state,
        events: {
          preview: (s) => ui.setPreview(s),
          stats: (s) => ui.showStats(s),
          serverStats: (m) => {
            ui.showServer(m.ingestKbps, m.rtspPlayers, m.outputs);
            ui.showServerRecording(m.recording);
          },
          accepted: (m) => {
            rtspPort = m.rtspPort;
            showWatch(m.stream, m.rtspPort, m.rtspPath);
            ui.showServer(undefined, undefined, m.outputs);
          },
          recording: (file, text) => ui.showRecording(file, text),
          notice: (text) => ui.showNotice(text),
        },
      },
    );
    current = b;
    await b.start();
    // A granted permission reveals device names (W3C Media Capture §9.2.1).
    if (c.source === 'camera' || c.audio === 'mic') void listDevices().then((d) => ui.fillDevices(d));
  };
  onEnded = () => {
    const b = current;
    if (!b) return;
    void b.stop().then(() => {
      if (current === b) current = undefined;
      ui.setBusy(false);
    });
  };
  const stop = async (): Promise<void> => {
    const b = current;
    if (!b) return;
    await b.stop();
  };

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void goLive();
  });
  ui.stop.addEventListener('click', () => void stop());
  ui.retryNow.addEventListener('click', () => current?.retryNow());
  window.addEventListener('pagehide', () => void current?.stop());
  document.body.dataset['ready'] = 'true';
  if (params.autostart) void goLive();
}

void boot();
