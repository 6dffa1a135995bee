// Finds and runs ffmpeg/ffprobe for the fMP4 tests. A missing binary fails the test with a sentence saying how to
// install it, rather than skipping: the writer is only trusted because independent demuxers read its output.
import { spawnSync } from 'node:child_process';

const checked = new Map<string, string | undefined>();

export function requireBinary(name: 'ffmpeg' | 'ffprobe'): string {
  if (!checked.has(name)) {
    const r = spawnSync(name, ['-version'], { encoding: 'utf8' });
    checked.set(name, r.status === 0 ? undefined : String(r.error ?? r.stderr));
  }
  const problem = checked.get(name);
  if (problem !== undefined) {
    throw new Error(`${name} is needed by this test but could not be run (${problem.trim()}). Install it: apt-get install ffmpeg (Debian/Ubuntu) or brew install ffmpeg (macOS).`);
  }
  return name;
}

export interface ToolResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runTool(name: 'ffmpeg' | 'ffprobe', args: readonly string[], input?: Uint8Array): ToolResult {
  const r = spawnSync(requireBinary(name), args, {
    input: input ?? '',
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
