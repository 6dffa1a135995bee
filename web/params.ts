// The page's query string: /?stream=NAME plus optional choices that tests and benchmarks use to skip the pickers.
// Pure: takes the search string, returns what it asked for; an unknown value is reported, never guessed at.
import { streamNameProblem } from '../shared/stream-name.ts';

export const SOURCES = ['camera', 'screen', 'canvas', 'clock'] as const;
export type Source = (typeof SOURCES)[number];
export const AUDIO_CHOICES = ['mic', 'none'] as const;
export type AudioChoice = (typeof AUDIO_CHOICES)[number];
export const PRESETS = ['480p', '720p', '1080p'] as const;
export type Preset = (typeof PRESETS)[number];
export const FRAME_RATES = [15, 30, 60] as const;
export type FrameRate = (typeof FRAME_RATES)[number];
export const PROFILES = ['baseline', 'main', 'high'] as const;
export type Profile = (typeof PROFILES)[number];

export const DEFAULT_STREAM = 'live';

export interface PageParams {
  stream: string;
  /** Why `stream` is not a valid name, when it is not. */
  streamProblem?: string;
  source?: Source;
  audio?: AudioChoice;
  preset?: Preset;
  fps?: FrameRate;
  profile?: Profile;
  /** Target video bitrate, bits per second. */
  bitrate?: number;
  /** Keyframe interval, milliseconds. */
  keyframeMs?: number;
  token?: string;
  record?: boolean;
  /** Go live as soon as the page is ready (for benchmarks; screen sharing still needs a click). */
  autostart?: boolean;
  /** Query parameters that were present but not understood, as sentences. */
  ignored: string[];
}

function oneOf<T extends string | number>(values: readonly T[], raw: string | null): T | undefined {
  if (raw === null) return undefined;
  return values.find((v) => String(v) === raw);
}

function flag(raw: string | null): boolean | undefined {
  if (raw === null) return undefined;
  return raw === '' || raw === '1' || raw === 'true' || raw === 'yes';
}

export function parseParams(search: string): PageParams {
  const q = new URLSearchParams(search);
  const ignored: string[] = [];
  const stream = q.get('stream') ?? DEFAULT_STREAM;
  const p: PageParams = { stream, ignored };
  const problem = streamNameProblem(stream);
  if (problem) p.streamProblem = problem;

  const pick = <T extends string | number>(key: string, values: readonly T[]): T | undefined => {
    const raw = q.get(key);
    const v = oneOf(values, raw);
    if (raw !== null && v === undefined) ignored.push(`${key}=${raw} is not one of ${values.join(', ')}`);
    return v;
  };
  const source = pick('source', SOURCES);
  if (source) p.source = source;
  const audio = pick('audio', AUDIO_CHOICES);
  if (audio) p.audio = audio;
  const preset = pick('preset', PRESETS);
  if (preset) p.preset = preset;
  const fps = pick('fps', FRAME_RATES.map(String));
  if (fps) p.fps = Number(fps) as FrameRate;
  const profile = pick('profile', PROFILES);
  if (profile) p.profile = profile;

  const bitrate = q.get('bitrate');
  if (bitrate !== null) {
    // kbit/s in the URL, as people say it ("bitrate=2500").
    const kbps = Number(bitrate);
    if (Number.isFinite(kbps) && kbps >= 100 && kbps <= 50_000) p.bitrate = Math.round(kbps * 1000);
    else ignored.push(`bitrate=${bitrate} is not a number of kbit/s between 100 and 50000`);
  }
  const keyframe = q.get('keyframe');
  if (keyframe !== null) {
    const s = Number(keyframe);
    if (Number.isFinite(s) && s >= 0.5 && s <= 10) p.keyframeMs = Math.round(s * 1000);
    else ignored.push(`keyframe=${keyframe} is not a number of seconds between 0.5 and 10`);
  }
  const token = q.get('token');
  if (token !== null) p.token = token;
  const record = flag(q.get('record'));
  if (record !== undefined) p.record = record;
  const autostart = flag(q.get('autostart'));
  if (autostart !== undefined) p.autostart = autostart;
  return p;
}

/**
 * The query string without `token`, for history.replaceState: a secret in the address bar ends up in the history,
 * in bookmarks, in screenshots and in screen shares. Undefined when there is no token to remove.
 */
export function searchWithoutToken(search: string): string | undefined {
  const q = new URLSearchParams(search);
  if (!q.has('token')) return undefined;
  q.delete('token');
  const rest = q.toString();
  return rest ? `?${rest}` : '';
}
