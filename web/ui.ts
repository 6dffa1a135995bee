// The DOM: finds the elements of index.html, fills the pickers with what the browser and server support, reads the
// choices back, and shows state, stats and links. No logic about media here, only presentation.
import type { OutputStatus, PageConfig, RecordingStatus } from '../shared/protocol.ts';
import { streamNameProblem } from '../shared/stream-name.ts';
import type { Capabilities } from './capabilities.ts';
import { outputProblems, outputStateWords } from './outputs-text.ts';
import { serverRecordingText } from './server-recording-text.ts';
import { bindCopyButtons, copyText, showWatchWays } from './watch-panel.ts';
import { comboKey } from './capabilities.ts';
import type { DeviceLists } from './capture.ts';
import { BITRATES, PRESET_SPECS, defaultBitrate } from './codec.ts';
import { FRAME_RATES, PRESETS, PROFILES, type AudioChoice, type FrameRate, type PageParams, type Preset, type Profile, type Source } from './params.ts';
import type { PublishState } from './session-state.ts';
import type { StatsSnapshot } from './stats.ts';

function el<T extends HTMLElement>(doc: Document, id: string, type: new () => T): T {
  const e = doc.getElementById(id);
  if (!(e instanceof type)) throw new Error(`index.html lacks #${id}`);
  return e;
}

export interface UiChoices {
  stream: string;
  source: Source;
  audio: AudioChoice;
  cameraId?: string;
  micId?: string;
  preset: Preset;
  fps: FrameRate;
  bitrate: number;
  profile: Profile;
  keyframeIntervalMs: number;
  token?: string;
  record: boolean;
}

const PROFILE_LABELS: Record<Profile, string> = { baseline: 'Baseline', main: 'Main', high: 'High' };

export class PageUi {
  readonly form: HTMLFormElement;
  readonly goLive: HTMLButtonElement;
  readonly stop: HTMLButtonElement;
  readonly retryNow: HTMLButtonElement;
  private readonly status: HTMLElement;
  private readonly notice: HTMLElement;
  private readonly preview: HTMLVideoElement;
  private readonly previewEmpty: HTMLElement;
  private readonly name: HTMLInputElement;
  private readonly nameProblem: HTMLElement;
  private readonly source: HTMLSelectElement;
  private readonly cameraField: HTMLElement;
  private readonly camera: HTMLSelectElement;
  private readonly mic: HTMLSelectElement;
  private readonly preset: HTMLSelectElement;
  private readonly fps: HTMLSelectElement;
  private readonly bitrate: HTMLSelectElement;
  private readonly profile: HTMLSelectElement;
  private readonly keyframe: HTMLInputElement;
  private readonly tokenField: HTMLElement;
  private readonly token: HTMLInputElement;
  private readonly record: HTMLInputElement;
  private readonly notes: HTMLElement;
  private readonly rtsp: HTMLElement;
  private readonly ffplay: HTMLElement;
  private readonly copy: HTMLButtonElement;
  private readonly outputs: HTMLUListElement;
  private readonly recording: HTMLElement;
  private readonly download: HTMLAnchorElement;
  private readonly recordingNote: HTMLElement;
  private caps: Capabilities = { video: new Set(), opus: false, notes: [] };
  private busy = false;
  private blocked = false;
  /** The page state and its sentence, and what the destinations add to it while live. */
  private state: PublishState = 'idle';
  private sentence = '';
  private problems: string | undefined;
  /** The destinations last heard of, shown as "unknown" once the server's word is stale. */
  private lastOutputs: OutputStatus[] = [];

  constructor(private readonly doc: Document) {
    this.form = el(doc, 'settings', HTMLFormElement);
    this.goLive = el(doc, 'go-live', HTMLButtonElement);
    this.stop = el(doc, 'stop', HTMLButtonElement);
    this.retryNow = el(doc, 'retry-now', HTMLButtonElement);
    this.status = el(doc, 'status', HTMLElement);
    this.notice = el(doc, 'notice', HTMLElement);
    this.preview = el(doc, 'preview', HTMLVideoElement);
    this.previewEmpty = el(doc, 'preview-empty', HTMLElement);
    this.name = el(doc, 'stream-name', HTMLInputElement);
    this.nameProblem = el(doc, 'stream-problem', HTMLElement);
    this.source = el(doc, 'source', HTMLSelectElement);
    this.cameraField = el(doc, 'camera-field', HTMLElement);
    this.camera = el(doc, 'camera', HTMLSelectElement);
    this.mic = el(doc, 'mic', HTMLSelectElement);
    this.preset = el(doc, 'preset', HTMLSelectElement);
    this.fps = el(doc, 'fps', HTMLSelectElement);
    this.bitrate = el(doc, 'bitrate', HTMLSelectElement);
    this.profile = el(doc, 'profile', HTMLSelectElement);
    this.keyframe = el(doc, 'keyframe', HTMLInputElement);
    this.tokenField = el(doc, 'token-field', HTMLElement);
    this.token = el(doc, 'token', HTMLInputElement);
    this.record = el(doc, 'record', HTMLInputElement);
    this.notes = el(doc, 'capability-notes', HTMLElement);
    this.rtsp = el(doc, 'rtsp-url', HTMLElement);
    this.ffplay = el(doc, 'ffplay-cmd', HTMLElement);
    this.copy = el(doc, 'copy', HTMLButtonElement);
    this.outputs = el(doc, 'outputs', HTMLUListElement);
    this.recording = el(doc, 'recording', HTMLElement);
    this.download = el(doc, 'download', HTMLAnchorElement);
    this.recordingNote = el(doc, 'recording-note', HTMLElement);

    this.name.addEventListener('input', () => {
      this.checkName();
      this.updateButtons();
      this.onNameChange?.(this.name.value.trim());
    });
    this.source.addEventListener('change', () => this.syncSource());
    this.preset.addEventListener('change', () => this.refilter());
    this.fps.addEventListener('change', () => this.refilter());
    this.copy.addEventListener('click', () => void copyText(this.doc, this.copy, this.ffplay));
    bindCopyButtons(doc);
  }

  /** Called when the stream name field changes (to update the RTSP URL). */
  onNameChange: ((name: string) => void) | undefined;

  setState(state: PublishState, sentence: string): void {
    this.state = state;
    this.sentence = sentence;
    this.renderStatus();
  }

  /**
   * The status line while live also names every destination that is not working ("Live as …; YouTube: cannot
   * connect, retrying in 8 s."), so a failing platform is visible without scrolling.
   */
  private renderStatus(): void {
    const problems = this.state === 'live' ? this.problems : undefined;
    this.status.dataset['state'] = this.state;
    this.status.textContent = problems ? `${this.sentence.replace(/\.$/, '')}; ${problems}.` : this.sentence;
    if (problems) this.status.dataset['warning'] = 'destinations';
    else delete this.status.dataset['warning'];
    this.retryNow.hidden = this.state !== 'reconnecting';
  }

  /** The stream name as typed, and what is wrong with it (undefined when it is valid). */
  invalidNameReason(): string | undefined {
    return streamNameProblem(this.name.value.trim());
  }

  showNotice(text: string): void {
    this.notice.textContent = text;
    this.notice.hidden = text === '';
  }

  /** Fill every picker: query parameters first, then the server's defaults, limited to what works. */
  init(params: PageParams, config: PageConfig, caps: Capabilities, devices: DeviceLists): void {
    this.caps = caps;
    this.name.value = params.stream;
    this.checkName();
    this.source.value = params.source ?? 'camera';
    if (devices.cameras.length === 0 && !params.source) this.source.value = 'canvas';
    this.fillDevices(devices, params.audio);
    fill(this.preset, PRESETS.map((p) => [p, PRESET_SPECS[p].label]));
    fill(this.fps, FRAME_RATES.map((f) => [String(f), `${f} fps`]));
    fill(this.profile, PROFILES.map((p) => [p, PROFILE_LABELS[p]]));
    this.preset.value = params.preset ?? '720p';
    this.fps.value = String(params.fps ?? 30);
    this.profile.value = params.profile ?? 'baseline';
    this.refilter();
    if (params.bitrate !== undefined) {
      if (![...this.bitrate.options].some((o) => o.value === String(params.bitrate))) this.bitrate.add(new Option(formatBitrate(params.bitrate), String(params.bitrate)));
      this.bitrate.value = String(params.bitrate);
    }
    this.keyframe.value = String((params.keyframeMs ?? config.keyframeIntervalMs) / 1000);
    this.tokenField.hidden = !config.tokenRequired && params.token === undefined;
    if (params.token !== undefined) this.token.value = params.token;
    this.record.checked = params.record ?? false;
    const notes = [...caps.notes, ...params.ignored.map((i) => `Ignored ${i}.`)];
    this.notes.textContent = notes.join(' ');
    this.notes.hidden = notes.length === 0;
    this.syncSource();
  }

  /** Device pickers; called again after a permission is granted, when labels become available. */
  fillDevices(devices: DeviceLists, audio?: AudioChoice): void {
    const cam = this.camera.value;
    const mic = this.mic.value;
    fill(
      this.camera,
      devices.cameras.length > 0 ? devices.cameras.map((d, i) => [d.deviceId, d.label || `Camera ${i + 1}`]) : [['', 'No camera found']],
    );
    const mics: Array<[string, string]> = [['none', 'No microphone']];
    if (this.caps.opus) devices.mics.forEach((d, i) => mics.push([`mic:${d.deviceId}`, d.label || `Microphone ${i + 1}`]));
    fill(this.mic, mics);
    if (cam && [...this.camera.options].some((o) => o.value === cam)) this.camera.value = cam;
    if (mic && [...this.mic.options].some((o) => o.value === mic)) this.mic.value = mic;
    else if (audio === 'none' || this.mic.options.length < 2) this.mic.value = 'none';
    else this.mic.selectedIndex = 1; // the first (default) microphone
  }

  /** Read the form. Undefined (and the problem shown) when the stream name is not valid. */
  read(): UiChoices | undefined {
    if (!this.checkName()) {
      this.name.focus();
      return undefined;
    }
    const preset = this.preset.value as Preset;
    const fps = Number(this.fps.value) as FrameRate;
    const bitrate = this.bitrate.value === 'auto' ? defaultBitrate(preset, fps) : Number(this.bitrate.value);
    const keyframeS = Number(this.keyframe.value);
    const micValue = this.mic.value;
    const choices: UiChoices = {
      stream: this.name.value.trim(),
      source: this.source.value as Source,
      audio: micValue.startsWith('mic:') ? 'mic' : 'none',
      preset,
      fps,
      bitrate,
      profile: this.profile.value as Profile,
      keyframeIntervalMs: Number.isFinite(keyframeS) && keyframeS >= 0.5 && keyframeS <= 10 ? Math.round(keyframeS * 1000) : 2000,
      record: this.record.checked,
    };
    if (this.camera.value) choices.cameraId = this.camera.value;
    const micId = micValue.startsWith('mic:') ? micValue.slice(4) : '';
    if (micId) choices.micId = micId;
    if (this.token.value) choices.token = this.token.value;
    return choices;
  }

  /** While a broadcast runs, settings are locked and only Stop is available. */
  setBusy(busy: boolean): void {
    this.busy = busy;
    for (const e of this.form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) e.disabled = busy;
    this.updateButtons();
  }

  /**
   * Nothing on this page can work here (an insecure context): the name keeps what the address asked for, every control
   * that cannot work is disabled, and the preview says why.
   */
  showUnusable(stream: string, why: string): void {
    this.name.value = stream;
    this.checkName();
    this.block();
    for (const e of this.form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) e.disabled = true;
    this.copy.disabled = true;
    this.previewEmpty.textContent = why;
  }

  /** Nothing can be broadcast (insecure context, no encoder): Go live stays disabled. */
  block(): void {
    this.blocked = true;
    this.updateButtons();
  }

  setPreview(stream: MediaStream | undefined): void {
    this.preview.srcObject = stream ?? null;
    this.previewEmpty.hidden = stream !== undefined;
    if (stream) void this.preview.play().catch(() => {});
  }

  /** The ways to watch `url`; undefined (an invalid name) shows none rather than a URL that cannot work. */
  showWatch(url: string | undefined): void {
    this.rtsp.textContent = url ?? '–';
    this.ffplay.textContent = url === undefined ? 'Pick a valid stream name first.' : `ffplay -rtsp_transport tcp ${url}`;
    this.copy.disabled = url === undefined;
    showWatchWays(this.doc, url);
  }

  showStats(s: StatsSnapshot | undefined): void {
    const set = (id: string, text: string): void => {
      const e = this.doc.getElementById(id);
      if (e) e.textContent = text;
    };
    if (!s) {
      for (const id of ['stat-sent', 'stat-fps', 'stat-encode', 'stat-dropped', 'stat-backlog', 'stat-bitrate', 'stat-size']) set(id, '–');
      return;
    }
    set('stat-sent', `${s.sentKbps.toLocaleString('en')} kbit/s`);
    set('stat-fps', `${s.fps} fps`);
    set('stat-encode', `${s.encodeMs} ms`);
    set('stat-dropped', String(s.droppedFrames));
    set('stat-backlog', `${formatBytes(s.bufferedBytes)}`);
    set('stat-bitrate', formatBitrate(s.bitrate));
    set('stat-size', s.width ? `${s.width}×${s.height}` : '–');
  }

  /**
   * The server's word is no longer current (Stop, a lost connection, an error): every server-side figure shows "–"
   * and every destination "unknown", never the last value heard.
   */
  clearServer(): void {
    this.showServer(undefined, undefined, this.lastOutputs, true);
  }

  showServer(ingestKbps: number | undefined, players: number | undefined, outputs: OutputStatus[], stale = false): void {
    const ingest = this.doc.getElementById('stat-ingest');
    const rtsp = this.doc.getElementById('stat-players');
    if (ingest) ingest.textContent = typeof ingestKbps === 'number' ? `${ingestKbps.toLocaleString('en')} kbit/s` : '–';
    if (rtsp) rtsp.textContent = typeof players === 'number' ? String(players) : '–';
    this.lastOutputs = outputs;
    this.problems = stale ? undefined : outputProblems(outputs);
    this.renderStatus();
    if (outputs.length === 0) {
      // The RTSP relay is built in, not a destination: say so rather than show an empty list.
      const li = this.doc.createElement('li');
      li.className = 'output none';
      li.textContent = 'No restreaming destinations: the RTSP relay above is all (the server adds RTMP ones with --output).';
      this.outputs.replaceChildren(li);
      return;
    }
    this.outputs.replaceChildren(
      ...outputs.map((o) => {
        const li = this.doc.createElement('li');
        li.className = 'output';
        const state = this.doc.createElement('span');
        state.className = stale ? 'state-unknown' : `state-${o.state}`;
        state.textContent = stale ? 'unknown' : outputStateWords(o);
        const url = this.doc.createElement('code');
        url.textContent = o.url;
        li.append(`${String(o.kind).toUpperCase()} `, url, ' — ', state);
        if (stale) return li;
        if (o.restarts > 0) li.append(`, ${o.restarts} restart${o.restarts === 1 ? '' : 's'}`);
        // The raw line, for whoever needs it; the words are in the state above.
        if (o.lastError && o.state !== 'running') li.title = o.lastError;
        return li;
      }),
    );
  }

  /** The server's recording of this stream (--record): one line, with its sentence when it stopped; none when off. */
  showServerRecording(r: RecordingStatus | undefined): void {
    const line = this.doc.getElementById('server-recording');
    if (!line) return;
    const text = serverRecordingText(r);
    line.hidden = text === undefined;
    line.textContent = text ?? '';
    line.dataset['state'] = r?.state ?? 'off';
  }

  showRecording(file: { url: string; fileName: string; bytes: number } | undefined, note: string): void {
    this.recording.hidden = false;
    if (file) {
      const old = this.download.href;
      if (old.startsWith('blob:')) URL.revokeObjectURL(old);
      this.download.href = file.url;
      this.download.download = file.fileName;
      this.download.hidden = false;
      this.recordingNote.textContent = `${file.fileName}, ${formatBytes(file.bytes)}`;
    } else {
      this.download.hidden = true;
      this.recordingNote.textContent = note;
    }
  }

  private updateButtons(): void {
    // An invalid name cannot go live: the button says so by being disabled, the status line says why (main.ts).
    this.goLive.disabled = this.blocked || this.busy || this.invalidNameReason() !== undefined;
    this.stop.disabled = !this.busy;
  }

  private checkName(): boolean {
    const problem = streamNameProblem(this.name.value.trim());
    this.nameProblem.textContent = problem ?? '';
    this.nameProblem.hidden = problem === undefined;
    this.name.setAttribute('aria-invalid', problem ? 'true' : 'false');
    return problem === undefined;
  }

  private syncSource(): void {
    this.cameraField.hidden = this.source.value !== 'camera';
  }

  /** Offer only resolutions, frame rates and profiles VideoEncoder.isConfigSupported() accepted, in combination. */
  private refilter(): void {
    const ok = (p: Preset, f: FrameRate, pr: Profile): boolean => this.caps.video.has(comboKey(p, f, pr));
    const presets = PRESETS.filter((p) => FRAME_RATES.some((f) => PROFILES.some((pr) => ok(p, f, pr))));
    keep(this.preset, presets.map((p) => [p, PRESET_SPECS[p].label]), '720p');
    const preset = this.preset.value as Preset;
    const rates = FRAME_RATES.filter((f) => PROFILES.some((pr) => ok(preset, f, pr)));
    keep(this.fps, rates.map((f) => [String(f), `${f} fps`]), '30');
    const fps = Number(this.fps.value) as FrameRate;
    const profiles = PROFILES.filter((pr) => ok(preset, fps, pr));
    keep(this.profile, profiles.map((p) => [p, PROFILE_LABELS[p]]), 'baseline');
    const rate = this.bitrate.value;
    const auto = preset && fps ? defaultBitrate(preset, fps) : 0;
    fill(this.bitrate, [['auto', `Auto (${formatBitrate(auto)})`], ...BITRATES.map((b): [string, string] => [String(b), formatBitrate(b)])]);
    if (rate && [...this.bitrate.options].some((o) => o.value === rate)) this.bitrate.value = rate;
  }
}

function fill(select: HTMLSelectElement, options: ReadonlyArray<readonly [string, string]>): void {
  select.replaceChildren(...options.map(([value, label]) => new Option(label, value)));
}

/** Replace the options, keeping the current choice when it is still offered, else `preferred`, else the first. */
function keep(select: HTMLSelectElement, options: ReadonlyArray<readonly [string, string]>, preferred: string): void {
  const current = select.value;
  fill(select, options);
  const has = (v: string): boolean => options.some(([o]) => o === v);
  if (has(current)) select.value = current;
  else if (has(preferred)) select.value = preferred;
}

export function formatBitrate(bps: number): string {
  return bps >= 1_000_000 ? `${(bps / 1_000_000).toLocaleString('en', { maximumFractionDigits: 1 })} Mbit/s` : `${Math.round(bps / 1000)} kbit/s`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
