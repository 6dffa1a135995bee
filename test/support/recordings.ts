// Helpers for the recording tests: a fresh recording directory, and what ffprobe says of a recorded MP4.
import { execa } from 'execa';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ffprobePath } from './ffmpeg.ts';

const made: string[] = [];

/** A new empty directory under the system temp dir (removeRecordDirs() deletes it). */
export function freshRecordDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relaycast-record-'));
  made.push(dir);
  return dir;
}

/** Delete every directory freshRecordDir() made in this test file (nothing may be mounted in them any more). */
export function removeRecordDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The segment files of DIR/NAME, oldest first. */
export function segmentFilesOf(dir: string, name: string): string[] {
  try {
    return readdirSync(join(dir, name)).filter((f) => f.endsWith('.mp4')).sort().map((f) => join(dir, name, f));
  } catch {
    return [];
  }
}

export interface ProbedMp4 {
  /** Seconds (format duration). */
  duration: number;
  video: boolean;
  audio: boolean;
  /** The first video packet is a keyframe. */
  startsOnKeyframe: boolean;
  videoPackets: number;
}

/** ffprobe a file (or URL): format duration, streams, and the flags of every video packet. */
export async function probeMp4(input: string): Promise<ProbedMp4> {
  const r = await execa(ffprobePath(), ['-v', 'error', '-of', 'json', '-show_format', '-show_streams', '-show_entries', 'packet=stream_index,flags', input], { reject: false, timeout: 30_000, stdin: 'ignore' });
  if (r.exitCode !== 0) throw new Error(`ffprobe ${input} failed: ${String(r.stderr).slice(0, 500)}`);
  const j = JSON.parse(String(r.stdout)) as { format?: { duration?: string }; streams?: Array<{ index: number; codec_type?: string }>; packets?: Array<{ stream_index: number; flags: string }> };
  const video = j.streams?.find((s) => s.codec_type === 'video');
  const videoPackets = (j.packets ?? []).filter((p) => p.stream_index === video?.index);
  return {
    duration: Number(j.format?.duration ?? NaN),
    video: video !== undefined,
    audio: j.streams?.some((s) => s.codec_type === 'audio') ?? false,
    startsOnKeyframe: videoPackets[0]?.flags.startsWith('K') ?? false,
    videoPackets: videoPackets.length,
  };
}

/** What ffmpeg says while decoding every frame of `input` (empty when it decodes cleanly). */
export async function decodeErrors(input: string): Promise<string> {
  const r = await execa('ffmpeg', ['-hide_banner', '-v', 'error', '-nostdin', '-i', input, '-f', 'null', '-'], { reject: false, timeout: 60_000, stdin: 'ignore' });
  return `${r.exitCode === 0 ? '' : `exit ${r.exitCode}: `}${String(r.stderr).trim()}`;
}
