// Finding and running ffmpeg/ffprobe in tests. A test that needs them fails with the install command
// rather than a cryptic ENOENT (habit 11).
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';

const INSTALL_HINT = 'install ffmpeg: apt-get install -y ffmpeg';

function findOnPath(name: string, envVar: string): string {
  const override = process.env[envVar];
  if (override) {
    if (!isExecutable(override)) throw new Error(`${envVar}=${override} is not an executable file; ${INSTALL_HINT}`);
    return override;
  }
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(`${name} not found on PATH; ${INSTALL_HINT}`);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of ffmpeg (or $FFMPEG). Throws "install ffmpeg: apt-get install -y ffmpeg" if missing. */
export function ffmpegPath(): string {
  return findOnPath('ffmpeg', 'FFMPEG');
}

/** Absolute path of ffprobe (or $FFPROBE). Throws "install ffmpeg: apt-get install -y ffmpeg" if missing. */
export function ffprobePath(): string {
  return findOnPath('ffprobe', 'FFPROBE');
}

export interface FfprobeStream {
  index: number;
  codec_name?: string;
  codec_type?: string;
  profile?: string;
  width?: number;
  height?: number;
  sample_rate?: string;
  channels?: number;
  nb_read_packets?: string;
  [key: string]: unknown;
}

export interface FfprobeResult {
  streams: FfprobeStream[];
  format?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface FfprobeOptions {
  /** Extra arguments before the input, e.g. ['-count_packets'] or ['-rw_timeout', '5000000']. */
  args?: string[];
  /** Kill ffprobe after this long (default 20 s). */
  timeoutMs?: number;
}

/** Run ffprobe on a file or URL and return its parsed JSON (-show_streams -show_format). */
export async function ffprobe(input: string, o: FfprobeOptions = {}): Promise<FfprobeResult> {
  const r = await execa(
    ffprobePath(),
    ['-v', 'error', '-of', 'json', '-show_streams', '-show_format', ...(o.args ?? []), input],
    { reject: false, timeout: o.timeoutMs ?? 20_000, stdin: 'ignore' },
  );
  if (r.exitCode !== 0) {
    throw new Error(`ffprobe ${input} failed (${r.exitCode ?? r.signal}): ${String(r.stderr).trim().slice(0, 500)}`);
  }
  return JSON.parse(String(r.stdout)) as FfprobeResult;
}

/**
 * A browser-like fragmented MP4 (H.264 constrained baseline, no B-frames, Opus audio, one moof+mdat
 * per frame) made by the local ffmpeg, cached in the temp dir per settings. Returns its path.
 */
export async function makeBrowserLikeFmp4(o: { seconds?: number; gop?: number; audio?: boolean; audioCodec?: 'opus' | 'aac' } = {}): Promise<string> {
  const seconds = o.seconds ?? 6;
  const gop = o.gop ?? 60;
  const audio = o.audio ?? true;
  // aac: what Safari and Chrome on macOS/Windows can encode with WebCodecs.
  const codec = o.audioCodec ?? 'opus';
  const dir = join(tmpdir(), 'relaycast-test-fixtures');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `browser-like-${seconds}s-g${gop}-${audio ? codec : 'noaudio'}.mp4`);
  if (existsSync(out) && statSync(out).size > 0) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  const args = [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    ...(audio ? ['-f', 'lavfi', '-i', 'sine=f=440:sample_rate=48000'] : []),
    '-t', String(seconds),
    // veryfast: a 20 s input encodes in about a second; baseline with no B-frames like WebCodecs realtime.
    '-c:v', 'libx264', '-preset', 'veryfast', '-g', String(gop), '-bf', '0', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
    ...(audio ? (codec === 'aac' ? ['-c:a', 'aac', '-b:a', '128k', '-ac', '2'] : ['-c:a', 'libopus', '-b:a', '64k']) : []),
    '-f', 'mp4', '-movflags', 'frag_every_frame+empty_moov+default_base_moof',
    '-y', tmp,
  ];
  const r = await execa(ffmpegPath(), args, { reject: false, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`ffmpeg could not make the test input: ${String(r.stderr).slice(0, 500)}`);
  renameSync(tmp, out);
  return out;
}

/**
 * Whether a process is still running. A zombie (exited, not yet reaped by its new parent after an
 * orphaning) counts as gone: it holds no resources and `kill -0` would still succeed on it.
 */
export function isProcessAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // "pid (comm) S …": the state letter follows the last ")".
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X' && state !== '';
}

/** The command line of a live process ("" if gone), to check a PID is still the ffmpeg we started. */
export function processCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Poll until `check` is true or `timeoutMs` passes; returns the last result. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
